"""Builders for the subscription domain tests: a valid subscription from defaults.

`subscription(renewal="manual", method="invoice")` names only what a rule
depends on; `run(sub, event, now)` drives the pure machine the way the funnel
does; `fire_due(sub)` fires its pending timer at its due time; `sent(t)` reads
which notifications a transition makes, as (template, party) pairs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from service.domain.notifications import notifications_for
from service.domain.records import Bill, Order, OrderItem, ProductKind, Vendor
from service.domain.subscription import machine
from service.domain.subscription.events import FireSubscription, SubscriptionEvent
from service.domain.subscription.machine import SubscriptionFacts, SubscriptionTransition
from service.domain.subscription.records import (
    Renewal,
    Subscription,
    SubscriptionItem,
)
from service.domain.subscription.schedule import next_timer
from tests.domain.builders import at

BILLING = at("2026-12-20 10:00")
"""The next billing date of the default subscription (a Sunday, which does not matter here)."""
NOW = at("2026-12-01 10:00")


def vendor(**settings: object) -> Vendor:
    base = Vendor(id="acme", name="Acme", account_email="owner@acme.test", api_key="k")
    return replace(base, **settings)  # type: ignore[arg-type]


def items(*specs: tuple[int, str] | tuple[int, str, bool]) -> tuple[SubscriptionItem, ...]:
    """Items numbered 1, 2, …: (quantity, unit price[, auto_renew])."""
    made = []
    for number, spec in enumerate(specs, start=1):
        quantity, price, *rest = spec
        auto = bool(rest[0]) if rest else True
        made.append(SubscriptionItem(number, f"SKU-{number}", quantity, Decimal(price), auto))
    return tuple(made)


def subscription(
    *,
    renewal: str = "auto",
    method: str = "credit_card",
    lines: tuple[SubscriptionItem, ...] | None = None,
    billing: datetime = BILLING,
    interval: str = "P1M",
    settings: Vendor | None = None,
    now: datetime = NOW,
) -> Subscription:
    """A subscription as the import leaves it: its timer set from its state at `now`."""
    sub = Subscription(
        id="S1001",
        order_reference="Q7K2M9XA",
        vendor_id="acme",
        customer_email="jane@example.test",
        secret="s3cretS3cret",
        renewal=Renewal(renewal),
        interval=interval,
        next_billing_at=billing,
        payment_method=method,
        currency="USD",
        items=lines if lines is not None else items((1, "19.95")),
    )
    return replace(sub, due=next_timer(sub, settings or vendor(), now))


def facts(sub: Subscription, settings: Vendor | None = None) -> SubscriptionFacts:
    order = Order(
        reference=sub.order_reference,
        vendor_id="acme",
        customer_email=sub.customer_email,
        items=tuple(
            OrderItem(i.sku, i.quantity, i.unit_price, kind=ProductKind.SUBSCRIPTION)
            for i in sub.items
        ),
        payment_method=sub.payment_method,
        purchased_at=at("2026-11-20 10:00"),
        bills=(Bill(at("2026-11-20 10:00"), Decimal("19.95")),),
    )
    return SubscriptionFacts(settings or vendor(), order)


def run(
    sub: Subscription,
    event: SubscriptionEvent,
    now: datetime = NOW,
    settings: Vendor | None = None,
) -> SubscriptionTransition:
    return machine.apply(sub, event, now, facts(sub, settings))


def fire_due(sub: Subscription, settings: Vendor | None = None) -> SubscriptionTransition:
    """Fire the pending timer at its due time, as the scheduler does."""
    assert sub.due is not None, "the subscription has no pending timer"
    return run(sub, FireSubscription(sub.due.event), sub.due.at, settings)


def sent(
    transition: SubscriptionTransition, settings: Vendor | None = None
) -> set[tuple[str, str]]:
    """(template or webhook event, party) of every notification the rules make."""
    return {
        (n.kind, n.party.value)
        for n in notifications_for(
            transition.entries,
            transition.requester,
            settings or vendor(webhook_url="https://h.test"),
        )
    }
