"""Small factories for the domain tests.

Each builder makes a valid record from defaults, so a test names only the facts
its rule depends on: `order(kind="subscription", bills=monthly_bills(...))`,
`vendor(tz=NEW_YORK, policy=within_days(30))`. The helpers at the bottom drive
the pure state machine the way the funnel does (open, act, fire the pending
timer) and read its answer (which notifications, which effects).

Wall-clock times are written in the vendor's zone with `at("2026-06-05 15:00",
NEW_YORK)`; aware datetimes compare as instants, so a UTC result equals the
local time it stands for.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from service.domain import machine
from service.domain.effects import CancelSubscription, Notify, RefundBill
from service.domain.events import Fire, Open, TicketEvent
from service.domain.machine import Facts, Transition
from service.domain.records import (
    Bill,
    Order,
    OrderItem,
    Party,
    ProductKind,
    RefundCategory,
    RefundPolicy,
    SubscriptionStatus,
    Ticket,
    TicketType,
    Vendor,
)

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
SYDNEY = "Australia/Sydney"

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

CUSTOMER = Party.CUSTOMER
VENDOR = Party.VENDOR
OPERATOR = Party.OPERATOR
SYSTEM = Party.SYSTEM
BOTH = frozenset({CUSTOMER, VENDOR})

REFUND = TicketType.REFUND
CANCELATION = TicketType.CANCELATION
SUPPORT = TicketType.SUPPORT

TICKET_NUMBER = 1001
REFERENCE = "Q7K2M9XA"
AUTOMATIC_REFUND_METHODS = (
    "credit_card",
    "paypal",
    "apple_pay",
    "alipay",
    "direct_debit",
    "amazon_pay",
)


# --- time ----------------------------------------------------------------------


def at(text: str, tz: str = "UTC") -> datetime:
    """A wall-clock time in zone `tz`, e.g. `at("2026-06-05 15:00", NEW_YORK)`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


# --- records -------------------------------------------------------------------


def no_restrictions() -> RefundPolicy:
    return RefundPolicy(RefundCategory.NO_RESTRICTIONS)


def within_days(days: int) -> RefundPolicy:
    return RefundPolicy(RefundCategory.WITHIN_DAYS, days)


def approval_required() -> RefundPolicy:
    return RefundPolicy(RefundCategory.APPROVAL_REQUIRED)


def vendor(tz: str = "UTC", policy: RefundPolicy | None = None, abusing: bool = False) -> Vendor:
    return Vendor(
        id="acme",
        name="Acme Software",
        account_email="owner@acme.test",
        support_email="help@acme.test",
        api_key="key-acme",
        timezone=tz,
        refund_policy=policy or no_restrictions(),
        abusing=abusing,
    )


def bill(billed_at: datetime, amount: str = "19.95", refunded: bool = False) -> Bill:
    return Bill(
        billed_at=billed_at.astimezone(UTC),
        amount=Decimal(amount),
        refunded_at=billed_at.astimezone(UTC) + HOUR if refunded else None,
    )


def monthly_bills(first: datetime, count: int, amount: str = "19.95") -> tuple[Bill, ...]:
    """`count` bills 30 days apart, oldest first."""
    return tuple(bill(first + 30 * DAY * n, amount) for n in range(count))


def order(
    kind: str = "digital",
    bills: tuple[Bill, ...] | None = None,
    billed_at: datetime | None = None,
    payment_method: str = "credit_card",
    subscription: str | None = None,
) -> Order:
    """An order of one product of `kind`.

    Give either `bills` or `billed_at` (the single bill of a one-off order).
    A subscription order's subscription is `active` unless `subscription` says
    `canceled`.
    """
    product_kind = ProductKind(kind)
    if bills is None:
        bills = (bill(billed_at or at("2026-06-01 09:00")),)
    status = None
    if product_kind is ProductKind.SUBSCRIPTION:
        status = SubscriptionStatus(subscription or "active")
    return Order(
        reference=REFERENCE,
        vendor_id="acme",
        customer_email="jane@example.test",
        items=(OrderItem("ACME-PRO", 1, Decimal("19.95"), "Acme Pro", product_kind),),
        payment_method=payment_method,
        purchased_at=min(b.billed_at for b in bills),
        bills=bills,
        customer_name="Jane Doe",
        subscription_status=status,
    )


def facts(
    vendor_: Vendor | None = None, order_: Order | None = None, open_request: int | None = None
) -> Facts:
    return Facts(vendor_ or vendor(), order_ or order(), open_request)


# --- driving the machine -------------------------------------------------------


def opening(
    kind: TicketType, by: Party, now: datetime, facts_: Facts, text: str = "Please help."
) -> Transition:
    """Ask the machine to open a ticket."""
    return machine.open_ticket(TICKET_NUMBER, Open(kind, by, text), now, facts_)


def opened(kind: TicketType, by: Party, now: datetime, facts_: Facts) -> Ticket:
    """Open a ticket that the rules accept, and return it."""
    transition = opening(kind, by, now, facts_)
    assert transition.accepted, transition.refusal
    assert transition.ticket is not None
    return transition.ticket


def act(ticket: Ticket, event: TicketEvent, now: datetime, facts_: Facts) -> Transition:
    return machine.apply(ticket, event, now, facts_)


def accepted(ticket: Ticket, event: TicketEvent, now: datetime, facts_: Facts) -> Ticket:
    """Apply an event the rules accept, and return the new ticket."""
    transition = machine.apply(ticket, event, now, facts_)
    assert transition.accepted, transition.refusal
    assert transition.ticket is not None
    return transition.ticket


def fire(ticket: Ticket, facts_: Facts, now: datetime | None = None) -> Transition:
    """Fire the ticket's pending timer, at its due time unless `now` says otherwise."""
    assert ticket.due is not None, "the ticket has no pending timer"
    return machine.apply(ticket, Fire(ticket.due.event), now or ticket.due.at, facts_)


def after(transition: Transition, facts_: Facts) -> Facts:
    """The facts once the funnel has carried out a transition's order effects."""
    current = facts_.order
    for effect in transition.effects:
        if isinstance(effect, RefundBill):
            bills = tuple(
                replace(b, refunded_at=b.billed_at + HOUR) if b.billed_at == effect.billed_at else b
                for b in current.bills
            )
            current = replace(current, bills=bills)
        elif isinstance(effect, CancelSubscription):
            current = replace(current, subscription_status=SubscriptionStatus.CANCELED)
    return replace(facts_, order=current)


# --- reading the answer --------------------------------------------------------


def effects_of(transition: Transition, kind: type[Any]) -> list[Any]:
    return [e for e in transition.effects if isinstance(e, kind)]


def notified(transition: Transition) -> set[tuple[str, Party]]:
    """(template kind, party) of every notification the transition sends."""
    return {(n.kind, n.party) for n in transition.notifications}


def kinds_to(transition: Transition, party: Party) -> set[str]:
    return {n.kind for n in transition.notifications if n.party is party}


def refused_with(transition: Transition, code: str, requester: Party) -> Notify:
    """Assert a refusal with `code` that tells only the requester, and return that mail."""
    assert not transition.accepted
    assert transition.refusal is not None
    assert transition.refusal.code == code, transition.refusal
    assert transition.refusal.reason
    assert transition.effects == ()
    (mail,) = transition.notifications
    assert mail.kind == "request_refused"
    assert mail.party is requester
    assert mail.facts["reason"] == transition.refusal.reason
    return mail


def is_noop(transition: Transition, ticket: Ticket) -> bool:
    """Nothing happened: same ticket, no effects, nothing sent."""
    return (
        transition.accepted
        and transition.ticket == ticket
        and transition.effects == ()
        and transition.notifications == ()
    )
