"""Emulator fidelity for class and location tracking (reference §5, §6.2, §6.3, §8, §13.3; checklist 14, 25)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.qbo.conftest import REALM, Api, bill_body, fault


def _id(api: Api, kind: str, name: str) -> str:
    return next(row["Id"] for row in api.state.entities(kind) if row["FullyQualifiedName"] == name)


def _tracked(api: Api, **flags: bool) -> None:
    api.state.set_preferences(REALM, flags)


def _with_class(body: dict[str, Any], class_id: str) -> dict[str, Any]:
    for line in body["Line"]:
        line["AccountBasedExpenseLineDetail"]["ClassRef"] = {"value": class_id}
    return body


async def _vendor(api: Api) -> str:
    return str((await api.create_vendor("Tracked Contractor"))["Id"])


async def test_preferences_report_the_tracking_flags_set_per_company(api: Api) -> None:
    prefs = (await api.get("preferences")).json()["Preferences"]["AccountingInfoPrefs"]
    assert prefs == {"ClassTrackingPerLine": False, "ClassTrackingPerTxn": False, "TrackDepartments": False}
    _tracked(api, class_tracking_per_line=True, track_departments=True)
    prefs = (await api.get("preferences")).json()["Preferences"]["AccountingInfoPrefs"]
    assert prefs == {"ClassTrackingPerLine": True, "ClassTrackingPerTxn": False, "TrackDepartments": True}


async def test_preferences_are_settable_over_the_control_endpoint(api: Api) -> None:
    response = await api.http.post(f"{api.emulator.url}/_emulator/preferences", json={"track_departments": True})
    assert response.json()["TrackDepartments"] is True
    refused = await api.http.post(f"{api.emulator.url}/_emulator/preferences", json={"track_everything": True})
    assert refused.status_code == 400


async def test_plain_queries_hide_inactive_classes_and_departments(api: Api) -> None:
    classes = {row["FullyQualifiedName"] for row in await api.rows("select * from Class")}
    assert classes == {"Engineering", "Engineering:Platform", "Sales", "Marketing"}
    everything = await api.rows("select * from Class where Active in (true, false)")
    assert "Research (closed)" in {row["Name"] for row in everything}
    departments = {row["Name"] for row in await api.rows("select * from Department")}
    assert departments == {"United States", "Latin America", "Europe"}
    sub = next(row for row in everything if row["Name"] == "Platform")
    assert sub["SubClass"] is True and sub["ParentRef"]["value"] == _id(api, "Class", "Engineering")


async def test_classes_and_departments_are_seedable_over_the_control_endpoint(
    api: Api, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"{api.emulator.url}/_emulator/tracking", json={"kind": "Department", "name": "Africa", "active": False}
    )
    assert response.status_code == 200
    assert response.json()["entity"]["Active"] is False
    assert "Africa" not in {row["Name"] for row in await api.rows("select * from Department")}


async def test_classes_cannot_be_created_through_the_api_nor_deleted_but_can_be_made_inactive(api: Api) -> None:
    assert fault(await api.post("class", {"Name": "Ops"}))["code"] == "2010"
    sales = next(row for row in api.state.entities("Class") if row["Name"] == "Sales")
    assert fault(await api.post("class", {"Id": sales["Id"], "SyncToken": "0"}, operation="delete"))["code"] == "6000"
    await api.created("class", {"Id": sales["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert "Sales" not in {row["Name"] for row in await api.rows("select * from Class")}


async def test_bill_carries_class_per_line_and_location_with_their_names(api: Api) -> None:
    _tracked(api, class_tracking_per_line=True, track_departments=True)
    body = _with_class(
        bill_body(await _vendor(api), api.account_id("Contractors"), "100.00"),
        _id(api, "Class", "Engineering:Platform"),
    )
    body["DepartmentRef"] = {"value": _id(api, "Department", "Latin America")}
    bill = await api.created("bill", body)
    detail = bill["Line"][0]["AccountBasedExpenseLineDetail"]
    assert detail["ClassRef"] == {"value": _id(api, "Class", "Engineering:Platform"), "name": "Engineering:Platform"}
    assert bill["DepartmentRef"]["name"] == "Latin America"


async def test_inactive_or_unknown_class_is_2500_naming_class_ref(api: Api) -> None:
    _tracked(api, class_tracking_per_line=True)
    vendor, account = await _vendor(api), api.account_id("Contractors")
    for class_id in (_id(api, "Class", "Research (closed)"), "999"):
        error = fault(await api.post("bill", _with_class(bill_body(vendor, account, "10.00"), class_id)))
        assert (error["code"], error["Message"], error["element"]) == ("2500", "Invalid Reference Id", "ClassRef")


async def test_inactive_or_unknown_location_is_2500_naming_department_ref(api: Api) -> None:
    _tracked(api, track_departments=True)
    vendor, account = await _vendor(api), api.account_id("Contractors")
    for department_id in (_id(api, "Department", "Asia (closed)"), "999"):
        body = bill_body(vendor, account, "10.00", DepartmentRef={"value": department_id})
        error = fault(await api.post("bill", body))
        assert (error["code"], error["element"]) == ("2500", "DepartmentRef")


async def test_refs_are_refused_while_their_preference_is_off(api: Api) -> None:
    vendor, account = await _vendor(api), api.account_id("Contractors")
    _tracked(api, class_tracking_per_txn=True)  # §5: a line's ClassRef needs ClassTrackingPerLine
    with_class = _with_class(bill_body(vendor, account, "10.00"), _id(api, "Class", "Sales"))
    error = fault(await api.post("bill", with_class))
    assert (error["code"], error["element"]) == ("6000", "ClassRef")
    with_location = bill_body(vendor, account, "10.00", DepartmentRef={"value": _id(api, "Department", "Europe")})
    assert fault(await api.post("bill", with_location))["element"] == "DepartmentRef"


async def test_vendor_credit_follows_the_same_rules(api: Api) -> None:
    _tracked(api, track_departments=True)
    vendor, account = await _vendor(api), api.account_id("Contractors")
    closed = bill_body(vendor, account, "10.00", DepartmentRef={"value": _id(api, "Department", "Asia (closed)")})
    assert fault(await api.post("vendorcredit", closed))["code"] == "2500"
    credit = await api.created(
        "vendorcredit", bill_body(vendor, account, "10.00", DepartmentRef={"value": _id(api, "Department", "Europe")})
    )
    assert credit["DepartmentRef"]["name"] == "Europe"
