"""SPEC §7, the schedule: payment reminders, the end of term, the lapse of a price rise.

Each rule at the domain level: which timer a subscription has, what firing
it does, and who is told. Elapsed time, no weekend rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from service.domain.records import SubscriptionStatus
from service.domain.subscription.events import (
    AnswerChange,
    Billed,
    FireSubscription,
    ItemChanged,
    SetAutoRenew,
)
from service.domain.subscription.records import EndReason, SubscriptionTimerEvent
from service.domain.subscription.schedule import next_billing_after
from tests.domain.builders import NEW_YORK, at
from tests.domain.subscriptions import (
    BILLING,
    NOW,
    fire_due,
    items,
    run,
    sent,
    subscription,
    vendor,
)

REMINDER = SubscriptionTimerEvent.REMINDER
BILLING_DATE = SubscriptionTimerEvent.BILLING_DATE
WEEK = timedelta(days=7)


@pytest.mark.parametrize("method", ["credit_card", "invoice", "wire_transfer"])
def test_a_manual_subscription_is_reminded_seven_days_before_billing_whatever_the_method(
    method: str,
) -> None:
    sub = subscription(renewal="manual", method=method)
    assert sub.due is not None and (sub.due.event, sub.due.at) == (REMINDER, BILLING - WEEK)
    reminded = fire_due(sub)
    (entry,) = reminded.entries
    assert entry.kind == "renewal_reminder"
    assert entry.detail == {
        "billing_at": "2026-12-20T10:00:00Z",
        "amount": "19.95",
        "currency": "USD",
        "way": "manual",
    }
    assert sent(reminded) == {("renewal_reminder", "customer")}


def test_an_automatic_renewal_paid_offline_is_reminded() -> None:
    reminded = fire_due(subscription(method="invoice"))
    assert reminded.entries[0].detail["way"] == "offline"


def test_an_automatic_renewal_paid_online_is_not_reminded_unless_the_vendor_asks() -> None:
    assert subscription(method="paypal").due is None
    asks = vendor(remind_auto_renewals=True)
    sub = subscription(method="paypal", settings=asks)
    assert sub.due is not None and sub.due.at == BILLING - WEEK
    assert fire_due(sub, asks).entries[0].detail["way"] == "automatic"


def test_the_vendor_sets_how_many_days_before() -> None:
    three = vendor(renewal_reminder_days=3)
    sub = subscription(renewal="manual", settings=three)
    assert sub.due is not None and sub.due.at == BILLING - timedelta(days=3)


def test_a_billing_date_nearer_than_the_reminder_period_is_reminded_at_once() -> None:
    now = BILLING - timedelta(days=2)
    sub = subscription(renewal="manual", now=now)
    assert sub.due is not None and (sub.due.event, sub.due.at) == (REMINDER, now)


def test_each_billing_date_is_reminded_once() -> None:
    reminded = fire_due(subscription(renewal="manual")).subscription
    assert reminded.reminded_for == BILLING
    assert reminded.due is not None and reminded.due.event is BILLING_DATE
    again = run(reminded, SetAutoRenew(True), BILLING - WEEK)  # any event recomputes the timer
    assert again.subscription.due is not None and again.subscription.due.event is BILLING_DATE


def test_no_reminder_when_nothing_will_renew() -> None:
    sub = subscription(method="invoice", lines=items((1, "9.00", False)))
    assert sub.due is not None and sub.due.event is BILLING_DATE  # the end, not a reminder


def test_a_manual_subscription_not_renewed_by_its_billing_date_ends() -> None:
    reminded = fire_due(subscription(renewal="manual")).subscription
    ended = fire_due(reminded)
    sub = ended.subscription
    assert sub.status is SubscriptionStatus.CANCELED
    assert sub.cancel_reason is EndReason.NOT_RENEWED
    assert sub.ends_at == BILLING and sub.due is None
    assert [e.kind for e in ended.entries] == ["subscription_ended"]
    assert sent(ended) == {
        ("subscription_ended", "customer"),
        ("subscription_ended", "vendor"),
        ("subscription.updated", "vendor"),
    }


def test_a_manual_subscription_renewed_in_time_goes_on() -> None:
    reminded = fire_due(subscription(renewal="manual")).subscription
    renewed = run(reminded, Billed(BILLING - timedelta(days=1), Decimal("19.95")))
    sub = renewed.subscription
    assert sub.is_active and sub.next_billing_at == at("2027-01-20 10:00")
    assert sub.due is not None and (sub.due.event, sub.due.at) == (
        REMINDER,
        at("2027-01-13 10:00"),
    )


def test_an_automatic_subscription_with_every_item_off_ends_at_its_billing_date() -> None:
    sub = subscription(lines=items((1, "5.00"), (2, "3.00")))
    off = run(sub, SetAutoRenew(False)).subscription
    assert off.ends_at == BILLING
    assert off.due is not None and (off.due.event, off.due.at) == (BILLING_DATE, BILLING)
    ended = fire_due(off).subscription
    assert ended.status is SubscriptionStatus.CANCELED
    assert ended.cancel_reason is EndReason.NOT_RENEWED


def test_an_automatic_subscription_with_items_on_has_nothing_due_at_its_billing_date() -> None:
    sub = subscription(lines=items((1, "5.00"), (2, "3.00", False)))
    assert sub.due is None  # paid online, something renews: the platform just bills
    assert sub.ends_at is None


def test_an_unanswered_price_rise_lapses_at_the_billing_date_and_the_old_price_stays() -> None:
    asked = run(subscription(), ItemChanged(1, Decimal("24.95"), None)).subscription
    assert asked.due is not None and (asked.due.event, asked.due.at) == (BILLING_DATE, BILLING)
    assert asked.next_amount == Decimal("19.95")  # not applied without consent
    lapsed = fire_due(asked)
    sub = lapsed.subscription
    assert sub.is_active and sub.items[0].change is None
    assert sub.items[0].unit_price == Decimal("19.95") and sub.due is None
    assert sent(lapsed) == {
        ("price_change_lapsed", "customer"),
        ("price_change_lapsed", "vendor"),
        ("subscription.updated", "vendor"),
    }


def test_an_accepted_rise_does_not_lapse() -> None:
    asked = run(subscription(), ItemChanged(1, Decimal("24.95"), None)).subscription
    accepted = run(asked, AnswerChange(True)).subscription
    assert accepted.due is None
    assert accepted.next_amount == Decimal("24.95")


def test_a_stale_or_early_timer_does_nothing() -> None:
    sub = subscription(renewal="manual")
    assert sub.due is not None
    early = run(replace(sub, due=replace(sub.due, at=BILLING)), FireSubscription(REMINDER), NOW)
    assert early.entries == () and early.subscription.reminded_for is None
    stale = run(sub, FireSubscription(BILLING_DATE), BILLING)
    assert stale.entries == () and stale.subscription.is_active


def test_months_are_added_on_the_vendors_wall_clock() -> None:
    # 10:00 in New York in October is 14:00 UTC; in November (after the clocks went back)
    # it is 15:00 UTC. A month later is still 10:00 in New York.
    october = at("2026-10-15 10:00", NEW_YORK)
    assert next_billing_after(october, "P1M", NEW_YORK) == at("2026-11-15 10:00", NEW_YORK)
    assert next_billing_after(at("2027-01-31 10:00"), "P1M", "UTC") == at("2027-02-28 10:00")
    assert next_billing_after(at("2027-01-31 10:00"), "P1Y", "UTC") == at("2028-01-31 10:00")
