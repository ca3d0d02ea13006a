"""The client's side of class and location tracking: the flags, the lists (active only, every page), the refs sent."""

from __future__ import annotations

from decimal import Decimal

from emulators.qbo.tracking import add_tracking_entity
from sync.qbo.client import QboClient
from sync.qbo.models import BillDraft, BillLineDraft
from tests.qbo.conftest import REALM, Emulator
from tests.qbo.test_client import contractors_account, new_vendor


async def test_preferences_read_the_three_tracking_flags(client: QboClient, emulator: Emulator) -> None:
    assert (await client.preferences()).class_tracking_per_line is False
    emulator.state.set_preferences(REALM, {"class_tracking_per_txn": True, "track_departments": True})
    prefs = await client.preferences()
    assert (prefs.class_tracking_per_line, prefs.class_tracking_per_txn, prefs.department_tracking) == (
        False,
        True,
        True,
    )


async def test_classes_and_departments_are_the_active_ones_over_every_page(
    client: QboClient, emulator: Emulator
) -> None:
    company = emulator.state.companies[REALM]
    for number in range(1005):  # more than one page of 1000
        add_tracking_entity(emulator.state, company, "Class", f"Team {number:04d}")
    classes = await client.classes()
    names = {ref.fully_qualified_name for ref in classes}
    assert len(classes) == 1005 + 4 and "Engineering:Platform" in names and "Research (closed)" not in names
    assert {ref.name for ref in await client.departments()} == {"United States", "Latin America", "Europe"}


async def test_a_bill_sends_the_line_class_and_the_location(client: QboClient, emulator: Emulator) -> None:
    emulator.state.set_preferences(REALM, {"class_tracking_per_line": True, "track_departments": True})
    [engineering] = [ref for ref in await client.classes() if ref.name == "Engineering"]
    [europe] = [ref for ref in await client.departments() if ref.name == "Europe"]
    line = BillLineDraft(Decimal("12.50"), contractors_account(emulator), "Work", class_id=engineering.id)
    draft = BillDraft(await new_vendor(client), "T-1", None, None, None, None, None, [line], department_id=europe.id)
    await client.create_bill(draft, "tracking-1")
    [stored] = emulator.state.entities("Bill")
    assert stored["DepartmentRef"]["value"] == europe.id
    assert stored["Line"][0]["AccountBasedExpenseLineDetail"]["ClassRef"]["value"] == engineering.id


async def test_a_bill_without_tracking_sends_no_refs(client: QboClient, emulator: Emulator) -> None:
    line = BillLineDraft(Decimal("12.50"), contractors_account(emulator), "Work")
    await client.create_bill(BillDraft(await new_vendor(client), "T-2", None, None, None, None, None, [line]), "t-2")
    [stored] = emulator.state.entities("Bill")
    assert "DepartmentRef" not in stored and "ClassRef" not in stored["Line"][0]["AccountBasedExpenseLineDetail"]
