"""Emulator fidelity, Accounting API side (reference §2-§9, §12-§14; checklist items 6-21), over raw HTTP."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from emulators.qbo.app import create_qbo_emulator
from sync import money
from tests.qbo.conftest import REALM, Api, Emulator, bill_body, fault

TID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-08:00$")


# ---- auth, headers, envelope (items 6-9) --------------------------------------------------------------------------


async def test_bad_token_gets_401_with_gateway_body_and_www_authenticate(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(emulator.api("preferences"), headers={"Authorization": "Bearer not-a-real-token-at-all"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    assert TID.match(response.headers["intuit_tid"])
    body = response.json()
    assert set(body) == {
        "warnings",
        "intuitObject",
        "fault",
        "report",
        "queryResponse",
        "batchItemResponse",
        "attachableResponse",
        "syncErrorResponse",
        "requestId",
        "time",
        "status",
        "cdcresponse",
    }
    assert isinstance(body["time"], int)
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert body["fault"]["error"][0]["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert body["fault"]["error"][0]["code"] == "3200" and body["fault"]["error"][0]["element"] is None


async def test_expired_access_token_gets_401(api: Api) -> None:
    api.state.advance_clock(3601)
    assert (await api.get("preferences")).status_code == 401


async def test_token_for_another_realm_gets_403_3100(api: Api) -> None:
    response = await api.http.get(f"{api.emulator.url}/v3/company/123456/preferences", headers=api.headers())
    assert response.status_code == 403
    error = response.json()["fault"]["error"][0]
    assert error["message"] == "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"
    assert response.json()["fault"]["type"] == "SERVICE"


async def test_any_minorversion_and_unknown_params_are_accepted(api: Api) -> None:
    for params in ({}, {"minorversion": "4"}, {"minorversion": "99", "whatever": "x"}):
        assert (await api.get("preferences", **params)).status_code == 200


async def test_entity_envelope_has_time_with_offset_and_string_ids(api: Api) -> None:
    response = await api.post("vendor", {"DisplayName": "Envelope Check"})
    body = money.loads(response.text)
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert LOCAL_TIME.match(body["time"])
    vendor = body["Vendor"]
    assert vendor["Id"].isdigit() and vendor["SyncToken"] == "0"
    assert (vendor["domain"], vendor["sparse"]) == ("QBO", False)
    assert set(vendor["MetaData"]) == {"CreateTime", "LastUpdatedTime"}


async def test_company_info_and_preferences(api: Api) -> None:
    info = (await api.get(f"companyinfo/{REALM}")).json()["CompanyInfo"]
    assert info["Id"] == REALM and info["Country"] == "USA"
    prefs = (await api.get("preferences")).json()["Preferences"]
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    assert "ClassTrackingPerLine" in prefs["AccountingInfoPrefs"]


# ---- vendors (items 10-13) ------------------------------------------------------------------------------------------


async def test_vendor_without_any_name_is_6080(api: Api) -> None:
    assert fault(await api.post("vendor", {"CompanyName": "No Name LLC"}))["code"] == "6080"


async def test_vendor_name_with_colon_is_rejected(api: Api) -> None:
    assert fault(await api.post("vendor", {"DisplayName": "A:B"}))["code"] == "6000"


async def test_overlong_vendor_field_is_2050_with_lengths(api: Api) -> None:
    error = fault(await api.post("vendor", {"DisplayName": "ok", "CompanyName": "x" * 101}))
    assert error["code"] == "2050" and error["element"] == "CompanyName"
    assert error["Detail"].endswith("Min:0 Max:100 supported. Supplied length:101")


async def test_vendor_display_name_derived_tax_id_masked_currency_defaulted(api: Api) -> None:
    vendor = await api.create_vendor("", GivenName="Jane", FamilyName="Doe", TaxIdentifier="12-3456789")
    assert vendor["DisplayName"] == "Jane Doe"
    assert vendor["TaxIdentifier"] == "XXXXXX6789"
    assert vendor["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert vendor["PrintOnCheckName"] == "Jane Doe"


@pytest.mark.parametrize("name", ["María Silva", "john smith", "  Lucía Fernández ", "ANA SOUZA"])
async def test_display_name_unique_across_vendor_customer_employee_inactive_included(api: Api, name: str) -> None:
    error = fault(await api.post("vendor", {"DisplayName": name}))
    assert error == {
        "Message": "Duplicate Name Exists Error",
        "Detail": "The name supplied already exists. : Another customer, vendor or employee is already using this "
        "name. Please use a different name.",
        "code": "6240",
        "element": "",
    }


async def test_case_sensitive_name_switch(api: Api) -> None:
    api.state.switches.names_case_insensitive = False
    assert (await api.post("vendor", {"DisplayName": "maría silva"})).status_code == 200


async def test_vendor_cannot_be_deleted_but_deactivation_keeps_the_name_reserved(api: Api) -> None:
    vendor = await api.create_vendor("Short Lived")
    assert (await api.post("vendor", vendor, operation="delete")).status_code == 400
    response = await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    updated = response.json()["Vendor"]
    assert (updated["Active"], updated["SyncToken"], updated["DisplayName"]) == (False, "1", "Short Lived")
    assert fault(await api.post("vendor", {"DisplayName": "Short Lived"}))["code"] == "6240"


async def test_stale_sync_token_is_5010(api: Api) -> None:
    vendor = await api.create_vendor("Stale Co")
    await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "A"})
    error = fault(await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "B"}))
    assert error["code"] == "5010" and error["Message"] == "Stale Object Error"


async def test_full_update_nulls_omitted_fields_sparse_does_not(api: Api) -> None:
    vendor = await api.create_vendor("Full Update", CompanyName="Keep Me", AcctNum="42")
    sparse = (await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "AcctNum": "43"})).json()
    assert sparse["Vendor"]["CompanyName"] == "Keep Me"
    full = (await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "1", "DisplayName": "Full Update"})).json()
    assert "CompanyName" not in full["Vendor"] and "AcctNum" not in full["Vendor"]
    assert full["Vendor"]["SyncToken"] == "2"


async def test_vendor_currency_is_create_only(api: Api) -> None:
    api.state.companies[REALM].multicurrency_enabled = True
    vendor = await api.create_vendor("Euro Co", CurrencyRef={"value": "EUR"})
    response = await api.post(
        "vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "CurrencyRef": {"value": "GBP"}}
    )
    assert response.json()["Vendor"]["CurrencyRef"]["value"] == "EUR"


# ---- bills (items 14-17) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "code", "element"),
    [
        (lambda b: b.pop("VendorRef"), "2020", "VendorRef"),
        (lambda b: b.pop("Line"), "2020", "Line"),
        (lambda b: b["Line"][0]["AccountBasedExpenseLineDetail"].pop("AccountRef"), "2020", "AccountRef"),
        (lambda b: b.update(Line=[]), "2250", "Line"),
        (lambda b: b.update(VendorRef={"value": "999999"}), "2500", "VendorRef"),
        (lambda b: b.update(DocNumber="X" * 22), "2050", "DocNumber"),
        (lambda b: b["Line"][0]["AccountBasedExpenseLineDetail"].update(BillableStatus=""), "2170", "BillableStatus"),
    ],
)
async def test_bill_validation_errors(api: Api, mutate: Any, code: str, element: str) -> None:
    vendor = await api.create_vendor("Bill Vendor")
    body = bill_body(vendor["Id"], api.account_id("Contractors"), "10.00")
    mutate(body)
    error = fault(await api.post("bill", body))
    assert (error["code"], error["element"]) == (code, element)


async def test_bill_on_inactive_or_non_expense_account_is_rejected(api: Api) -> None:
    vendor = await api.create_vendor("Acct Vendor")
    inactive = fault(
        await api.post("bill", bill_body(vendor["Id"], api.account_id("Old Freelancers (do not use)"), "1"))
    )
    assert inactive["code"] == "2500"
    bank = fault(await api.post("bill", bill_body(vendor["Id"], api.account_id("Checking"), "1")))
    assert bank["code"] == "6000"
    for name in ("Cost of Labor", "Exchange Gain or Loss"):
        assert (await api.post("bill", bill_body(vendor["Id"], api.account_id(name), "1"))).status_code == 200


async def test_bill_computed_fields(api: Api) -> None:
    vendor = await api.create_vendor("Computed Vendor", TermRef={"value": next(
        t["Id"] for t in api.state.entities("Term") if t["Name"] == "Net 30")})  # fmt: skip
    response = await api.post(
        "bill", bill_body(vendor["Id"], api.account_id("Contractors"), "0.1", "0.2", TxnDate="2026-01-05",
                          TotalAmt=999, Balance=1)
    )  # fmt: skip
    assert '"TotalAmt":0.3,' in response.text  # exact JSON number, no float artefact
    bill = money.loads(response.text)["Bill"]
    assert bill["TotalAmt"] == bill["Balance"] == bill["HomeBalance"] == Decimal("0.3")
    assert (bill["TxnDate"], bill["DueDate"]) == ("2026-01-05", "2026-02-04")
    assert bill["APAccountRef"]["name"] == "Accounts Payable (A/P)"
    assert bill["VendorRef"] == {"value": vendor["Id"], "name": "Computed Vendor"}
    detail = bill["Line"][0]["AccountBasedExpenseLineDetail"]
    assert detail["TaxCodeRef"] == {"value": "NON"} and detail["BillableStatus"] == "NotBillable"
    assert detail["AccountRef"]["name"] == "Contractors"
    assert [line["Id"] for line in bill["Line"]] == ["1", "2"]


async def test_duplicate_doc_number_is_6140_unless_allowed(api: Api) -> None:
    vendor = await api.create_vendor("Doc Vendor")
    body = bill_body(vendor["Id"], api.account_id("Contractors"), "5", DocNumber="INV-1")
    first = (await api.post("bill", body)).json()["Bill"]
    error = fault(await api.post("bill", body))
    assert error["code"] == "6140" and error["element"] == "DocNumber"
    assert f"DocNumber=INV-1 is assigned to TxnType=Bill with TxnId={first['Id']}" in error["Detail"]
    assert (await api.post("bill", body, include="allowduplicatedocnum")).status_code == 200


async def test_multicurrency_rules(api: Api) -> None:
    api.state.companies[REALM].multicurrency_enabled = True
    euro = await api.create_vendor("Euro Vendor", CurrencyRef={"value": "EUR"})
    account = api.account_id("Contractors")
    assert fault(await api.post("bill", bill_body(euro["Id"], account, "1")))["element"] == "CurrencyRef"
    wrong = fault(await api.post("bill", bill_body(euro["Id"], account, "1", CurrencyRef={"value": "GBP"})))
    assert wrong["code"] == "6000" and "one foreign currency per transaction" in wrong["Detail"]
    ok = money.loads((await api.post("bill", bill_body(euro["Id"], account, "100", CurrencyRef={"value": "EUR"}))).text)
    assert ok["Bill"]["ExchangeRate"] == Decimal("1")  # missing rate accepted as 1 by default
    api.state.switches.reject_missing_exchange_rate = True
    assert (
        fault(await api.post("bill", bill_body(euro["Id"], account, "1", CurrencyRef={"value": "EUR"})))["code"]
        == "2410"
    )


async def test_foreign_currency_refused_without_multicurrency(api: Api) -> None:
    vendor = await api.create_vendor("Home Vendor")
    error = fault(await api.post("bill", bill_body(vendor["Id"], api.account_id("Contractors"), "1",
                                                   CurrencyRef={"value": "EUR"})))  # fmt: skip
    assert error["code"] == "6000"


async def test_bill_delete_returns_stub_and_later_read_is_610(api: Api) -> None:
    vendor = await api.create_vendor("Delete Vendor")
    bill = (await api.post("bill", bill_body(vendor["Id"], api.account_id("Contractors"), "5"))).json()["Bill"]
    deleted = (await api.post("bill", {"Id": bill["Id"], "SyncToken": "0"}, operation="delete")).json()
    assert deleted["Bill"] == {"status": "Deleted", "domain": "QBO", "Id": bill["Id"]}
    error = fault(await api.get(f"bill/{bill['Id']}"))
    assert error["code"] == "610"
    assert error["Detail"] == (
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees."
    )


# ---- query engine (item 18) -----------------------------------------------------------------------------------------


async def test_query_is_case_insensitive_and_name_lists_are_active_only(api: Api) -> None:
    active = await api.rows("select * from vendor where displayname like '%'")
    everything = await api.rows("SELECT * FROM Vendor WHERE Active IN (true, false)")
    assert "Lucía Fernández" not in {row["DisplayName"] for row in active}
    assert "Lucía Fernández" in {row["DisplayName"] for row in everything}
    assert await api.rows("select * from Vendor where DisplayName = 'acme office supply'")


async def test_query_escapes_and_parse_errors(api: Api) -> None:
    await api.create_vendor("O'Brien \\ Partners")
    assert len(await api.rows(r"select * from Vendor where DisplayName = 'O\'Brien \\ Partners'")) == 1
    error = fault(await api.query("select * from Vendor where DisplayName = 'O'Brien'"))
    assert error["code"] == "4000" and error["Detail"].startswith('QueryParserError: Encountered "')
    assert fault(await api.query("select * from Vendor where DisplayName = 'a' or Active = true"))["code"] == "4000"


async def test_query_paging_count_and_empty_shapes(api: Api) -> None:
    page = money.loads((await api.query("select * from Account ORDER BY Id STARTPOSITION 0 MAXRESULTS 3")).text)
    assert (page["QueryResponse"]["startPosition"], page["QueryResponse"]["maxResults"]) == (1, 3)
    second = money.loads((await api.query("select * from Account ORDERBY Id STARTPOSITION 4 MAXRESULTS 3")).text)
    assert second["QueryResponse"]["Account"][0]["Id"] != page["QueryResponse"]["Account"][0]["Id"]
    count = money.loads((await api.query("SELECT COUNT(*) FROM Account")).text)
    assert count["QueryResponse"] == {"totalCount": 19}  # 18 active seeded + the Contractors:Design sub-account
    empty = money.loads((await api.query("select * from Vendor where DisplayName = 'zzz'")).text)
    assert empty["QueryResponse"] == {}
    assert fault(await api.query("select * from Vendor MAXRESULTS 1001"))["code"] == "4001"


async def test_query_default_page_is_100_and_select_id_is_sparse(api: Api) -> None:
    company = api.state.companies[REALM]
    for number in range(105):
        api.state.add_entity(company, "Vendor", api.state.name_record(company, f"Bulk {number}", None, True))
    assert len(await api.rows("select * from Vendor")) == 100
    rows = await api.rows("select Id from Vendor where DisplayName = 'Bulk 7'")
    assert rows == [{"Id": rows[0]["Id"], "sparse": True}]


async def test_query_id_only_supports_equals_and_in(api: Api) -> None:
    assert fault(await api.query("select * from Vendor where Id > '1'"))["code"] == "4001"
    assert await api.rows("select * from Account where Id IN ('1', '2')")


async def test_query_by_post_with_text_body(api: Api) -> None:
    response = await api.http.post(
        api.emulator.api("query"),
        content=b"select * from Term",
        headers=api.headers(**{"Content-Type": "application/text"}),
    )
    assert len(response.json()["QueryResponse"]["Term"]) == 3


# ---- batch (item 19) ------------------------------------------------------------------------------------------------


async def test_batch_items_run_independently_with_their_own_faults(api: Api) -> None:
    vendor = await api.create_vendor("Batch Vendor")
    items = [
        {"bId": "v1", "operation": "create", "Vendor": {"DisplayName": "María Silva"}},
        {"bId": "b1", "operation": "create", "Bill": bill_body(vendor["Id"], api.account_id("Contractors"), "7")},
        {"bId": "u1", "operation": "update", "Vendor": {"Id": vendor["Id"], "SyncToken": "9", "sparse": True}},
        {"bId": "q1", "Query": "select * from Vendor where DisplayName = 'Batch Vendor'"},
    ]
    response = await api.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 200
    results = {item["bId"]: item for item in money.loads(response.text)["BatchItemResponse"]}
    assert results["v1"]["Fault"]["Error"][0]["code"] == "6240"
    assert results["v1"]["Fault"]["type"] == "ValidationFault"
    assert results["b1"]["Bill"]["TotalAmt"] == Decimal("7")
    assert results["u1"]["Fault"]["Error"][0]["code"] == "5010"
    assert results["q1"]["QueryResponse"]["Vendor"][0]["Id"] == vendor["Id"]


async def test_batch_limits(api: Api) -> None:
    too_many = [{"bId": f"q{i}", "Query": "select * from Term"} for i in range(31)]
    assert fault(await api.post("batch", {"BatchItemRequest": too_many}))["code"] == "1040"
    assert fault(await api.post("batch", {}))["Message"] == "MalformedRequest"
    long_bid = await api.post("batch", {"BatchItemRequest": [{"bId": "x" * 11, "Query": "select * from Term"}]},
                              requestid="r-long-bid")  # fmt: skip
    assert "Fault" in long_bid.json()["BatchItemResponse"][0]


# ---- requestid (item 20) --------------------------------------------------------------------------------------------


async def test_requestid_replays_the_original_bytes_without_a_second_entity(api: Api) -> None:
    first = await api.post("vendor", {"DisplayName": "Replay Co"}, requestid="rid-1")
    second = await api.post("vendor", {"DisplayName": "Replay Co"}, requestid="rid-1")
    assert second.content == first.content
    assert len([v for v in api.state.entities("Vendor") if v["DisplayName"] == "Replay Co"]) == 1


async def test_requestid_limits_and_600_switch(api: Api) -> None:
    assert fault(await api.post("vendor", {"DisplayName": "Long Id"}, requestid="r" * 51))["code"] == "2050"
    api.state.switches.requestid_answer_600 = True
    await api.post("vendor", {"DisplayName": "Six Hundred"}, requestid="rid-600")
    assert fault(await api.post("vendor", {"DisplayName": "Six Hundred"}, requestid="rid-600"))["code"] == "600"


async def test_failures_are_not_replayed_unless_switched_on(api: Api) -> None:
    await api.post("vendor", {"DisplayName": "María Silva"}, requestid="rid-fail")
    api.state.companies[REALM].of("Customer").clear()
    assert (await api.post("vendor", {"DisplayName": "María Silva"}, requestid="rid-fail")).status_code == 200


# ---- rate limits and faults (item 21) ---------------------------------------------------------------------------


async def test_over_the_per_minute_limit_answers_429_in_qbo_shape(api: Api) -> None:
    api.state.switches.update({"rate_limits_enabled": True, "per_minute": 3, "per_second": 100, "retry_after": "60"})
    statuses = [(await api.get("preferences")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await api.get("preferences")
    error = response.json()["fault"]["error"][0]
    assert error["message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    assert error["detail"] == "The request limit was reached.  Try again later"
    assert response.headers["retry-after"] == "60"


async def test_batch_calls_have_their_own_per_minute_limit(api: Api) -> None:
    api.state.switches.update({"rate_limits_enabled": True, "batch_per_minute_app": 2})
    body = {"BatchItemRequest": [{"bId": "q", "Query": "select * from Term"}]}
    statuses = [(await api.post("batch", body)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert (await api.get("preferences")).status_code == 200


async def test_injected_faults_hit_only_matching_paths_and_count(api: Api) -> None:
    api.state.inject("*/preferences", 500, count=1)
    assert (await api.get(f"companyinfo/{REALM}")).status_code == 200
    failed = await api.get("preferences")
    assert failed.status_code == 500 and fault(failed)["code"] == "10000"
    assert (await api.get("preferences")).status_code == 200


async def test_connection_reset_fault_drops_the_response(api: Api) -> None:
    api.state.inject("*", "reset", count=1)
    with pytest.raises(httpx.TransportError):
        await api.get("preferences")


# ---- attachments (item 24) ------------------------------------------------------------------------------------------


async def upload(
    api: Api, metadata: dict[str, Any], filename: str, payload: bytes, base64_body: bool
) -> httpx.Response:
    content = base64.b64encode(payload) if base64_body else payload
    extra = {"Content-Transfer-Encoding": "base64"} if base64_body else {}
    files: list[tuple[str, tuple[str, bytes, str, dict[str, str]]]] = [
        ("file_metadata_01", ("attachment.json", money.dumps(metadata).encode(), "application/json", {})),
        ("file_content_01", (filename, content, "application/pdf", extra)),
    ]
    return await api.http.post(api.emulator.api("upload"), files=files, headers=api.headers())


@pytest.mark.parametrize("base64_body", [True, False])
async def test_upload_accepts_raw_or_base64_and_links_the_bill(api: Api, base64_body: bool) -> None:
    vendor = await api.create_vendor("Upload Vendor")
    bill = (await api.post("bill", bill_body(vendor["Id"], api.account_id("Contractors"), "5"))).json()["Bill"]
    meta = {"AttachableRef": [{"EntityRef": {"type": "Bill", "value": bill["Id"]}}], "FileName": "inv.pdf"}
    response = await upload(api, meta, "inv.pdf", b"%PDF-1.7 data", base64_body)
    attachable = response.json()["AttachableResponse"][0]["Attachable"]
    assert attachable["Size"] == len(b"%PDF-1.7 data")
    assert attachable["FileAccessUri"].endswith(f"/download/{attachable['Id']}")
    listed = await api.rows(
        f"select Id from attachable where AttachableRef.EntityRef.Type = 'bill' "
        f"and AttachableRef.EntityRef.value = '{bill['Id']}'"
    )
    assert [row["Id"] for row in listed] == [attachable["Id"]]
    assert (await api.get(f"download/{attachable['Id']}")).text.startswith("http")


async def test_upload_faults_per_file(api: Api) -> None:
    bad_type = await upload(api, {"FileName": "virus.exe"}, "virus.exe", b"MZ", False)
    assert bad_type.json()["AttachableResponse"][0]["Fault"]["Error"][0]["code"] == "6041"
    meta = {"AttachableRef": [{"EntityRef": {"type": "Bill", "value": "999999"}}], "FileName": "a.pdf"}
    missing = await upload(api, meta, "a.pdf", b"%PDF", False)
    assert missing.json()["AttachableResponse"][0]["Fault"]["Error"][0]["code"] == "6050"


# ---- control endpoints ----------------------------------------------------------------------------------------------


async def test_control_endpoints_drive_the_emulator_over_http(api: Api) -> None:
    base = f"{api.emulator.url}/_emulator"
    await api.create_vendor("Audited Vendor")
    api.state.record_write(api.state.companies[REALM], "update", "Vendor", "25", None)
    audit = (await api.http.get(f"{base}/audit")).json()["audit"]
    assert [(a["operation"], a["touched_preexisting"]) for a in audit] == [("create", False), ("update", True)]
    vendors = (await api.http.get(f"{base}/entities/vendor")).json()["entities"]
    assert "Audited Vendor" in {v["DisplayName"] for v in vendors}
    fault_set = await api.http.post(f"{base}/faults", json={"pattern": "*/preferences", "kind": 503, "count": 1})
    assert fault_set.json()["faults"][0]["kind"] == "503"
    assert (await api.get("preferences")).status_code == 503
    tokens = (await api.http.post(f"{base}/tokens", json={})).json()
    assert tokens["token_type"] == "bearer"
    assert (await api.http.post(f"{base}/switches", json={"nope": 1})).status_code == 400
    await api.http.post(f"{base}/reset")
    assert api.state.companies == {}
    await api.http.post(f"{base}/seed", json={"realm_id": REALM, "multicurrency_enabled": True})
    assert api.state.companies[REALM].multicurrency_enabled


# ---- more switches, CDC, reference data (items 7, 14, 20-22, 25) -----------------------------------------------------


async def test_token_without_accounting_scope_is_403(emulator: Emulator, http: httpx.AsyncClient) -> None:
    token = emulator.state.issue_tokens(REALM, scopes=["openid"])["access_token"]
    response = await http.get(emulator.api("preferences"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json()["fault"]["error"][0]["code"] == "3100"


async def test_non_ap_account_as_ap_account_ref_is_rejected(api: Api) -> None:
    vendor = await api.create_vendor("AP Vendor")
    body = bill_body(
        vendor["Id"], api.account_id("Contractors"), "1", APAccountRef={"value": api.account_id("Checking")}
    )
    assert fault(await api.post("bill", body))["element"] == "APAccountRef"


async def test_cache_failures_switch_replays_a_fault(api: Api) -> None:
    api.state.switches.requestid_cache_failures = True
    first = await api.post("vendor", {"DisplayName": "María Silva"}, requestid="rid-cached-fail")
    api.state.companies[REALM].of("Customer").clear()
    second = await api.post("vendor", {"DisplayName": "María Silva"}, requestid="rid-cached-fail")
    assert (second.status_code, second.content) == (400, first.content)


async def test_fault_probability_fails_only_a_fraction(api: Api) -> None:
    api.state.inject("*/preferences", 503, count=None, probability=0.5)
    statuses = [(await api.get("preferences")).status_code for _ in range(40)]
    assert 0 < statuses.count(503) < 40
    assert set(statuses) == {200, 503}


async def test_cdc_returns_updates_deactivations_and_deleted_stubs(api: Api) -> None:
    api.state.advance_clock(2)  # past the seed's timestamps
    since = api.state.now().astimezone(api.state.companies[REALM].tz).isoformat(timespec="seconds")
    vendor = await api.create_vendor("CDC Vendor")
    await api.post("vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    other = await api.create_vendor("CDC Bill Vendor")
    created = (await api.post("bill", bill_body(other["Id"], api.account_id("Contractors"), "1"))).json()["Bill"]
    await api.post("bill", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    body = money.loads((await api.get("cdc", entities="Vendor,Bill", changedSince=since)).text)
    groups = body["CDCResponse"][0]["QueryResponse"]
    vendors = next(group["Vendor"] for group in groups if "Vendor" in group)
    bills = next(group["Bill"] for group in groups if "Bill" in group)
    assert {(v["DisplayName"], v["Active"]) for v in vendors} == {("CDC Vendor", False), ("CDC Bill Vendor", True)}
    assert [b["status"] for b in bills] == ["Deleted"]


async def test_cdc_without_changes_and_too_far_back(api: Api) -> None:
    api.state.advance_clock(10)
    recent = api.state.now().isoformat(timespec="seconds")
    empty = money.loads((await api.get("cdc", entities="Bill", changedSince=recent)).text)
    assert empty["CDCResponse"] == [{"QueryResponse": [{}]}]
    assert fault(await api.get("cdc", entities="Bill", changedSince="2020-01-01T00:00:00-08:00"))["code"] == "4001"


async def test_exchange_rate_lookup(api: Api) -> None:
    body = money.loads((await api.get("exchangerate", sourcecurrencycode="EUR", asofdate="2026-01-05")).text)
    assert body["ExchangeRate"] == {
        "SourceCurrencyCode": "EUR",
        "TargetCurrencyCode": "USD",
        "Rate": Decimal("1.0842"),
        "AsOfDate": "2026-01-05",
    }


async def test_seeded_reference_data_includes_inactive_records(api: Api) -> None:
    assert len(await api.rows("select * from Term")) == 3
    everyone = await api.rows("select * from Employee where Active IN (true, false)")
    assert {(e["DisplayName"], e["Active"]) for e in everyone} == {("John Smith", True), ("Ana Souza", False)}


async def test_seed_can_add_names_that_collide_with_ontop_workers(api: Api) -> None:
    api.state.seed_company(
        "1234", extra_names=[{"kind": "Customer", "display_name": "José Pérez", "email": None, "active": False}]
    )
    customers = api.state.entities("Customer", "1234")
    assert ("José Pérez", False) in {(c["DisplayName"], c["Active"]) for c in customers}
    with pytest.raises(ValueError):
        api.state.seed_company("5678", extra_names=[{"kind": "Account", "display_name": "x"}])


async def test_default_app_comes_seeded_with_the_default_client_and_company() -> None:
    app = create_qbo_emulator()
    token = app.state.qbo.issue_tokens()["access_token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qbo.test") as http:
        response = await http.get(f"/v3/company/{REALM}/preferences", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert TID.match(response.headers["intuit_tid"])
