"""A first sync creates the suppliers its invoices need in batch calls of 30, not one request each; what a batch
cannot create (a name QuickBooks refuses) the invoice's own turn still creates, each supplier exactly once.

The test company has two people called François O'Connor (two emails): both are planned under that name, so the
batch can create only one of them."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx

from tests.sync.conftest import World
from tests.sync.test_engine import paid_and_fully_mapped, qbo_entities

NAMESAKE = "François O'Connor"


class Requests:
    """What the bot sends to QuickBooks from now on: the suppliers it creates one request each, and in batches."""

    def __init__(self, world: World) -> None:
        self.single_suppliers: list[str] = []
        self.batched_suppliers: list[str] = []
        world.clients.http.event_hooks["request"].append(self._record)

    async def _record(self, request: httpx.Request) -> None:
        if request.method != "POST":
            return
        if request.url.path.endswith("/vendor"):
            self.single_suppliers.append(json.loads(request.content)["DisplayName"])
        elif request.url.path.endswith("/batch"):
            items = json.loads(request.content)["BatchItemRequest"]
            self.batched_suppliers += [item["Vendor"]["DisplayName"] for item in items if "Vendor" in item]


def suppliers_made_for_workers(world: World) -> list[dict[str, Any]]:
    return [
        vendor
        for vendor in qbo_entities(world, "Vendor")
        if "Created by qbo-bot" in str(vendor.get("Notes")) and vendor["DisplayName"] != "Ontop"
    ]


async def test_a_first_sync_creates_its_suppliers_in_batch_calls_not_one_request_each(world: World) -> None:
    connection_id = await world.connect()
    sent = Requests(world)

    result = await world.sync(connection_id)

    made = suppliers_made_for_workers(world)
    assert result.counts.vendors_created == len(made) >= 8
    variant = f"{NAMESAKE} (contractor)"  # the namesake the batch could not create (see the next test)
    assert sorted(sent.single_suppliers) == sorted(["Ontop", variant])
    assert {vendor["DisplayName"] for vendor in made} - {variant} <= set(sent.batched_suppliers)
    assert result.counts.bills_created == len(paid_and_fully_mapped(world))


async def test_a_supplier_the_batch_could_not_create_is_created_by_its_invoice_exactly_once(world: World) -> None:
    connection_id = await world.connect()
    sent = Requests(world)

    result = await world.sync(connection_id)

    names = Counter(str(vendor["DisplayName"]) for vendor in qbo_entities(world, "Vendor"))
    assert max(names.values()) == 1
    assert sent.batched_suppliers.count(NAMESAKE) == 2, "both were planned under the same name"
    assert names[NAMESAKE] == 1 and names[f"{NAMESAKE} (contractor)"] == 1
    emails = {
        vendor["DisplayName"]: vendor["PrimaryEmailAddr"]["Address"]
        for vendor in suppliers_made_for_workers(world)
        if vendor["DisplayName"].startswith(NAMESAKE)
    }
    assert len(set(emails.values())) == 2, "one supplier each, under each person's own email"
    assert result.counts.bills_created == len(paid_and_fully_mapped(world))
