"""A subscription and its items (SPEC §7): what renews, for how much, and when.

maildesk is the voice around a subscription, not its till: the vendor's
platform moves the money and posts what happened (a bill, a declined
payment); the record here keeps the schedule and the customer's choices, so
the next charge is the right one. Pure values, like the ticket records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from service.domain.records import HistoryEntry, SubscriptionStatus

ONLINE_PAYMENT_METHODS = frozenset(
    {"credit_card", "paypal", "apple_pay", "alipay", "direct_debit", "amazon_pay"}
)
"""Methods the platform charges without the customer (SPEC §7); every other one is offline
(an invoice, a wire transfer): the customer pays it, so is always reminded."""


class Renewal(StrEnum):
    """Who starts each renewal: the platform on its own, or the customer."""

    AUTO = "auto"
    MANUAL = "manual"


class PaymentStatus(StrEnum):
    OK = "ok"
    PAST_DUE = "past_due"


class EndReason(StrEnum):
    """Why a subscription is canceled, as its JSON's `cancel_reason` says."""

    NOT_RENEWED = "not_renewed"
    """Its billing date came with nothing left to renew, or a manual one was not renewed."""
    CANCELED = "canceled"
    """A refund or cancelation ticket was processed (SPEC §2)."""


class Consent(StrEnum):
    """The customer's answer to a pending change of an item."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_NEEDED = "not_needed"
    """The change does not raise what the customer pays: it applies without asking."""


class SubscriptionTimerEvent(StrEnum):
    """What a subscription's pending timer does when it falls due."""

    REMINDER = "renewal_reminder"
    BILLING_DATE = "billing_date"


@dataclass(frozen=True)
class SubscriptionTimer:
    event: SubscriptionTimerEvent
    at: datetime


@dataclass(frozen=True)
class PendingChange:
    """A new unit price and/or quantity for an item, effective at the next billing.

    `None` leaves that value as the item has it. A change that raises what the
    customer pays for the item waits for consent; it applies only once accepted.
    """

    unit_price: Decimal | None
    quantity: int | None
    needs_consent: bool
    consent: Consent
    asked_at: datetime

    @property
    def applies(self) -> bool:
        """Whether the next billing charges it."""
        return self.consent in (Consent.ACCEPTED, Consent.NOT_NEEDED)

    @property
    def awaits_consent(self) -> bool:
        return self.consent is Consent.PENDING


@dataclass(frozen=True)
class SubscriptionItem:
    """One line of a subscription, numbered 1, 2, … in the order it was imported."""

    number: int
    sku: str
    quantity: int
    unit_price: Decimal
    auto_renew: bool = True
    change: PendingChange | None = None
    name: str = ""

    @property
    def amount(self) -> Decimal:
        """What the item costs a period today."""
        return self.quantity * self.unit_price

    @property
    def next_quantity(self) -> int:
        change = self.change
        if change is not None and change.applies and change.quantity is not None:
            return change.quantity
        return self.quantity

    @property
    def next_unit_price(self) -> Decimal:
        change = self.change
        if change is not None and change.applies and change.unit_price is not None:
            return change.unit_price
        return self.unit_price

    @property
    def next_amount(self) -> Decimal:
        """What the item will cost at the next billing: its change, where that applies."""
        return self.next_quantity * self.next_unit_price


@dataclass(frozen=True)
class Subscription:
    """A subscription order's schedule, items and the customer's choices.

    `reminded_for` is the billing date whose payment reminder was sent, so each
    billing date is reminded once; `ends_at` is set while nothing will renew.
    `payment_method` and `currency` are the order's, kept here so that the
    rules need nothing else to decide.
    """

    id: str
    order_reference: str
    vendor_id: str
    customer_email: str
    secret: str
    renewal: Renewal
    interval: str
    next_billing_at: datetime
    payment_method: str
    currency: str
    items: tuple[SubscriptionItem, ...]
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    payment_status: PaymentStatus = PaymentStatus.OK
    ends_at: datetime | None = None
    cancel_reason: EndReason | None = None
    reminded_for: datetime | None = None
    due: SubscriptionTimer | None = None
    history: tuple[HistoryEntry, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status is SubscriptionStatus.ACTIVE

    @property
    def pays_online(self) -> bool:
        return self.payment_method in ONLINE_PAYMENT_METHODS

    @property
    def renewing_items(self) -> tuple[SubscriptionItem, ...]:
        """The items the next billing renews: every one for manual renewal, else those on."""
        if self.renewal is Renewal.MANUAL:
            return self.items
        return tuple(item for item in self.items if item.auto_renew)

    @property
    def next_amount(self) -> Decimal:
        """SPEC §7: quantity × unit price of the renewing items, each at its change that applies."""
        return sum((item.next_amount for item in self.renewing_items), Decimal("0"))

    def item(self, number: int) -> SubscriptionItem | None:
        return next((item for item in self.items if item.number == number), None)
