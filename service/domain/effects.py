"""What the state machine asks the world to do, as data.

The machine returns these; the funnel (`service.desk`) carries them out inside
the same transaction that stores the new ticket. `Notify` is what the
notification rules (`service.domain.notifications`) make of a transition.
Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from service.domain.records import Party


class Channel(StrEnum):
    """How a notification travels: an email to a party, or a webhook to the vendor's systems."""

    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class RefundBill:
    """Refund the order's latest bill (the whole sale for one-off orders)."""

    order_reference: str
    billed_at: datetime


@dataclass(frozen=True)
class RecordBill:
    """Record a renewal the platform charged as the order's newest bill."""

    order_reference: str
    billed_at: datetime
    amount: Decimal


@dataclass(frozen=True)
class CancelSubscription:
    """Cancel the order's subscription: no further charges."""

    order_reference: str


@dataclass(frozen=True)
class Notify:
    """One notification to one party; rendered and sent later by the outbox.

    `kind` names the template (`ticket_opened`, `refund_processed`, ...) or,
    for a webhook, its event (`refund.processed`). `facts` carries what the
    template cannot read from the ticket itself, such as the reason a
    request was refused.
    """

    kind: str
    party: Party
    facts: Mapping[str, str] = field(default_factory=dict)
    channel: Channel = Channel.EMAIL


@dataclass(frozen=True)
class RecordEscalation:
    """Put the ticket on the operator's review list."""

    reason: str


Effect = RefundBill | CancelSubscription | RecordEscalation | RecordBill
"""What a transition does to other records (a record's own timer is its `due`)."""
