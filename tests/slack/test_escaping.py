"""Text from Ontop, QuickBooks or a person is inert in every message and view: no pings, no links, no broken `&`.

Every builder gets hostile text in every field it shows (worker names, invoice numbers, reasons, company names,
concepts, QuickBooks' error text, ServiceError messages); the rendered mrkdwn (and the top-level text, which
notifications read as mrkdwn too) must carry it escaped. Plain-text fields (button labels, input labels) are not
parsed by Slack, so they may carry it as typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from handlers import actions, blocks, flows, run_messages
from handlers.blocks import Message
from handlers.deps import Deps
from handlers.labels import concept_label
from handlers.views.books import books_blocks
from handlers.views.common import result_view
from handlers.views.connect import ConnectProgress, connect_done_text, connect_view
from handlers.views.disconnect import disconnect_view, disconnected_text
from handlers.views.fixes import fixes_view
from handlers.views.mapping import mapping_saved_view, mapping_view
from handlers.views.settings import settings_saved_text, settings_view
from handlers.views.vendors import vendors_result_lines, vendors_view
from sync.api import (
    AccountOption,
    ConnectionStatusView,
    Difference,
    FailureGroup,
    Fix,
    FixKind,
    InvoiceFailure,
    MappingRow,
    QboConnected,
    QboLinks,
    ReconcileReport,
    ReviewCase,
    RunStatus,
    ServiceError,
    SyncPreview,
    TeamRef,
    VendorCreateResult,
    VendorMatch,
    VendorPreview,
    VendorPreviewRow,
    WorkspaceSettings,
)
from tests.slack.fakes import default_books, sample_run

# A name that would ping the channel, a link that would hide its address, and an ampersand; no asterisks, so
# formatting cannot move the markers around.
EVIL = "Zoë <!channel> <https://x|y> & Co"
TEAM = TeamRef("T1")
LINKS = QboLinks("https://app.qbo.intuit.com")


def mrkdwn_texts(rendered: Any) -> list[str]:
    """Every mrkdwn text in a message or view (as JSON), and the message's top-level text."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if isinstance(rendered, Message):
        found.append(rendered.text)
        walk(rendered.blocks)
    else:
        walk(rendered)
    return found


def assert_inert(rendered: Any) -> None:
    texts = mrkdwn_texts(rendered)
    joined = "\n".join(texts)
    assert texts, "nothing rendered"
    assert "<!channel>" not in joined
    assert "<https://x|y>" not in joined
    assert "&amp;" in joined, "the hostile text is not shown at all"
    assert "&lt;!channel&gt;" in joined
    bare = [text for text in texts if re.search(r"&(?!amp;|lt;|gt;)", text)]
    assert not bare, f"an unescaped & in {bare}"


# --- hostile data -----------------------------------------------------------------------------------------------


def evil_failure(fix: Fix | None = None, **changes: Any) -> InvoiceFailure:
    failure = InvoiceFailure(
        invoice_id="inv-1",
        invoice_number=f"ONT-1 {EVIL}",
        worker_name=EVIL,
        amount=Decimal("13750.00"),
        currency="BRL",
        reason=f"QuickBooks refused the bill: {EVIL} [code 6000]",
        fix=fix,
        code="qbo_6000",
        amount_usd=Decimal("2682.93"),
    )
    return replace(failure, **changes)


def evil_groups() -> list[FailureGroup]:
    concept = Fix(FixKind.MAP_CONCEPT, EVIL)  # an unknown concept: its label is its code, made readable
    suppliers = [Fix(FixKind.CREATE_VENDOR, "agr-1", EVIL), Fix(FixKind.CREATE_VENDOR, "agr-2", f"Ben {EVIL}")]
    linked = Fix(FixKind.LINK_BILL, "inv-4")
    retries = [Fix(FixKind.RETRY, f"inv-r{n}") for n in range(4)]
    reconnect = Fix(FixKind.RECONNECT, "1", EVIL)
    prompt = InvoiceFailure("", "", EVIL, None, None, f"Reconnect {EVIL}", reconnect, "reauth")
    return [
        FailureGroup("reauth", prompt.reason, 1, reconnect, [prompt]),  # a connection-wide prompt
        FailureGroup(
            "unmapped_concept", f"concept {EVIL} is not mapped", 12, concept, [evil_failure(concept, code="x")]
        ),
        FailureGroup(
            "no_vendor",
            f"{EVIL} is not a supplier in QuickBooks",
            3,
            suppliers[0],
            [evil_failure(fix, code="no_vendor") for fix in suppliers],
            fixes=suppliers,
        ),
        FailureGroup("not_our_bill", f"a bill numbered {EVIL} exists", 1, linked, [evil_failure(linked)]),
        *[FailureGroup(f"qbo_{n}", f"refused: {EVIL}", 1, fix, [evil_failure(fix)]) for n, fix in enumerate(retries)],
        FailureGroup("support", f"support: {EVIL}", 2, None, [evil_failure(None, currency=EVIL)]),
    ]


def evil_summary() -> Any:
    return replace(
        sample_run(failures=[evil_failure(Fix(FixKind.RETRY, "inv-1"))]),
        failed=27,
        failure_groups=evil_groups(),
        error_summary=f"QuickBooks said {EVIL}",
        review_cases=[ReviewCase("inv-9", f"ONT-9 {EVIL}", EVIL, f"cancelled: {EVIL}", "151&x=<y>", EVIL)],
        review_count=2,
        booked_home_total=Decimal("12345.67"),
        home_currency="USD",
    )


def evil_status() -> ConnectionStatusView:
    run = replace(evil_summary(), status=RunStatus.PARTIAL)
    return ConnectionStatusView(
        connection_id=1,
        status="needs_reauth",
        company_name=EVIL,
        realm_id="9130",
        home_currency=EVIL,
        multicurrency_enabled=True,
        ontop_connected=True,
        mapped_concepts=1,
        unmapped_concepts=[EVIL],
        vendors_linked=1,
        bills_created_total=3,
        failed_invoices=2,
        last_run=run,
        active_run=None,
        next_daily_run_at=datetime(2026, 11, 26, 11, tzinfo=UTC),
        settings=WorkspaceSettings(TEAM, "C0FIN", 6, EVIL, [], False),
    )


def evil_vendor_rows() -> list[VendorPreviewRow]:
    return [
        VendorPreviewRow("a1", EVIL, f"{EVIL}@x.test", "CO", "USD", VendorMatch.CONFLICT, EVIL, note=EVIL),
        VendorPreviewRow("a2", EVIL, None, None, EVIL, VendorMatch.WILL_CREATE, None),
    ]


def evil_vendor_result() -> VendorCreateResult:
    return VendorCreateResult(created=[EVIL], linked=[EVIL], failed=[(EVIL, f"QuickBooks refused it: {EVIL}")])


def evil_books() -> Any:
    books = default_books()
    return replace(
        books,
        pay_from_options=[AccountOption("35", EVIL)],
        pay_from_account_id="35",
        home_currency=EVIL,
        supplier_currency="usd",
    )


# --- every builder ---------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], Any]] = {
    "help with an unknown subcommand": lambda: blocks.help_message(unknown=EVIL),
    "service error reply": lambda: blocks.error_message(f"That account is not in {EVIL}."),
    "sync preview": lambda: blocks.sync_preview_message(SyncPreview(1, 0, 0, {EVIL: 2}, 0, 0, 0, 0, 0)),
    "reconcile": lambda: blocks.reconcile_message(
        ReconcileReport(
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            paid_invoices=5,
            missing=[EVIL],
            duplicated=[EVIL],
            different=[Difference(EVIL, f"1.00 USD {EVIL}", f"2.00 USD (bill {EVIL})")],
            open_bills=[EVIL],
            paid_twice=[EVIL],
        )
    ),
    "status": lambda: blocks.status_message(evil_status()),
    "run summary": lambda: run_messages.run_summary_message(evil_summary(), LINKS),
    "run summary without links": lambda: run_messages.run_summary_message(evil_summary()),
    "run summary from its failures only": lambda: run_messages.run_summary_message(
        replace(evil_summary(), failure_groups=[], failures=[g.examples[0] for g in evil_groups()])
    ),
    "result reply of a failed run": lambda: run_messages.run_result_reply(
        replace(evil_summary(), status=RunStatus.FAILED)
    ),
    "thread pages": lambda: Message(
        text=" ".join(m.text for m in pages()), blocks=[block for m in pages() for block in m.blocks]
    ),
    "reauth": lambda: run_messages.needs_reauth_message(EVIL, f"Intuit said {EVIL}"),
    "reauth reminder": lambda: run_messages.reauth_reminder_message(EVIL, date(2026, 12, 1)),
    "connected": lambda: run_messages.qbo_connected_message(QboConnected(TEAM, "U1", EVIL, 1)),
    "fallback note": lambda: Message(text="note", blocks=[run_messages.fallback_note("C1", EVIL)]),
    "vendors view": lambda: vendors_view(VendorPreview(evil_vendor_rows())),
    "vendors result view": lambda: vendors_result_view(),
    "mapping view with a refused account": lambda: mapping_view(
        [MappingRow(EVIL, EVIL, 2, "1", EVIL)],
        evil_books(),
        errors={f"concept:{EVIL}": f"That account is not in {EVIL}.", "books-pay-from": EVIL},
    ),
    "books part with an error": lambda: {"blocks": books_blocks(evil_books(), errors={"books-pay-from": EVIL})},
    "mapping saved view": lambda: mapping_saved_view([MappingRow(EVIL, EVIL, 0, "1", EVIL)], evil_books()),
    "connect view with a company connected": lambda: connect_view(
        "https://bot.test/qbo/start", "https://bot.test/ontop/credentials", ConnectProgress(EVIL, True)
    ),
    "connect done": lambda: result_view("Connect", connect_done_text(EVIL)),
    "settings view with an error": lambda: settings_view(
        WorkspaceSettings(TEAM, "C1", 6, "UTC", [], False), errors={"settings-timezone": f"`{EVIL}` is not a zone"}
    ),
    "settings saved": lambda: result_view(
        "Settings", settings_saved_text(WorkspaceSettings(TEAM, "C1", 6, EVIL, [], False))
    ),
    "disconnect view": lambda: disconnect_view(EVIL),
    "disconnected": lambda: result_view("Disconnect", disconnected_text(EVIL)),
    "fix the rest view": lambda: fixes_view(evil_summary(), skip=0),
    "service problem view": lambda: flows.problem_view("Map accounts", ServiceError(f"Not in {EVIL}.")),
}


def pages() -> list[Message]:
    return run_messages.failure_page_messages([g.examples[0] for g in evil_groups()], run_id=7)


def vendors_result_view() -> dict[str, Any]:
    headline, details = vendors_result_lines(evil_vendor_result())
    return result_view("Suppliers", headline, details=details)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_builder_escapes_what_came_from_outside(name: str) -> None:
    assert_inert(BUILDERS[name]())


def test_the_summary_shows_the_hostile_text_where_each_field_goes() -> None:
    """The escaped text is there, not dropped: names, numbers, reasons, concepts, the bill's link label."""
    joined = "\n".join(mrkdwn_texts(run_messages.run_summary_message(evil_summary(), LINKS)))
    escaped = blocks.escape(EVIL)
    assert f"*ONT-1 {escaped}*" in joined  # the invoice number
    assert f"*{escaped}*" in joined  # a worker named as a target
    assert f"concept {escaped} is not mapped" in joined  # the cause's sentence
    assert f"QuickBooks said {escaped}" in joined  # the run's error
    # The link to the bill is ours: its address keeps its shape, its id is quoted and its label escaped.
    assert f"<https://app.qbo.intuit.com/app/bill?txnId=151%26x%3D%3Cy%3E|bill {escaped}>" in joined


@pytest.mark.parametrize(
    "build",
    [
        lambda deps: actions._link_bill(deps, TEAM, "U1", "inv-1"),
        lambda deps: actions._skip_invoice(deps, TEAM, "U1", "inv-1"),
        lambda deps: actions._create_vendor(deps, TEAM, "U1", "agr-1"),
        lambda deps: actions._create_vendor_in_currency(deps, TEAM, "U1", "agr-1:EUR"),
    ],
    ids=["link bill", "skip invoice", "create supplier", "create supplier in currency"],
)
async def test_fix_button_results_escape_what_the_service_returns(build: Any) -> None:
    class Service:
        async def link_bill(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
            return EVIL

        async def skip_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
            return EVIL

        async def create_missing_vendors(self, *args: Any) -> VendorCreateResult:
            return evil_vendor_result()

        async def create_vendor_in_currency(self, *args: Any) -> VendorCreateResult:
            return evil_vendor_result()

    deps = Deps(service=Service(), admins=None)  # type: ignore[arg-type]
    assert_inert(await build(deps)())


def test_an_unknown_concepts_label_is_escaped_where_it_names_a_fix() -> None:
    joined = "\n".join(mrkdwn_texts(fixes_view(evil_summary(), skip=0)))
    assert f"*{blocks.escape(concept_label(EVIL))}*" in joined


def test_only_our_own_mrkdwn_survives_mentions_and_links_we_build() -> None:
    reply = run_messages.run_result_reply(replace(evil_summary(), requested_by="U0ANN"))
    assert reply.text.startswith("<@U0ANN> ")  # the mention we build still pings the requester
    note = json.dumps(run_messages.fallback_note("C0FIN", EVIL))
    assert "<#C0FIN>" in note
