"""The business rules of SPEC §2 that are not transitions: who may ask for what, and when.

Each rule is a small function named after it, so a newcomer looking for "the
60-day window" or "which payment methods refund automatically" finds it here.
Pure: every function takes the facts and the moment it is asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.calendar import BusinessCalendar
from service.domain.records import (
    Order,
    Party,
    RefundCategory,
    SubscriptionStatus,
    TicketType,
    Vendor,
)

CUSTOMER_REFUND_WINDOW = timedelta(days=60)
VENDOR_REFUND_WINDOW = timedelta(days=90)
SAVE_THE_SALE_WINDOW = timedelta(hours=24)  # of weekday time
PHYSICAL_REFUND_DELAY = timedelta(days=19)
VENDOR_REQUEST_DELAY = timedelta(minutes=5)
ESCALATION_WINDOW = timedelta(days=30)

FIRST_WARNING_AFTER = timedelta(hours=48)  # waiting for the vendor
SECOND_WARNING_AFTER = FIRST_WARNING_AFTER + timedelta(days=2)
VENDOR_SILENCE_CLOSE_AFTER = SECOND_WARNING_AFTER + timedelta(days=2)
CUSTOMER_SILENCE_WARNING_WEEKDAYS = 7  # waiting for the customer
CUSTOMER_SILENCE_CLOSE_WEEKDAYS = 14

AUTOMATIC_REFUND_PAYMENT_METHODS = frozenset(
    {"credit_card", "paypal", "apple_pay", "alipay", "direct_debit", "amazon_pay"}
)


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot be granted, in words the requester can act on."""

    code: str
    reason: str


def refund_window(vendor: Vendor, requester: Party) -> timedelta:
    """60 days for a customer (narrowed by a `within_days` policy), 90 for the vendor."""
    if requester is Party.VENDOR:
        return VENDOR_REFUND_WINDOW
    policy = vendor.refund_policy
    if policy.category is RefundCategory.WITHIN_DAYS and policy.days is not None:
        return min(CUSTOMER_REFUND_WINDOW, timedelta(days=policy.days))
    return CUSTOMER_REFUND_WINDOW


def refusal_for(
    ticket_type: TicketType,
    order: Order,
    vendor: Vendor,
    requester: Party,
    now: datetime,
) -> Refusal | None:
    """Whether a refund or cancelation may be opened (or a ticket changed to one) now."""
    if ticket_type is TicketType.CANCELATION:
        if order.subscription_status is not SubscriptionStatus.ACTIVE:
            return Refusal(
                "not_cancelable",
                f"Order {order.reference} has no active subscription to cancel.",
            )
        return None
    if ticket_type is not TicketType.REFUND:
        return None
    bill = order.latest_bill
    if bill is None:
        return Refusal("nothing_to_refund", f"Order {order.reference} has no charge to refund.")
    if bill.refunded:
        return Refusal("already_refunded", f"Order {order.reference} has already been refunded.")
    window = refund_window(vendor, requester)
    if now - bill.billed_at > window:
        return Refusal(
            "refund_window_passed",
            f"Refunds for order {order.reference} can be requested within "
            f"{window.days} days of the latest charge; that charge was on "
            f"{bill.billed_at:%Y-%m-%d}.",
        )
    return None


def needs_approval(order: Order, vendor: Vendor, requester: Party) -> bool:
    """A customer's refund waits for the vendor when the policy or payment method demands it."""
    if requester is Party.VENDOR:
        return False
    if vendor.refund_policy.category is RefundCategory.APPROVAL_REQUIRED:
        return True
    return order.payment_method not in AUTOMATIC_REFUND_PAYMENT_METHODS


def processing_time(
    ticket_type: TicketType,
    order: Order,
    vendor: Vendor,
    requester: Party,
    since: datetime,
    calendar: BusinessCalendar,
) -> datetime:
    """When a refund or cancelation opened (or changed to) at `since` is processed.

    The vendor asked: 5 minutes, weekends and all. An abusing vendor: at once.
    A physical refund: 19 days, then the weekend rule. Otherwise 24 hours of
    weekday time, which never ends on a weekend.
    """
    if requester is Party.VENDOR:
        return since + VENDOR_REQUEST_DELAY
    if vendor.abusing:
        return since
    if ticket_type is TicketType.REFUND and order.is_physical:
        return calendar.defer_off_weekend(since + PHYSICAL_REFUND_DELAY)
    return calendar.add_weekday_time(since, SAVE_THE_SALE_WINDOW)


def may_escalate(vendor_saved_at: datetime | None, now: datetime) -> bool:
    """A vendor's save may be escalated by the customer for 30 days."""
    return vendor_saved_at is not None and now - vendor_saved_at <= ESCALATION_WINDOW
