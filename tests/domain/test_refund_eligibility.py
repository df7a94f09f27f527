"""SPEC §2, eligibility: who may ask for a refund or a cancelation, and until when.

A day is 24 hours of elapsed time from the latest bill's timestamp; each window
is checked at its last minute and the minute after.
"""

from __future__ import annotations

from service.domain.events import ChangeType
from tests.domain.builders import (
    CANCELATION,
    CUSTOMER,
    DAY,
    MINUTE,
    NEW_YORK,
    OPERATOR,
    REFUND,
    SUPPORT,
    VENDOR,
    act,
    at,
    bill,
    facts,
    monthly_bills,
    opened,
    opening,
    order,
    refused_with,
    vendor,
    within_days,
)

BILLED = at("2026-03-02 10:00")  # a Monday


def one_off(**kwargs):
    return facts(kwargs.pop("vendor_", vendor()), order(billed_at=BILLED), **kwargs)


# --- the customer's 60 days ----------------------------------------------------


def test_customer_may_ask_for_a_refund_60_days_after_the_bill_to_the_minute():
    assert opening(REFUND, CUSTOMER, BILLED + 60 * DAY, one_off()).accepted


def test_customer_refund_one_minute_after_60_days_is_refused():
    refused_with(
        opening(REFUND, CUSTOMER, BILLED + 60 * DAY + MINUTE, one_off()),
        "refund_window_passed",
        CUSTOMER,
    )


def test_refund_window_days_are_24_hours_of_elapsed_time_not_local_calendar_days():
    # Billed 10:00 EST; New York moves to EDT on 8 March 2026, so 60 × 24 h later
    # it is 11:00 EDT on 1 May: an hour past "the same wall-clock time 60 days on".
    billed = at("2026-03-02 10:00", NEW_YORK)
    f = facts(vendor(tz=NEW_YORK), order(billed_at=billed))
    assert opening(REFUND, CUSTOMER, at("2026-05-01 11:00", NEW_YORK), f).accepted
    refused_with(
        opening(REFUND, CUSTOMER, at("2026-05-01 11:01", NEW_YORK), f),
        "refund_window_passed",
        CUSTOMER,
    )


def test_operator_on_the_customers_behalf_has_the_customers_60_days():
    assert opening(REFUND, OPERATOR, BILLED + 60 * DAY, one_off()).accepted
    refusal = opening(REFUND, OPERATOR, BILLED + 60 * DAY + MINUTE, one_off())
    assert not refusal.accepted and refusal.ticket is None
    assert refusal.refusal is not None and refusal.refusal.code == "refund_window_passed"


# --- the vendor's 90 days ------------------------------------------------------


def test_vendor_may_refund_90_days_after_the_bill_to_the_minute():
    assert opening(REFUND, VENDOR, BILLED + 90 * DAY, one_off()).accepted


def test_vendor_refund_one_minute_after_90_days_is_refused():
    refused_with(
        opening(REFUND, VENDOR, BILLED + 90 * DAY + MINUTE, one_off()),
        "refund_window_passed",
        VENDOR,
    )


def test_vendor_may_refund_after_the_customers_window_has_closed():
    day_75 = BILLED + 75 * DAY
    assert not opening(REFUND, CUSTOMER, day_75, one_off()).accepted
    assert opening(REFUND, VENDOR, day_75, one_off()).accepted


# --- within_days ---------------------------------------------------------------


def test_within_days_policy_narrows_the_customers_window_to_its_days():
    f = one_off(vendor_=vendor(policy=within_days(30)))
    assert opening(REFUND, CUSTOMER, BILLED + 30 * DAY, f).accepted
    refused_with(
        opening(REFUND, CUSTOMER, BILLED + 30 * DAY + MINUTE, f),
        "refund_window_passed",
        CUSTOMER,
    )


def test_within_days_policy_does_not_narrow_the_vendors_window():
    f = one_off(vendor_=vendor(policy=within_days(30)))
    assert opening(REFUND, VENDOR, BILLED + 90 * DAY, f).accepted


def test_within_days_policy_never_widens_the_customers_60_days():
    f = one_off(vendor_=vendor(policy=within_days(120)))
    assert opening(REFUND, CUSTOMER, BILLED + 60 * DAY, f).accepted
    assert not opening(REFUND, CUSTOMER, BILLED + 60 * DAY + MINUTE, f).accepted


def test_refusal_mail_says_how_long_the_window_is():
    f = one_off(vendor_=vendor(policy=within_days(30)))
    mail = refused_with(
        opening(REFUND, CUSTOMER, BILLED + 31 * DAY, f), "refund_window_passed", CUSTOMER
    )
    assert "30 days" in mail.facts["reason"]


# --- subscriptions: the latest bill --------------------------------------------


def test_subscription_refund_window_counts_from_the_latest_bill():
    bills = monthly_bills(BILLED, 3)  # the first bill is 60 days older than the latest
    latest = bills[-1].billed_at
    f = facts(vendor(), order(kind="subscription", bills=bills))
    assert opening(REFUND, CUSTOMER, latest + 60 * DAY, f).accepted
    assert not opening(REFUND, CUSTOMER, latest + 60 * DAY + MINUTE, f).accepted


def test_subscription_latest_bill_is_the_newest_whatever_the_order_of_bills():
    bills = tuple(reversed(monthly_bills(BILLED, 3)))
    latest = max(b.billed_at for b in bills)
    f = facts(vendor(), order(kind="subscription", bills=bills))
    assert opening(REFUND, CUSTOMER, latest + 60 * DAY, f).accepted


def test_already_refunded_latest_bill_cannot_be_refunded_again():
    f = facts(vendor(), order(bills=(bill(BILLED, refunded=True),)))
    refused_with(opening(REFUND, CUSTOMER, BILLED + DAY, f), "already_refunded", CUSTOMER)
    refused_with(opening(REFUND, VENDOR, BILLED + DAY, f), "already_refunded", VENDOR)


def test_subscription_whose_latest_bill_is_refunded_is_refused():
    older, latest = monthly_bills(BILLED, 2)
    refunded_latest = bill(latest.billed_at, refunded=True)
    f = facts(vendor(), order(kind="subscription", bills=(older, refunded_latest)))
    refused_with(opening(REFUND, CUSTOMER, latest.billed_at + DAY, f), "already_refunded", CUSTOMER)


# --- cancelations --------------------------------------------------------------


def test_cancelation_of_an_active_subscription_is_allowed_at_any_time():
    f = facts(vendor(), order(kind="subscription", bills=monthly_bills(BILLED, 2)))
    assert opening(CANCELATION, CUSTOMER, BILLED + 900 * DAY, f).accepted
    assert opening(CANCELATION, VENDOR, BILLED + 900 * DAY, f).accepted


def test_cancelation_of_a_canceled_subscription_is_refused():
    f = facts(vendor(), order(kind="subscription", billed_at=BILLED, subscription="canceled"))
    refused_with(opening(CANCELATION, CUSTOMER, BILLED + DAY, f), "not_cancelable", CUSTOMER)


def test_cancelation_of_a_one_off_order_is_refused():
    refused_with(
        opening(CANCELATION, CUSTOMER, BILLED + DAY, one_off()), "not_cancelable", CUSTOMER
    )
    refused_with(opening(CANCELATION, VENDOR, BILLED + DAY, one_off()), "not_cancelable", VENDOR)


# --- what a refusal looks like -------------------------------------------------


def test_refused_open_opens_no_ticket_sets_no_timer_and_tells_only_the_requester_why():
    transition = opening(REFUND, CUSTOMER, BILLED + 61 * DAY, one_off())
    assert transition.ticket is None
    mail = refused_with(transition, "refund_window_passed", CUSTOMER)
    assert mail.facts["code"] == "refund_window_passed"
    assert "60 days" in mail.facts["reason"]


def test_second_open_request_on_the_same_order_is_refused():
    transition = opening(REFUND, CUSTOMER, BILLED + DAY, one_off(open_request=7))
    mail = refused_with(transition, "request_open", CUSTOMER)
    assert transition.ticket is None
    assert "#7" in mail.facts["reason"]


def test_cancelation_while_another_request_is_open_is_refused():
    f = facts(vendor(), order(kind="subscription", billed_at=BILLED), open_request=7)
    refused_with(opening(CANCELATION, CUSTOMER, BILLED + DAY, f), "request_open", CUSTOMER)


def test_support_ticket_opens_whatever_the_orders_refund_state():
    late = BILLED + 400 * DAY
    refunded = facts(vendor(), order(bills=(bill(BILLED, refunded=True),)), open_request=7)
    assert opening(SUPPORT, CUSTOMER, late, refunded).accepted


# --- changing a ticket to a request is checked like opening one ----------------


def test_customer_change_to_refund_after_the_window_is_refused_and_changes_nothing():
    f = one_off()
    ticket = opened(SUPPORT, CUSTOMER, BILLED + 59 * DAY, f)
    transition = act(ticket, ChangeType(CUSTOMER, REFUND), BILLED + 60 * DAY + MINUTE, f)
    refused_with(transition, "refund_window_passed", CUSTOMER)
    assert transition.ticket == ticket


def test_customer_change_to_refund_on_the_last_minute_is_accepted():
    f = one_off()
    ticket = opened(SUPPORT, CUSTOMER, BILLED + 59 * DAY, f)
    transition = act(ticket, ChangeType(CUSTOMER, REFUND), BILLED + 60 * DAY, f)
    assert transition.accepted
    assert transition.ticket is not None and transition.ticket.type is REFUND


def test_change_to_cancelation_of_a_one_off_order_is_refused():
    f = one_off()
    ticket = opened(SUPPORT, CUSTOMER, BILLED + DAY, f)
    transition = act(ticket, ChangeType(CUSTOMER, CANCELATION), BILLED + 2 * DAY, f)
    refused_with(transition, "not_cancelable", CUSTOMER)
