"""The business rules of SPEC §2 that are not transitions: who may ask for what, and when.

Each rule is a small function named after it, so a newcomer looking for "the
60-day window" or "which payment methods refund automatically" finds it here.
Pure: every function takes the facts and the moment it is asked about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from service.domain.calendar import BusinessCalendar
from service.domain.records import (
    Order,
    Party,
    RefundCategory,
    SubscriptionStatus,
    Ticket,
    TicketType,
    TimerEvent,
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


class ProcessingRule(StrEnum):
    """Which rule set a refund's or cancelation's processing time: the "why" of its date."""

    SAVE_THE_SALE = "weekday_hours"
    """24 hours of weekday time, so the vendor can answer first."""
    PHYSICAL_GOODS = "physical_goods"
    """19 days, for a refund of shipped goods."""
    VENDOR_REQUEST = "vendor_request"
    """5 minutes: the vendor asked for it itself."""
    AT_ONCE = "at_once"
    """At once: the vendor was marked as abusing the save-the-sale window."""


@dataclass(frozen=True)
class ProcessingReason:
    """Why a request is processed when it is: the rule, and whether a weekend moved the date.

    `weekend` is true when Saturday and Sunday in the vendor's zone pushed the
    time later: the 24 weekday hours ran over a weekend, or the 19 days ended
    on one and the weekend rule moved the time to Monday 00:00.
    """

    rule: ProcessingRule
    weekend: bool = False

    def as_detail(self) -> dict[str, str]:
        """The reason as a history entry's detail (plain strings, kept with the ticket)."""
        detail = {"processing": self.rule.value}
        if self.weekend:
            detail["processing_weekend"] = "true"
        return detail

    @classmethod
    def from_detail(cls, detail: Mapping[str, str]) -> ProcessingReason | None:
        try:
            rule = ProcessingRule(detail.get("processing", ""))
        except ValueError:
            return None
        return cls(rule, detail.get("processing_weekend") == "true")


@dataclass(frozen=True)
class Processing:
    at: datetime
    reason: ProcessingReason


def processing(
    ticket_type: TicketType,
    order: Order,
    vendor: Vendor,
    requester: Party,
    since: datetime,
    calendar: BusinessCalendar,
) -> Processing:
    """When a refund or cancelation opened (or changed to) at `since` is processed, and why.

    The vendor asked: 5 minutes, weekends and all. An abusing vendor: at once.
    A physical refund: 19 days, then the weekend rule. Otherwise 24 hours of
    weekday time, which never ends on a weekend.
    """
    if requester is Party.VENDOR:
        return Processing(
            since + VENDOR_REQUEST_DELAY, ProcessingReason(ProcessingRule.VENDOR_REQUEST)
        )
    if vendor.abusing:
        return Processing(since, ProcessingReason(ProcessingRule.AT_ONCE))
    if ticket_type is TicketType.REFUND and order.is_physical:
        due = since + PHYSICAL_REFUND_DELAY
        at = calendar.defer_off_weekend(due)
        return Processing(at, ProcessingReason(ProcessingRule.PHYSICAL_GOODS, at != due))
    at = calendar.add_weekday_time(since, SAVE_THE_SALE_WINDOW)
    return Processing(
        at, ProcessingReason(ProcessingRule.SAVE_THE_SALE, at - since > SAVE_THE_SALE_WINDOW)
    )


def pending_processing_reason(ticket: Ticket) -> ProcessingReason | None:
    """Why the ticket's pending processing time is what it is, as recorded when it was set.

    The machine keeps the reason in the detail of the history entry that
    scheduled the processing (the opening or the change); None when nothing
    is pending.
    """
    if ticket.due is None or ticket.due.event is not TimerEvent.PROCESS:
        return None
    for entry in reversed(ticket.history):
        if entry.kind in ("opened", "changed"):
            return ProcessingReason.from_detail(entry.detail)
    return None


def may_escalate(vendor_saved_at: datetime | None, now: datetime) -> bool:
    """A vendor's save may be escalated by the customer for 30 days."""
    return vendor_saved_at is not None and now - vendor_saved_at <= ESCALATION_WINDOW
