"""The subscription state machine of SPEC §7: (subscription, event, now, facts) in, outcome out.

Pure, like the ticket machine: the funnel loads the facts, calls `apply`,
and commits what comes back (the new subscription with its history and
timer, the order's new bill, the notifications the rules make of the new
history entries). A refused event changes nothing and tells the requester
why; a timer that is no longer pending is ignored, so firing is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from service.domain.effects import Effect, RecordBill
from service.domain.notifications import SUBSCRIPTION_REFUSED as REFUSED
from service.domain.policy import Refusal
from service.domain.records import HistoryEntry, Order, Party, SubscriptionStatus, Vendor
from service.domain.subscription import choices, schedule
from service.domain.subscription.events import (
    AnswerChange,
    Billed,
    CanceledByTicket,
    FireSubscription,
    ItemChanged,
    PaymentDeclined,
    RequestRenewal,
    SetAutoRenew,
    SubscriptionEvent,
)
from service.domain.subscription.records import (
    Consent,
    EndReason,
    PaymentStatus,
    PendingChange,
    Renewal,
    Subscription,
    SubscriptionItem,
    SubscriptionTimerEvent,
)


@dataclass(frozen=True)
class SubscriptionFacts:
    """What a subscription's rules know beyond it: its vendor's settings and its order."""

    vendor: Vendor
    order: Order


@dataclass(frozen=True)
class SubscriptionTransition:
    """The outcome of one event: the subscription now, what else to do, what happened."""

    subscription: Subscription
    effects: tuple[Effect, ...] = ()
    refusal: Refusal | None = None
    entries: tuple[HistoryEntry, ...] = ()
    requester: Party = Party.SYSTEM

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def apply(
    subscription: Subscription, event: SubscriptionEvent, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    """Apply one event to a subscription."""
    if isinstance(event, FireSubscription):
        return _fire(subscription, event.event, now, facts)
    if isinstance(event, CanceledByTicket):
        return _canceled_by_ticket(subscription, event, now, facts)
    if isinstance(event, SetAutoRenew | AnswerChange | RequestRenewal):
        refusal = choices.refusal(subscription, choices.choice_of(event))
        if refusal is not None:
            return _refused(subscription, refusal, event.by, now)
        if isinstance(event, SetAutoRenew):
            return _set_auto_renew(subscription, event, now, facts)
        if isinstance(event, AnswerChange):
            return _answer_change(subscription, event, now, facts)
        return _request_renewal(subscription, event, now, facts)
    refusal = _platform_refusal(subscription, event, facts)
    if refusal is not None:
        return _refused(subscription, refusal, event.by, now)
    if isinstance(event, Billed):
        return _billed(subscription, event, now, facts)
    if isinstance(event, PaymentDeclined):
        return _payment_declined(subscription, event, now, facts)
    return _item_changed(subscription, event, now, facts)


def _platform_refusal(
    subscription: Subscription,
    event: Billed | PaymentDeclined | ItemChanged,
    facts: SubscriptionFacts,
) -> Refusal | None:
    """Why the platform's report cannot be recorded (each code is an HTTP status at the API)."""
    if not subscription.is_active:
        what = {Billed: "a bill", PaymentDeclined: "a declined payment", ItemChanged: "a change"}
        return Refusal(
            "canceled",
            f"subscription {subscription.id} is canceled; {what[type(event)]} cannot be "
            "recorded on it",
        )
    if isinstance(event, Billed):
        if not event.amount.is_finite() or event.amount < 0:
            return Refusal("invalid_amount", "amount must be a decimal of zero or more")
        if any(bill.billed_at == event.billed_at for bill in facts.order.bills):
            return Refusal(
                "duplicate_bill",
                f"order {facts.order.reference} already has a bill at {_iso(event.billed_at)}; "
                "nothing was recorded twice",
            )
    if isinstance(event, ItemChanged):
        item = subscription.item(event.item)
        if item is None:
            return Refusal(
                "no_such_item",
                f"subscription {subscription.id} has no item {event.item}; its items are "
                f"numbered 1 to {len(subscription.items)}",
            )
        if event.unit_price is None and event.quantity is None:
            return Refusal("empty_change", "give unit_price, quantity or both")
        if event.unit_price is not None and (
            not event.unit_price.is_finite() or event.unit_price < 0
        ):
            return Refusal("invalid_amount", "unit_price must be a decimal of zero or more")
        if event.quantity is not None and event.quantity < 1:
            return Refusal("invalid_quantity", "quantity must be a whole number of 1 or more")
        if _same(item, event) and item.change is None:
            return Refusal(
                "unchanged", f"item {event.item} already has that unit price and quantity"
            )
    return None


# --- the platform's reports ------------------------------------------------------------------


def _billed(
    subscription: Subscription, event: Billed, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    """A renewal was charged: the billing date moves one interval from where it was.

    So a renewal paid early keeps the time left (SPEC §7, seed 003's anti-virus
    example). Changes that applied are now the items' own values; a declined
    one is dropped; one still awaiting consent stays pending for the next date.
    """
    period_start = subscription.next_billing_at
    period_end = schedule.next_billing_after(
        period_start, subscription.interval, facts.vendor.timezone
    )
    items = tuple(_after_billing(item) for item in subscription.items)
    renewed = replace(
        subscription,
        next_billing_at=period_end,
        items=items,
        payment_status=PaymentStatus.OK,
    )
    detail = {
        "amount": str(event.amount),
        "currency": subscription.currency,
        "billed_at": _iso(event.billed_at),
        "period_start": _iso(period_start),
        "period_end": _iso(period_end),
    }
    effect = RecordBill(subscription.order_reference, event.billed_at, event.amount)
    return _finish(
        renewed, [HistoryEntry("renewed", event.by, now, detail)], event.by, now, facts, (effect,)
    )


def _after_billing(item: SubscriptionItem) -> SubscriptionItem:
    change = item.change
    if change is None or change.awaits_consent:
        return item
    if change.consent is Consent.DECLINED:
        return replace(item, change=None)
    return replace(
        item,
        unit_price=item.next_unit_price,
        quantity=item.next_quantity,
        change=None,
    )


def _payment_declined(
    subscription: Subscription, event: PaymentDeclined, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    past_due = replace(subscription, payment_status=PaymentStatus.PAST_DUE)
    detail = {"reason": event.reason, "declined_at": _iso(event.at)}
    entry = HistoryEntry("payment_declined", event.by, now, detail)
    return _finish(past_due, [entry], event.by, now, facts)


def _item_changed(
    subscription: Subscription, event: ItemChanged, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    """A new price or quantity; a rise needs the customer's consent, and a new change replaces
    a pending one. Posting the item's current values withdraws a pending change."""
    item = subscription.item(event.item)
    assert item is not None  # `_platform_refusal` refused unknown items
    unit_price = event.unit_price if event.unit_price is not None else item.unit_price
    quantity = event.quantity if event.quantity is not None else item.quantity
    change: PendingChange | None = None
    if not _same(item, event):
        rises = quantity * unit_price > item.amount
        change = PendingChange(
            unit_price=event.unit_price,
            quantity=event.quantity,
            needs_consent=rises,
            consent=Consent.PENDING if rises else Consent.NOT_NEEDED,
            asked_at=now,
        )
    changed = _with_item(subscription, replace(item, change=change))
    detail = {
        "item": str(item.number),
        "old_unit_price": str(item.unit_price),
        "old_quantity": str(item.quantity),
        "unit_price": str(unit_price),
        "quantity": str(quantity),
        "old_amount": str(item.amount),
        "new_amount": str(quantity * unit_price),
        "currency": subscription.currency,
        "needs_consent": "yes" if change is not None and change.needs_consent else "no",
        "billing_at": _iso(subscription.next_billing_at),
    }
    if change is None:
        detail["withdrawn"] = "yes"
    kind = "price_change" if change is not None else "price_change_withdrawn"
    return _finish(changed, [HistoryEntry(kind, event.by, now, detail)], event.by, now, facts)


def _same(item: SubscriptionItem, event: ItemChanged) -> bool:
    return (event.unit_price is None or event.unit_price == item.unit_price) and (
        event.quantity is None or event.quantity == item.quantity
    )


# --- the customer's choices ------------------------------------------------------------------


def _set_auto_renew(
    subscription: Subscription, event: SetAutoRenew, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    touched = [
        item
        for item in subscription.items
        if (event.item is None or item.number == event.item) and item.auto_renew != event.on
    ]
    for item in touched:
        subscription = _with_item(subscription, replace(item, auto_renew=event.on))
    kind = "auto_renew_on" if event.on else "auto_renew_off"
    detail = _items_detail(touched, subscription)
    detail["choice"] = choices.choice_of(event).choice.value
    entry = HistoryEntry(kind, event.by, now, detail)
    return _finish(subscription, [entry], event.by, now, facts)


def _answer_change(
    subscription: Subscription, event: AnswerChange, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    touched = [
        item
        for item in subscription.items
        if (event.item is None or item.number == event.item)
        and item.change is not None
        and item.change.awaits_consent
    ]
    answer = Consent.ACCEPTED if event.accept else Consent.DECLINED
    for item in touched:
        assert item.change is not None
        subscription = _with_item(
            subscription, replace(item, change=replace(item.change, consent=answer))
        )
    kind = "price_change_accepted" if event.accept else "price_change_declined"
    detail = _items_detail(touched, subscription)
    detail["choice"] = choices.choice_of(event).choice.value
    detail["old_amount"] = str(sum((i.amount for i in touched), Decimal("0")))
    detail["new_amount"] = str(sum((_proposed_amount(i) for i in touched), Decimal("0")))
    return _finish(subscription, [HistoryEntry(kind, event.by, now, detail)], event.by, now, facts)


def _proposed_amount(item: SubscriptionItem) -> Decimal:
    change = item.change
    if change is None:
        return item.amount
    price = change.unit_price if change.unit_price is not None else item.unit_price
    quantity = change.quantity if change.quantity is not None else item.quantity
    return quantity * price


def _request_renewal(
    subscription: Subscription, event: RequestRenewal, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    detail = {
        "amount": str(subscription.next_amount),
        "currency": subscription.currency,
        "billing_at": _iso(subscription.next_billing_at),
    }
    entry = HistoryEntry("renewal_requested", event.by, now, detail)
    return _finish(subscription, [entry], event.by, now, facts)


# --- timers and tickets ----------------------------------------------------------------------


def _fire(
    subscription: Subscription,
    event: SubscriptionTimerEvent,
    now: datetime,
    facts: SubscriptionFacts,
) -> SubscriptionTransition:
    due = subscription.due
    if not subscription.is_active or due is None or due.event is not event or due.at > now:
        return SubscriptionTransition(subscription)  # stale or early: nothing to do
    if event is SubscriptionTimerEvent.REMINDER:
        return _remind(subscription, now, facts)
    return _billing_date(subscription, now, facts)


def _remind(
    subscription: Subscription, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    billing_at = subscription.next_billing_at
    reminded = replace(subscription, reminded_for=billing_at)
    if not schedule.reminder_wanted(subscription, facts.vendor):
        return _finish(reminded, [], Party.SYSTEM, now, facts)
    if subscription.renewal is Renewal.MANUAL:
        way = "manual"
    elif subscription.pays_online:
        way = "automatic"
    else:
        way = "offline"
    detail = {
        "billing_at": _iso(billing_at),
        "amount": str(subscription.next_amount),
        "currency": subscription.currency,
        "way": way,
    }
    entry = HistoryEntry("renewal_reminder", Party.SYSTEM, now, detail)
    return _finish(reminded, [entry], Party.SYSTEM, now, facts)


def _billing_date(
    subscription: Subscription, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    """The billing date came: end what will not renew, or let unanswered rises lapse."""
    billing_at = subscription.next_billing_at
    if subscription.renewal is Renewal.MANUAL or not subscription.renewing_items:
        ended = replace(
            subscription,
            status=SubscriptionStatus.CANCELED,
            cancel_reason=EndReason.NOT_RENEWED,
            ends_at=billing_at,
        )
        detail = {"reason": EndReason.NOT_RENEWED.value, "renewal": subscription.renewal.value}
        entry = HistoryEntry("subscription_ended", Party.SYSTEM, now, detail)
        return _finish(ended, [entry], Party.SYSTEM, now, facts)
    lapsed = [i for i in subscription.items if schedule.consent_lapses_at_billing(i, billing_at)]
    for item in subscription.items:
        change = item.change
        if item in lapsed or (
            change is not None
            and change.consent is Consent.DECLINED
            and change.asked_at < billing_at
        ):
            subscription = _with_item(subscription, replace(item, change=None))
    entries = []
    if lapsed:
        detail = _items_detail(lapsed, subscription)
        detail["billing_at"] = _iso(billing_at)
        entries.append(HistoryEntry("price_change_lapsed", Party.SYSTEM, now, detail))
    return _finish(subscription, entries, Party.SYSTEM, now, facts)


def _canceled_by_ticket(
    subscription: Subscription, event: CanceledByTicket, now: datetime, facts: SubscriptionFacts
) -> SubscriptionTransition:
    """Canceled with the ticket's processing: timers dropped, nothing more is sent."""
    if not subscription.is_active:
        return SubscriptionTransition(subscription)
    canceled = replace(
        subscription,
        status=SubscriptionStatus.CANCELED,
        cancel_reason=EndReason.CANCELED,
        ends_at=now,
    )
    entry = HistoryEntry("canceled", event.by, now, {"ticket": str(event.ticket)})
    return _finish(canceled, [entry], event.by, now, facts)


# --- helpers ---------------------------------------------------------------------------------


def _finish(
    subscription: Subscription,
    entries: list[HistoryEntry],
    requester: Party,
    now: datetime,
    facts: SubscriptionFacts,
    effects: tuple[Effect, ...] = (),
) -> SubscriptionTransition:
    """Settle what follows from the state: `ends_at` while nothing renews, the next timer."""
    if subscription.is_active:
        nothing_renews = subscription.renewal is Renewal.AUTO and not subscription.renewing_items
        subscription = replace(
            subscription, ends_at=subscription.next_billing_at if nothing_renews else None
        )
    subscription = replace(
        subscription,
        due=schedule.next_timer(subscription, facts.vendor, now),
        history=subscription.history + tuple(entries),
    )
    return SubscriptionTransition(subscription, effects, None, tuple(entries), requester)


def _refused(
    subscription: Subscription, refusal: Refusal, requester: Party, now: datetime
) -> SubscriptionTransition:
    entry = HistoryEntry(REFUSED, requester, now, {"reason": refusal.reason, "code": refusal.code})
    return SubscriptionTransition(subscription, (), refusal, (entry,), requester)


def _with_item(subscription: Subscription, item: SubscriptionItem) -> Subscription:
    items = tuple(item if i.number == item.number else i for i in subscription.items)
    return replace(subscription, items=items)


def _items_detail(items: list[SubscriptionItem], subscription: Subscription) -> dict[str, str]:
    """Which items an entry is about: `items` "1,3"; `item` too when it is exactly one."""
    numbers = [str(item.number) for item in items]
    detail = {"items": ",".join(numbers)}
    if len(numbers) == 1:
        detail["item"] = numbers[0]
    if len(items) == len(subscription.items) and len(items) > 1:
        detail["all"] = "yes"
    return detail


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
