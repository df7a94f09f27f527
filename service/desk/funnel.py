"""The funnel: every change, from any source, goes through `Desk`, one transaction each.

An email, a web form, an API call and a timer all become a request here. The
funnel loads the record and its facts, asks the record's pure state machine
what happens, and commits everything that follows (the new state, its
history, its timer, the order's refund or cancelation, the queued emails and
webhooks) in one transaction. The few writes that belong to no record (a kept
message, a bounce, the operator's abuse mark, mail to an address) go through
here too, each in one transaction.

Nothing is sent from here: the outbox worker delivers after the commit, so a
crash can never leave an email sent for a change that was rolled back. The
commit itself wakes the workers (`on_commit`), so no door has to remember to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO

from service.clock import Clock
from service.desk.outgoing import address_email
from service.desk.requests import (
    DeskError,
    DuplicateDelivery,
    MailIdentity,
    OpenRequest,
    Outcome,
    Request,
    SubscriptionAction,
    TicketAction,
    TimerDue,
    UndeliverableAddress,
)
from service.desk.subscriptions import SubscriptionChanges, load_subscription
from service.desk.tickets import TicketChanges, load_ticket
from service.domain.facts import Facts
from service.domain.mailbox import is_addr_spec
from service.domain.records import Party, RecordKind, RecordRef, Ticket, Vendor
from service.domain.subscription.machine import SubscriptionFacts
from service.domain.subscription.records import Subscription
from service.outbound.permanent_links import new_secret
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList
from service.store import EmailItem, InboundReceipt, Queries, Store, WebhookItem
from service.store.access import SigninGrant
from service.tracing import traced


@dataclass(frozen=True)
class Committed:
    """What one committed transaction left for the workers."""

    queued: int = 0
    timers: bool = False


CommitListener = Callable[[Committed], None]


class Desk:
    def __init__(self, store: Store, clock: Clock, identity: MailIdentity) -> None:
        self.store = store
        self.clock = clock
        self.identity = identity
        self.subscriptions = SubscriptionChanges(identity.domain)
        self.tickets = TicketChanges(identity.domain, self.subscriptions)
        self._listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` after every commit that queued deliveries or changed a timer."""
        self._listeners.append(listener)

    @traced("Desk.apply (funnel transaction, commit included)")
    async def apply(
        self,
        request: Request,
        *,
        at: datetime | None = None,
        answered_directly: bool = False,
        receipt: InboundReceipt | None = None,
    ) -> Outcome:
        """Apply one request in one transaction and report what happened.

        `at` overrides the moment the event takes effect (a timer's due time).
        With `answered_directly` (the API, which answers in its response) a
        refusal queues no email. A `receipt` (the email that asked) is stored
        in the same transaction; if that exact delivery was stored before,
        nothing is applied and `DuplicateDelivery` is raised.
        """
        (outcome,) = await self.apply_together(
            [request], at=at, answered_directly=answered_directly, receipt=receipt
        )
        return outcome

    async def apply_together(
        self,
        requests: Sequence[Request],
        *,
        at: datetime | None = None,
        answered_directly: bool = False,
        receipt: InboundReceipt | None = None,
    ) -> list[Outcome]:
        """Apply several requests in order, in one transaction: all of them or none.

        For one email that does two things, such as a reply to a subscription
        email with `#renew off` and a question that opens a support ticket.
        The `receipt` records the outcome of the last request.
        """
        now = at or self.clock.now()
        outcomes: list[Outcome] = []
        async with self._transaction() as (q, committed):
            for request in requests:
                outcome, timers = await self._one(q, request, now, answered_directly)
                committed.append(Committed(outcome.queued, timers))
                outcomes.append(outcome)
            if receipt is not None:
                last = outcomes[-1]
                opened = isinstance(requests[-1], OpenRequest) and last.changed
                await self._keep(
                    q,
                    replace(
                        receipt,
                        status="acted" if all(o.accepted for o in outcomes) else "refused",
                        detail="; ".join(r.reason for o in outcomes for r in o.refusals),
                        ticket_number=last.ticket.number if last.ticket else None,
                        opened_ticket=opened,
                    ),
                )
        return outcomes

    async def _one(
        self, q: Queries, request: Request, now: datetime, answered_directly: bool
    ) -> tuple[Outcome, bool]:
        if isinstance(request, OpenRequest):
            return await self.tickets.open(q, request, now, answered_directly)
        if isinstance(request, TicketAction):
            return await self.tickets.act(q, request, now, answered_directly)
        if isinstance(request, SubscriptionAction):
            return await self.subscriptions.act(q, request, now, answered_directly)
        return await self._fire(q, request)

    async def fire(self, record: RecordRef, event: str, due_at: datetime) -> Outcome:
        """Run a due timer at the moment it was due; one no longer pending changes nothing."""
        return await self.apply(TimerDue(record, event, due_at), at=due_at)

    async def _fire(self, q: Queries, due: TimerDue) -> tuple[Outcome, bool]:
        number = due.record.ticket_number
        if due.record.kind is RecordKind.TICKET and number is not None:
            return await self.tickets.fire(q, number, due.event, due.at)
        if due.record.kind is RecordKind.SUBSCRIPTION:
            return await self.subscriptions.fire(q, due.record.id, due.event, due.at)
        raise DeskError(f"no record kind {due.record.kind} has timers")

    async def read_ticket(self, number: int) -> tuple[Ticket, Facts] | None:
        """A ticket with the facts its rules decide from, as the funnel would load them.

        For doors that show what a party may do (`allowed_actions`) without acting.
        """
        async with self.store.reading() as q:
            return await load_ticket(q, number)

    async def read_subscription(
        self, subscription_id: str, *, vendor_id: str | None = None
    ) -> tuple[Subscription, SubscriptionFacts] | None:
        """A subscription with its facts, for doors that show what the customer may choose."""
        async with self.store.reading() as q:
            return await load_subscription(q, subscription_id, vendor_id=vendor_id)

    # --- writes that belong to no record ---------------------------------------------

    async def import_catalog(
        self, data: object, *, webhook_allow: AllowList = NO_EXCEPTIONS
    ) -> dict[str, int]:
        """Import vendors, products, orders and subscriptions (SPEC §8) in one transaction;
        new subscriptions' timers wake the scheduler."""
        from service.catalog.writing import write_catalog  # the catalog builds on the desk

        async with self._transaction() as (q, committed):
            counts, timers = await write_catalog(
                q, data, self.clock.now(), webhook_allow=webhook_allow
            )
            committed.append(Committed(timers=timers))
        return counts

    async def import_stream(
        self, source: IO[bytes], *, webhook_allow: AllowList = NO_EXCEPTIONS
    ) -> dict[str, int]:
        """`import_catalog` for an import of any size, read as a stream from `source`
        (seekable), in one transaction (see `service.catalog.stream`)."""
        from service.catalog.stream import write_stream

        async with self._transaction() as (q, committed):
            counts, timers = await write_stream(
                q, source, self.clock.now(), webhook_allow=webhook_allow
            )
            committed.append(Committed(timers=timers))
        return counts

    async def create_missing_subscriptions(self) -> int:
        """Subscription records for orders from before they existed (see the catalog)."""
        from service.catalog.writing import create_missing_subscriptions

        async with self._transaction() as (q, committed):
            made = await create_missing_subscriptions(q, self.clock.now())
            committed.append(Committed(timers=made > 0))
        return made

    async def rotate_subscription_secret(self, subscription_id: str) -> Subscription | None:
        """A new permanent secret: every earlier self-service link stops working (SPEC §7).

        The secret is no part of the subscription's state or history, so no
        machine runs; None when there is no such subscription.
        """
        async with self._transaction() as (q, _):
            if not await q.subscriptions.set_secret(subscription_id, new_secret()):
                return None
            return await q.subscriptions.get(subscription_id)

    @traced("Desk.keep (funnel transaction, commit included)")
    async def keep(self, receipt: InboundReceipt) -> None:
        """Store a received email that acted on nothing (automatic mail, a refusal)."""
        async with self._transaction() as (q, _):
            await self._keep(q, receipt)

    async def mark_bouncing(
        self, addresses: Sequence[str], detail: str, receipt: InboundReceipt
    ) -> None:
        """Record that mail to `addresses` bounced, with the bounce that said so."""
        async with self._transaction() as (q, _):
            for address in addresses:
                await q.inbound.mark_bouncing(address, receipt.received_at, detail)
            await self._keep(q, receipt)

    async def clear_bouncing(self, address: str) -> bool:
        """Mail to `address` may be sent again: it wrote in (so it receives mail), or the
        operator says so in the console; True when there was a mark."""
        async with self._transaction() as (q, _):
            return await q.inbound.clear_bouncing(address)

    async def set_vendor_abusing(
        self, vendor_id: str, abusing: bool, *, by: str = "operator"
    ) -> Vendor | None:
        """The operator's mark on a vendor that abuses the save-the-sale window, noted in the
        vendor's mark history with `by` (who set it); None if the vendor is absent."""
        async with self._transaction() as (q, _):
            if not await q.vendors.set_abusing(vendor_id, abusing, at=self.clock.now(), by=by):
                return None
            return await q.vendors.get(vendor_id)

    @traced("Desk.notify_address (funnel transaction, commit included)")
    async def notify_address(
        self,
        to_address: str,
        kind: str,
        facts: Mapping[str, str],
        order_reference: str | None = None,
        receipt: InboundReceipt | None = None,
        *,
        orders: Sequence[str] = (),
        party: Party = Party.CUSTOMER,
        utc_offset: int | None = None,
    ) -> None:
        """Queue mail that belongs to no record (a lookup result, "no purchase found").

        `party` is who reads it (a vendor's refused command is the vendor's);
        `orders` are the purchases a lookup lists; `utc_offset` is the zone
        of the email that asked, which the reader's times are shown in.
        """
        if not is_addr_spec(to_address):
            raise UndeliverableAddress(
                f"{to_address!r} is not an address mail can be sent to; nothing was queued"
            )
        item = address_email(
            to_address,
            kind,
            facts,
            order_reference,
            self.clock.now(),
            self.identity.domain,
            orders=orders,
            party=party,
            utc_offset=utc_offset,
        )
        async with self._transaction() as (q, committed):
            await q.outbox.enqueue([item])
            if receipt is not None:
                await self._keep(q, receipt)
            committed.append(Committed(queued=1))

    # --- the desk's and the console's own writes (issue #17) ------------------------------

    async def issue_signin_link(
        self, token_hash: str, grant: SigninGrant, expires_at: datetime, email: EmailItem
    ) -> None:
        """Keep a sign-in link (its hash) and queue the email that carries it, together."""
        now = self.clock.now()
        async with self._transaction() as (q, committed):
            await q.access.forget_links_before(now)
            await q.access.add_link(token_hash, grant, now, expires_at)
            await q.outbox.enqueue([email])
            committed.append(Committed(queued=1))

    async def redeem_signin_link(self, token_hash: str, session_hash: str) -> SigninGrant | None:
        """Spend a link and start the session it grants, at once; None for a spent or stale link."""
        now = self.clock.now()
        async with self._transaction() as (q, _):
            grant = await q.access.use_link(token_hash, now)
            if grant is not None:
                await q.access.start_session(session_hash, grant, now)
            return grant

    async def start_session(self, session_hash: str, grant: SigninGrant) -> None:
        """A session granted without a link (the operator's admin token)."""
        async with self._transaction() as (q, _):
            await q.access.start_session(session_hash, grant, self.clock.now())

    async def touch_session(self, session_hash: str) -> None:
        async with self._transaction() as (q, _):
            await q.access.touch_session(session_hash, self.clock.now())

    async def end_session(self, session_hash: str) -> None:
        """Sign out: the session ends for every browser and tab that holds it."""
        async with self._transaction() as (q, _):
            await q.access.end_session(session_hash, self.clock.now())

    async def save_vendor(self, vendor: Vendor) -> None:
        """A vendor's changed settings (time zone, addresses, webhook, API key), as a whole."""
        async with self._transaction() as (q, _):
            await q.vendors.upsert(vendor)

    async def queue_webhook(self, item: WebhookItem) -> None:
        """A webhook that belongs to no record: the desk's "send a test event"."""
        async with self._transaction() as (q, committed):
            await q.outbox.enqueue([item])
            committed.append(Committed(queued=1))

    async def retry_delivery(self, outbox_id: int) -> bool:
        """The operator's "try again now" for a failed or retrying delivery."""
        async with self._transaction() as (q, committed):
            done = await q.outbox.retry_now(outbox_id, self.clock.now())
            if done:
                committed.append(Committed(queued=1))
            return done

    async def give_up_delivery(self, outbox_id: int) -> bool:
        """The operator's "give up" for a delivery still being retried."""
        async with self._transaction() as (q, _):
            return await q.outbox.give_up(outbox_id)

    async def release_for_replay(self, inbound_id: int) -> tuple[bytes, str, str] | None:
        """Take a kept message that was not acted on out of the duplicate check, so the intake
        can act on it again: (raw, envelope sender, recipient); None if absent or acted on."""
        async with self._transaction() as (q, _):
            return await q.inbound.release_for_replay(inbound_id)

    # --- the transaction ---------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[Queries, list[Committed]]]:
        """One transaction; once it has committed, the listeners hear what it left."""
        committed: list[Committed] = []
        async with self.store.transaction() as q:
            yield q, committed
        for done in committed:
            if done.queued or done.timers:
                for listener in self._listeners:
                    listener(done)

    @staticmethod
    async def _keep(q: Queries, receipt: InboundReceipt) -> None:
        if not await q.inbound.record(receipt):
            raise DuplicateDelivery(
                f"message {receipt.message_id or '(no Message-ID)'} to {receipt.rcpt_to} "
                "was received before"
            )
