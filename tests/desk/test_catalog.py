"""Importing the SPEC §8 format: idempotent, and errors that name the record and field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service.catalog import ImportError_, import_catalog
from service.clock import FakeClock
from service.desk import Desk, OpenRequest
from service.domain.events import Open
from service.domain.records import (
    Party,
    ProductKind,
    RecordRef,
    RefundCategory,
    SubscriptionStatus,
    TicketType,
)
from service.store import Store
from tests.conftest import START, small_catalog

pytestmark = pytest.mark.anyio

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"


async def test_the_demo_fixture_imports_and_reimports_to_the_same_state(store: Store) -> None:
    data = json.loads(DEMO.read_text())
    first = await import_catalog(store, data)
    second = await import_catalog(store, data)
    assert first == second == {"vendors": 2, "products": 5, "orders": 11}
    async with store.reading() as q:
        acme = await q.vendors.get("acme")
        order = await q.orders.get("Q7K2M9XA")
        kinds = {
            o.items[0].kind
            for r in ("B00K4JNE", "MUG2B0BX", "Q7K2M9XA")
            if (o := await q.orders.get(r)) is not None
        }
    assert acme is not None and acme.timezone == "America/New_York"
    assert acme.refund_policy.category is RefundCategory.WITHIN_DAYS
    assert acme.refund_policy.days == 30
    assert order is not None and len(order.bills) == 3
    assert order.latest_bill is not None and order.latest_bill.amount == Decimal("19.95")
    assert order.subscription_status is SubscriptionStatus.ACTIVE
    assert kinds == {ProductKind.DIGITAL, ProductKind.PHYSICAL, ProductKind.SUBSCRIPTION}


async def test_reimport_keeps_refunds_cancelations_and_generated_api_keys(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    data = small_catalog()
    del data["vendors"][0]["api_key"]
    await import_catalog(store, data)
    async with store.reading() as q:
        acme = await q.vendors.get("acme")
    assert acme is not None and acme.api_key.startswith("mdk_")
    outcome = await desk.apply(OpenRequest("SUB00001", Open(TicketType.REFUND, Party.VENDOR)))
    assert outcome.ticket is not None and outcome.ticket.due is not None
    clock.set(outcome.ticket.due.at)
    due = outcome.ticket.due
    await desk.fire(RecordRef.ticket(outcome.ticket.number), due.event.value, due.at)
    await import_catalog(store, data)
    async with store.reading() as q:
        again = await q.vendors.get("acme")
        order = await q.orders.get("SUB00001")
    assert again is not None and again.api_key == acme.api_key
    assert order is not None and order.subscription_status is SubscriptionStatus.CANCELED
    assert order.refunded_amount == Decimal("24.95")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["products"][0].update(vendor="nobody"),
            "products[0] (ACME-PRO).vendor: unknown vendor 'nobody'",
        ),
        (
            lambda d: d["orders"][1]["bills"][0].update(amount="abc"),
            "orders[1] (BOOK0001).bills[0].amount: 'abc' is not a decimal amount",
        ),
        (
            lambda d: d["orders"][1]["bills"][0].update(amount=9.5),
            "orders[1] (BOOK0001).bills[0].amount: expected a decimal string",
        ),
        (
            lambda d: d["vendors"][0].update(timezone="Mars/Olympus"),
            "vendors[0] (acme).timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            lambda d: d["products"][0].update(interval="monthly"),
            "products[0] (ACME-PRO).interval: 'monthly' is not an ISO-8601 duration",
        ),
        (
            lambda d: d["orders"][0].update(purchased_at="yesterday"),
            "orders[0] (SUB00001).purchased_at: 'yesterday' is not an ISO-8601 time",
        ),
        (
            lambda d: d["orders"][0]["items"][0].update(sku="NOPE"),
            "orders[0] (SUB00001).items[0].sku: unknown product 'NOPE'",
        ),
        (
            lambda d: d["vendors"][1]["refund_policy"].update(category="sometimes"),
            "vendors[1] (globex).refund_policy.category: 'sometimes' is not one of",
        ),
        (lambda d: d.update(customers=[]), "import.customers: unknown section"),
        (
            lambda d: d["vendors"][0].update(id="Acme Inc"),
            "vendors[0] (Acme Inc).id: 'Acme Inc' must be a lower-case slug",
        ),
    ],
)
async def test_an_invalid_file_names_the_record_and_field_and_imports_nothing(
    store: Store, mutate: Any, message: str
) -> None:
    data = copy.deepcopy(small_catalog())
    mutate(data)
    with pytest.raises(ImportError_) as raised:
        await import_catalog(store, data)
    assert message in str(raised.value)
    async with store.reading() as q:
        assert await q.vendors.all() == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("account", "owner"),
        ("account", "owner@acme.test, boss@acme.test"),
        ("support", "help desk@acme.test"),
        ("agent", "<agent@acme.test>"),
        ("customer", "jane"),
        ("customer", "jane@example.test\nbcc@evil.test"),
    ],
)
async def test_an_address_nobody_can_be_mailed_at_is_refused_at_import(
    store: Store, where: str, value: str
) -> None:
    """Notifications go to these addresses: one that cannot be mailed is refused, naming it."""
    data = small_catalog()
    vendor, order = data["vendors"][0], data["orders"][0]
    if where == "account":
        vendor["account_email"] = value
    elif where == "support":
        vendor["support_email"] = value
    elif where == "agent":
        vendor["agent_emails"] = [value]
    else:
        order["customer"]["email"] = value
    with pytest.raises(ImportError_) as raised:
        await import_catalog(store, data)
    assert "is not one email address" in str(raised.value)
    async with store.reading() as q:
        assert await q.vendors.all() == []


async def test_an_id_that_is_another_orders_subscription_is_refused(store: Store) -> None:
    """Looked up for a whole batch at once, the id is still refused, naming its order."""
    await import_catalog(store, small_catalog(), clock=FakeClock(START))
    data = small_catalog()
    second = dict(data["orders"][0], reference="SUB00002", subscription={"id": "S1001"})
    data["orders"] = [dict(data["orders"][0], reference="SUB00003"), second]
    with pytest.raises(ImportError_) as raised:
        await import_catalog(store, data, clock=FakeClock(START))
    assert str(raised.value) == (
        "orders (SUB00002).subscription.id: S1001 is already the subscription of another order"
    )
    async with store.reading() as q:
        assert await q.orders.get("SUB00003") is None
        assert await q.subscriptions.id_of_order("SUB00001") == "S1001"


async def test_a_new_subscription_bills_on_from_the_latest_stored_bill(store: Store) -> None:
    """Bills already stored stay on a re-imported order: the latest of all of them counts,
    not the latest the file names."""
    data = small_catalog()
    book = data["orders"][1]
    book["bills"] = [{"billed_at": "2026-11-20T15:00:00Z", "amount": "9.00"}]
    await import_catalog(store, data, clock=FakeClock(START))
    book["items"] = [{"sku": "ACME-PRO", "quantity": 1}]
    book["bills"] = [{"billed_at": "2026-10-30T12:00:00Z", "amount": "19.95"}]
    await import_catalog(store, data, clock=FakeClock(START))
    async with store.reading() as q:
        subscription_id = await q.subscriptions.id_of_order("BOOK0001")
        assert subscription_id is not None
        subscription = await q.subscriptions.get(subscription_id)
    assert subscription is not None
    assert subscription.next_billing_at == datetime(2026, 12, 20, 15, 0, tzinfo=UTC)
