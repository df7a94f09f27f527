"""Property tests of the business calendar, in zones with awkward DST rules.

Instants are drawn from 2020–2030, half of them within four days of one of the
zone's own DST transitions (found from zoneinfo at import), so every property
is exercised on 23- and 25-hour days, on midnights that never happen (Tehran's
Monday, Cairo's Friday) and on midnights that happen twice (Amman's Friday).
An independent quarter-hour count checks `weekday_time_between` itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.calendar import BusinessCalendar

ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Santiago",  # changes at Saturday midnight
    "America/Havana",  # changes at Sunday midnight
    "Africa/Cairo",  # changes at Thursday/Friday midnight: a weekday
    "Asia/Amman",  # 2020–2021: Friday 01:00 → 00:00, Friday midnight twice
    "Asia/Tehran",  # 2020–2022: Monday midnight skipped, +03:30
    "Asia/Kathmandu",  # +05:45, no DST
    "Pacific/Chatham",  # +12:45/+13:45
    "UTC",
)
START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2031, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
QUARTER = timedelta(minutes=15)
FOUR_DAYS = timedelta(days=4)
TWO_WEEKS = timedelta(days=14)

BOUNDED = settings(max_examples=200, deadline=None)


@cache
def transitions(tz: str) -> tuple[datetime, ...]:
    """The instants in 2020–2030 at which `tz` changes its UTC offset."""
    zone, found = ZoneInfo(tz), []
    day = START
    while day < END:
        nxt = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            lo, hi = day, nxt
            while hi - lo > SECOND:
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        day = nxt
    return tuple(found)


def test_the_sample_zones_have_the_transitions_the_properties_rely_on():
    for tz in ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Africa/Cairo"):
        assert len(transitions(tz)) >= 10, tz
    assert transitions("Asia/Tehran") and transitions("Asia/Amman")
    assert transitions("UTC") == ()


def anywhere() -> st.SearchStrategy[datetime]:
    seconds = int((END - START).total_seconds())
    return st.integers(0, seconds).map(lambda s: START + timedelta(seconds=s))


def near(moments: tuple[datetime, ...], step: timedelta = SECOND) -> st.SearchStrategy[datetime]:
    span = int(FOUR_DAYS / step)
    return st.builds(
        lambda at, k: at + k * step, st.sampled_from(moments), st.integers(-span, span)
    )


@st.composite
def zone_and_moment(draw, step: timedelta = SECOND):
    tz = draw(st.sampled_from(ZONES))
    changes = transitions(tz)
    if changes and draw(st.booleans()):
        moment = draw(near(changes, step))
    else:
        moment = draw(anywhere())
        moment = START + (moment - START) // step * step
    return BusinessCalendar(tz), moment


durations = st.integers(0, int(TWO_WEEKS.total_seconds())).map(lambda s: timedelta(seconds=s))


# --- add_weekday_time ------------------------------------------------------------


@BOUNDED
@given(zone_and_moment(), durations)
def test_add_weekday_time_never_lands_on_a_local_weekend(cal_start, duration):
    cal, start = cal_start
    end = cal.add_weekday_time(start, duration)
    assert not cal.is_weekend(end)
    assert end.tzinfo is UTC


@BOUNDED
@given(zone_and_moment(), durations)
def test_add_weekday_time_takes_at_least_the_duration(cal_start, duration):
    cal, start = cal_start
    assert cal.add_weekday_time(start, duration) - start >= duration


@BOUNDED
@given(zone_and_moment(), st.integers(0, int(FOUR_DAYS.total_seconds())), durations)
def test_add_weekday_time_is_monotonic_in_the_start(cal_start, later_by, duration):
    cal, start = cal_start
    later = start + timedelta(seconds=later_by)
    assert cal.add_weekday_time(start, duration) <= cal.add_weekday_time(later, duration)


@BOUNDED
@given(zone_and_moment(), durations, durations)
def test_add_weekday_time_is_strictly_increasing_in_the_duration(cal_start, d1, d2):
    cal, start = cal_start
    shorter, longer = sorted((d1, d2))
    if shorter == longer:
        assert cal.add_weekday_time(start, shorter) == cal.add_weekday_time(start, longer)
    else:
        assert cal.add_weekday_time(start, shorter) < cal.add_weekday_time(start, longer)


@BOUNDED
@given(zone_and_moment(), durations)
def test_weekday_time_between_undoes_add_weekday_time(cal_start, duration):
    cal, start = cal_start
    if cal.is_weekend(start):  # the spec's case is a weekday start; a weekend one waits
        start = cal.next_monday_start(start)
    assert not cal.is_weekend(start)
    assert cal.weekday_time_between(start, cal.add_weekday_time(start, duration)) == duration


@BOUNDED
@given(zone_and_moment(), durations)
def test_a_weekend_start_counts_from_monday_midnight(cal_start, duration):
    cal, start = cal_start
    if not cal.is_weekend(start):
        start = cal.next_weekend_start(start)
    monday = cal.next_monday_start(start)
    assert cal.add_weekday_time(start, duration) == cal.add_weekday_time(monday, duration)
    assert cal.weekday_time_between(start, monday) == timedelta(0)


@BOUNDED
@given(zone_and_moment(), durations, durations)
def test_add_weekday_time_composes(cal_start, first, second):
    cal, start = cal_start
    halfway = cal.add_weekday_time(start, first)
    assert cal.add_weekday_time(halfway, second) == cal.add_weekday_time(start, first + second)


# --- weekday_time_between --------------------------------------------------------


@BOUNDED
@given(zone_and_moment(), durations, durations)
def test_weekday_time_between_is_additive_and_bounded_by_elapsed_time(cal_start, d1, d2):
    cal, a = cal_start
    b, c = a + d1, a + d1 + d2
    ab, bc, ac = (
        cal.weekday_time_between(a, b),
        cal.weekday_time_between(b, c),
        cal.weekday_time_between(a, c),
    )
    assert ab + bc == ac
    assert timedelta(0) <= ab <= b - a
    assert cal.weekday_time_between(c, a) == timedelta(0)


@settings(max_examples=100, deadline=None)
@given(zone_and_moment(step=QUARTER), st.integers(0, 4 * 96))
def test_weekday_time_between_agrees_with_counting_quarter_hours(cal_start, quarters):
    # Every zone here has offsets and transitions on the UTC quarter-hour grid, so
    # local midnights fall between quarter-hours, never inside one.
    cal, start = cal_start
    slots = [start + n * QUARTER for n in range(quarters)]
    counted = sum((QUARTER for slot in slots if not cal.is_weekend(slot)), timedelta(0))
    assert cal.weekday_time_between(start, start + quarters * QUARTER) == counted


# --- the weekend rule -----------------------------------------------------------


@BOUNDED
@given(zone_and_moment())
def test_defer_off_weekend_moves_weekend_moments_to_the_first_instant_of_monday(cal_start):
    cal, moment = cal_start
    result = cal.defer_off_weekend(moment)
    assert result.tzinfo is UTC
    assert not cal.is_weekend(result)
    if not cal.is_weekend(moment):
        assert result == moment
        return
    assert moment < result <= moment + timedelta(days=2, hours=1)
    assert cal.local(result).weekday() == 0
    assert cal.is_weekend(result - SECOND)  # nothing of Monday was skipped
    assert result == cal.next_monday_start(moment)
