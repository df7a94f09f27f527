"""SPEC §2, processing: when a refund or cancelation ticket is carried out.

The vendor is in New York; June 2026 has no DST change, March and
October/November 2026 do (8 March, 1 November). Every due time is checked to
the minute: firing one minute early does nothing, firing on time processes.
"""

from __future__ import annotations

from dataclasses import replace

from service.domain.events import ChangeType, Fire, Reply
from service.domain.records import CloseReason, SubscriptionStatus, TimerEvent
from tests.domain.builders import (
    CANCELATION,
    CUSTOMER,
    DAY,
    MINUTE,
    NEW_YORK,
    OPERATOR,
    REFUND,
    SUPPORT,
    SYDNEY,
    VENDOR,
    RefundBill,
    accepted,
    act,
    after,
    at,
    effects_of,
    facts,
    fire,
    is_noop,
    local,
    opened,
    order,
    vendor,
)

NY = vendor(tz=NEW_YORK)


def ny(text: str):
    return at(text, NEW_YORK)


def digital(billed: str = "2026-06-01 09:00"):
    return facts(NY, order(billed_at=ny(billed)))


def subscription():
    return facts(NY, order(kind="subscription", billed_at=ny("2026-06-01 09:00")))


def physical():
    return facts(NY, order(kind="physical", billed_at=ny("2026-05-25 09:00")))


def assert_processed_exactly_at(ticket, f, due):
    """Due at `due`; one minute earlier the timer does nothing; at `due` it processes."""
    assert ticket.due is not None
    assert ticket.due.event is TimerEvent.PROCESS
    assert ticket.due.at == due
    assert is_noop(fire(ticket, f, now=due - MINUTE), ticket)
    processed = fire(ticket, f, now=due)
    assert processed.ticket is not None and not processed.ticket.is_open
    assert processed.ticket.closed_at == due


# --- customer: 24 hours of weekday time ----------------------------------------


def test_customer_refund_opened_friday_afternoon_is_processed_monday_afternoon():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-05 15:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-08 15:00"))


def test_customer_refund_opened_wednesday_is_processed_thursday_same_time():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-03 10:17"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-04 10:17"))


def test_customer_refund_opened_saturday_counts_from_monday_midnight():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-06 11:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-09 00:00"))


def test_customer_refund_opened_sunday_night_counts_from_monday_midnight():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-07 23:59"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-09 00:00"))


def test_customer_refund_opened_friday_midnight_is_processed_monday_midnight():
    # 24 weekday hours end at Saturday 00:00, which is Monday 00:00 in weekday time.
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-05 00:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-08 00:00"))


def test_customer_cancelation_opened_friday_afternoon_is_processed_monday_afternoon():
    f = subscription()
    ticket = opened(CANCELATION, CUSTOMER, ny("2026-06-05 15:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-08 15:00"))


def test_weekday_time_is_counted_in_the_vendors_zone():
    # Friday 20:00 UTC is already Saturday 06:00 in Sydney: a Sydney vendor's clock
    # starts on Monday 00:00 Sydney time; a UTC vendor's clock runs until Saturday.
    when = at("2026-06-05 20:00")
    sydney = facts(vendor(tz=SYDNEY), order(billed_at=at("2026-06-01 09:00")))
    utc = facts(vendor(tz="UTC"), order(billed_at=at("2026-06-01 09:00")))
    assert opened(REFUND, CUSTOMER, when, sydney).due.at == at("2026-06-09 00:00", SYDNEY)
    assert opened(REFUND, CUSTOMER, when, utc).due.at == at("2026-06-08 20:00")


def test_refund_opened_friday_before_spring_forward_is_processed_monday_same_local_time():
    f = digital("2026-03-02 09:00")
    ticket = opened(REFUND, CUSTOMER, ny("2026-03-06 15:00"), f)  # EST
    assert_processed_exactly_at(ticket, f, ny("2026-03-09 15:00"))  # EDT
    assert local(ticket.due.at, NEW_YORK).hour == 15


def test_refund_opened_friday_before_fall_back_is_processed_monday_same_local_time():
    f = digital("2026-10-26 09:00")
    ticket = opened(REFUND, CUSTOMER, ny("2026-10-30 15:00"), f)  # EDT
    assert_processed_exactly_at(ticket, f, ny("2026-11-02 15:00"))  # EST


def test_processing_result_is_reported_in_utc():
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-03 10:00"), digital())
    assert ticket.due.at.utcoffset() == DAY * 0
    assert ticket.due.at == at("2026-06-04 14:00")


# --- physical goods: 19 days, then the weekend rule ----------------------------


def test_physical_refund_is_processed_19_days_after_opening():
    f = physical()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-03 10:00"), f)  # Wednesday
    assert_processed_exactly_at(ticket, f, ny("2026-06-22 10:00"))  # Monday


def test_physical_refund_due_on_saturday_is_deferred_to_monday_midnight():
    f = physical()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-01 10:00"), f)  # +19 days: Saturday 20th
    assert_processed_exactly_at(ticket, f, ny("2026-06-22 00:00"))


def test_physical_refund_due_on_sunday_is_deferred_to_monday_midnight():
    f = physical()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-02 23:59"), f)  # +19 days: Sunday 21st
    assert_processed_exactly_at(ticket, f, ny("2026-06-22 00:00"))


def test_physical_refund_due_on_friday_night_is_not_deferred():
    f = physical()
    ticket = opened(REFUND, CUSTOMER, ny("2026-05-29 23:59"), f)  # +19 days: Wed 17th 23:59
    assert ticket.due.at == ny("2026-06-17 23:59")
    ticket = opened(REFUND, CUSTOMER, ny("2026-05-31 23:59"), f)  # +19 days: Fri 19th 23:59
    assert ticket.due.at == ny("2026-06-19 23:59")


def test_cancelation_of_a_physical_subscription_takes_24_weekday_hours_not_19_days():
    box = order(kind="physical", billed_at=ny("2026-06-01 09:00"))
    f = facts(NY, replace(box, subscription_status=SubscriptionStatus.ACTIVE))
    ticket = opened(CANCELATION, CUSTOMER, ny("2026-06-03 10:00"), f)
    assert ticket.due.at == ny("2026-06-04 10:00")


# --- vendor-opened: 5 minutes, weekends included --------------------------------


def test_vendor_opened_refund_is_processed_after_five_minutes_even_on_saturday():
    f = digital()
    ticket = opened(REFUND, VENDOR, ny("2026-06-06 10:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-06 10:05"))


def test_vendor_opened_cancelation_is_processed_after_five_minutes_on_sunday():
    f = subscription()
    ticket = opened(CANCELATION, VENDOR, ny("2026-06-07 23:58"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-08 00:03"))


def test_vendor_opened_physical_refund_is_processed_after_five_minutes():
    f = physical()
    ticket = opened(REFUND, VENDOR, ny("2026-06-03 10:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-03 10:05"))


# --- changes and operators -------------------------------------------------------


def test_customer_change_of_support_to_refund_is_processed_24_weekday_hours_after_the_change():
    f = digital()
    ticket = opened(SUPPORT, CUSTOMER, ny("2026-06-01 10:00"), f)
    changed = accepted(ticket, ChangeType(CUSTOMER, REFUND), ny("2026-06-05 09:30"), f)
    assert_processed_exactly_at(changed, f, ny("2026-06-08 09:30"))


def test_customer_change_of_refund_to_cancelation_restarts_processing_from_the_change():
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-01 10:00"), f)
    changed = accepted(ticket, ChangeType(CUSTOMER, CANCELATION), ny("2026-06-01 16:00"), f)
    assert_processed_exactly_at(changed, f, ny("2026-06-02 16:00"))
    assert is_noop(fire(changed, f, now=ny("2026-06-02 10:00")), changed)


def test_operator_opened_refund_follows_the_customer_rules():
    f = digital()
    ticket = opened(REFUND, OPERATOR, ny("2026-06-05 15:00"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-08 15:00"))


def test_operator_opened_physical_refund_takes_19_days():
    f = physical()
    ticket = opened(REFUND, OPERATOR, ny("2026-06-03 10:00"), f)
    assert ticket.due.at == ny("2026-06-22 10:00")


def test_fire_before_due_is_a_no_op_even_a_second_early():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-05 15:00"), f)
    early = ticket.due.at - MINUTE / 60
    assert is_noop(fire(ticket, f, now=early), ticket)


def test_fire_after_due_processes_and_a_second_fire_is_a_no_op():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-03 10:00"), f)
    late = fire(ticket, f, now=ny("2026-06-04 13:00"))  # the scheduler was late
    assert late.ticket is not None
    assert late.ticket.close_reason is CloseReason.REFUNDED
    assert len(effects_of(late, RefundBill)) == 1
    replay = act(late.ticket, Fire(TimerEvent.PROCESS), ny("2026-06-04 13:01"), after(late, f))
    assert is_noop(replay, late.ticket)


def test_replies_do_not_move_the_processing_time():
    f = digital()
    ticket = opened(REFUND, CUSTOMER, ny("2026-06-03 10:00"), f)
    ticket = accepted(ticket, Reply(VENDOR, "Can I help instead?"), ny("2026-06-03 12:00"), f)
    ticket = accepted(ticket, Reply(CUSTOMER, "No thanks."), ny("2026-06-04 09:59"), f)
    assert_processed_exactly_at(ticket, f, ny("2026-06-04 10:00"))
