"""SPEC §7, events: the platform's bills, declined payments and changes; the customer's choices.

Each rule at the domain level, with who is told and what the vendor's
systems hear; refusals change nothing and say why.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from service.domain.effects import RecordBill
from service.domain.records import Party, SubscriptionStatus
from service.domain.subscription.choices import Choice, Offer, allowed_choices
from service.domain.subscription.events import (
    AnswerChange,
    Billed,
    CanceledByTicket,
    ItemChanged,
    PaymentDeclined,
    RequestRenewal,
    SetAutoRenew,
    SubscriptionEvent,
)
from service.domain.subscription.records import Consent, EndReason, PaymentStatus
from tests.domain.builders import at
from tests.domain.subscriptions import BILLING, NOW, items, run, sent, subscription

USD = Decimal


# --- bills ---------------------------------------------------------------------------------


def test_a_bill_moves_the_billing_date_one_interval_and_confirms_the_renewal() -> None:
    billed = run(subscription(), Billed(BILLING, USD("19.95")), BILLING)
    sub = billed.subscription
    assert sub.next_billing_at == at("2027-01-20 10:00")
    assert billed.effects == (RecordBill("Q7K2M9XA", BILLING, USD("19.95")),)
    (entry,) = billed.entries
    assert entry.kind == "renewed" and entry.by is Party.VENDOR
    assert entry.detail["period_start"] == "2026-12-20T10:00:00Z"
    assert entry.detail["period_end"] == "2027-01-20T10:00:00Z"
    assert sent(billed) == {("renewal_confirmation", "customer")}


def test_a_renewal_paid_early_keeps_the_time_left() -> None:
    # Seed 003: renewed on 22 December, the next interval still starts at the old date.
    annual = subscription(billing=at("2027-02-15 00:00"), interval="P1Y")
    early = run(annual, Billed(at("2026-12-22 09:00"), USD("5000")), at("2026-12-22 09:00"))
    assert early.subscription.next_billing_at == at("2028-02-15 00:00")


def test_a_bill_applies_accepted_and_free_changes_and_settles_a_past_due_payment() -> None:
    sub = subscription(lines=items((1, "10.00"), (10, "5.00"), (1, "8.00")))
    sub = run(sub, PaymentDeclined(NOW, "card expired")).subscription
    sub = run(sub, ItemChanged(1, USD("12.00"), None)).subscription  # a rise
    sub = run(sub, ItemChanged(2, None, 15)).subscription  # a rise too
    sub = run(sub, ItemChanged(3, USD("6.00"), None)).subscription  # cheaper: no consent
    sub = run(sub, AnswerChange(True, 1)).subscription
    sub = run(sub, AnswerChange(False, 2)).subscription
    assert sub.next_amount == USD("12.00") + USD("50.00") + USD("6.00")
    billed = run(sub, Billed(BILLING, USD("68.00")), BILLING).subscription
    assert [(i.quantity, i.unit_price, i.change) for i in billed.items] == [
        (1, USD("12.00"), None),
        (10, USD("5.00"), None),
        (1, USD("6.00"), None),
    ]
    assert billed.payment_status is PaymentStatus.OK


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (Billed(BILLING, USD("-1")), "invalid_amount"),
        (Billed(at("2026-11-20 10:00"), USD("19.95")), "duplicate_bill"),
        (ItemChanged(7, USD("1"), None), "no_such_item"),
        (ItemChanged(1, None, None), "empty_change"),
        (ItemChanged(1, None, 0), "invalid_quantity"),
        (ItemChanged(1, USD("19.95"), 1), "unchanged"),
    ],
)
def test_bad_reports_are_refused_and_change_nothing(event: SubscriptionEvent, code: str) -> None:
    sub = subscription()
    refused = run(sub, event)
    assert refused.refusal is not None and refused.refusal.code == code
    assert refused.subscription == sub and refused.effects == ()
    assert sent(refused) == set()  # the API answers the vendor; nobody is mailed


@pytest.mark.parametrize(
    "event",
    [Billed(BILLING, USD("19.95")), PaymentDeclined(NOW, "x"), ItemChanged(1, USD("30"), None)],
)
def test_nothing_is_recorded_on_a_canceled_subscription(event: SubscriptionEvent) -> None:
    canceled = run(subscription(), CanceledByTicket(1001)).subscription
    refused = run(canceled, event)
    assert refused.refusal is not None and refused.refusal.code == "canceled"
    assert "S1001 is canceled" in refused.refusal.reason


# --- declined payments -------------------------------------------------------------------------


def test_a_declined_payment_makes_the_subscription_past_due_and_tells_the_customer() -> None:
    declined = run(subscription(), PaymentDeclined(NOW, "insufficient funds"))
    assert declined.subscription.payment_status is PaymentStatus.PAST_DUE
    assert declined.entries[0].detail["reason"] == "insufficient funds"
    assert sent(declined) == {("payment_declined", "customer")}
    again = run(declined.subscription, PaymentDeclined(NOW + timedelta(days=1), "again"))
    assert sent(again) == {("payment_declined", "customer")}  # each failure is one email


# --- price and quantity changes -------------------------------------------------------------


def test_a_rise_asks_for_consent_and_applies_only_once_accepted() -> None:
    asked = run(subscription(), ItemChanged(1, USD("24.95"), None))
    change = asked.subscription.items[0].change
    assert change is not None and change.needs_consent and change.consent is Consent.PENDING
    assert asked.entries[0].detail["needs_consent"] == "yes"
    assert sent(asked) == {("price_change", "customer")}
    assert asked.subscription.next_amount == USD("19.95")
    accepted = run(asked.subscription, AnswerChange(True))
    assert accepted.subscription.next_amount == USD("24.95")
    assert sent(accepted) == {
        ("subscription_choice", "customer"),
        ("subscription_choice", "vendor"),
        ("subscription.updated", "vendor"),
    }


def test_a_change_that_does_not_raise_the_amount_needs_no_consent_and_the_customer_is_told() -> (
    None
):
    cheaper = run(subscription(lines=items((10, "5.00"))), ItemChanged(1, USD("6.00"), 8))
    change = cheaper.subscription.items[0].change
    assert change is not None and change.consent is Consent.NOT_NEEDED
    assert cheaper.subscription.next_amount == USD("48.00")
    assert sent(cheaper) == {("price_change", "customer")}


def test_a_declined_rise_keeps_the_old_price() -> None:
    asked = run(subscription(), ItemChanged(1, USD("24.95"), None)).subscription
    declined = run(asked, AnswerChange(False))
    assert declined.subscription.next_amount == USD("19.95")
    assert declined.subscription.items[0].change is not None
    assert declined.subscription.items[0].change.consent is Consent.DECLINED
    assert declined.entries[0].kind == "price_change_declined"


def test_a_new_change_replaces_a_pending_one() -> None:
    sub = run(subscription(), ItemChanged(1, USD("24.95"), None)).subscription
    replaced = run(sub, ItemChanged(1, USD("21.95"), None)).subscription
    change = replaced.items[0].change
    assert change is not None and change.unit_price == USD("21.95")
    withdrawn = run(replaced, ItemChanged(1, USD("19.95"), None))
    assert withdrawn.subscription.items[0].change is None
    assert withdrawn.entries[0].kind == "price_change_withdrawn"


# --- the customer's choices ------------------------------------------------------------------


def test_automatic_renewal_off_and_on_per_item() -> None:
    sub = subscription(lines=items((1, "5.00"), (1, "3.00")))
    off = run(sub, SetAutoRenew(False, 2))
    assert [i.auto_renew for i in off.subscription.items] == [True, False]
    assert off.subscription.next_amount == USD("5.00") and off.subscription.ends_at is None
    assert off.entries[0].detail["item"] == "2"
    assert sent(off) == {
        ("subscription_choice", "customer"),
        ("subscription_choice", "vendor"),
        ("subscription.updated", "vendor"),
    }
    all_off = run(off.subscription, SetAutoRenew(False)).subscription
    assert all_off.ends_at == BILLING
    on_again = run(all_off, SetAutoRenew(True, 1)).subscription
    assert on_again.ends_at is None


def test_renew_now_is_a_request_to_the_vendor_for_a_manual_subscription() -> None:
    asked = run(subscription(renewal="manual", method="invoice"), RequestRenewal())
    assert asked.entries[0].kind == "renewal_requested"
    assert sent(asked) == {
        ("renewal_requested", "customer"),
        ("renewal_requested", "vendor"),
        ("subscription.renewal_requested", "vendor"),
    }


@pytest.mark.parametrize(
    ("sub_kwargs", "event", "code"),
    [
        ({"renewal": "manual"}, SetAutoRenew(False), "manual_renewal"),
        ({}, SetAutoRenew(True), "unchanged"),
        ({}, SetAutoRenew(False, 3), "no_such_item"),
        ({}, AnswerChange(True), "nothing_to_answer"),
        ({}, RequestRenewal(), "renews_automatically"),
    ],
)
def test_a_choice_that_is_not_open_is_refused_with_the_reason(
    sub_kwargs: dict[str, str], event: SubscriptionEvent, code: str
) -> None:
    sub = subscription(**sub_kwargs)  # type: ignore[arg-type]
    refused = run(sub, event)
    assert refused.refusal is not None and refused.refusal.code == code
    assert refused.subscription == sub
    assert sent(refused) == {("subscription_refused", "customer")}


def test_the_choices_offered_are_exactly_those_the_machine_accepts() -> None:
    sub = run(subscription(lines=items((1, "5.00"), (1, "3.00"))), ItemChanged(2, USD("4"), None))
    offered = set(allowed_choices(sub.subscription))
    assert offered == {
        Offer(Choice.RENEW_OFF, 1),
        Offer(Choice.RENEW_OFF, 2),
        Offer(Choice.ACCEPT, 2),
        Offer(Choice.DECLINE, 2),
    }
    manual = subscription(renewal="manual")
    assert set(allowed_choices(manual)) == {Offer(Choice.RENEW_NOW)}
    ended = run(manual, CanceledByTicket(7)).subscription
    assert allowed_choices(ended) == ()


# --- canceled by a ticket ------------------------------------------------------------------------


def test_a_processed_ticket_cancels_the_subscription_drops_its_timer_and_sends_nothing() -> None:
    sub = subscription(renewal="manual")
    assert sub.due is not None
    canceled = run(sub, CanceledByTicket(1001))
    assert canceled.subscription.status is SubscriptionStatus.CANCELED
    assert canceled.subscription.cancel_reason is EndReason.CANCELED
    assert canceled.subscription.due is None
    assert sent(canceled) == set()
    assert run(canceled.subscription, CanceledByTicket(1002)).entries == ()
