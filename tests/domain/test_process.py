"""SPEC §2, `process`: what a refund or cancelation does to the order and the ticket.

A refund refunds the latest bill (and cancels a subscription); a cancelation
cancels and refunds nothing. Either closes the ticket and confirms to both
parties.
"""

from __future__ import annotations

from service.domain.records import CloseReason, SubscriptionStatus
from tests.domain.builders import (
    BOTH,
    CANCELATION,
    CUSTOMER,
    DAY,
    REFERENCE,
    REFUND,
    VENDOR,
    CancelSubscription,
    RefundBill,
    after,
    at,
    bill,
    effects_of,
    facts,
    fire,
    monthly_bills,
    notified,
    opened,
    order,
    vendor,
)

FIRST_BILL = at("2026-05-04 10:00")
WEDNESDAY = at("2026-06-03 10:00")


def test_refund_of_a_subscription_refunds_only_its_latest_bill_and_cancels_it():
    bills = monthly_bills(FIRST_BILL, 4)
    f = facts(vendor(), order(kind="subscription", bills=bills))
    ticket = opened(REFUND, CUSTOMER, bills[-1].billed_at + DAY, f)
    transition = fire(ticket, f)
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, bills[-1].billed_at)]
    assert effects_of(transition, CancelSubscription) == [CancelSubscription(REFERENCE)]
    assert transition.ticket.close_reason is CloseReason.REFUNDED


def test_refund_of_a_one_off_order_refunds_its_single_bill_in_full():
    f = facts(vendor(), order(bills=(bill(FIRST_BILL, amount="49.00"),)))
    ticket = opened(REFUND, CUSTOMER, FIRST_BILL, f)
    transition = fire(ticket, f)
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, FIRST_BILL)]
    assert effects_of(transition, CancelSubscription) == []
    (mail, *_) = transition.notifications
    assert mail.facts["amount"] == "49.00"
    assert after(transition, f).order.refunded_amount == f.order.bills[0].amount


def test_refund_of_a_canceled_subscription_refunds_the_latest_bill_without_canceling_again():
    bills = monthly_bills(FIRST_BILL, 2)
    f = facts(vendor(), order(kind="subscription", bills=bills, subscription="canceled"))
    ticket = opened(REFUND, CUSTOMER, bills[-1].billed_at, f)
    transition = fire(ticket, f)
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, bills[-1].billed_at)]
    assert effects_of(transition, CancelSubscription) == []


def test_cancelation_cancels_the_subscription_and_refunds_nothing():
    f = facts(vendor(), order(kind="subscription", bills=monthly_bills(FIRST_BILL, 3)))
    ticket = opened(CANCELATION, CUSTOMER, WEDNESDAY, f)
    transition = fire(ticket, f)
    assert effects_of(transition, CancelSubscription) == [CancelSubscription(REFERENCE)]
    assert effects_of(transition, RefundBill) == []
    assert after(transition, f).order.subscription_status is SubscriptionStatus.CANCELED


def test_processed_refund_closes_the_ticket_as_refunded_and_clears_its_timer():
    f = facts(vendor(), order(billed_at=FIRST_BILL))
    ticket = opened(REFUND, VENDOR, WEDNESDAY, f)
    transition = fire(ticket, f)
    done = transition.ticket
    assert not done.is_open
    assert done.close_reason is CloseReason.REFUNDED
    assert done.closed_at == ticket.due.at
    assert done.due is None


def test_processed_cancelation_closes_the_ticket_as_canceled():
    f = facts(vendor(), order(kind="subscription", billed_at=FIRST_BILL))
    ticket = opened(CANCELATION, VENDOR, WEDNESDAY, f)
    done = fire(ticket, f).ticket
    assert not done.is_open
    assert done.close_reason is CloseReason.CANCELED
    assert done.due is None


def test_processed_refund_confirms_to_both_parties():
    f = facts(vendor(), order(billed_at=FIRST_BILL))
    transition = fire(opened(REFUND, CUSTOMER, WEDNESDAY, f), f)
    assert notified(transition) == {("refund_processed", party) for party in BOTH}


def test_processed_cancelation_confirms_to_both_parties():
    f = facts(vendor(), order(kind="subscription", billed_at=FIRST_BILL))
    transition = fire(opened(CANCELATION, CUSTOMER, WEDNESDAY, f), f)
    assert notified(transition) == {("cancelation_processed", party) for party in BOTH}


def test_processing_records_the_event_in_the_history():
    f = facts(vendor(), order(billed_at=FIRST_BILL))
    done = fire(opened(REFUND, CUSTOMER, WEDNESDAY, f), f).ticket
    assert [entry.kind for entry in done.history] == ["opened", "refund_processed"]
