"""The QBO client against the emulator over real HTTP: what the sync engine relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync.qbo.auth import QboOAuth, QboTokens
from sync.qbo.client import MemoryTokenSource, QboClient, quote
from sync.qbo.errors import (
    QboAuthError,
    QboCurrencyError,
    QboDuplicateDocNumber,
    QboDuplicateName,
    QboError,
    QboForbidden,
    QboInvalidGrant,
    QboNotFound,
    QboServiceError,
    QboThrottled,
    QboValidationError,
)
from sync.qbo.models import BillDraft, BillLineDraft, NewVendor
from tests.qbo.conftest import REALM, Emulator, RecordingSleep, make_client


def contractors_account(emulator: Emulator) -> str:
    return next(a["Id"] for a in emulator.state.entities("Account") if a["Name"] == "Contractors")


def draft(vendor_id: str, account_id: str, doc_number: str, *amounts: str, **overrides: object) -> BillDraft:
    fields: dict[str, object] = {
        "vendor_id": vendor_id,
        "doc_number": doc_number,
        "txn_date": date(2026, 1, 5),
        "due_date": date(2026, 2, 4),
        "currency": None,
        "exchange_rate": None,
        "private_note": f"ontop invoice {doc_number}",
        "lines": [BillLineDraft(Decimal(amount), account_id, f"line {i}") for i, amount in enumerate(amounts)],
    }
    fields.update(overrides)
    return BillDraft(**fields)  # type: ignore[arg-type]


async def new_vendor(client: QboClient, name: str = "Test Vendor", email: str = "tv@example.com") -> str:
    return (await client.create_vendor(NewVendor(name, email=email), request_id=f"vendor-{name}")).id


# ---- company, accounts ------------------------------------------------------------------------------------------


async def test_company_info_reports_name_home_currency_and_multicurrency(client: QboClient) -> None:
    info = await client.company_info()
    assert info.realm_id == REALM
    assert info.company_name == "Northwind Design Studio"
    assert (info.home_currency, info.multicurrency_enabled) == ("USD", False)


async def test_expense_accounts_include_cogs_and_other_expense_but_not_inactive_or_bank(client: QboClient) -> None:
    accounts = await client.expense_accounts()
    types = {account.account_type for account in accounts}
    names = {account.fully_qualified_name for account in accounts}
    assert types == {"Expense", "Cost of Goods Sold", "Other Expense"}
    assert "Contractors:Design" in names
    assert "Old Freelancers (do not use)" not in names
    assert "Checking" not in names


# ---- vendors ------------------------------------------------------------------------------------------------------


async def test_vendor_found_by_email_case_insensitively_including_inactive(client: QboClient) -> None:
    found = await client.find_vendors_by_email("LUCIA.FERNANDEZ@example.com")
    assert [(vendor.display_name, vendor.active) for vendor in found] == [("Lucía Fernández", False)]


async def test_inactive_vendor_found_by_display_name(client: QboClient) -> None:
    vendor = await client.find_vendor_by_display_name("  Lucía   Fernández ")
    assert vendor is not None and vendor.active is False


async def test_name_taken_by_tells_which_list_holds_a_name(client: QboClient) -> None:
    assert await client.name_taken_by("María Silva") == "Customer"
    assert await client.name_taken_by("Ana Souza") == "Employee"  # inactive employee still holds it
    assert await client.name_taken_by("Sean O'Brien") == "Vendor"
    assert await client.name_taken_by("Nobody Here") is None


async def test_creating_a_vendor_whose_name_a_customer_holds_raises_duplicate_name(client: QboClient) -> None:
    with pytest.raises(QboDuplicateName) as caught:
        await client.create_vendor(NewVendor("maría silva"), request_id="dup-1")
    assert caught.value.code == "6240"
    assert caught.value.status == 400
    assert caught.value.intuit_tid


async def test_created_vendor_reads_back_with_home_currency(client: QboClient) -> None:
    vendor = await client.create_vendor(
        NewVendor("Zoë D'Arcy: Design", given_name="Zoë", family_name="D'Arcy", email="zoe@example.com"),
        request_id="v-zoe",
    )
    assert vendor.display_name == "Zoë D'Arcy Design"  # ':' is not allowed in QBO names
    assert (vendor.email, vendor.currency, vendor.active, vendor.sync_token) == ("zoe@example.com", "USD", True, "0")


# ---- queries --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "literal"),
    [("O'Brien", r"'O\'Brien'"), ("back\\slash", r"'back\\slash'"), ("\\'", r"'\\\''"), ("plain", "'plain'")],
)
def test_quote_escapes_backslash_first_then_quote(raw: str, literal: str) -> None:
    assert quote(raw) == literal


async def test_query_pages_through_every_row(client: QboClient, emulator: Emulator) -> None:
    for number in range(25):
        emulator.state.add_entity(
            emulator.state.companies[REALM], "Vendor", emulator.state.name_record(
                emulator.state.companies[REALM], f"Paged Vendor {number:02d}", None, True)
        )  # fmt: skip
    rows = await client.query("SELECT * FROM Vendor WHERE DisplayName LIKE 'Paged Vendor%'", page_size=10)
    assert sorted(row["DisplayName"] for row in rows) == [f"Paged Vendor {n:02d}" for n in range(25)]
    pages = [entry for entry in emulator.state.request_counts.values()]
    assert pages == [3]  # 10 + 10 + 5 rows


async def test_query_finds_names_with_quotes_backslashes_and_accents(client: QboClient) -> None:
    names = ["O'Brien \\ Sons", "Ñandú's \\'café\\'", "Łukasz Wójcik"]
    for index, name in enumerate(names):
        await client.create_vendor(NewVendor(name), request_id=f"esc-{index}")
    for name in names:
        rows = await client.query(f"SELECT * FROM Vendor WHERE DisplayName = {quote(name)}")
        assert [row["DisplayName"] for row in rows] == [name]


async def test_query_with_paging_words_is_refused(client: QboClient) -> None:
    with pytest.raises(ValueError):
        await client.query("SELECT * FROM Vendor MAXRESULTS 5")


async def test_unparseable_query_raises_validation_error_with_code_4000(client: QboClient) -> None:
    with pytest.raises(QboValidationError) as caught:
        await client.query("SELECT * FROM Vendor WHERE DisplayName = 'O'Brien'")
    assert caught.value.code == "4000"
    assert "QueryParserError" in caught.value.detail


# ---- bills --------------------------------------------------------------------------------------------------------


async def test_bill_total_is_exact_decimal_cents(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    bill = await client.create_bill(
        draft(vendor_id, contractors_account(emulator), "INV-1", "0.10", "0.20", "1250.05"), "bill-1"
    )
    assert bill.total_amt == Decimal("1250.35")
    assert bill.doc_number == "INV-1" and bill.vendor_id == vendor_id
    stored = emulator.state.entities("Bill")[0]
    assert stored["TotalAmt"] == Decimal("1250.35")
    assert [line["Amount"] for line in stored["Line"]] == [Decimal("0.10"), Decimal("0.20"), Decimal("1250.05")]


async def test_same_request_id_twice_creates_one_bill(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    bill_draft = draft(vendor_id, contractors_account(emulator), "INV-7", "100.00")
    first = await client.create_bill(bill_draft, "ontop-inv-7-g0")
    second = await client.create_bill(bill_draft, "ontop-inv-7-g0")
    assert first == second
    assert len(emulator.state.entities("Bill")) == 1


async def test_duplicate_doc_number_raises_6140(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    account = contractors_account(emulator)
    await client.create_bill(draft(vendor_id, account, "INV-9", "1.00"), "r-a")
    with pytest.raises(QboDuplicateDocNumber) as caught:
        await client.create_bill(draft(vendor_id, account, "INV-9", "2.00"), "r-b")
    assert caught.value.element == "DocNumber"


async def test_find_bills_by_doc_number_and_vendor(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    other_vendor = await new_vendor(client, "Other Vendor", "other@example.com")
    account = contractors_account(emulator)
    created = await client.create_bill(draft(vendor_id, account, "INV-'42", "10.00"), "r-1")
    await client.create_bill(draft(other_vendor, account, "INV-43", "10.00"), "r-2")
    assert await client.find_bills("INV-'42", vendor_id) == [created]
    assert await client.find_bills("INV-'42", other_vendor) == []


async def test_foreign_currency_bill_for_a_home_currency_vendor_is_a_currency_error(
    client: QboClient, emulator: Emulator
) -> None:
    company = emulator.state.companies[REALM]
    company.multicurrency_enabled = True
    vendor_id = await new_vendor(client)
    eur_vendor = await client.create_vendor(NewVendor("Euro Vendor", currency="EUR"), "v-eur")
    account = contractors_account(emulator)
    bill = await client.create_bill(
        draft(eur_vendor.id, account, "EUR-1", "100.00", currency="EUR", exchange_rate=Decimal("1.0842")), "eur-1"
    )
    assert (bill.currency, bill.exchange_rate) == ("EUR", Decimal("1.0842"))
    with pytest.raises(QboCurrencyError):
        await client.create_bill(draft(vendor_id, account, "GBP-1", "5.00", currency="GBP"), "gbp-1")


async def test_reading_an_unknown_bill_gives_none_and_an_unknown_vendor_raises_not_found(client: QboClient) -> None:
    assert await client.get_bill("999999") is None
    with pytest.raises(QboNotFound):
        await client.get_vendor("999999")


async def test_batch_reports_each_items_own_result(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    account = contractors_account(emulator)
    results = await client.create_bills_batch(
        [
            ("b0", draft(vendor_id, account, "B-1", "10.00"), "req-1"),
            ("b1", draft("424242", account, "B-2", "20.00"), "req-2"),  # unknown vendor
            ("b2", draft(vendor_id, account, "B-3", "30.50"), "req-3"),
        ]
    )
    assert isinstance(results["b0"], type(results["b2"]))
    assert results["b2"].total_amt == Decimal("30.50")  # type: ignore[union-attr]
    failure = results["b1"]
    assert isinstance(failure, QboValidationError) and failure.code == "2500"
    assert sorted(bill["DocNumber"] for bill in emulator.state.entities("Bill")) == ["B-1", "B-3"]


async def test_batch_retried_with_same_items_does_not_duplicate(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    items = [("b0", draft(vendor_id, contractors_account(emulator), "B-9", "10.00"), "req-9")]
    first = await client.create_bills_batch(items)
    second = await client.create_bills_batch(items)
    assert first == second
    assert len(emulator.state.entities("Bill")) == 1


async def test_batch_over_30_items_is_refused_before_sending(client: QboClient, emulator: Emulator) -> None:
    items = [(f"b{i}", draft("1", "1", f"X-{i}", "1.00"), f"r{i}") for i in range(31)]
    with pytest.raises(ValueError):
        await client.create_bills_batch(items)
    assert emulator.state.request_counts == {}


async def test_attachment_upload_links_the_pdf_to_the_bill(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    bill = await client.create_bill(draft(vendor_id, contractors_account(emulator), "A-1", "1.00"), "att-bill")
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 4
    attachable = await client.upload_attachment(bill.id, "invoice-A-1.pdf", pdf, "att-1")
    assert attachable.entity_refs == [("Bill", bill.id)]
    assert attachable.size == len(pdf)
    assert emulator.state.companies[REALM].files[attachable.id] == pdf


# ---- auth -----------------------------------------------------------------------------------------------------------


async def test_expired_access_token_is_refreshed_once_and_the_call_retried(
    client: QboClient, emulator: Emulator, token_source: MemoryTokenSource
) -> None:
    emulator.state.expire_access_tokens()
    assert (await client.company_info()).realm_id == REALM
    assert token_source.refresh_count == 1


async def test_second_401_after_refresh_raises_auth_error(client: QboClient, emulator: Emulator) -> None:
    emulator.state.inject("*/preferences", "expire_token", count=2)
    with pytest.raises(QboAuthError) as caught:
        await client.preferences()
    assert caught.value.status == 401
    assert "eyJ" not in str(caught.value)


async def test_dead_refresh_token_raises_invalid_grant(
    client: QboClient, emulator: Emulator, token_source: MemoryTokenSource, oauth: QboOAuth
) -> None:
    emulator.state.revoke_token(token_source.tokens.refresh_token)
    with pytest.raises(QboInvalidGrant):
        await client.company_info()  # 401, then the refresh itself is refused: needs reauth, no loop
    with pytest.raises(QboInvalidGrant):
        await oauth.refresh(token_source.tokens.refresh_token)


async def test_token_for_another_realm_is_forbidden(emulator: Emulator, oauth: QboOAuth) -> None:
    emulator.state.seed_company("4620816365000000", company_name="Other Co")
    tokens = QboTokens.from_response(emulator.state.issue_tokens("4620816365000000"), datetime.now(UTC))
    async with make_client(emulator, MemoryTokenSource(tokens, oauth)) as qbo:
        with pytest.raises(QboForbidden) as caught:
            await qbo.company_info()
    assert caught.value.code == "3100"


async def test_token_source_refreshes_shortly_before_expiry(emulator: Emulator, oauth: QboOAuth) -> None:
    data = emulator.state.issue_tokens(REALM)
    tokens = QboTokens.from_response({**data, "expires_in": 60}, datetime.now(UTC))
    source = MemoryTokenSource(tokens, oauth, refresh_margin_seconds=300)
    token = await source.access_token()
    assert token != data["access_token"]
    assert source.refresh_count == 1


# ---- resilience ---------------------------------------------------------------------------------------------------


async def test_429_without_retry_after_waits_60_seconds_then_succeeds(
    client: QboClient, emulator: Emulator, sleeps: RecordingSleep
) -> None:
    emulator.state.inject("*/preferences", 429, count=1)
    prefs = await client.preferences()
    assert prefs.home_currency == "USD"
    assert len(sleeps.pauses) == 1 and sleeps.pauses[0] >= 60


async def test_429_retry_after_header_is_honoured(
    client: QboClient, emulator: Emulator, sleeps: RecordingSleep
) -> None:
    emulator.state.switches.retry_after = "7"
    emulator.state.inject("*/preferences", 429, count=1)
    await client.preferences()
    assert sleeps.pauses == [7.0]


async def test_xml_429_body_is_understood(client: QboClient, emulator: Emulator, sleeps: RecordingSleep) -> None:
    emulator.state.switches.throttle_xml = True
    emulator.state.inject("*/preferences", 429, count=5)
    with pytest.raises(QboThrottled) as caught:
        await client.preferences()
    assert caught.value.code == "3001"
    assert len(sleeps.pauses) == 2  # three tries in all, then give up


@pytest.mark.parametrize("kind", [500, 503, "reset"])
async def test_transient_failure_is_retried_with_back_off(
    client: QboClient, emulator: Emulator, sleeps: RecordingSleep, kind: str | int
) -> None:
    emulator.state.inject("*/companyinfo/*", kind, count=2)
    info = await client.company_info()
    assert info.company_name == "Northwind Design Studio"
    assert len(sleeps.pauses) == 2 and all(0 < pause <= 0.05 for pause in sleeps.pauses)


async def test_retrying_a_create_after_a_reset_does_not_duplicate(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    emulator.state.inject("*/bill", "reset", count=1)
    await client.create_bill(draft(vendor_id, contractors_account(emulator), "R-1", "3.00"), "reset-1")
    assert len(emulator.state.entities("Bill")) == 1


async def test_persistent_5xx_gives_up_with_service_error(
    client: QboClient, emulator: Emulator, sleeps: RecordingSleep
) -> None:
    emulator.state.inject("*/preferences", 500, count=None)
    with pytest.raises(QboServiceError) as caught:
        await client.preferences()
    assert caught.value.code == "10000"
    assert len(sleeps.pauses) == 2


async def test_slow_response_times_out_and_is_retried(
    emulator: Emulator, token_source: MemoryTokenSource, sleeps: RecordingSleep
) -> None:
    emulator.state.inject("*/preferences", "timeout", count=1, delay_seconds=0.5)
    async with make_client(emulator, token_source, timeout=0.2, sleep=sleeps) as qbo:
        prefs = await qbo.preferences()
    assert prefs.home_currency == "USD"
    assert len(sleeps.pauses) == 1


async def test_validation_errors_are_not_retried(client: QboClient, sleeps: RecordingSleep) -> None:
    with pytest.raises(QboError) as caught:
        await client.create_bill(draft("1", "1", "V-1", "1.00"), "val-1")
    assert not caught.value.is_transient
    assert sleeps.pauses == []


async def test_accounts_payable_and_exchange_rate_lookups(client: QboClient) -> None:
    payables = await client.accounts_payable()
    assert [account.name for account in payables] == ["Accounts Payable (A/P)"]
    assert await client.exchange_rate("EUR", date(2026, 1, 5)) == Decimal("1.0842")


async def test_bill_with_explicit_ap_account_reads_back_by_id(client: QboClient, emulator: Emulator) -> None:
    vendor_id = await new_vendor(client)
    payable = (await client.accounts_payable())[0].id
    created = await client.create_bill(
        draft(vendor_id, contractors_account(emulator), "AP-1", "12.34", ap_account_id=payable), "ap-1"
    )
    assert await client.get_bill(created.id) == created
    assert (await client.get_vendor(vendor_id)).id == vendor_id


async def test_email_lookup_falls_back_to_a_scan_where_email_is_not_filterable(
    client: QboClient, emulator: Emulator
) -> None:
    emulator.state.switches.unfilterable_properties = {"primaryemailaddr"}
    found = await client.find_vendors_by_email("Sean.OBrien@example.com")
    assert [vendor.display_name for vendor in found] == ["Sean O'Brien"]
