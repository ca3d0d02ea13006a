"""Emulator webhooks (checklist item 23): signed legacy and CloudEvents deliveries, retries, duplicates, order."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.server import BackgroundServer
from sync import money
from tests.qbo.conftest import Emulator

VERIFIER = "verifier-token-for-tests"


@dataclass
class Receiver:
    """A webhook endpoint that records raw deliveries and fails the first `fail_first` of them."""

    url: str = ""
    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        return Response(status_code=500 if len(self.received) <= self.fail_first else 200)

    async def wait_for(self, count: int) -> None:
        for _ in range(500):  # poll with a short timeout, never a long sleep
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    app = Starlette(routes=[Route("/hooks", target.handle, methods=["POST"])])
    with BackgroundServer(app) as server:
        target.url = f"{server.url}/hooks"
        yield target


async def create_vendor(emulator: Emulator, http: httpx.AsyncClient, name: str) -> str:
    token = emulator.state.issue_tokens()["access_token"]
    response = await http.post(
        emulator.api("vendor"), content=money.dumps({"DisplayName": name}), headers={"Authorization": f"Bearer {token}"}
    )
    vendor_id: str = response.json()["Vendor"]["Id"]
    return vendor_id


async def test_vendor_create_is_delivered_signed_in_legacy_format(
    emulator: Emulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    emulator.state.webhooks.configure(url=receiver.url, verifier_token=VERIFIER)
    vendor_id = await create_vendor(emulator, http, "Hooked Vendor")
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    expected = base64.b64encode(hmac.new(VERIFIER.encode(), body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["intuit-signature"], expected)
    assert headers["intuit-notification-schema-version"] == "0.1"
    notification = json.loads(body)["eventNotifications"][0]
    entity = notification["dataChangeEvent"]["entities"][0]
    assert notification["realmId"] == emulator.state.companies.__iter__().__next__()
    assert (entity["name"], entity["id"], entity["operation"]) == ("Vendor", vendor_id, "Create")
    assert entity["lastUpdated"].endswith("Z")


async def test_cloudevents_format_and_failed_delivery_is_retried(
    emulator: Emulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.fail_first = 1
    emulator.state.webhooks.configure(url=receiver.url, format="cloudevents", retry_delays_seconds=[0.01, 0.01])
    vendor_id = await create_vendor(emulator, http, "Cloud Vendor")
    await receiver.wait_for(2)
    first, second = (json.loads(body) for _, body in receiver.received[:2])
    assert first[0]["intuitentityid"] == second[0]["intuitentityid"] == vendor_id
    assert second[0]["type"] == "qbo.vendor.created.v1"
    assert second[0]["specversion"] == "1.0"
    for _ in range(500):  # the emulator logs an attempt just after the receiver answers it
        if len(emulator.state.webhooks.deliveries) >= 2:
            break
        await asyncio.sleep(0.01)
    assert [d.status for d in emulator.state.webhooks.deliveries] == [500, 200]


async def test_duplicate_switch_delivers_each_event_twice(
    emulator: Emulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    emulator.state.webhooks.configure(url=receiver.url, duplicate=True)
    await create_vendor(emulator, http, "Twice Vendor")
    await receiver.wait_for(2)
    assert receiver.received[0][1] == receiver.received[1][1]


async def test_out_of_order_switch_reverses_events_of_one_write(
    emulator: Emulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    emulator.state.webhooks.configure(url=receiver.url, out_of_order=True)
    token = emulator.state.issue_tokens()["access_token"]
    items = [{"bId": f"v{i}", "operation": "create", "Vendor": {"DisplayName": f"Order {i}"}} for i in range(3)]
    response = await http.post(
        emulator.api("batch"), content=money.dumps({"BatchItemRequest": items}),
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    created = [item["Vendor"]["Id"] for item in response.json()["BatchItemResponse"]]
    await receiver.wait_for(3)
    delivered = [
        json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0]["id"]
        for _, body in receiver.received
    ]
    assert delivered == list(reversed(created))


async def test_a_bill_payment_notifies_its_creation_and_the_update_of_the_bill_it_paid(
    emulator: Emulator, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    state = emulator.state
    vendor_id = await create_vendor(emulator, http, "Paid By Hook")
    account = next(a["Id"] for a in state.entities("Account") if a["Name"] == "Contractors")
    checking = next(a["Id"] for a in state.entities("Account") if a["Name"] == "Checking")
    line = {"DetailType": "AccountBasedExpenseLineDetail", "Amount": 5,
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}  # fmt: skip
    token = state.issue_tokens()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = await http.post(emulator.api("bill"), content=money.dumps(
        {"VendorRef": {"value": vendor_id}, "Line": [line]}), headers=headers)  # fmt: skip
    bill_id = created.json()["Bill"]["Id"]
    state.webhooks.configure(url=receiver.url, entities={"Bill", "BillPayment"})
    payment = {"VendorRef": {"value": vendor_id}, "PayType": "Check", "TotalAmt": 5,
               "CheckPayment": {"BankAccountRef": {"value": checking}},
               "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": bill_id, "TxnType": "Bill"}]}]}  # fmt: skip
    paid = await http.post(emulator.api("billpayment"), content=money.dumps(payment), headers=headers)

    await receiver.wait_for(2)
    events = [
        json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0] for _, body in receiver.received
    ]
    assert [(e["name"], e["id"], e["operation"]) for e in events] == [
        ("BillPayment", paid.json()["BillPayment"]["Id"], "Create"),
        ("Bill", bill_id, "Update"),
    ]
