"""From one received email to ticket actions: the inbound half of SPEC §3.

The SMTP handler hands every accepted message here and answers with the
SMTP reply this returns. The order of checks is the order of trust:

1. the same delivery seen before acts once (Message-ID, recipient, body);
2. DMARC failing at the receiving server: refused, nothing acts. With
   sender authentication on (`SenderAuthenticator`, when maildesk is the
   MX), that server is maildesk itself: SPF, DKIM and DMARC are judged
   before anything else and written as `Authentication-Results` on top of
   the kept raw message; a DNS failure answers `451` and nothing is kept;
3. automatic mail (auto-replies, lists, bounces, delay reports) never acts;
   a bounce of one of our notifications marks that address as bouncing;
4. the recipient decides the intent (`route`); the `From` must be the party
   that a reply or command address names, or nothing changes;
5. the funnel applies it, storing the raw message in the same transaction,
   and only then does the sender get `250`.

Anything unexpected answers `451` (the sender retries) and the raw message
is kept: in the database when it can be written, else in the spool folder
(0700, each message 0600: it is customers' mail).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio

from service import logs
from service.clock import Clock
from service.desk import Desk, DeskError, DuplicateDelivery
from service.domain.records import TicketType
from service.inbound import codes
from service.inbound.acting import LIMIT_WINDOW, MailActions, MailLimits, NotAuthorised
from service.inbound.codes import SmtpReply
from service.inbound.guard import (
    DeliveryReport,
    auto_generated_reason,
    delivery_report,
    dmarc_failed,
    dmarc_recorded,
)
from service.inbound.parse import InboundMail, parse_mail, parses_quickly
from service.inbound.route import (
    Bounces,
    Intent,
    Lookup,
    NewTicket,
    Router,
    SubscriptionReply,
    TicketReply,
    VendorCommand,
)
from service.inbound.sender_auth import (
    Client,
    DnsUnavailable,
    SenderAuthenticator,
    authentication_results,
)
from service.private_files import owner_only_folder, write_owner_only
from service.store import EmailItem, InboundReceipt, StorageError, Store
from service.store.inbound import Arrival, Count
from service.tracing import traced

log = logging.getLogger(__name__)

_LIMITED: dict[type, Count] = {
    NewTicket: "new_requests",
    Lookup: "new_requests",
    TicketReply: "replies",
    SubscriptionReply: "replies",
}
"""The flood limit each kind of mail is held to (`MailLimits`)."""


@dataclass(frozen=True)
class IntakeSettings:
    new_tickets_per_hour: int = 20
    """New requests (refund@, cancel@, support@, lookup@) per sender and hour."""
    replies_per_ticket_hour: int = 30
    spool_dir: Path = Path("maildesk-spool")
    trusted_authserv_ids: tuple[str, ...] = ()
    """Receiving servers whose `Authentication-Results` are believed (the operator's own)."""


async def _always(address: str) -> bool:
    return True


def body_hash(raw: bytes) -> str:
    """The body without headers: relays add Received lines, the body stays the same."""
    separator = raw.find(b"\r\n\r\n")
    if separator < 0:
        separator = raw.find(b"\n\n")
    body = raw[separator:] if separator >= 0 else raw
    return hashlib.sha256(body).hexdigest()


class Intake:
    def __init__(
        self,
        desk: Desk,
        store: Store,
        router: Router,
        clock: Clock,
        settings: IntakeSettings | None = None,
        *,
        authenticator: SenderAuthenticator | None = None,
        answerable: Callable[[str], Awaitable[bool | None]] | None = None,
    ) -> None:
        self.desk = desk
        self.store = store
        self.router = router
        self.clock = clock
        self.authenticator = authenticator
        self.answerable = answerable or _always
        """Whether mail can be sent to a (non-ASCII) address; None: cannot tell now."""
        settings = settings or IntakeSettings()
        self.upstream_ids = settings.trusted_authserv_ids  # the operator's servers, not us
        if authenticator is not None:  # our own results are believed, as the MX's
            trusted = (*settings.trusted_authserv_ids, authenticator.authserv_id)
            settings = replace(settings, trusted_authserv_ids=trusted)
        self.settings = settings
        self.actions = MailActions(
            desk,
            MailLimits(
                settings.new_tickets_per_hour,
                settings.replies_per_ticket_hour,
                settings.trusted_authserv_ids,
            ),
        )

    @traced("Intake.receive (one message: parse, checks, funnel, all recipients)")
    async def receive(
        self,
        raw: bytes,
        mail_from: str,
        rcpt_tos: Sequence[str],
        client: Client | None = None,
    ) -> SmtpReply:
        """Act on one message for each of its recipients; return the SMTP reply.

        `client` is the sending server as the session saw it, for SPF; without
        it (mail handed over in-process) the message is taken as it is.
        """
        if self.authenticator is not None:
            judged = await self._judge(raw, mail_from, client)
            if isinstance(judged, SmtpReply):
                return judged
            raw = judged
        try:
            if parses_quickly(raw):
                mail = parse_mail(raw)
            else:
                mail = await anyio.to_thread.run_sync(parse_mail, raw)
            logs.annotate(message_id=mail.message_id)
            replies = [await self._for_recipient(mail, raw, mail_from, rcpt) for rcpt in rcpt_tos]
        except Exception as error:  # every failure keeps the message and asks for a retry
            log.exception("inbound message from <%s> failed; kept for the operator", mail_from)
            await self._park(raw, mail_from, rcpt_tos, error)
            return codes.TRY_LATER
        refusals = [r for r in replies if not r.accepted]
        return refusals[0] if refusals else replies[0] if len(replies) == 1 else codes.ACCEPTED

    async def _judge(self, raw: bytes, mail_from: str, client: Client | None) -> bytes | SmtpReply:
        """`raw` with our `Authentication-Results` on top, or the reply when DNS failed.

        A header naming our own host is removed whoever wrote it; a message a
        trusted upstream server already judged is not judged again.
        """
        authenticator = self.authenticator
        assert authenticator is not None
        raw = authenticator.unstamped(raw)
        if client is None or dmarc_recorded(authentication_results(raw), self.upstream_ids):
            return raw
        try:
            verdict = await anyio.to_thread.run_sync(authenticator.check, raw, client, mail_from)
        except DnsUnavailable as error:
            log.warning("deferred mail from <%s> at %s: %s", mail_from, client.ip, error)
            return codes.DNS_UNAVAILABLE
        return authenticator.stamped(raw, verdict)

    async def _for_recipient(
        self, mail: InboundMail, raw: bytes, mail_from: str, rcpt: str
    ) -> SmtpReply:
        receipt = InboundReceipt(
            received_at=self.clock.now(),
            mail_from=(mail_from or "").lower(),
            rcpt_to=rcpt.lower(),
            message_id=mail.message_id,
            body_hash=body_hash(raw),
            raw=raw,
            sender=mail.from_address,
        )
        intent = self.router.route(rcpt)
        # The flood limit's count comes with the checks every message needs (one round trip).
        count = _LIMITED.get(type(intent))
        async with self.store.reading() as q:
            arrival = await q.inbound.arrival(
                receipt.message_id,
                receipt.rcpt_to,
                receipt.body_hash,
                mail.from_address,
                count=count,
                mail_from=receipt.mail_from,
                since=receipt.received_at - LIMIT_WINDOW,
                ticket=intent.number if isinstance(intent, TicketReply) else None,
            )
        if arrival.seen:
            return codes.DUPLICATE
        bouncing = arrival.bouncing
        try:
            if dmarc_failed(mail, self.settings.trusted_authserv_ids):
                await self.desk.keep(replace(receipt, status="refused", detail="DMARC failed"))
                return codes.DMARC_FAILED
            automatic = auto_generated_reason(mail, mail_from)
            if automatic is not None or isinstance(intent, Bounces):
                bounced = intent.outbox_id if isinstance(intent, Bounces) else None
                await self._automatic(
                    mail, receipt, automatic or "sent to the bounce address", bounced
                )
                return codes.IGNORED_AUTOMATIC
            if not mail.from_address:
                # Nobody to answer and nobody to act as: refused while the sending server
                # still holds the message, so its user hears why; nothing is queued.
                await self._keep_quietly(
                    replace(receipt, status="refused", detail="no readable From address")
                )
                return codes.UNREADABLE_SENDER
            if not mail.from_address.isascii():
                answerable = await self.answerable(mail.from_address)
                if answerable is None:
                    return codes.TRY_LATER  # the relay is down: the sender retries later
                if not answerable:
                    await self._keep_quietly(
                        replace(receipt, status="refused", detail="cannot answer this address")
                    )
                    return codes.CANNOT_ANSWER
            reply = await self._act(mail, receipt, intent, arrival)
            # The mark as read before acting: one that lands meanwhile stays until next time.
            if reply.accepted and bouncing and await self.desk.clear_bouncing(mail.from_address):
                log.info(
                    "<%s> wrote in again; it is no longer marked as bouncing", mail.from_address
                )
            return reply
        except DuplicateDelivery:
            return codes.DUPLICATE
        except NotAuthorised as refusal:
            await self._keep_quietly(replace(receipt, status="refused", detail=str(refusal)))
            return codes.not_authorised(str(refusal))

    async def _act(
        self, mail: InboundMail, receipt: InboundReceipt, intent: Intent | None, arrival: Arrival
    ) -> SmtpReply:
        """`arrival`: what the first check read for `intent` (its flood limit's count, a
        reply's parties), so the actions need not read it again."""
        recent, parties = arrival.recent, arrival.parties
        if isinstance(intent, NewTicket) and intent.type is TicketType.SUPPORT:
            thread = await self.actions.thread_of(mail)
            if thread is not None:
                intent, recent, parties = thread, None, None  # lost its reply address
        if isinstance(intent, TicketReply):
            return await self.actions.reply(mail, receipt, intent, recent, parties)
        if isinstance(intent, SubscriptionReply):
            return await self.actions.subscription_reply(
                mail, receipt, intent.subscription_id, recent
            )
        if isinstance(intent, VendorCommand):
            return await self.actions.vendor_command(mail, receipt, intent.vendor_id)
        if isinstance(intent, Lookup):
            return await self.actions.lookup(mail, receipt, recent)
        if isinstance(intent, NewTicket):
            return await self.actions.new_request(mail, receipt, intent.type, recent)
        raise NotAuthorised("That address does not take mail")  # RCPT filtering stops this first

    async def _automatic(
        self,
        mail: InboundMail,
        receipt: InboundReceipt,
        reason: str,
        outbox_id: int | None = None,
    ) -> None:
        """Keep automatic mail; a hard bounce of one of ours marks the address, in one
        transaction. `outbox_id` is the notification a VERP bounce address names."""
        report = delivery_report(mail)
        if report is None or not report.is_bounce:
            await self.desk.keep(replace(receipt, status="ignored", detail=reason))
            return
        hard = [r for r in report.recipients if r.action == "failed" and r.status[:1] != "4"]
        if not hard:  # a failure the remote server calls temporary: noted, not marked
            await self.desk.keep(replace(receipt, status="ignored", detail="soft bounce"))
            return
        if outbox_id is not None:
            bounced, about = await self._verp_bounced(outbox_id)
        else:
            bounced, about = await self._bounced_addresses(report), report.original_message_id
        why = "; ".join(f"{r.status} {r.diagnostic}".strip() for r in hard)
        detail = f"bounce of {', '.join(bounced) or 'an unknown message'}"
        await self.desk.mark_bouncing(
            bounced,
            f"bounce of {about or 'a notification'}: {why}"[:500],
            replace(receipt, status="ignored", detail=detail),
        )

    async def _verp_bounced(self, outbox_id: int) -> tuple[list[str], str]:
        """The address and Message-ID of the notification a VERP bounce names."""
        async with self.store.reading() as q:
            sent = await q.outbox.by_id(outbox_id)
        if sent is None or not isinstance(sent.item, EmailItem):
            return [], ""
        return [sent.item.to_address.lower()], sent.item.message_id

    async def _bounced_addresses(self, report: DeliveryReport) -> list[str]:
        """The failed recipients of the notification the report is about (none if not ours)."""
        original = report.original_message_id
        async with self.store.reading() as q:
            sent = await q.outbox.email(original) if original else None
        if sent is None:
            return []
        ours = sent.item.to_address.lower()
        return [a for a in (r.lower() for r in report.failed_recipients) if a == ours] or [ours]

    # --- failures -----------------------------------------------------------------------

    async def _keep_quietly(self, receipt: InboundReceipt) -> None:
        try:
            await self.desk.keep(receipt)
        except DuplicateDelivery:
            pass

    async def _park(
        self, raw: bytes, mail_from: str, rcpt_tos: Sequence[str], error: BaseException
    ) -> None:
        """Keep a message we could not act on: in the database, or failing that on disk."""
        detail = f"{type(error).__name__}: {error}"
        try:
            for rcpt in rcpt_tos:
                await self.desk.keep(
                    InboundReceipt(
                        received_at=self.clock.now(),
                        mail_from=mail_from.lower(),
                        rcpt_to=rcpt.lower(),
                        message_id=f"<parked-{uuid.uuid4().hex}>",
                        body_hash=body_hash(raw),
                        raw=raw,
                        status="error",
                        detail=detail,
                    )
                )
            return
        except (StorageError, DeskError, OSError):
            pass
        spool = self.settings.spool_dir
        try:  # raw customer mail: readable by maildesk's own user only, whatever the umask
            owner_only_folder(spool)
            name = f"{self.clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
            write_owner_only(spool / name, raw)
            log.error("message kept in %s (%s)", spool / name, detail)
        except OSError:
            log.exception("could not keep the message anywhere; the sender will retry")
