"""Unit tests of the business calendar: weekday time in a vendor's zone, and the weekend rule.

Weekday time is elapsed time (a stopwatch) that falls on Monday to Friday in
the vendor's zone. Across a DST change on a weekend nothing moves on the wall
clock; across a change on a weekday (Cairo, Amman) the 23- or 25-hour day
counts as exactly that much, so the wall-clock result shifts by the hour.

Each DST case first checks that the zone data still has the transition it
relies on, so a tzdata change fails loudly instead of silently testing nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.domain.calendar import BusinessCalendar
from tests.domain.builders import BERLIN, DAY, HOUR, MINUTE, NEW_YORK, SYDNEY, at, local

CAIRO = "Africa/Cairo"
AMMAN = "Asia/Amman"
TEHRAN = "Asia/Tehran"
SANTIAGO = "America/Santiago"
HAVANA = "America/Havana"

H24 = timedelta(hours=24)


def cal(tz: str) -> BusinessCalendar:
    return BusinessCalendar(tz)


def assert_offset_changes(tz: str, before: str, after: str, by: timedelta):
    """Guard: the zone's UTC offset changes by `by` between two wall-clock times."""
    change = local(at(after, tz), tz).utcoffset() - local(at(before, tz), tz).utcoffset()
    assert change == by, f"tzdata no longer has the {tz} transition this test relies on"


def wall(moment: datetime, tz: str) -> str:
    return local(moment, tz).strftime("%a %Y-%m-%d %H:%M")


# --- add_weekday_time ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        ("2026-06-05 15:00", 24, "Mon 2026-06-08 15:00"),  # Friday afternoon
        ("2026-06-03 10:00", 24, "Thu 2026-06-04 10:00"),  # Wednesday
        ("2026-06-06 11:00", 24, "Tue 2026-06-09 00:00"),  # Saturday: from Monday 00:00
        ("2026-06-07 23:59", 24, "Tue 2026-06-09 00:00"),  # Sunday night
        ("2026-06-05 00:00", 24, "Mon 2026-06-08 00:00"),  # ends on Saturday 00:00
        ("2026-06-05 23:59", 1, "Mon 2026-06-08 00:59"),
        ("2026-06-01 00:00", 120, "Mon 2026-06-08 00:00"),  # one working week
        ("2026-06-03 11:00", 168, "Fri 2026-06-12 11:00"),  # 7 weekdays
        ("2026-06-03 11:00", 336, "Tue 2026-06-23 11:00"),  # 14 weekdays
    ],
)
def test_add_weekday_time_in_new_york(start, hours, end):
    result = cal(NEW_YORK).add_weekday_time(at(start, NEW_YORK), timedelta(hours=hours))
    assert wall(result, NEW_YORK) == end


def test_add_weekday_time_returns_utc():
    result = cal(NEW_YORK).add_weekday_time(at("2026-06-03 10:00", NEW_YORK), H24)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 6, 4, 14, 0, tzinfo=UTC)


def test_add_weekday_time_of_zero_on_a_weekday_is_the_start():
    start = at("2026-06-03 10:00", NEW_YORK)
    assert cal(NEW_YORK).add_weekday_time(start, timedelta(0)) == start


def test_add_weekday_time_of_zero_on_a_weekend_is_monday_midnight():
    start = at("2026-06-06 10:00", NEW_YORK)
    assert cal(NEW_YORK).add_weekday_time(start, timedelta(0)) == at("2026-06-08 00:00", NEW_YORK)


def test_add_weekday_time_refuses_negative_durations():
    with pytest.raises(ValueError, match="backwards"):
        cal(NEW_YORK).add_weekday_time(at("2026-06-03 10:00"), -MINUTE)


def test_weekend_rule_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="time zone"):
        cal(NEW_YORK).defer_off_weekend(datetime(2026, 6, 6, 10, 0))
    with pytest.raises(ValueError, match="time zone"):
        cal(NEW_YORK).next_monday_start(datetime(2026, 6, 6, 10, 0))


@pytest.mark.parametrize("which", ["add_weekday_time", "weekday_time_between"])
def test_weekday_time_refuses_naive_datetimes(which):
    naive, aware = datetime(2026, 6, 3, 10, 0), at("2026-06-05 10:00")
    with pytest.raises(ValueError, match="time zone"):
        if which == "add_weekday_time":
            cal(NEW_YORK).add_weekday_time(naive, H24)
        else:
            cal(NEW_YORK).weekday_time_between(naive, aware)


def test_the_weekend_is_local_to_the_calendars_zone():
    friday_night_utc = at("2026-06-05 20:00")  # Saturday 06:00 in Sydney
    assert cal(SYDNEY).is_weekend(friday_night_utc)
    assert not cal("UTC").is_weekend(friday_night_utc)
    assert not cal(NEW_YORK).is_weekend(at("2026-06-06 01:00"))  # Friday 21:00 in New York


# --- DST on a weekend: the wall clock does not move -------------------------------


@pytest.mark.parametrize(
    ("tz", "friday", "monday", "before", "after", "shift"),
    [
        (NEW_YORK, "2026-03-06 15:00", "Mon 2026-03-09 15:00", "2026-03-07", "2026-03-09", HOUR),
        (NEW_YORK, "2026-10-30 15:00", "Mon 2026-11-02 15:00", "2026-10-31", "2026-11-02", -HOUR),
        (BERLIN, "2026-03-27 15:00", "Mon 2026-03-30 15:00", "2026-03-28", "2026-03-30", HOUR),
        (BERLIN, "2026-10-23 15:00", "Mon 2026-10-26 15:00", "2026-10-24", "2026-10-26", -HOUR),
        (SYDNEY, "2026-04-03 15:00", "Mon 2026-04-06 15:00", "2026-04-04", "2026-04-06", -HOUR),
        (SYDNEY, "2026-10-02 15:00", "Mon 2026-10-05 15:00", "2026-10-03", "2026-10-05", HOUR),
        # Chile and Cuba change at midnight, on the weekend.
        (SANTIAGO, "2026-04-03 15:00", "Mon 2026-04-06 15:00", "2026-04-04", "2026-04-06", -HOUR),
        (SANTIAGO, "2026-09-04 15:00", "Mon 2026-09-07 15:00", "2026-09-05", "2026-09-07", HOUR),
        (HAVANA, "2026-03-06 15:00", "Mon 2026-03-09 15:00", "2026-03-07", "2026-03-09", HOUR),
        (HAVANA, "2026-10-30 15:00", "Mon 2026-11-02 15:00", "2026-10-31", "2026-11-02", -HOUR),
    ],
)
def test_24_weekday_hours_from_friday_end_monday_same_wall_time_across_weekend_dst(
    tz, friday, monday, before, after, shift
):
    assert_offset_changes(tz, f"{before} 12:00", f"{after} 12:00", shift)
    result = cal(tz).add_weekday_time(at(friday, tz), H24)
    assert wall(result, tz) == monday


def test_weekday_time_of_a_dst_week_in_new_york_is_five_whole_days():
    assert_offset_changes(NEW_YORK, "2026-03-06 12:00", "2026-03-09 12:00", HOUR)
    start, end = at("2026-03-02 00:00", NEW_YORK), at("2026-03-09 00:00", NEW_YORK)
    assert end.astimezone(UTC) - start.astimezone(UTC) == 7 * DAY - HOUR  # elapsed
    assert cal(NEW_YORK).weekday_time_between(start, end) == 5 * DAY


# --- DST on a weekday: the 23- or 25-hour day counts as it is -----------------------


def test_weekday_dst_jump_at_midnight_in_cairo_shortens_friday():
    # Egypt, 2026: Thursday 24:00 → Friday 01:00.
    assert_offset_changes(CAIRO, "2026-04-23 12:00", "2026-04-24 12:00", HOUR)
    c = cal(CAIRO)
    week = c.weekday_time_between(at("2026-04-20 00:00", CAIRO), at("2026-04-27 00:00", CAIRO))
    assert week == 5 * DAY - HOUR
    assert wall(c.add_weekday_time(at("2026-04-23 12:00", CAIRO), H24), CAIRO) == (
        "Fri 2026-04-24 13:00"
    )
    # Friday begins at 01:00: that is where Thursday's weekday time runs on to.
    assert wall(c.add_weekday_time(at("2026-04-23 23:00", CAIRO), HOUR), CAIRO) == (
        "Fri 2026-04-24 01:00"
    )


def test_weekday_dst_fall_back_at_midnight_in_cairo_lengthens_thursday():
    # Egypt, 2026: Thursday 24:00 → Thursday 23:00 again.
    assert_offset_changes(CAIRO, "2026-10-29 12:00", "2026-10-30 12:00", -HOUR)
    c = cal(CAIRO)
    week = c.weekday_time_between(at("2026-10-26 00:00", CAIRO), at("2026-11-02 00:00", CAIRO))
    assert week == 5 * DAY + HOUR
    assert wall(c.add_weekday_time(at("2026-10-29 12:00", CAIRO), H24), CAIRO) == (
        "Fri 2026-10-30 11:00"
    )


def test_weekday_dst_fall_back_on_friday_morning_in_amman():
    # Jordan, 2021: Friday 01:00 → Friday 00:00, so Friday had 25 hours.
    assert_offset_changes(AMMAN, "2021-10-28 12:00", "2021-10-29 12:00", -HOUR)
    c = cal(AMMAN)
    week = c.weekday_time_between(at("2021-10-25 00:00", AMMAN), at("2021-11-01 00:00", AMMAN))
    assert week == 5 * DAY + HOUR
    # A span ending at Saturday 00:00 still moves to Monday 00:00.
    end = c.add_weekday_time(at("2021-10-29 00:00", AMMAN), 25 * HOUR)
    assert wall(end, AMMAN) == "Mon 2021-11-01 00:00"


def test_monday_that_starts_at_01_00_in_tehran():
    # Iran, 2021: Sunday 24:00 → Monday 01:00; Monday 00:00 never happened.
    assert_offset_changes(TEHRAN, "2021-03-21 12:00", "2021-03-22 12:00", HOUR)
    c = cal(TEHRAN)
    monday = c.next_monday_start(at("2021-03-20 10:00", TEHRAN))
    assert monday == datetime(2021, 3, 21, 20, 30, tzinfo=UTC)
    assert wall(monday, TEHRAN) == "Mon 2021-03-22 01:00"
    assert c.is_weekend(monday - MINUTE)
    assert wall(c.add_weekday_time(at("2021-03-20 10:00", TEHRAN), HOUR), TEHRAN) == (
        "Mon 2021-03-22 02:00"
    )
    week = c.weekday_time_between(monday, at("2021-03-29 00:00", TEHRAN))
    assert week == 5 * DAY - HOUR


# --- add_weekdays ---------------------------------------------------------------


def test_7_weekdays_from_wednesday_end_on_next_weeks_friday_same_time():
    end = cal(NEW_YORK).add_weekdays(at("2026-06-03 11:00", NEW_YORK), 7)
    assert wall(end, NEW_YORK) == "Fri 2026-06-12 11:00"


def test_14_weekdays_from_wednesday_end_on_the_tuesday_after_next():
    end = cal(NEW_YORK).add_weekdays(at("2026-06-03 11:00", NEW_YORK), 14)
    assert wall(end, NEW_YORK) == "Tue 2026-06-23 11:00"


def test_n_weekdays_are_n_times_24_hours_of_weekday_time():
    c, start = cal(BERLIN), at("2026-03-25 09:30", BERLIN)
    for n in range(0, 16):
        assert c.add_weekdays(start, n) == c.add_weekday_time(start, n * H24)


def test_5_weekdays_from_a_weekday_are_one_week_later_across_dst():
    assert_offset_changes(BERLIN, "2026-03-27 12:00", "2026-03-30 12:00", HOUR)
    end = cal(BERLIN).add_weekdays(at("2026-03-25 09:30", BERLIN), 5)
    assert wall(end, BERLIN) == "Wed 2026-04-01 09:30"


# --- weekday_time_between ----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-06-05 15:00", "2026-06-08 15:00", 24),  # Friday to Monday
        ("2026-06-06 10:00", "2026-06-07 22:00", 0),  # inside a weekend
        ("2026-06-06 10:00", "2026-06-09 00:00", 24),  # Saturday to Tuesday
        ("2026-06-03 10:00", "2026-06-03 10:00", 0),
        ("2026-06-04 10:00", "2026-06-03 10:00", 0),  # end before start
        ("2026-06-01 00:00", "2026-06-15 00:00", 240),  # two weeks
    ],
)
def test_weekday_time_between(start, end, hours):
    between = cal(NEW_YORK).weekday_time_between(at(start, NEW_YORK), at(end, NEW_YORK))
    assert between == timedelta(hours=hours)


# --- defer_off_weekend and next_monday_start --------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-06-06 00:00", "Mon 2026-06-08 00:00"),  # Saturday's first minute
        ("2026-06-06 10:00", "Mon 2026-06-08 00:00"),
        ("2026-06-07 23:59", "Mon 2026-06-08 00:00"),  # Sunday's last minute
        ("2026-06-05 23:59", "Fri 2026-06-05 23:59"),  # still Friday: unchanged
        ("2026-06-08 00:00", "Mon 2026-06-08 00:00"),  # already Monday: unchanged
        ("2026-06-03 12:34", "Wed 2026-06-03 12:34"),
    ],
)
def test_defer_off_weekend(moment, expected):
    result = cal(NEW_YORK).defer_off_weekend(at(moment, NEW_YORK))
    assert result.tzinfo is UTC
    assert wall(result, NEW_YORK) == expected


def test_defer_off_weekend_uses_the_local_weekend():
    sunday_utc = at("2026-06-07 19:00")  # Monday 05:00 in Sydney
    assert cal(SYDNEY).defer_off_weekend(sunday_utc) == sunday_utc
    assert cal("UTC").defer_off_weekend(sunday_utc) == at("2026-06-08 00:00")


@pytest.mark.parametrize(
    ("tz", "saturday", "monday_utc"),
    [
        (NEW_YORK, "2026-03-07 12:00", datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),  # now EDT
        (BERLIN, "2026-10-24 12:00", datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),  # now CET
        (SYDNEY, "2026-10-03 12:00", datetime(2026, 10, 4, 13, 0, tzinfo=UTC)),  # now AEDT
        (SANTIAGO, "2026-04-04 12:00", datetime(2026, 4, 6, 4, 0, tzinfo=UTC)),
    ],
)
def test_next_monday_start_after_a_dst_weekend(tz, saturday, monday_utc):
    c = cal(tz)
    for moment in (at(saturday, tz), at(saturday, tz) + DAY):
        monday = c.next_monday_start(moment)
        assert monday == monday_utc
        assert wall(monday, tz).endswith("00:00") and wall(monday, tz).startswith("Mon")
        assert c.is_weekend(monday - MINUTE)


def test_next_monday_start_from_a_weekday_is_the_coming_monday():
    c = cal(NEW_YORK)
    assert c.next_monday_start(at("2026-06-03 10:00", NEW_YORK)) == at("2026-06-08 00:00", NEW_YORK)
