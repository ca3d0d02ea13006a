"""Query comparisons by type and indexed uniqueness checks (reference §8, §18.6 items 30-31)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from emulators import wire
from emulators.qbo.query import ENTITY_KINDS, parse_query, run_query
from emulators.qbo.state import Company
from tests.qbo.conftest import REALM, Api, bill_body, fault


class NoScan(dict[str, dict[str, Any]]):
    """An entity map that fails any walk over its records: lookups by Id and inserts still work."""

    def __iter__(self) -> Any:
        raise AssertionError("scanned every record")

    def values(self) -> Any:
        raise AssertionError("scanned every record")

    def items(self) -> Any:
        raise AssertionError("scanned every record")


async def test_string_equality_compares_text_so_123_never_matches_0123(api: Api) -> None:
    vendor = await api.create_vendor("Doc Text Vendor")
    account = api.account_id("Contractors")
    plain = await api.created("bill", bill_body(vendor["Id"], account, "1", DocNumber="123"))
    padded = await api.created("bill", bill_body(vendor["Id"], account, "1", DocNumber="0123"))

    assert [row["Id"] for row in await api.rows("select * from Bill where DocNumber = '123'")] == [plain["Id"]]
    assert [row["Id"] for row in await api.rows("select * from Bill where DocNumber = '0123'")] == [padded["Id"]]
    assert len(await api.rows("select * from Bill where DocNumber IN ('123', '0123')")) == 2


async def test_numeric_properties_compare_as_numbers(api: Api) -> None:
    vendor = await api.create_vendor("Amount Vendor")
    account = api.account_id("Contractors")
    hundred = await api.created("bill", bill_body(vendor["Id"], account, "100.00"))
    await api.created("bill", bill_body(vendor["Id"], account, "9.50"))

    assert [row["Id"] for row in await api.rows("select * from Bill where TotalAmt = '100'")] == [hundred["Id"]]
    assert [row["Id"] for row in await api.rows("select * from Bill where TotalAmt > 10")] == [hundred["Id"]]
    assert [row["TotalAmt"] for row in await api.rows("select * from Bill where TotalAmt < '10.00'")] == [
        Decimal("9.50")
    ]


async def test_duplicate_doc_number_is_found_trimmed_and_case_insensitively(api: Api) -> None:
    vendor = await api.create_vendor("Duplicate Doc Vendor")
    account = api.account_id("Contractors")
    first = await api.created("bill", bill_body(vendor["Id"], account, "1", DocNumber="INV-77"))

    error = fault(await api.post("bill", bill_body(vendor["Id"], account, "1", DocNumber=" inv-77 ")))

    assert error["code"] == "6140" and f"TxnId={first['Id']}" in error["Detail"]


async def test_a_deleted_bill_frees_its_doc_number(api: Api) -> None:
    vendor = await api.create_vendor("Freed Doc Vendor")
    body = bill_body(vendor["Id"], api.account_id("Contractors"), "1", DocNumber="INV-88")
    first = await api.created("bill", body)
    await api.post("bill", {"Id": first["Id"], "SyncToken": "0"}, operation="delete")

    assert (await api.post("bill", body)).status_code == 200


async def test_a_bill_added_behind_the_apis_back_still_holds_its_doc_number(api: Api) -> None:
    company = api.state.companies[REALM]
    vendor = await api.create_vendor("Seeded Doc Vendor")
    api.state.add_entity(company, "Bill", {"DocNumber": "SEEDED-1", "VendorRef": {"value": vendor["Id"]}, "Line": []})

    error = fault(
        await api.post("bill", bill_body(vendor["Id"], api.account_id("Contractors"), "1", DocNumber="SEEDED-1"))
    )

    assert error["code"] == "6140"


async def test_a_renamed_vendor_frees_its_old_name_and_holds_the_new_one(api: Api) -> None:
    vendor = await api.create_vendor("Before Rename")
    await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "After Rename"})

    assert (await api.post("vendor", {"DisplayName": "before rename"})).status_code == 200
    assert fault(await api.post("vendor", {"DisplayName": " AFTER   rename"}))["code"] == "6240"


async def test_a_name_reused_by_an_inactive_vendor_is_refused(api: Api) -> None:
    vendor = await api.create_vendor("Gone Quiet")
    await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})

    assert fault(await api.post("vendor", {"DisplayName": "gone quiet"}))["code"] == "6240"


async def test_uniqueness_checks_consult_indexes_instead_of_scanning_every_record(api: Api) -> None:
    """Per-create cost stays flat however many bills and names there are: the checks never walk the maps."""
    company: Company = api.state.companies[REALM]
    vendor = await api.create_vendor("Indexed Vendor")
    for number in range(2000):
        api.state.add_entity(company, "Bill", {"DocNumber": f"BULK-{number}", "VendorRef": {"value": vendor["Id"]}})
        api.state.add_entity(company, "Vendor", api.state.name_record(company, f"Bulk Name {number}", None, False))
    for kind in ("Bill", "Vendor", "Customer", "Employee"):
        company.entities[kind] = NoScan(company.of(kind))
    account = api.account_id("Contractors")

    duplicate_doc = await api.post("bill", bill_body(vendor["Id"], account, "1", DocNumber="bulk-1999"))
    new_doc = await api.post("bill", bill_body(vendor["Id"], account, "1", DocNumber="BULK-2000"))
    taken_name = await api.post("vendor", {"DisplayName": "bulk name 1999"})  # held by an inactive vendor
    customer_name = await api.post("vendor", {"DisplayName": "María Silva"})
    free_name = await api.post("vendor", {"DisplayName": "Bulk Name 2000"})

    assert fault(duplicate_doc)["code"] == "6140" and new_doc.status_code == 200
    assert fault(taken_name)["code"] == fault(customer_name)["code"] == "6240"
    assert free_name.status_code == 200


async def test_queries_by_id_doc_number_and_display_name_consult_indexes_instead_of_scanning(api: Api) -> None:
    """The engine's look-ups stay flat however many bills there are (issue #19): no walk over the maps, same rows."""
    company: Company = api.state.companies[REALM]
    vendor = await api.create_vendor("Query Index Vendor")
    account = api.account_id("Contractors")
    bill = await api.created("bill", bill_body(vendor["Id"], account, "5", DocNumber="IDX-1"))
    credit = await api.created("vendorcredit", bill_body(vendor["Id"], account, "2", DocNumber="IDX-1"))
    gone = await api.created("bill", bill_body(vendor["Id"], account, "5", DocNumber="IDX-2"))
    await api.post("bill", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    for number in range(500):
        api.state.add_entity(company, "Bill", {"DocNumber": f"FILL-{number}", "VendorRef": {"value": vendor["Id"]}})
    for kind in ("Bill", "Vendor", "VendorCredit"):
        company.entities[kind] = NoScan(company.of(kind))

    assert [row["Id"] for row in await api.rows("select * from Bill where DocNumber = ' idx-1'")] == []  # exact text
    assert [row["Id"] for row in await api.rows("select * from Bill where DocNumber = 'idx-1'")] == [bill["Id"]]
    assert [row["Id"] for row in await api.rows("select * from VendorCredit where DocNumber = 'IDX-1'")] == [
        credit["Id"]
    ]
    assert await api.rows("select * from Bill where DocNumber = 'IDX-2'") == []  # deleted
    listed = await api.rows(f"select * from Bill where Id IN ('{bill['Id']}', '{bill['Id']}', '999999')")
    assert [row["Id"] for row in listed] == [bill["Id"]]
    named = await api.rows("select * from Vendor where DisplayName = 'query index vendor' and Active IN (true, false)")
    assert [row["Id"] for row in named] == [vendor["Id"]]
    assert await api.rows("select * from Customer where DisplayName = 'Query Index Vendor'") == []


async def test_an_indexed_query_finds_what_a_scan_finds(api: Api) -> None:
    vendor = await api.create_vendor("Same Rows Vendor")
    account = api.account_id("Contractors")
    for number in ("A-1", "a-1", "B-2"):
        await api.created(
            "bill", bill_body(vendor["Id"], account, "1", DocNumber=number), include="allowduplicatedocnum"
        )
    statements = [
        "select * from Bill where DocNumber = 'A-1'",
        "select * from Bill where DocNumber IN ('a-1', 'B-2') and TotalAmt = '1'",
        "select * from Bill where DocNumber = 'A-1' and TotalAmt > 5",
        "select Id from Vendor where DisplayName = 'Same Rows Vendor'",
    ]
    indexed = [await api.rows(statement) for statement in statements]
    company: Company = api.state.companies[REALM]
    scanned = []  # what run_query finds walking every live row, as the emulator did before its indexes
    for statement in statements:
        query = parse_query(statement)
        rows = [row for row in company.of(ENTITY_KINDS[query.entity]).values() if row.get("status") != "Deleted"]
        scanned.append(wire.loads(wire.dumps(run_query(query, rows))).get(ENTITY_KINDS[query.entity], []))
    assert indexed == scanned
    assert [len(rows) for rows in indexed] == [2, 3, 0, 1]
