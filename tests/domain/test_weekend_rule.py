"""SPEC §2, the weekend rule.

The system never closes or processes a ticket on a Saturday or Sunday of the
vendor's time zone: such an action happens at Monday 00:00 local time instead.
Vendor-opened tickets (5 minutes) and approvals (a person's action) are exempt;
warnings are not actions and go out on weekends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.domain.calendar import BusinessCalendar
from service.domain.events import Reply
from service.domain.records import TimerEvent
from tests.domain.builders import (
    CUSTOMER,
    HOUR,
    NEW_YORK,
    OPERATOR,
    REFUND,
    SUPPORT,
    SYDNEY,
    VENDOR,
    accepted,
    at,
    facts,
    fire,
    local,
    opened,
    order,
    vendor,
)

ZONES = [NEW_YORK, SYDNEY, "Europe/Berlin", "Asia/Tehran", "Africa/Cairo", "UTC"]


def every_half_hour(start: datetime, days: int):
    return [start + timedelta(minutes=30 * n) for n in range(days * 48)]


def assert_on_a_weekday(moment: datetime, tz: str):
    assert not BusinessCalendar(tz).is_weekend(moment), local(moment, tz)


@pytest.mark.parametrize("tz", ZONES)
def test_customer_requests_are_never_processed_on_a_weekend(tz):
    # Two weeks around New York's spring DST change, opened every half hour.
    f = facts(vendor(tz=tz), order(billed_at=at("2026-03-01 09:00")))
    for when in every_half_hour(at("2026-03-02 00:00", tz), 14):
        ticket = opened(REFUND, CUSTOMER, when, f)
        assert_on_a_weekday(ticket.due.at, tz)


@pytest.mark.parametrize("tz", ZONES)
def test_physical_refunds_are_never_processed_on_a_weekend(tz):
    f = facts(vendor(tz=tz), order(kind="physical", billed_at=at("2026-10-01 09:00")))
    for when in every_half_hour(at("2026-10-05 00:00", tz), 7):
        due = opened(REFUND, OPERATOR, when, f).due.at
        assert_on_a_weekday(due, tz)
        assert due - when >= timedelta(days=19)
        assert due - when <= timedelta(days=21, hours=1)


@pytest.mark.parametrize("tz", ZONES)
def test_inactivity_closes_never_fall_on_a_weekend(tz):
    f = facts(vendor(tz=tz), order(billed_at=at("2026-10-01 09:00")))
    for when in every_half_hour(at("2026-10-19 00:00", tz), 7)[::3]:
        ticket = opened(SUPPORT, CUSTOMER, when, f)
        waiting_for_vendor = fire(fire(ticket, f).ticket, f).ticket
        assert waiting_for_vendor.due.event is TimerEvent.INACTIVITY_CLOSE
        assert_on_a_weekday(waiting_for_vendor.due.at, tz)
        answered = accepted(ticket, Reply(VENDOR, "Done?"), when + HOUR, f)
        waiting_for_customer = fire(answered, f).ticket
        assert waiting_for_customer.due.event is TimerEvent.INACTIVITY_CLOSE
        assert_on_a_weekday(waiting_for_customer.due.at, tz)


def test_the_weekend_is_the_vendors_local_weekend():
    # The same instant, 19 days on, is Saturday in Sydney and Friday night in New York.
    when = at("2026-05-31 21:00", NEW_YORK)  # Monday 11:00 in Sydney
    sydney = facts(vendor(tz=SYDNEY), order(kind="physical", billed_at=when))
    new_york = facts(vendor(tz=NEW_YORK), order(kind="physical", billed_at=when))
    assert opened(REFUND, CUSTOMER, when, sydney).due.at == at("2026-06-22 00:00", SYDNEY)
    assert opened(REFUND, CUSTOMER, when, sydney).due.at == at("2026-06-21 14:00")  # Sun UTC
    # Friday 21:00 in New York is Saturday 01:00 UTC, yet it is not deferred.
    assert opened(REFUND, CUSTOMER, when, new_york).due.at == at("2026-06-19 21:00", NEW_YORK)


def test_deferred_action_lands_on_the_first_instant_of_a_monday_that_starts_at_01_00():
    # Iran, 2021: clocks jumped from Sunday 24:00 to Monday 01:00 on 21 March.
    tehran = "Asia/Tehran"
    f = facts(vendor(tz=tehran), order(billed_at=at("2021-03-10 09:00", tehran)))
    ticket = opened(SUPPORT, CUSTOMER, at("2021-03-14 10:00", tehran), f)  # +144 h: Saturday
    close = fire(fire(ticket, f).ticket, f).ticket.due.at
    assert close == at("2021-03-21 20:30").astimezone(UTC)
    assert local(close, tehran).strftime("%a %H:%M") == "Mon 01:00"


def test_vendor_opened_requests_are_exempt_from_the_weekend_rule():
    f = facts(vendor(tz=NEW_YORK), order(billed_at=at("2026-06-01 09:00", NEW_YORK)))
    ticket = opened(REFUND, VENDOR, at("2026-06-07 12:00", NEW_YORK), f)  # Sunday
    assert ticket.due.at == at("2026-06-07 12:05", NEW_YORK)
    done = fire(ticket, f).ticket
    assert done.closed_at == at("2026-06-07 12:05", NEW_YORK)
