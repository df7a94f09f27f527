"""The funnel: every change to a ticket, from any source, goes through `Desk.apply`.

An email, a web form, an API call and a timer all become a request here. The
funnel loads the ticket and its facts, asks the pure state machine what
happens, and commits everything that follows (the new state, its history,
its timer, the order's refund or cancelation, the queued notifications) in
one transaction. Nothing is sent from here: the outbox worker delivers after
the commit, so a crash can never leave an email sent for a change that was
rolled back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from service.clock import Clock
from service.domain import machine
from service.domain.actions import allowed_actions
from service.domain.effects import (
    CancelSubscription,
    Channel,
    Effect,
    Notify,
    RecordEscalation,
    RefundBill,
)
from service.domain.events import Fire, Open, TicketEvent
from service.domain.machine import Facts, Transition
from service.domain.mailbox import is_addr_spec
from service.domain.notifications import WEBHOOK_KIND, notifications_for
from service.domain.policy import Refusal
from service.domain.records import Order, Party, Ticket, TimerEvent, Vendor
from service.representations import iso, ticket_state_json
from service.store import InboundReceipt, OutboxItem, Queries, Store, ThreadRoots


def legacy_thread_root(number: int, party: Party, token: str, domain: str) -> str:
    """The root shape of tickets opened before each party had its own (issue #13).

    Both parties' roots shared one token, so the customer could write the
    vendor's; a reply naming one of these proves nothing and is never matched.
    """
    return f"<t{number}.{party.value}.{token}@{domain}>"


LEGACY_THREAD_ROOT = re.compile(r"<t[0-9]+\.(?:customer|vendor)\.[0-9a-f]*@[^<>@\s]+>")
"""Any Message-ID of the `legacy_thread_root` shape."""


class DeskError(Exception):
    """A request the funnel cannot even start on; the message says what was wrong."""


class OrderNotFound(DeskError):
    pass


class TicketNotFound(DeskError):
    pass


class UndeliverableAddress(DeskError):
    """Mail would go to something that is not a mailbox; queueing it would fail forever."""


class DuplicateDelivery(DeskError):
    """The same email (Message-ID, recipient and body) arrived again; it acts only once."""


@dataclass(frozen=True)
class OpenRequest:
    """Open a ticket on an order. `blobs` holds attachment bytes by `Attachment.blob_id`."""

    order_reference: str
    event: Open
    blobs: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketAction:
    """Apply events to one ticket, in order, in one transaction (a reply and its `#close`)."""

    number: int
    events: Sequence[TicketEvent]
    blobs: Mapping[str, bytes] = field(default_factory=dict)


Request = OpenRequest | TicketAction


@dataclass(frozen=True)
class Outcome:
    ticket: Ticket | None
    refusals: tuple[Refusal, ...] = ()
    changed: bool = False
    queued: int = 0

    @property
    def accepted(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class MailIdentity:
    """How maildesk's own mail is addressed: the support domain its Message-IDs live in."""

    domain: str


class Desk:
    def __init__(self, store: Store, clock: Clock, identity: MailIdentity) -> None:
        self.store = store
        self.clock = clock
        self.identity = identity

    async def apply(
        self,
        request: Request,
        *,
        at: datetime | None = None,
        refusals_by_email: bool = True,
        receipt: InboundReceipt | None = None,
    ) -> Outcome:
        """Apply one request in one transaction and report what happened.

        `at` overrides the moment the event takes effect (the scheduler passes a
        timer's due time). With `refusals_by_email=False` (the API, which answers
        in its response) a refusal queues no email. A `receipt` (the email that
        asked) is stored in the same transaction; if that exact delivery was
        stored before, nothing is applied and `DuplicateDelivery` is raised.
        """
        now = at or self.clock.now()
        async with self.store.transaction() as q:
            if isinstance(request, OpenRequest):
                outcome = await self._open(q, request, now, refusals_by_email)
            else:
                outcome = await self._act(q, request, now, refusals_by_email)
            if receipt is not None:
                opened = isinstance(request, OpenRequest) and outcome.changed
                await self._keep(
                    q,
                    replace(
                        receipt,
                        status="acted" if outcome.accepted else "refused",
                        detail="; ".join(r.reason for r in outcome.refusals),
                        ticket_number=outcome.ticket.number if outcome.ticket else None,
                        opened_ticket=opened,
                    ),
                )
            return outcome

    async def keep(self, receipt: InboundReceipt) -> None:
        """Store a received email that acted on nothing (automatic mail, a bounce)."""
        async with self.store.transaction() as q:
            await self._keep(q, receipt)

    @staticmethod
    async def _keep(q: Queries, receipt: InboundReceipt) -> None:
        if not await q.record_inbound(receipt):
            raise DuplicateDelivery(
                f"message {receipt.message_id or '(no Message-ID)'} to {receipt.rcpt_to} "
                "was received before"
            )

    async def fire(self, number: int, event: TimerEvent, due_at: datetime) -> Outcome:
        """Run a due timer; a timer that is no longer pending changes nothing."""
        return await self.apply(TicketAction(number, (Fire(event),)), at=due_at)

    async def notify_address(
        self,
        to_address: str,
        kind: str,
        facts: Mapping[str, str],
        order_reference: str | None = None,
        receipt: InboundReceipt | None = None,
    ) -> None:
        """Queue mail that belongs to no ticket (a lookup result, "no purchase found")."""
        if not is_addr_spec(to_address):
            raise UndeliverableAddress(
                f"{to_address!r} is not an address mail can be sent to; nothing was queued"
            )
        now = self.clock.now()
        item = OutboxItem(
            kind=kind,
            party=Party.CUSTOMER.value,
            to_address=to_address,
            to_name="",
            message_id=self._new_message_id(),
            thread_root=None,
            payload={"facts": dict(facts), "order": order_reference},
            ticket_number=None,
            created_at=now,
        )
        async with self.store.transaction() as q:
            await q.enqueue([item])
            if receipt is not None:
                await self._keep(q, receipt)

    # --- the two shapes of request --------------------------------------------------

    async def _open(
        self, q: Queries, request: OpenRequest, now: datetime, refusals_by_email: bool
    ) -> Outcome:
        order, vendor = await self._facts_of(q, request.order_reference)
        await q.lock_order(order.reference)
        facts = Facts(vendor, order, await q.open_request_on(order.reference))
        number = await q.next_ticket_number()
        transition = machine.open_ticket(number, request.event, now, facts)
        threads = ThreadRoots(customer=self._new_message_id(), vendor=self._new_message_id())
        if transition.ticket is not None:
            await q.insert_ticket(transition.ticket, threads, request.blobs)
        queued, _ = await self._carry_out(q, transition, facts, threads, now, refusals_by_email)
        return Outcome(
            transition.ticket,
            (transition.refusal,) if transition.refusal else (),
            changed=transition.accepted,
            queued=queued,
        )

    async def read_ticket(self, number: int) -> tuple[Ticket, Facts] | None:
        """A ticket with the facts its rules decide from, as the funnel would load them.

        For doors that show what a party may do (`allowed_actions`) without acting.
        """
        async with self.store.reading() as q:
            ticket = await q.ticket(number)
            if ticket is None:
                return None
            order, vendor = await self._facts_of(q, ticket.order_reference)
            open_request = await q.open_request_on(order.reference, excluding=ticket.number)
        return ticket, Facts(vendor, order, open_request)

    async def _act(
        self, q: Queries, request: TicketAction, now: datetime, refusals_by_email: bool
    ) -> Outcome:
        original = await q.ticket(request.number, for_update=True)
        if original is None:
            raise TicketNotFound(f"there is no ticket #{request.number}")
        order, vendor = await self._facts_of(q, original.order_reference)
        threads = await q.ticket_thread_roots(original.number) or ThreadRoots(None, None)
        ticket, refusals, queued, changed = original, [], 0, False
        for event in request.events:
            open_request = await q.open_request_on(order.reference, excluding=ticket.number)
            facts = Facts(vendor, order, open_request)
            transition = machine.apply(ticket, event, now, facts)
            if transition.refusal is not None:
                refusals.append(transition.refusal)
            assert transition.ticket is not None
            changed = changed or transition.ticket != ticket
            ticket = transition.ticket
            sent, facts = await self._carry_out(
                q, transition, facts, threads, now, refusals_by_email
            )
            queued, order = queued + sent, facts.order
        if changed:
            await q.save_ticket(original, ticket, request.blobs)
        return Outcome(ticket, tuple(refusals), changed=changed, queued=queued)

    # --- effects -----------------------------------------------------------------------

    async def _carry_out(
        self,
        q: Queries,
        transition: Transition,
        facts: Facts,
        threads: ThreadRoots,
        now: datetime,
        refusals_by_email: bool,
    ) -> tuple[int, Facts]:
        """Apply the effects that touch other records and queue what the rules send.

        The ticket's timer is its `due`, stored with the ticket itself. Returns
        how many notifications were queued, and the facts as they are now (a
        processed refund changed the order), which each email's list of what
        its reader may do next is worked out from.
        """
        vendor = facts.vendor
        for effect in transition.effects:
            await self._carry_out_one(q, effect, transition, vendor, now)
        if any(isinstance(e, RefundBill | CancelSubscription) for e in transition.effects):
            facts = replace(facts, order=await self._order(q, facts.order.reference))
        notifications = notifications_for(
            transition.entries,
            transition.requester,
            vendor,
            answered_directly=not refusals_by_email,
        )
        items = [
            self._outbox_item(n, transition.ticket, facts, threads, now)
            if n.channel is Channel.EMAIL
            else self._webhook_item(n, transition.ticket, facts.order, vendor, now)
            for n in notifications
        ]
        if items:
            await q.enqueue(items)
        return len(items), facts

    async def _carry_out_one(
        self, q: Queries, effect: Effect, transition: Transition, vendor: Vendor, now: datetime
    ) -> None:
        if isinstance(effect, RefundBill):
            await q.refund_bill(effect.order_reference, effect.billed_at, now)
        elif isinstance(effect, CancelSubscription):
            await q.cancel_subscription(effect.order_reference)
        elif isinstance(effect, RecordEscalation) and transition.ticket is not None:
            await q.record_escalation(transition.ticket.number, vendor.id, now, effect.reason)

    def _outbox_item(
        self,
        notify: Notify,
        ticket: Ticket | None,
        facts: Facts,
        threads: ThreadRoots,
        now: datetime,
    ) -> OutboxItem:
        order, vendor = facts.order, facts.vendor
        if notify.party is Party.VENDOR:
            to_address, to_name = vendor.notification_email, vendor.name
        else:
            to_address, to_name = order.customer_email, order.customer_name
        payload: dict[str, object] = {
            "facts": dict(notify.facts),
            "order": order.reference,
            "vendor": vendor.id,
        }
        root: str | None = None
        message_id = self._new_message_id()
        if ticket is not None:
            # A snapshot: the email shows the ticket as it was at this event, however
            # late it is rendered (comments and history by count, the rest by value).
            payload["comments"] = len(ticket.comments)
            payload["history"] = len(ticket.history)
            payload["state"] = ticket_state_json(ticket)
            payload["actions"] = [
                a.value for a in allowed_actions(ticket, notify.party, facts, now)
            ]
            root = self._thread_root(threads, ticket.number, notify.party)
            if notify.kind == "ticket_opened":
                message_id = root
        return OutboxItem(
            kind=notify.kind,
            party=notify.party.value,
            to_address=to_address,
            to_name=to_name,
            message_id=message_id,
            thread_root=root,
            payload=payload,
            ticket_number=ticket.number if ticket is not None else None,
            created_at=now,
        )

    def _webhook_item(
        self, notify: Notify, ticket: Ticket | None, order: Order, vendor: Vendor, now: datetime
    ) -> OutboxItem:
        """A processed refund or cancelation, for the vendor's own systems."""
        assert ticket is not None  # webhooks follow processed tickets only
        payload = {
            "event": notify.kind,
            "ticket": ticket.number,
            "order": order.reference,
            "vendor": vendor.id,
            "customer": order.customer_email,
            "amount": notify.facts.get("amount"),
            "currency": order.currency,
            "at": iso(now),
        }
        return OutboxItem(
            kind=WEBHOOK_KIND,
            party=Party.VENDOR.value,
            to_address=vendor.webhook_url or "",
            to_name=vendor.id,
            message_id=self._new_message_id(),
            thread_root=None,
            payload=payload,
            ticket_number=ticket.number,
            created_at=now,
        )

    def _thread_root(self, threads: ThreadRoots, number: int, party: Party) -> str:
        """The Message-ID that this party's copies of the ticket's emails answer."""
        root = threads.customer if party is Party.CUSTOMER else threads.vendor
        if root is not None:
            return root
        # A ticket from before per-party roots: its emails keep threading under the old
        # shared shape, which inbound threading no longer trusts (see `legacy_thread_root`).
        return legacy_thread_root(number, party, threads.legacy_token, self.identity.domain)

    def _new_message_id(self) -> str:
        return f"<{uuid.uuid4().hex}@{self.identity.domain}>"

    # --- facts ---------------------------------------------------------------------------

    async def _facts_of(self, q: Queries, reference: str) -> tuple[Order, Vendor]:
        order = await self._order(q, reference)
        vendor = await q.vendor(order.vendor_id)
        if vendor is None:  # foreign keys make this unreachable; say so if it ever is not
            raise DeskError(f"order {reference} names vendor {order.vendor_id}, which is missing")
        return order, vendor

    @staticmethod
    async def _order(q: Queries, reference: str) -> Order:
        order = await q.order(reference)
        if order is None:
            raise OrderNotFound(f"there is no order {reference}")
        return order
