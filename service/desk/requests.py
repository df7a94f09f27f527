"""What the funnel is asked to do, what it answers, and why it may refuse to start.

Every door builds one of these requests; `Desk.apply` takes any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from service.domain.events import Open, TicketEvent
from service.domain.policy import Refusal
from service.domain.records import RecordRef, Ticket
from service.domain.subscription.events import SubscriptionEvent
from service.domain.subscription.records import Subscription


class DeskError(Exception):
    """A request the funnel cannot even start on; the message says what was wrong."""


class OrderNotFound(DeskError):
    pass


class TicketNotFound(DeskError):
    pass


class SubscriptionNotFound(DeskError):
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


@dataclass(frozen=True)
class SubscriptionAction:
    """Apply events to one subscription, in order, in one transaction.

    With `vendor_id`, only that vendor's subscription is found: another
    vendor's id is as missing as an unknown one (the API's equal-work rule).
    """

    subscription_id: str
    events: Sequence[SubscriptionEvent]
    vendor_id: str | None = None


@dataclass(frozen=True)
class TimerDue:
    """A record's pending timer fell due at `at`; only the scheduler sends these."""

    record: RecordRef
    event: str
    at: datetime


Request = OpenRequest | TicketAction | SubscriptionAction | TimerDue


@dataclass(frozen=True)
class Outcome:
    """What one request did: the record as it is now, refusals, and how much it queued."""

    ticket: Ticket | None
    refusals: tuple[Refusal, ...] = ()
    changed: bool = False
    queued: int = 0
    subscription: Subscription | None = None

    @property
    def accepted(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class MailIdentity:
    """How maildesk's own mail is addressed: the support domain its Message-IDs live in."""

    domain: str
