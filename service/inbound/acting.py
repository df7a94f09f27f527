"""What a message to each of our addresses does: the email door onto the use cases.

Each handler checks what the address and the `From` prove (SPEC §3), reads
the mail the way its address asks (the order reference in a new request,
the new text and `#commands` of a reply), calls one use case, and turns its
outcome into an SMTP reply. Refusals of who may act are refused in the SMTP
conversation (`NotAuthorised`, 550), so nobody else is mailed; business
refusals are emailed by the rules.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import parsedate_to_datetime
from itertools import chain, islice

from service.desk import LEGACY_THREAD_ROOT, Desk
from service.domain.actions import Action, event_for
from service.domain.events import Reply, TicketEvent
from service.domain.records import Attachment, Party, Sender, TicketType
from service.inbound import codes
from service.inbound.codes import SmtpReply
from service.inbound.guard import sender_authenticated
from service.inbound.parse import InboundMail
from service.inbound.reply_text import new_text, parse_commands, parse_subscription_commands
from service.inbound.route import TicketReply
from service.store import InboundReceipt, TicketParties
from service.usecases.commands import act_on_ticket
from service.usecases.lookup import look_up_purchase
from service.usecases.outcomes import Door, TicketMissing
from service.usecases.requests import MAX_CANDIDATES, CustomerAt, VendorNamed, open_request
from service.usecases.subscriptions import (
    ReplyMessage,
    SubscriptionMissing,
    reply_to_subscription,
)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,63}")
_COMMAND_TYPES = {
    "refund": TicketType.REFUND,
    "cancel": TicketType.CANCELATION,
    "cancelation": TicketType.CANCELATION,
    "cancellation": TicketType.CANCELATION,
    "support": TicketType.SUPPORT,
}


LIMIT_WINDOW = timedelta(hours=1)
"""The flood limits count what came in over this much time."""


class NotAuthorised(Exception):
    """The sender may not act through this address; the message says why, revealing nothing."""


@dataclass(frozen=True)
class MailLimits:
    new_requests_per_hour: int = 20
    """New requests (refund@, cancel@, support@, lookup@) per sender and hour."""
    replies_per_ticket_hour: int = 30
    trusted_authserv_ids: tuple[str, ...] = ()
    """Receiving servers whose `Authentication-Results` are believed (the operator's own)."""


class MailActions:
    def __init__(self, desk: Desk, limits: MailLimits) -> None:
        self.desk = desk
        self.store = desk.store
        self.limits = limits

    # --- new requests --------------------------------------------------------------------

    async def new_request(
        self,
        mail: InboundMail,
        receipt: InboundReceipt,
        kind: TicketType,
        recent: int | None = None,
    ) -> SmtpReply:
        """Mail to refund@, cancel@ or support@: a customer's request on one of its orders.

        `recent` (here and below): the flood limit's count when the intake read it already.
        """
        if await self._over_request_limit(receipt, recent):
            return codes.rate_limited(receipt.sender)
        text, attachments, blobs = _comment(mail, opening=True)
        await open_request(
            self.desk,
            requester=CustomerAt(mail.from_address),
            kind=kind,
            words=_reference_words(mail),
            text=text,
            door=Door.EMAIL,
            attachments=attachments,
            blobs=blobs,
            receipt=replace(receipt, new_request=True),
            sender=sender_of(mail),
        )
        return codes.ACCEPTED

    async def lookup(
        self, mail: InboundMail, receipt: InboundReceipt, recent: int | None = None
    ) -> SmtpReply:
        """Mail to lookup@: the purchase, only ever to its own address."""
        if await self._over_request_limit(receipt, recent):
            return codes.rate_limited(receipt.sender)
        await look_up_purchase(
            self.desk,
            email=mail.from_address,
            words=_reference_words(mail),
            door=Door.EMAIL,
            utc_offset=sender_of(mail).utc_offset,
            receipt=replace(receipt, new_request=True),
        )
        return codes.ACCEPTED

    async def vendor_command(
        self, mail: InboundMail, receipt: InboundReceipt, vendor_id: str
    ) -> SmtpReply:
        """Mail to a vendor's command address: `refund Q7K2M9XA` opens a vendor request."""
        async with self.store.reading() as q:
            vendor = await q.vendors.get(vendor_id)
        if vendor is None or not vendor.speaks_for(mail.from_address):
            raise NotAuthorised("Only the vendor's own addresses may use this command address")
        words = mail.subject.split()
        kind = _COMMAND_TYPES.get(words[0].lower()) if words else None
        text, attachments, blobs = _comment(mail, opening=True)
        await open_request(
            self.desk,
            requester=VendorNamed(vendor_id, mail.from_address),
            kind=kind or TicketType.SUPPORT,
            words=words[1:] if kind is not None else [],  # no command word: nothing to open
            text=text,
            door=Door.EMAIL,
            attachments=attachments,
            blobs=blobs,
            receipt=receipt,
            sender=sender_of(mail),
        )
        return codes.ACCEPTED

    async def _over_request_limit(self, receipt: InboundReceipt, recent: int | None) -> bool:
        """Whether this identity already made its new requests for the hour.

        Counted by the `From` address the mail acts as and by its envelope
        sender: a flood that varies one keeps the other (issue #13).
        """
        if recent is None:
            since = receipt.received_at - LIMIT_WINDOW
            async with self.store.reading() as q:
                recent = await q.inbound.new_requests_from(receipt.sender, receipt.mail_from, since)
        return recent >= self.limits.new_requests_per_hour

    # --- replies -----------------------------------------------------------------------------

    async def reply(
        self,
        mail: InboundMail,
        receipt: InboundReceipt,
        intent: TicketReply,
        recent: int | None = None,
        parties: TicketParties | None = None,
    ) -> SmtpReply:
        """A reply as the party its address names (or its thread proves), with its commands.

        `parties`: the ticket's, when the intake read them already.
        """
        # Only who the parties are is read here, not the ticket: the funnel reads the
        # ticket itself, under its lock, so a copy read now could only be stale there.
        if parties is None:
            async with self.store.reading() as q:
                parties = await q.tickets.parties(intent.number)
        if parties is None:
            raise NotAuthorised("That reply address belongs to no ticket")
        if not speaks_for(intent.party, parties, mail.from_address):
            raise NotAuthorised(
                "This reply address is not yours to use: write from the address the "
                "ticket emails were sent to"
            )
        if await self._ignored_as_loop(receipt, recent):
            return codes.IGNORED_LOOP
        text, attachments, blobs = _comment(mail, opening=False)
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
        outcome = await act_on_ticket(
            self.desk,
            number=intent.number,
            events=reply_events(intent.party, text, attachments, commands, sender_of(mail)),
            door=Door.EMAIL,
            blobs=blobs,
            receipt=receipt,
        )
        if isinstance(outcome, TicketMissing):
            raise NotAuthorised("That reply address belongs to no ticket")
        return codes.ACCEPTED

    async def subscription_reply(
        self,
        mail: InboundMail,
        receipt: InboundReceipt,
        subscription_id: str,
        recent: int | None = None,
    ) -> SmtpReply:
        """A reply to a subscription email: `#renew off 2`, `#accept`, or a question (SPEC §7).

        Only the order's customer may use the address, refused in the SMTP
        conversation as a ticket's reply address is; a robot answering every
        email is kept and ignored, as on tickets.
        """
        # Only who may write is read here: the funnel loads the subscription itself.
        async with self.store.reading() as q:
            owner = await q.subscriptions.owner(subscription_id)
            if owner is None:
                raise NotAuthorised("That reply address belongs to no subscription")
            order_reference, customer_email = owner
            if mail.from_address != customer_email.lower():
                raise NotAuthorised(
                    "This reply address is not yours to use: write from the address the "
                    "subscription emails were sent to"
                )
        if await self._ignored_as_loop(receipt, recent):
            return codes.IGNORED_LOOP
        text, attachments, blobs = _comment(mail, opening=False)
        text, offers = parse_subscription_commands(text)
        outcome = await reply_to_subscription(
            self.desk,
            subscription_id=subscription_id,
            order_reference=order_reference,
            offers=offers,
            message=ReplyMessage(text, attachments, blobs, sender_of(mail)),
            receipt=receipt,
        )
        if isinstance(outcome, SubscriptionMissing):
            raise NotAuthorised("That reply address belongs to no subscription")
        return codes.ACCEPTED

    async def _ignored_as_loop(self, receipt: InboundReceipt, recent: int | None) -> bool:
        """Whether a reply address had too many replies this hour: then keep, act on nothing.

        A robot answering every notification is ended by saying nothing back.
        """
        if recent is None:
            since = receipt.received_at - LIMIT_WINDOW
            async with self.store.reading() as q:
                recent = await q.inbound.replies_to(receipt.rcpt_to, since)
        if recent < self.limits.replies_per_ticket_hour:
            return False
        await self.desk.keep(
            replace(
                receipt,
                status="ignored",
                detail="reply loop suspected: too many replies through this address in an hour",
            )
        )
        return True

    async def thread_of(self, mail: InboundMail) -> TicketReply | None:
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
                number = sent.item.ticket_number if sent is not None else None
                if sent is None or number is None:
                    continue
                party = Party(sent.item.party)
                parties = await q.tickets.parties(number)
                if parties is not None and speaks_for(party, parties, mail.from_address):
                    return TicketReply(number, party, matched_by_thread=True)
        return None

    def _authenticated(self, mail: InboundMail) -> bool:
        return sender_authenticated(mail, self.limits.trusted_authserv_ids)


def speaks_for(party: Party, parties: TicketParties, sender: str) -> bool:
    """Whether mail from `sender` may act as `party` on the ticket of `parties`."""
    if party is Party.CUSTOMER:
        return sender == parties.customer_email.lower()
    return parties.vendor.speaks_for(sender)


def reply_events(
    party: Party,
    text: str,
    attachments: tuple[Attachment, ...],
    commands: Sequence[Action],
    sender: Sender | None = None,
) -> tuple[TicketEvent, ...]:
    """A reply's commands as events; the first carries the reply's text and attachments."""
    if not commands:
        return (Reply(party, text, attachments, sender),)
    first, *rest = commands
    return (
        event_for(first, party, text, attachments, sender),
        *(event_for(c, party, sender=sender) for c in rest),
    )


def sender_of(mail: InboundMail) -> Sender:
    """Who wrote `mail` (its `From`) and the UTC offset of its `Date`, for the ticket.

    A `Date` of `-0000` says the zone is unknown (RFC 5322 §3.3), as does a
    missing or unreadable one: None.
    """
    offset: int | None = None
    try:
        written = parsedate_to_datetime(mail.headers.header("Date") or "")
    except (TypeError, ValueError, IndexError, OverflowError):
        written = None
    zone = written.utcoffset() if written is not None else None
    if zone is not None:
        offset = int(zone.total_seconds()) // 60
    return Sender(mail.from_address, mail.from_name, offset)


def _reference_words(mail: InboundMail) -> list[str]:
    """SPEC §8: the words of the subject, then of the body, that could be an order reference.

    Only the first `MAX_CANDIDATES` are ever looked up, so the body is read
    no further than they go (a 7 KB body holds some 700 words).
    """
    words = chain(_WORD.finditer(mail.subject), _WORD.finditer(mail.text, 0, 20_000))
    return [word.group() for word in islice(words, MAX_CANDIDATES)]


def _comment(
    mail: InboundMail, *, opening: bool
) -> tuple[str, tuple[Attachment, ...], dict[str, bytes]]:
    """The comment an email makes: its new text and its files.

    Every email's text loses its quoted history and signature alike (SPEC §3),
    the opening message of a ticket too. Only an opening message that is all
    history (a forwarded receipt, say) keeps its whole text: it is the request.
    """
    text = new_text(mail.text)
    if opening and not text:
        text = mail.text.strip()
    attachments, blobs = [], {}
    for part in mail.attachments:
        blob_id = uuid.uuid4().hex
        blobs[blob_id] = part.payload
        attachments.append(
            Attachment(part.filename or "attachment", part.content_type, len(part.payload), blob_id)
        )
    return text, tuple(attachments), blobs
