"""The outbox worker: delivers queued notifications, with retries, exactly as queued.

Rows are claimed with a lease (and `SKIP LOCKED` on PostgreSQL), so several
workers never send the same row at once, and the claims of a worker that
died expire and are taken over. A relay that answers 4xx or refuses the
connection makes the row wait with exponential backoff, and pauses the whole
worker, so a relay that is down costs one attempt per backoff step instead
of one per queued email. A 5xx fails the row for the operator to see
(`maildesk outbox`); nobody is mailed about it, so a broken relay can never
flood anyone with failure notices. Every retry carries the row's Message-ID.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

import anyio
import anyio.lowlevel

from service.clock import Clock
from service.leases import LEASE, renewing
from service.metrics import Metrics
from service.outbound.addresses import bounce_address
from service.outbound.compose import Composer, Snapshots
from service.outbound.render import RenderError, UnknownNotificationKind
from service.outbound.transport import (
    MailTransport,
    MaybeDelivered,
    MessageDeferred,
    PermanentFailure,
    TransientFailure,
)
from service.outbound.webhook import WebhookSender
from service.store import EmailItem, QueuedDelivery, Store, WebhookItem
from service.workers import Worker

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=5)
RENDER_CHUNK = 8


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … doubling up to an hour between attempts."""
    return min(FIRST_RETRY * (1 << min(max(0, attempts - 1), 20)), LONGEST_WAIT)


class OutboxWorker(Worker):
    name = "outbox"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        transport: MailTransport,
        composer: Composer,
        *,
        batch: int = 100,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        webhooks: WebhookSender | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(poll_interval)
        self.store = store
        self.clock = clock
        self.transport = transport
        self.composer = composer
        self.batch = batch
        self.concurrency = concurrency
        self.webhooks = webhooks or WebhookSender()
        self.metrics = metrics
        self.relay_down_until: datetime | None = None
        self._relay_failures = 0
        self._lock = anyio.Lock()

    async def run_once(self) -> int:
        """Deliver what is due now; return how many were delivered."""
        async with self._lock:
            delivered = 0
            while True:
                now = self.clock.now()
                if self.relay_down_until is not None and now < self.relay_down_until:
                    return delivered
                async with self.store.transaction() as q:
                    claimed = await q.outbox.claim(now, now + LEASE, self.batch)
                if not claimed:
                    return delivered
                async with renewing(partial(self._renew, [m.id for m in claimed])):
                    sent, stop = await self._deliver_batch(claimed, now)
                delivered += sent
                if stop:
                    return delivered

    async def _deliver_batch(
        self, claimed: list[QueuedDelivery], now: datetime
    ) -> tuple[int, bool]:
        """Render a few, start sending them, render the next few while those travel.

        Rendering is CPU on the event loop; sending is mostly waiting on the
        relay. Renders go in small chunks so a relay's reply never waits behind
        more than a few of them (interleaved one by one, round trips stretched
        from ~1 ms to ~20 ms), while the relay always has work in flight.
        """
        results: dict[int, tuple[str, str]] = {}
        messages: dict[int, bytes] = {}
        limiter = anyio.CapacityLimiter(self.concurrency)
        snapshots = Snapshots()

        async with self.store.reading() as q:
            bouncing = await q.inbound.bouncing(
                [m.item.to_address for m in claimed if isinstance(m.item, EmailItem)]
            )

        async def render(mails: list[QueuedDelivery]) -> None:
            for mail in mails:
                if isinstance(mail.item, EmailItem) and mail.item.to_address.lower() in bouncing:
                    since, why = bouncing[mail.item.to_address.lower()]
                    results[mail.id] = (
                        "failed",
                        f"not sent: <{mail.item.to_address}> bounces hard since "
                        f"{since:%Y-%m-%d %H:%M} UTC ({why}); it is mailed again once it "
                        "writes in",
                    )
                elif isinstance(mail.item, EmailItem):
                    composed = await self._compose(mail.id, mail.item, snapshots)
                    if isinstance(composed, bytes):
                        messages[mail.id] = composed
                    else:
                        results[mail.id] = composed
                await anyio.lowlevel.checkpoint()  # let replies and the listener in

        async def deliver(mail: QueuedDelivery) -> None:
            if mail.id in results:
                return
            async with limiter:
                if self.relay_down_until is not None and now < self.relay_down_until:
                    return  # the relay failed meanwhile: leave the rest for later
                if isinstance(mail.item, WebhookItem):
                    results[mail.id] = await self._post_webhook(mail.id, mail.item)
                else:
                    results[mail.id] = await self._send(
                        mail.id, mail.item, messages.pop(mail.id), now
                    )

        try:
            # The first message goes alone, as a probe: if the relay is down, only it is tried.
            await render(claimed[:1])
            await deliver(claimed[0])
            async with anyio.create_task_group() as group:
                for start in range(1, len(claimed), RENDER_CHUNK):
                    chunk = claimed[start : start + RENDER_CHUNK]
                    if self.relay_down_until is not None and now < self.relay_down_until:
                        break
                    await render(chunk)
                    for mail in chunk:
                        group.start_soon(deliver, mail)
        finally:
            # Also when the worker is stopped mid-batch: what was sent is marked sent, and
            # the rest is released for the next worker now, not resent when the lease ends.
            with anyio.CancelScope(shield=True):
                sent = await self._record(claimed, results, now)
        return sent, self.relay_down_until is not None and now < self.relay_down_until

    async def _renew(self, outbox_ids: list[int]) -> None:
        async with self.store.transaction() as q:
            await q.outbox.renew(outbox_ids, self.clock.now() + LEASE)

    async def _record(
        self, claimed: list[QueuedDelivery], results: dict[int, tuple[str, str]], now: datetime
    ) -> int:
        """Write each claimed row's outcome in one transaction; returns how many were sent."""
        sent: list[int] = []
        async with self.store.transaction() as q:
            for mail in claimed:
                outcome, error = results.get(mail.id, ("release", ""))
                if self.metrics is not None and outcome != "release":
                    self.metrics.delivered(outcome)
                if outcome == "sent":
                    sent.append(mail.id)
                elif outcome == "failed":
                    await q.outbox.mark_failed(mail.id, error)
                elif outcome == "retry":
                    if now - mail.item.created_at > GIVE_UP_AFTER:
                        await q.outbox.mark_failed(
                            mail.id, f"gave up after {GIVE_UP_AFTER}: {error}"
                        )
                    else:
                        await q.outbox.mark_retry(mail.id, now + backoff(mail.attempts + 1), error)
                else:
                    await q.outbox.release(mail.id)
            await q.outbox.mark_all_sent(sent, now)
        return len(sent)

    async def _compose(
        self, outbox_id: int, email: EmailItem, snapshots: Snapshots
    ) -> bytes | tuple[str, str]:
        try:
            return await self.composer.compose(email, snapshots)
        except (UnknownNotificationKind, RenderError, KeyError, ValueError) as error:
            log.error("outbox #%s cannot be rendered: %s", outbox_id, error)
            return "failed", f"cannot render: {error}"

    def _envelope_sender(self, outbox_id: int) -> str:
        """This delivery's own bounce address (VERP), so a bounce names it."""
        mail = self.composer.settings
        return bounce_address(mail.secret, mail.domain, outbox_id)

    async def _send(
        self, outbox_id: int, email: EmailItem, message: bytes, now: datetime
    ) -> tuple[str, str]:
        try:
            await self.transport.send(self._envelope_sender(outbox_id), [email.to_address], message)
        except MaybeDelivered as error:
            log.warning(
                "outbox #%s may have been delivered (%s); retrying with the same Message-ID %s",
                outbox_id,
                error,
                email.message_id,
            )
            return "retry", f"maybe delivered: {error}"
        except MessageDeferred as error:
            # This message's trouble alone (a busy mailbox, greylisting): it waits on its
            # own backoff, the relay is fine, and every other message keeps flowing.
            log.info("outbox #%s deferred by the relay: %s", outbox_id, error)
            return "retry", str(error)
        except TransientFailure as error:
            self._relay_failures += 1
            self.relay_down_until = now + backoff(self._relay_failures)
            log.warning(
                "relay unavailable (%s); pausing deliveries until %s",
                error,
                self.relay_down_until.isoformat(),
            )
            return "retry", str(error)
        except PermanentFailure as error:
            log.error("outbox #%s rejected by the relay: %s", outbox_id, error)
            return "failed", str(error)
        self._relay_failures = 0
        self.relay_down_until = None
        log.info(
            "sent outbox #%s (%s) to <%s>",
            outbox_id,
            email.kind,
            email.to_address,
            extra={"ticket": email.ticket_number, "message_id": email.message_id},
        )
        return "sent", ""

    async def _post_webhook(self, outbox_id: int, webhook: WebhookItem) -> tuple[str, str]:
        """A vendor endpoint failing is that vendor's problem: it never pauses the email relay."""
        async with self.store.reading() as q:
            vendor = await q.vendors.get(webhook.vendor_id)
        if vendor is None:
            return "failed", "the vendor no longer exists"
        try:
            await self.webhooks.post(
                webhook.url,
                webhook.payload,
                api_key=vendor.api_key,
                delivery_id=webhook.delivery_id.strip("<>"),
                timestamp=str(int(webhook.created_at.timestamp())),
            )
        except TransientFailure as error:
            return "retry", str(error)
        except PermanentFailure as error:
            log.error("webhook #%s for vendor %s failed for good: %s", outbox_id, vendor.id, error)
            return "failed", str(error)
        return "sent", ""

    async def tick(self) -> None:
        """Deliver what is due; sleep `poll_interval` or until woken."""
        await self.run_once()
