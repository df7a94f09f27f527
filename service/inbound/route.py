"""Which of maildesk's addresses a recipient is, and so what a message to it means.

Like a web router for mail: each address shape maps to one intent. The table
of SPEC §3:

    refund@ cancel@ support@    a customer opens a ticket of that type
    lookup@                     purchase lookup
    bounces@                    delivery reports for maildesk's own mail
    bounces+<id>.<sig>@         the same, for one notification (VERP)
    t<n>.<c|v>.<sig>@           a reply on ticket n as the customer or vendor
    s<n>.<sig>@                 the customer's reply on subscription S<n> (SPEC §7)
    v.<vendor>.<sig>@           a vendor's command address

Reply and command addresses are verified by their HMAC alone, without the
database. Anything else, or any other domain, is not ours: 550 at RCPT, so
maildesk is never an open relay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from service.domain.records import Party, TicketType
from service.outbound.addresses import (
    parse_bounce_address,
    parse_reply_address,
    parse_subscription_reply_address,
    parse_vendor_command_address,
)

NEW_TICKET_MAILBOXES = {
    "refund": TicketType.REFUND,
    "cancel": TicketType.CANCELATION,
    "support": TicketType.SUPPORT,
}
LOOKUP_MAILBOX = "lookup"
BOUNCE_MAILBOX = "bounces"


@dataclass(frozen=True)
class NewTicket:
    """Mail to refund@, cancel@ or support@: a customer's new request."""

    type: TicketType


@dataclass(frozen=True)
class Lookup:
    """Mail to lookup@: a purchase lookup."""


@dataclass(frozen=True)
class Bounces:
    """Mail to bounces@: delivery reports about maildesk's own mail."""

    outbox_id: int | None = None
    """The notification a VERP bounce address names (`bounces+<id>.<sig>@`)."""


@dataclass(frozen=True)
class TicketReply:
    """Mail to a reply address: a reply on one ticket as one party."""

    number: int
    party: Party
    matched_by_thread: bool = False
    """Sent to support@ and matched by `In-Reply-To`/`References`, not by a reply address."""


@dataclass(frozen=True)
class SubscriptionReply:
    """Mail to a subscription's reply address: the customer's choices, or a question."""

    subscription_id: str


@dataclass(frozen=True)
class VendorCommand:
    """Mail to a vendor's command address: the vendor opens a ticket."""

    vendor_id: str


ROUTES_KEPT = 4096
"""Addresses whose intent `Router` keeps (at most a few hundred bytes each)."""

Intent = NewTicket | Lookup | Bounces | TicketReply | SubscriptionReply | VendorCommand


class Router:
    """Turns a recipient address into what mail to it means, or None when it is not ours."""

    def __init__(self, domain: str, secret: bytes) -> None:
        self.domain = domain.lower()
        self.secret = secret
        self._known: Callable[[str], Intent | None] = lru_cache(maxsize=ROUTES_KEPT)(self._route)

    def route(self, address: str) -> Intent | None:
        """The intent of mail to `address`, or None when the address is not ours.

        A message's recipients are routed at `RCPT`, for its log line and by the
        intake, and a reply address's HMAC costs ~10 µs to check, so the latest
        answers are kept: they depend on nothing but the address (intents are
        frozen values).
        """
        return self._known(address)

    def _route(self, address: str) -> Intent | None:
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain or not local:
            return None
        mailbox = local.lower()
        if mailbox in NEW_TICKET_MAILBOXES:
            return NewTicket(NEW_TICKET_MAILBOXES[mailbox])
        if mailbox == LOOKUP_MAILBOX:
            return Lookup()
        if mailbox == BOUNCE_MAILBOX:
            return Bounces()
        if mailbox.startswith(BOUNCE_MAILBOX + "+"):
            outbox_id = parse_bounce_address(self.secret, mailbox)
            return Bounces(outbox_id) if outbox_id is not None else None
        reply = parse_reply_address(self.secret, mailbox)
        if reply is not None:
            number, party = reply
            return TicketReply(number, Party(party))
        subscription_id = parse_subscription_reply_address(self.secret, mailbox)
        if subscription_id is not None:
            return SubscriptionReply(subscription_id)
        vendor_id = parse_vendor_command_address(self.secret, address.strip().strip("<>"))
        if vendor_id is not None:
            return VendorCommand(vendor_id)
        return None
