"""The subscription as the funnel handles it: load with its facts, run its machine, store it.

Everything here runs inside the one transaction `Desk.apply` opened, as for
tickets: the subscription and its history, its timer, the order's new bill,
and every queued email and webhook are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from service.desk.outgoing import subscription_email, subscription_webhook
from service.desk.requests import (
    DeskError,
    Outcome,
    SubscriptionAction,
    SubscriptionNotFound,
)
from service.domain.effects import Channel, RecordBill
from service.domain.notifications import notifications_for
from service.domain.records import RecordKind, RecordRef, Vendor
from service.domain.subscription import machine, schedule
from service.domain.subscription.events import CanceledByTicket, FireSubscription
from service.domain.subscription.machine import SubscriptionFacts, SubscriptionTransition
from service.domain.subscription.records import (
    Subscription,
    SubscriptionTimer,
    SubscriptionTimerEvent,
)
from service.store import OutboxItem, Queries
from service.store.timers import TimerSetting


@dataclass(frozen=True)
class SubscriptionChanges:
    """How the funnel carries out a subscription's events; `domain` names our Message-IDs."""

    domain: str

    async def create(
        self, q: Queries, new: Sequence[tuple[Subscription, Vendor]], now: datetime
    ) -> bool:
        """Store new subscriptions (an import's), each with its first timer; whether any has
        one. All of them in a statement of each kind: an import batch creates hundreds."""
        timers = [
            _timer_setting(subscription.id, schedule.next_timer(subscription, vendor, now))
            for subscription, vendor in new
        ]
        await q.subscriptions.insert_many([subscription for subscription, _ in new])
        await q.timers.set_many(timers)
        return any(event is not None for _, event, _ in timers)

    async def act(
        self, q: Queries, request: SubscriptionAction, now: datetime, answered_directly: bool
    ) -> tuple[Outcome, bool]:
        """Apply events to one subscription, in order (a reply's `#renew off` then `#accept`)."""
        original = await q.subscriptions.get(
            request.subscription_id, vendor_id=request.vendor_id, for_update=True
        )
        if original is None:
            raise SubscriptionNotFound(f"there is no subscription {request.subscription_id}")
        subscription, refusals, queued = original, [], 0
        for event in request.events:
            facts = await load_facts(q, subscription)
            transition = machine.apply(subscription, event, now, facts)
            if transition.refusal is not None:
                refusals.append(transition.refusal)
            queued += await self._carry_out(q, transition, facts, now, answered_directly)
            subscription = transition.subscription
        timer_changed = await self._save(q, original, subscription)
        outcome = Outcome(
            None,
            tuple(refusals),
            changed=subscription != original,
            queued=queued,
            subscription=subscription,
        )
        return outcome, timer_changed

    async def fire(
        self, q: Queries, subscription_id: str, event: str, at: datetime
    ) -> tuple[Outcome, bool]:
        """A subscription's timer fell due at `at`; one no longer pending changes nothing."""
        request = SubscriptionAction(
            subscription_id, (FireSubscription(SubscriptionTimerEvent(event)),)
        )
        return await self.act(q, request, at, answered_directly=False)

    async def cancel_for_ticket(
        self, q: Queries, order_reference: str, ticket_number: int, now: datetime
    ) -> bool:
        """A processed refund or cancelation ended the order's subscription (SPEC §2).

        Returns whether a timer changed. An order from before subscriptions were
        records has no subscription: its status alone is marked, as before.
        """
        subscription_id = await q.subscriptions.id_of_order(order_reference)
        if subscription_id is None:
            await q.orders.cancel_subscription(order_reference)
            return False
        request = SubscriptionAction(subscription_id, (CanceledByTicket(ticket_number),))
        _, timer_changed = await self.act(q, request, now, answered_directly=False)
        return timer_changed

    async def _carry_out(
        self,
        q: Queries,
        transition: SubscriptionTransition,
        facts: SubscriptionFacts,
        now: datetime,
        answered_directly: bool,
    ) -> int:
        """Record the bill the event brought, then queue what the rules send."""
        for effect in transition.effects:
            if isinstance(effect, RecordBill):
                await q.orders.add_bill(effect.order_reference, effect.billed_at, effect.amount)
        subscription = transition.subscription
        items: list[OutboxItem] = [
            subscription_email(n, subscription, facts, now, self.domain)
            if n.channel is Channel.EMAIL
            else subscription_webhook(n, subscription, facts, now, self.domain)
            for n in notifications_for(
                transition.entries,
                transition.requester,
                facts.vendor,
                answered_directly=answered_directly,
            )
        ]
        if items:
            await q.outbox.enqueue(items)
        return len(items)

    @staticmethod
    async def _save(q: Queries, original: Subscription, subscription: Subscription) -> bool:
        if subscription != original:
            await q.subscriptions.save(original, subscription)
        if subscription.due != original.due:
            await _store_timer(q, subscription)
            return True
        return False


async def load_subscription(
    q: Queries, subscription_id: str, *, vendor_id: str | None = None
) -> tuple[Subscription, SubscriptionFacts] | None:
    """A subscription with the facts its rules decide from, as the funnel loads them."""
    subscription = await q.subscriptions.get(subscription_id, vendor_id=vendor_id)
    if subscription is None:
        return None
    return subscription, await load_facts(q, subscription)


async def load_facts(q: Queries, subscription: Subscription) -> SubscriptionFacts:
    order = await q.orders.get(subscription.order_reference)
    vendor = await q.vendors.get(subscription.vendor_id)
    if order is None or vendor is None:  # foreign keys make this unreachable
        raise DeskError(
            f"subscription {subscription.id} names order {subscription.order_reference} "
            f"or vendor {subscription.vendor_id}, which is missing"
        )
    return SubscriptionFacts(vendor, order)


async def _store_timer(q: Queries, subscription: Subscription) -> None:
    """The subscription's one pending timer is its `due`: written whatever it is."""
    await q.timers.set(*_timer_setting(subscription.id, subscription.due))


def _timer_setting(subscription_id: str, due: SubscriptionTimer | None) -> TimerSetting:
    return (
        RecordRef(RecordKind.SUBSCRIPTION, subscription_id),
        due.event.value if due else None,
        due.at if due else None,
    )
