"""From one received email to ticket actions: the inbound half of SPEC §3.

The SMTP handler hands every accepted message here and answers with the
SMTP reply this returns. The order of checks is the order of trust:

1. the same delivery seen before acts once (Message-ID, recipient, body);
2. DMARC failing at the receiving server: refused, nothing acts;
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
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import anyio

from service.clock import Clock
from service.desk import (
    LEGACY_THREAD_ROOT,
    Desk,
    DeskError,
    DuplicateDelivery,
    OpenRequest,
    TicketAction,
)
from service.domain.actions import Action, event_for
from service.domain.events import Open, Reply, TicketEvent
from service.domain.notifications import LOOKUP_RESULT, REQUEST_REFUSED
from service.domain.records import Attachment, Party, TicketType
from service.inbound import codes
from service.inbound.guard import (
    DeliveryReport,
    auto_generated_reason,
    delivery_report,
    dmarc_failed,
    sender_authenticated,
)
from service.inbound.parse import InboundMail, parse_mail
from service.inbound.reply_text import new_text, parse_commands
from service.inbound.route import (
    Bounces,
    Intent,
    Lookup,
    NewTicket,
    Router,
    TicketReply,
    VendorCommand,
)
from service.private_files import owner_only_folder, write_owner_only
from service.store import InboundReceipt, StorageError, Store, TicketParties

log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,63}")
_MAX_CANDIDATES = 200
_COMMAND_TYPES = {
    "refund": TicketType.REFUND,
    "cancel": TicketType.CANCELATION,
    "cancelation": TicketType.CANCELATION,
    "cancellation": TicketType.CANCELATION,
    "support": TicketType.SUPPORT,
}


class NotAuthorised(Exception):
    """The sender may not act through this address; the message says why, revealing nothing."""


@dataclass(frozen=True)
class IntakeSettings:
    new_tickets_per_hour: int = 20
    """New requests (refund@, cancel@, support@, lookup@) per sender and hour."""
    replies_per_ticket_hour: int = 30
    spool_dir: Path = Path("maildesk-spool")
    trusted_authserv_ids: tuple[str, ...] = ()
    """Receiving servers whose `Authentication-Results` are believed (the operator's own)."""


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
    ) -> None:
        self.desk = desk
        self.store = store
        self.router = router
        self.clock = clock
        self.settings = settings or IntakeSettings()

    async def receive(self, raw: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> str:
        """Act on one message for each of its recipients; return the SMTP reply."""
        try:
            mail = await anyio.to_thread.run_sync(parse_mail, raw)
            replies = [await self._for_recipient(mail, raw, mail_from, rcpt) for rcpt in rcpt_tos]
        except Exception as error:  # every failure keeps the message and asks for a retry
            log.exception("inbound message from <%s> failed; kept for the operator", mail_from)
            await self._park(raw, mail_from, rcpt_tos, error)
            return codes.TRY_LATER
        refusals = [r for r in replies if not r.startswith("250")]
        return refusals[0] if refusals else replies[0] if len(replies) == 1 else codes.ACCEPTED

    async def _for_recipient(self, mail: InboundMail, raw: bytes, mail_from: str, rcpt: str) -> str:
        receipt = InboundReceipt(
            received_at=self.clock.now(),
            mail_from=(mail_from or "").lower(),
            rcpt_to=rcpt.lower(),
            message_id=mail.message_id,
            body_hash=body_hash(raw),
            raw=raw,
            sender=mail.from_address,
        )
        async with self.store.reading() as q:
            if await q.inbound.seen(receipt.message_id, receipt.rcpt_to, receipt.body_hash):
                return codes.DUPLICATE
        intent = self.router.route(rcpt)
        try:
            if dmarc_failed(mail, self.settings.trusted_authserv_ids):
                await self.desk.keep(replace(receipt, status="refused", detail="DMARC failed"))
                return codes.DMARC_FAILED
            automatic = auto_generated_reason(mail, mail_from)
            if automatic is not None or isinstance(intent, Bounces):
                await self._automatic(mail, receipt, automatic or "sent to the bounce address")
                return codes.IGNORED_AUTOMATIC
            if not mail.from_address:
                # Nobody to answer and nobody to act as: refused while the sending server
                # still holds the message, so its user hears why; nothing is queued.
                await self._keep_quietly(
                    replace(receipt, status="refused", detail="no readable From address")
                )
                return codes.UNREADABLE_SENDER
            return await self._act(mail, receipt, intent)
        except DuplicateDelivery:
            return codes.DUPLICATE
        except NotAuthorised as refusal:
            await self._keep_quietly(replace(receipt, status="refused", detail=str(refusal)))
            return codes.NOT_AUTHORISED.format(reason=str(refusal))

    async def _automatic(self, mail: InboundMail, receipt: InboundReceipt, reason: str) -> None:
        """Keep automatic mail; a bounce of one of ours marks the address, in one transaction."""
        report = delivery_report(mail)
        if report is None or not report.is_bounce:
            await self.desk.keep(replace(receipt, status="ignored", detail=reason))
            return
        bounced = await self._bounced_addresses(report)
        detail = f"bounce of {', '.join(bounced) or 'an unknown message'}"
        await self.desk.mark_bouncing(
            bounced,
            f"bounce of {report.original_message_id}",
            replace(receipt, status="ignored", detail=detail),
        )

    async def _bounced_addresses(self, report: DeliveryReport) -> list[str]:
        """The failed recipients of the notification the report is about (none if not ours)."""
        original = report.original_message_id
        async with self.store.reading() as q:
            sent = await q.outbox.email(original) if original else None
        if sent is None:
            return []
        ours = sent.item.to_address.lower()
        return [a for a in (r.lower() for r in report.failed_recipients) if a == ours] or [ours]

    # --- acting ------------------------------------------------------------------------

    async def _act(self, mail: InboundMail, receipt: InboundReceipt, intent: Intent | None) -> str:
        sender = mail.from_address
        if isinstance(intent, NewTicket) and intent.type is TicketType.SUPPORT:
            thread = await self._thread_of(mail)
            if thread is not None:
                intent = thread  # a reply that lost its reply address, matched by threading
        if isinstance(intent, TicketReply):
            return await self._reply(mail, receipt, intent)
        if isinstance(intent, VendorCommand):
            return await self._vendor_command(mail, receipt, intent.vendor_id)
        if isinstance(intent, Lookup):
            return await self._lookup(mail, receipt)
        if isinstance(intent, NewTicket):
            return await self._new_ticket(mail, receipt, intent.type, sender)
        raise NotAuthorised("That address does not take mail")  # RCPT filtering stops this first

    async def _over_request_limit(self, receipt: InboundReceipt) -> bool:
        """Whether this identity already made its new requests for the hour.

        Counted by the `From` address the mail acts as and by its envelope
        sender: a flood that varies one keeps the other (issue #13).
        """
        since = receipt.received_at - timedelta(hours=1)
        async with self.store.reading() as q:  # one connection at a time, never two
            recent = await q.inbound.new_requests_from(receipt.sender, receipt.mail_from, since)
        return recent >= self.settings.new_tickets_per_hour

    async def _new_ticket(
        self, mail: InboundMail, receipt: InboundReceipt, kind: TicketType, sender: str
    ) -> str:
        if await self._over_request_limit(receipt):
            return codes.RATE_LIMITED.format(address=receipt.sender)
        receipt = replace(receipt, new_request=True)
        reference = await self._find_order(mail, customer_email=sender)
        if reference is None:
            await self._no_purchase_found(sender, receipt)
            return codes.ACCEPTED
        text, attachments, blobs = self._comment(mail, strip_quotes=False)
        await self.desk.apply(
            OpenRequest(reference, Open(kind, Party.CUSTOMER, text, attachments), blobs),
            receipt=receipt,
        )
        return codes.ACCEPTED

    async def _reply(self, mail: InboundMail, receipt: InboundReceipt, intent: TicketReply) -> str:
        # Only who the parties are is read here, not the ticket: the funnel reads the
        # ticket itself, under its lock, so a copy read now could only be stale there.
        since = receipt.received_at - timedelta(hours=1)
        async with self.store.reading() as q:
            parties = await q.tickets.parties(intent.number)
            if parties is None:
                raise NotAuthorised("That reply address belongs to no ticket")
            if not _speaks_for(intent.party, parties, mail.from_address):
                raise NotAuthorised(
                    "This reply address is not yours to use: write from the address the "
                    "ticket emails were sent to"
                )
            recent = await q.inbound.replies_to(receipt.rcpt_to, since)
        if recent >= self.settings.replies_per_ticket_hour:
            # A robot answering every notification: keep the mail, act on nothing, and
            # say nothing back, which is what ends the loop.
            await self.desk.keep(
                replace(
                    receipt,
                    status="ignored",
                    detail="reply loop suspected: too many replies through this address in an hour",
                )
            )
            return codes.IGNORED_LOOP
        text, attachments, blobs = self._comment(mail, strip_quotes=True)
        text, commands = parse_commands(text)
        if commands and intent.matched_by_thread and not self._authenticated(mail):
            # A Message-ID travels further than a reply address (every later message
            # of the thread quotes it), and an unauthenticated From proves nothing:
            # such a reply may add a comment, never act.
            raise NotAuthorised(
                "Commands such as #close or #approve work only in a reply to the ticket's own "
                "reply address (the Reply-To of its emails), or from a sender whose domain "
                "passes DMARC at a server we trust"
            )
        events = _events(intent.party, text, attachments, commands)
        try:
            await self.desk.apply(TicketAction(intent.number, events, blobs), receipt=receipt)
        except DeskError as error:
            if isinstance(error, DuplicateDelivery):
                raise
            raise NotAuthorised(str(error)) from error
        return codes.ACCEPTED

    async def _vendor_command(
        self, mail: InboundMail, receipt: InboundReceipt, vendor_id: str
    ) -> str:
        async with self.store.reading() as q:
            vendor = await q.vendors.get(vendor_id)
        if vendor is None or not vendor.speaks_for(mail.from_address):
            raise NotAuthorised("Only the vendor's own addresses may use this command address")
        words = mail.subject.split()
        kind = _COMMAND_TYPES.get(words[0].lower()) if words else None
        reference = None
        if kind is not None:
            async with self.store.reading() as q:
                found = await q.orders.among(_candidates(words[1:]), vendor_id=vendor_id)
            reference = _first_in(words[1:], found)
        if kind is None or reference is None:
            await self.desk.notify_address(
                mail.from_address,
                REQUEST_REFUSED,
                {
                    "reason": 'A command needs the subject "refund", "cancel" or "support" '
                    "followed by the reference of one of your orders, "
                    'e.g. "refund Q7K2M9XA".'
                },
                receipt=replace(receipt, status="refused", detail="bad vendor command"),
            )
            return codes.ACCEPTED
        text, attachments, blobs = self._comment(mail, strip_quotes=False)
        await self.desk.apply(
            OpenRequest(reference, Open(kind, Party.VENDOR, text, attachments), blobs),
            receipt=receipt,
        )
        return codes.ACCEPTED

    async def _lookup(self, mail: InboundMail, receipt: InboundReceipt) -> str:
        if await self._over_request_limit(receipt):
            return codes.RATE_LIMITED.format(address=receipt.sender)
        receipt = replace(receipt, new_request=True)
        sender = mail.from_address
        reference = await self._find_order(mail, customer_email=sender)
        if reference is None:
            # The same kind of answer as a found purchase, naming nothing: a lookup
            # never tells a stranger whether an order exists.
            await self.desk.notify_address(
                sender,
                LOOKUP_RESULT,
                {},
                receipt=replace(receipt, status="refused", detail="no purchase found"),
            )
        else:
            await self.desk.notify_address(
                sender,
                LOOKUP_RESULT,
                {"reference": reference},
                order_reference=reference,
                receipt=receipt,
            )
        return codes.ACCEPTED

    async def _no_purchase_found(self, sender: str, receipt: InboundReceipt) -> None:
        reason = (
            f"We found no purchase for {sender} with the reference in your message. Write "
            "from the address you bought with, and put the order reference from your receipt "
            "in the subject."
        )
        await self.desk.notify_address(
            sender,
            REQUEST_REFUSED,
            {"reason": reason, "code": "no_purchase_found"},
            receipt=replace(receipt, status="refused", detail="no purchase found"),
        )

    # --- reading the mail ---------------------------------------------------------------

    async def _find_order(self, mail: InboundMail, *, customer_email: str) -> str | None:
        """SPEC §8: the first word of the subject, then of the body, that is one of the
        sender's orders."""
        words = _WORD.findall(mail.subject) + _WORD.findall(mail.text[:20_000])
        words = words[:_MAX_CANDIDATES]
        async with self.store.reading() as q:
            found = await q.orders.among(_candidates(words), customer_email=customer_email)
        return _first_in(words, found)

    def _authenticated(self, mail: InboundMail) -> bool:
        return sender_authenticated(mail, self.settings.trusted_authserv_ids)

    async def _thread_of(self, mail: InboundMail) -> TicketReply | None:
        """A reply sent to support@ that answers a notification sent to the sender's party.

        Each party's Message-IDs are random and its own, so naming one proves the
        writer read that party's mail; the old shared-token roots prove nothing
        and are passed over.
        """
        ids = [*mail.in_reply_to, *reversed(mail.references)]
        async with self.store.reading() as q:
            for message_id in ids:
                if LEGACY_THREAD_ROOT.fullmatch(message_id):
                    continue
                sent = await q.outbox.email(message_id)
                if sent is None or sent.item.ticket_number is None:
                    continue
                party = Party(sent.item.party)
                parties = await q.tickets.parties(sent.item.ticket_number)
                if parties is not None and _speaks_for(party, parties, mail.from_address):
                    return TicketReply(sent.item.ticket_number, party, matched_by_thread=True)
        return None

    @staticmethod
    def _comment(
        mail: InboundMail, *, strip_quotes: bool
    ) -> tuple[str, tuple[Attachment, ...], dict[str, bytes]]:
        text = new_text(mail.text) if strip_quotes else mail.text.strip()
        attachments, blobs = [], {}
        for part in mail.attachments:
            blob_id = uuid.uuid4().hex
            blobs[blob_id] = part.payload
            attachments.append(
                Attachment(
                    part.filename or "attachment", part.content_type, len(part.payload), blob_id
                )
            )
        return text, tuple(attachments), blobs

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


def _speaks_for(party: Party, parties: TicketParties, sender: str) -> bool:
    """Whether mail from `sender` may act as `party` on the ticket of `parties`."""
    if party is Party.CUSTOMER:
        return sender == parties.customer_email.lower()
    return parties.vendor.speaks_for(sender)


def _candidates(words: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for word in words:
        seen.setdefault(word, None)
        seen.setdefault(word.upper(), None)
    return list(seen)[: 2 * _MAX_CANDIDATES]


def _first_in(words: Sequence[str], found: Sequence[str]) -> str | None:
    known = set(found)
    for word in words:
        for candidate in (word, word.upper()):
            if candidate in known:
                return candidate
    return None


def _events(
    party: Party, text: str, attachments: tuple[Attachment, ...], commands: Sequence[Action]
) -> tuple[TicketEvent, ...]:
    """A reply's commands as events; the first carries the reply's text and attachments."""
    if not commands:
        return (Reply(party, text, attachments),)
    first, *rest = commands
    return (event_for(first, party, text, attachments), *(event_for(c, party) for c in rest))
