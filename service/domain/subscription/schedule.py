"""When a subscription's next notice falls due (SPEC §7): elapsed time, no weekend rule.

These are notices; the platform bills. A subscription has at most one pending
timer, the earliest of: the payment reminder of its next billing date, and
the billing date itself where something happens then (a manual subscription
not renewed, nothing left to renew, a price rise still awaiting consent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import isodate

from service.domain.records import Vendor
from service.domain.subscription.records import (
    Renewal,
    Subscription,
    SubscriptionItem,
    SubscriptionTimer,
    SubscriptionTimerEvent,
)


def next_billing_after(moment: datetime, interval: str, timezone: str) -> datetime:
    """`moment` plus one `interval` (an ISO-8601 duration like P1M), in the vendor's zone.

    Months and years are calendar ones, on the vendor's wall clock: a monthly
    bill at 10:00 in New York stays at 10:00 across a change of daylight time,
    and 31 January plus a month is 28 (or 29) February.
    """
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    later: datetime = local + _duration(interval)
    return later.astimezone(moment.tzinfo)


@lru_cache(maxsize=64)
def _duration(interval: str) -> timedelta | isodate.Duration:
    """An interval as isodate reads it, read once: an import bills on from hundreds of
    thousands of subscriptions with a handful of intervals."""
    return isodate.parse_duration(interval)


def reminder_wanted(subscription: Subscription, vendor: Vendor) -> bool:
    """Whether the next billing date gets a payment reminder.

    Manual renewals always (any method), automatic ones paid offline always
    (the customer pays), automatic ones paid online only when the vendor asks
    (the customer agreed to be charged); never when nothing will renew.
    """
    if not subscription.is_active or not subscription.renewing_items:
        return False
    if subscription.renewal is Renewal.MANUAL or not subscription.pays_online:
        return True
    return vendor.remind_auto_renewals


def reminder_at(subscription: Subscription, vendor: Vendor) -> datetime:
    return subscription.next_billing_at - timedelta(days=vendor.renewal_reminder_days)


def consent_lapses_at_billing(item: SubscriptionItem, billing_at: datetime) -> bool:
    """A rise asked before the billing date and still unanswered lapses at that date.

    One asked after a billing date that has passed unbilled waits for the bill,
    which moves the date: its own billing date is the next one.
    """
    change = item.change
    return change is not None and change.awaits_consent and change.asked_at < billing_at


def billing_date_matters(subscription: Subscription) -> bool:
    """Whether anything happens at the billing date itself (else the platform just bills)."""
    if not subscription.is_active:
        return False
    if subscription.renewal is Renewal.MANUAL or not subscription.renewing_items:
        return True
    billing_at = subscription.next_billing_at
    return any(consent_lapses_at_billing(item, billing_at) for item in subscription.items)


def next_timer(
    subscription: Subscription, vendor: Vendor, now: datetime
) -> SubscriptionTimer | None:
    """The subscription's one pending timer after an event at `now`.

    A reminder whose moment has passed when it is set goes out at once; a
    billing date that has passed is not reminded at all.
    """
    timers: list[SubscriptionTimer] = []
    billing_at = subscription.next_billing_at
    if (
        reminder_wanted(subscription, vendor)
        and subscription.reminded_for != billing_at
        and billing_at > now
    ):
        at = max(reminder_at(subscription, vendor), now)
        timers.append(SubscriptionTimer(SubscriptionTimerEvent.REMINDER, at))
    if billing_date_matters(subscription):
        timers.append(SubscriptionTimer(SubscriptionTimerEvent.BILLING_DATE, billing_at))
    return min(timers, key=lambda timer: timer.at, default=None)
