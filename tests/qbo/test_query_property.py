"""Property: any DisplayName, however quoted or accented, is found exactly once through quote() and the emulator."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.qbo.client import QboClient, quote
from sync.qbo.models import NewVendor, clean_name
from tests.qbo.conftest import Emulator

NAME_CHARS = st.sampled_from([*"abcXYZ '\\\"%_-.,&()éñüÅßŁøçãÑ漢字", "\\'", "''", "\\\\"])
NAMES = st.lists(NAME_CHARS, min_size=1, max_size=24).map("".join).map(clean_name).filter(bool)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique_by=lambda name: name.casefold()))
async def test_every_generated_name_is_found_exactly_once(
    client: QboClient, emulator: Emulator, names: list[str]
) -> None:
    company = emulator.state.companies[client.realm_id]
    company.of("Vendor").clear()  # the fixture's emulator lives across examples
    for name in names:
        await client.create_vendor(NewVendor(name), request_id=uuid.uuid4().hex)
    for name in names:
        rows = await client.query(f"SELECT * FROM Vendor WHERE DisplayName = {quote(name)}")
        assert [row["DisplayName"] for row in rows] == [name]
        found = await client.find_vendor_by_display_name(name)
        assert found is not None and found.display_name == name
