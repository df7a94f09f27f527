"""SPEC §2, support tickets and inactivity: the warning/close ladder.

Waiting for the vendor (opened, or the customer spoke last): warnings at +48 h
and +96 h, closed at +144 h, each counted from the last activity. Waiting for
the customer (the vendor spoke last): a warning after 7 weekdays, closed after
14. Warnings go out on weekends; closing obeys the weekend rule. The vendor is
in New York; June 2026 has no DST change.
"""

from __future__ import annotations

import pytest

from service.domain.events import ChangeType, Close, Fire, Reply
from service.domain.records import CloseReason, Party, Timer, TimerEvent
from tests.domain.builders import (
    BOTH,
    CUSTOMER,
    MINUTE,
    NEW_YORK,
    REFUND,
    SUPPORT,
    VENDOR,
    accepted,
    act,
    at,
    facts,
    fire,
    is_noop,
    notified,
    opened,
    order,
    vendor,
)

WARNING = TimerEvent.INACTIVITY_WARNING
CLOSE = TimerEvent.INACTIVITY_CLOSE


def ny(text: str):
    return at(text, NEW_YORK)


F = facts(vendor(tz=NEW_YORK), order(billed_at=ny("2026-05-29 09:00")))


def support(when, by: Party = CUSTOMER):
    return opened(SUPPORT, by, when, F)


def step(ticket, expected: Timer):
    """Assert the pending timer, check it is idle a minute early, then fire it."""
    assert ticket.due == expected
    assert is_noop(fire(ticket, F, now=expected.at - MINUTE), ticket)
    transition = fire(ticket, F)
    assert transition.accepted and transition.ticket is not None
    return transition


# --- waiting for the vendor ------------------------------------------------------


def test_waiting_for_the_vendor_warns_at_48_and_96_hours_and_closes_at_144_hours():
    ticket = support(ny("2026-06-02 10:00"))  # Tuesday
    first = step(ticket, Timer(WARNING, ny("2026-06-04 10:00")))
    assert notified(first) == {("inactivity_warning", party) for party in BOTH}
    assert first.ticket.warnings_sent == 1 and first.ticket.is_open
    second = step(first.ticket, Timer(WARNING, ny("2026-06-06 10:00")))  # a Saturday
    assert notified(second) == {("inactivity_warning", party) for party in BOTH}
    assert second.ticket.warnings_sent == 2
    closing = step(second.ticket, Timer(CLOSE, ny("2026-06-08 10:00")))
    closed = closing.ticket
    assert not closed.is_open
    assert closed.close_reason is CloseReason.INACTIVITY
    assert closed.closed_at == ny("2026-06-08 10:00")
    assert closed.due is None
    assert notified(closing) == {("ticket_closed", party) for party in BOTH}
    assert all(n.facts["reason"] == "inactivity" for n in closing.notifications)


def test_each_rung_counts_from_the_last_activity_not_from_when_the_previous_one_fired():
    ticket = support(ny("2026-06-02 10:00"))
    late_first = fire(ticket, F, now=ny("2026-06-04 19:30"))  # the scheduler was down
    assert late_first.ticket.due == Timer(WARNING, ny("2026-06-06 10:00"))
    late_second = fire(late_first.ticket, F, now=ny("2026-06-06 23:00"))
    assert late_second.ticket.due == Timer(CLOSE, ny("2026-06-08 10:00"))


def test_customer_reply_at_hour_47_means_no_warning_at_hour_48():
    opened_at = ny("2026-06-02 10:00")
    ticket = support(opened_at)
    replied = accepted(ticket, Reply(CUSTOMER, "Hello?"), ny("2026-06-04 09:00"), F)
    assert replied.due == Timer(WARNING, ny("2026-06-06 09:00"))  # 47 h + 48 h
    assert is_noop(act(replied, Fire(WARNING), ny("2026-06-04 10:00"), F), replied)


def test_sixth_day_on_a_saturday_closes_on_monday_midnight():
    ticket = support(ny("2026-05-31 10:00"))  # Sunday; +144 h is Saturday 6 June 10:00
    first = step(ticket, Timer(WARNING, ny("2026-06-02 10:00")))
    second = step(first.ticket, Timer(WARNING, ny("2026-06-04 10:00")))
    closing = step(second.ticket, Timer(CLOSE, ny("2026-06-08 00:00")))
    assert closing.ticket.close_reason is CloseReason.INACTIVITY
    assert is_noop(act(second.ticket, Fire(CLOSE), ny("2026-06-06 10:00"), F), second.ticket)
    assert is_noop(act(second.ticket, Fire(CLOSE), ny("2026-06-07 23:59"), F), second.ticket)


def test_sixth_day_on_a_sunday_closes_on_monday_midnight():
    ticket = support(ny("2026-06-01 23:30"))  # Monday; +144 h is Sunday 7 June 23:30
    first = fire(ticket, F)
    second = fire(first.ticket, F)
    assert second.ticket.due == Timer(CLOSE, ny("2026-06-08 00:00"))


@pytest.mark.parametrize(
    ("opened_at", "first", "second"),
    [
        ("2026-06-04 10:00", "2026-06-06 10:00", "2026-06-08 10:00"),  # first on Saturday
        ("2026-06-05 10:00", "2026-06-07 10:00", "2026-06-09 10:00"),  # first on Sunday
        ("2026-06-03 10:00", "2026-06-05 10:00", "2026-06-07 10:00"),  # second on Sunday
    ],
)
def test_warnings_go_out_on_weekends_without_deferral(opened_at, first, second):
    ticket = support(ny(opened_at))
    warned = step(ticket, Timer(WARNING, ny(first)))
    assert warned.ticket.due == Timer(WARNING, ny(second))


# --- waiting for the customer ----------------------------------------------------


def test_waiting_for_the_customer_warns_after_7_weekdays_and_closes_after_14():
    ticket = support(ny("2026-06-01 09:00"))
    answered = accepted(
        ticket, Reply(VENDOR, "Try turning it off and on."), ny("2026-06-03 11:00"), F
    )
    assert answered.waiting_on is CUSTOMER
    warned = step(answered, Timer(WARNING, ny("2026-06-12 11:00")))  # Wednesday → next Friday
    assert notified(warned) == {("inactivity_warning", party) for party in BOTH}
    closing = step(warned.ticket, Timer(CLOSE, ny("2026-06-23 11:00")))  # 14 weekdays
    assert closing.ticket.close_reason is CloseReason.INACTIVITY


def test_customer_ladder_close_counts_from_the_last_activity_not_the_warning():
    ticket = support(ny("2026-06-01 09:00"))
    answered = accepted(ticket, Reply(VENDOR, "Done?"), ny("2026-06-03 11:00"), F)
    late = fire(answered, F, now=ny("2026-06-12 18:00"))
    assert late.ticket.due == Timer(CLOSE, ny("2026-06-23 11:00"))


def test_vendor_reply_on_a_saturday_counts_7_weekdays_from_monday_midnight():
    ticket = support(ny("2026-06-01 09:00"))
    answered = accepted(ticket, Reply(VENDOR, "Weekend shift here."), ny("2026-06-06 15:00"), F)
    assert answered.due == Timer(WARNING, ny("2026-06-17 00:00"))


def test_vendor_opened_support_ticket_waits_for_the_customer():
    ticket = support(ny("2026-06-03 11:00"), by=VENDOR)
    assert ticket.waiting_on is CUSTOMER
    assert ticket.due == Timer(WARNING, ny("2026-06-12 11:00"))


# --- restarting and stopping -----------------------------------------------------


def test_a_reply_after_a_warning_restarts_the_ladder_from_its_first_rung():
    ticket = support(ny("2026-06-02 10:00"))
    warned = fire(ticket, F).ticket
    assert warned.warnings_sent == 1
    replied = accepted(warned, Reply(CUSTOMER, "Still broken."), ny("2026-06-04 12:00"), F)
    assert replied.warnings_sent == 0
    assert replied.due == Timer(WARNING, ny("2026-06-06 12:00"))


def test_a_vendor_reply_switches_to_the_customer_ladder_and_back():
    ticket = support(ny("2026-06-02 10:00"))
    answered = accepted(ticket, Reply(VENDOR, "Which version?"), ny("2026-06-02 11:00"), F)
    assert answered.due == Timer(WARNING, ny("2026-06-11 11:00"))
    asked = accepted(answered, Reply(CUSTOMER, "2.1"), ny("2026-06-03 08:00"), F)
    assert asked.due == Timer(WARNING, ny("2026-06-05 08:00"))


def test_every_reply_sets_the_new_timer_as_the_tickets_due():
    ticket = support(ny("2026-06-02 10:00"))
    transition = act(ticket, Reply(CUSTOMER, "Ping"), ny("2026-06-03 10:00"), F)
    assert transition.ticket.due == Timer(WARNING, ny("2026-06-05 10:00"))


def test_a_change_restarts_the_ladder_from_the_change():
    ticket = support(ny("2026-06-02 10:00"))
    warned = fire(ticket, F).ticket
    as_refund = accepted(warned, ChangeType(CUSTOMER, REFUND), ny("2026-06-04 12:00"), F)
    assert as_refund.due.event is TimerEvent.PROCESS
    back = accepted(as_refund, ChangeType(CUSTOMER, SUPPORT), ny("2026-06-04 13:00"), F)
    assert back.warnings_sent == 0
    assert back.due == Timer(WARNING, ny("2026-06-06 13:00"))


@pytest.mark.parametrize("by", [CUSTOMER, VENDOR])
def test_closing_cancels_the_ladder(by):
    ticket = support(ny("2026-06-02 10:00"))
    transition = act(ticket, Close(by), ny("2026-06-03 10:00"), F)
    assert transition.ticket.due is None


def test_a_fire_of_the_wrong_event_is_a_no_op():
    ticket = support(ny("2026-06-02 10:00"))
    due = ticket.due.at
    assert is_noop(act(ticket, Fire(CLOSE), due, F), ticket)
    assert is_noop(act(ticket, Fire(TimerEvent.PROCESS), due, F), ticket)


def test_a_fire_on_a_closed_ticket_is_a_no_op():
    ticket = support(ny("2026-06-02 10:00"))
    closed = accepted(ticket, Close(CUSTOMER), ny("2026-06-03 10:00"), F)
    for event in TimerEvent:
        assert is_noop(act(closed, Fire(event), ny("2026-06-20 10:00"), F), closed)


def test_a_fire_of_a_timer_that_a_reply_replaced_is_a_no_op():
    ticket = support(ny("2026-06-02 10:00"))
    replied = accepted(ticket, Reply(VENDOR, "On it."), ny("2026-06-03 10:00"), F)
    assert is_noop(act(replied, Fire(WARNING), ticket.due.at, F), replied)
