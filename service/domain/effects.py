"""What the state machine asks the world to do, as data.

The machine returns these; the funnel (`service.desk`) carries them out inside
the same transaction that stores the new ticket. Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.domain.records import Party, Timer


@dataclass(frozen=True)
class SetTimer:
    timer: Timer


@dataclass(frozen=True)
class CancelTimer:
    pass


@dataclass(frozen=True)
class RefundBill:
    """Refund the order's latest bill (the whole sale for one-off orders)."""

    order_reference: str
    billed_at: datetime


@dataclass(frozen=True)
class CancelSubscription:
    order_reference: str


@dataclass(frozen=True)
class Notify:
    """One notification to one party; rendered and sent later by the outbox.

    `kind` names the template (`ticket_opened`, `refund_processed`, ...).
    `facts` carries what the template cannot read from the ticket itself,
    such as the reason a request was refused.
    """

    kind: str
    party: Party
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordEscalation:
    """Put the ticket on the operator's review list."""

    reason: str


Effect = SetTimer | CancelTimer | RefundBill | CancelSubscription | Notify | RecordEscalation
