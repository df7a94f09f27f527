"""The ticket as the funnel handles it: load with its facts, run the machine, store the outcome.

Everything here runs inside the one transaction `Desk.apply` opened: the
ticket row and its history, its timer, the order's refund or cancelation, the
escalation record and every queued email and webhook are committed together
or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from service.desk.outgoing import new_thread_roots, ticket_email, ticket_webhook
from service.desk.requests import (
    DeskError,
    OpenRequest,
    OrderNotFound,
    Outcome,
    TicketAction,
    TicketNotFound,
)
from service.desk.subscriptions import SubscriptionChanges
from service.domain import machine
from service.domain.effects import (
    CancelSubscription,
    Channel,
    RecordEscalation,
    RefundBill,
)
from service.domain.events import Fire, TicketEvent
from service.domain.facts import Facts
from service.domain.machine import Transition
from service.domain.notifications import notifications_for
from service.domain.records import Comment, Order, RecordRef, Ticket, TimerEvent
from service.store import OutboxItem, Queries, ThreadRoots


@dataclass(frozen=True)
class TicketChanges:
    """How the funnel carries out a ticket's transitions; `domain` names our Message-IDs.

    A processed request that cancels the order's subscription does it through
    `subscriptions`, the subscription's own machine, in the same transaction.
    """

    domain: str
    subscriptions: SubscriptionChanges

    async def open(
        self, q: Queries, request: OpenRequest, now: datetime, answered_directly: bool
    ) -> tuple[Outcome, bool]:
        """Open a ticket on an order (or refuse and say why). Also: whether a timer changed."""
        number = await q.tickets.next_number_on(request.order_reference)  # the order's lock
        if number is None:
            raise OrderNotFound(f"there is no order {request.order_reference}")
        facts = await facts_of(q, request.order_reference)
        transition = machine.open_ticket(number, request.event, now, facts)
        threads = new_thread_roots(self.domain)
        ticket = transition.ticket
        if ticket is not None:
            await q.tickets.insert(ticket, threads, request.blobs)
            await _store_timer(q, ticket)
        sender = request.event.sender
        queued, _ = await self._carry_out(
            q,
            transition,
            facts,
            threads,
            now,
            answered_directly,
            new_comments=ticket.comments if ticket is not None else (),
            customer_utc_offset=sender.utc_offset if sender is not None else None,
        )
        outcome = Outcome(
            ticket,
            (transition.refusal,) if transition.refusal else (),
            changed=transition.accepted,
            queued=queued,
        )
        return outcome, ticket is not None and ticket.due is not None

    async def act(
        self, q: Queries, request: TicketAction, now: datetime, answered_directly: bool
    ) -> tuple[Outcome, bool]:
        """Apply a party's events (or a timer's) to one ticket, in order."""
        return await self._apply(q, request.number, request, now, answered_directly)

    async def fire(self, q: Queries, number: int, event: str, at: datetime) -> tuple[Outcome, bool]:
        """A ticket's timer fell due at `at`; a timer no longer pending changes nothing."""
        request = TicketAction(number, (Fire(TimerEvent(event)),))
        return await self._apply(q, number, request, at, answered_directly=False)

    async def _apply(
        self,
        q: Queries,
        number: int,
        request: TicketAction,
        now: datetime,
        answered_directly: bool,
    ) -> tuple[Outcome, bool]:
        loaded = await q.tickets.load(number, for_update=True)
        if loaded is None:
            raise TicketNotFound(f"there is no ticket #{number}")
        original, threads = loaded
        facts = await facts_of(q, original.order_reference, excluding=number)
        vendor, order = facts.vendor, facts.order
        ticket, refusals, queued, changed = original, [], 0, False
        events: tuple[TicketEvent, ...] = tuple(request.events)
        for index, event in enumerate(events):
            if index:  # what the events before this one did may have changed it
                open_request = await q.tickets.open_request_on(order.reference, excluding=number)
                facts = Facts(vendor, order, open_request)
            transition = machine.apply(ticket, event, now, facts)
            if transition.refusal is not None:
                refusals.append(transition.refusal)
            assert transition.ticket is not None
            changed = changed or transition.ticket != ticket
            new_comments = transition.ticket.comments[len(ticket.comments) :]
            ticket = transition.ticket
            sent, facts = await self._carry_out(
                q, transition, facts, threads, now, answered_directly, new_comments=new_comments
            )
            queued, order = queued + sent, facts.order
        timer_changed = ticket.due != original.due
        if changed:
            await q.tickets.save(original, ticket, request.blobs)
        if timer_changed:
            await _store_timer(q, ticket)
        return Outcome(ticket, tuple(refusals), changed=changed, queued=queued), timer_changed

    async def _carry_out(
        self,
        q: Queries,
        transition: Transition,
        facts: Facts,
        threads: ThreadRoots,
        now: datetime,
        answered_directly: bool,
        *,
        new_comments: Sequence[Comment] = (),
        customer_utc_offset: int | None = None,
    ) -> tuple[int, Facts]:
        """Apply the effects that touch other records and queue what the rules send.

        Returns how many deliveries were queued, and the facts as they are now
        (a processed refund changed the order), which each email's list of what
        its reader may do next is worked out from. `new_comments` are the
        comments this transition added (their files go to the other party).
        """
        vendor = facts.vendor
        for effect in transition.effects:
            if isinstance(effect, RefundBill):
                await q.orders.refund_bill(effect.order_reference, effect.billed_at, now)
            elif isinstance(effect, CancelSubscription) and transition.ticket is not None:
                await self.subscriptions.cancel_for_ticket(
                    q, effect.order_reference, transition.ticket.number, now
                )
            elif isinstance(effect, RecordEscalation) and transition.ticket is not None:
                await q.tickets.record_escalation(
                    transition.ticket.number, vendor.id, now, effect.reason
                )
        if any(isinstance(e, RefundBill | CancelSubscription) for e in transition.effects):
            facts = replace(facts, order=await order_of(q, facts.order.reference))
        items: list[OutboxItem] = [
            ticket_email(
                n,
                transition.ticket,
                facts,
                threads,
                now,
                self.domain,
                new_comments=new_comments,
                customer_utc_offset=customer_utc_offset,
            )
            if n.channel is Channel.EMAIL
            else ticket_webhook(n, transition.ticket, facts, now, self.domain)
            for n in notifications_for(
                transition.entries,
                transition.requester,
                vendor,
                answered_directly=answered_directly,
            )
        ]
        if items:
            await q.outbox.enqueue(items)
        return len(items), facts


async def load_ticket(q: Queries, number: int) -> tuple[Ticket, Facts] | None:
    """A ticket with the facts its rules decide from, as the funnel loads them."""
    ticket = await q.tickets.get(number)
    if ticket is None:
        return None
    return ticket, await facts_of(q, ticket.order_reference, excluding=ticket.number)


async def facts_of(q: Queries, reference: str, *, excluding: int | None = None) -> Facts:
    """The order, its vendor and another open request on it (not ticket `excluding`)."""
    found = await q.tickets.facts(reference, excluding=excluding)
    if found is None:
        raise OrderNotFound(f"there is no order {reference}")
    order, vendor, open_request = found
    if vendor is None:  # foreign keys make this unreachable; say so if it ever is not
        raise DeskError(f"order {reference} names vendor {order.vendor_id}, which is missing")
    return Facts(vendor, order, open_request)


async def order_of(q: Queries, reference: str) -> Order:
    order = await q.orders.get(reference)
    if order is None:
        raise OrderNotFound(f"there is no order {reference}")
    return order


async def _store_timer(q: Queries, ticket: Ticket) -> None:
    """The ticket's one pending timer is its `due`: the funnel writes whatever that is."""
    due = ticket.due
    await q.timers.set(
        RecordRef.ticket(ticket.number),
        due.event.value if due else None,
        due.at if due else None,
    )
