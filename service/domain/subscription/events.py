"""What can happen to a subscription: the inputs of its state machine.

The vendor's platform reports money (a bill, a declined payment) and changes
(a new price or quantity); the customer makes choices; a timer falls due; a
processed ticket cancels it. Each door turns its request into one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from service.domain.records import Party
from service.domain.subscription.records import SubscriptionTimerEvent

# --- from the vendor's platform (the vendor's key, or the operator) ------------------------


@dataclass(frozen=True)
class Billed:
    """The platform charged a renewal: the order's newest bill."""

    billed_at: datetime
    amount: Decimal
    by: Party = Party.VENDOR


@dataclass(frozen=True)
class PaymentDeclined:
    """The platform could not charge; it retries on its own, the customer may fix the method."""

    at: datetime
    reason: str
    by: Party = Party.VENDOR


@dataclass(frozen=True)
class ItemChanged:
    """A new unit price and/or quantity for item `item`, effective at the next billing."""

    item: int
    unit_price: Decimal | None
    quantity: int | None
    by: Party = Party.VENDOR


# --- the customer's choices ----------------------------------------------------------------


@dataclass(frozen=True)
class SetAutoRenew:
    """Turn automatic renewal on or off for item `item`, or for every item (None)."""

    on: bool
    item: int | None = None
    by: Party = Party.CUSTOMER


@dataclass(frozen=True)
class AnswerChange:
    """Accept or decline the pending price rise of item `item`, or of every item (None)."""

    accept: bool
    item: int | None = None
    by: Party = Party.CUSTOMER


@dataclass(frozen=True)
class RequestRenewal:
    """Renew now (a manual subscription): the vendor bills through its platform."""

    by: Party = Party.CUSTOMER


# --- maildesk itself -------------------------------------------------------------------------


@dataclass(frozen=True)
class FireSubscription:
    """A subscription's timer falling due; only the scheduler sends these."""

    event: SubscriptionTimerEvent
    by: Party = Party.SYSTEM


@dataclass(frozen=True)
class CanceledByTicket:
    """A processed refund or cancelation ticket canceled the subscription (SPEC §2)."""

    ticket: int
    by: Party = Party.SYSTEM


PlatformEvent = Billed | PaymentDeclined | ItemChanged
CustomerChoice = SetAutoRenew | AnswerChange | RequestRenewal
SubscriptionEvent = PlatformEvent | CustomerChoice | FireSubscription | CanceledByTicket
