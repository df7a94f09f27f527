"""Weekday time in a vendor's time zone, and the weekend rule.

SPEC §2 counts some durations in "weekday time": elapsed time that falls on
Monday to Friday in the vendor's zone, so "24 hours" opened on Friday 15:00
ends on Monday 15:00. Time here is elapsed time (what a stopwatch measures),
not wall-clock arithmetic, so a weekday that is 23 or 25 hours long across a
DST change counts as exactly that much. All inputs and outputs are aware
datetimes; results are returned in UTC.

Nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

SATURDAY = 5


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime (UTC)")


@dataclass(frozen=True)
class BusinessCalendar:
    """The weekend as seen from one IANA time zone."""

    timezone: str = "UTC"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        _require_aware(moment)
        return moment.astimezone(self.zone)

    def is_weekend(self, moment: datetime) -> bool:
        return self.local(moment).weekday() >= SATURDAY

    def _start_of_local_day(self, day: date) -> datetime:
        """The first instant of `day` in this zone, in UTC.

        A midnight that a DST jump skips does not exist; zoneinfo then reads
        the wall time with the offset from before the jump, which is the
        instant the day actually starts.
        """
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    def next_monday_start(self, moment: datetime) -> datetime:
        """Monday 00:00 local after a weekend moment (or the Monday of the coming weekend)."""
        today = self.local(moment).date()
        days_ahead = 7 - today.weekday()
        return self._start_of_local_day(today + timedelta(days=days_ahead))

    def next_weekend_start(self, moment: datetime) -> datetime:
        """Saturday 00:00 local at or after a weekday moment."""
        today = self.local(moment).date()
        days_ahead = SATURDAY - today.weekday()
        return self._start_of_local_day(today + timedelta(days=days_ahead))

    def defer_off_weekend(self, moment: datetime) -> datetime:
        """The weekend rule: an action due on Saturday or Sunday happens Monday 00:00 local."""
        if self.is_weekend(moment):
            return self.next_monday_start(moment)
        return moment.astimezone(UTC)

    def add_weekday_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when `duration` of weekday time has passed since `start`.

        Starting on a weekend, counting begins Monday 00:00. The result is
        never on a weekend: a span that ends exactly at Saturday 00:00 ends
        on Monday 00:00 instead, the same instant in weekday time.
        """
        if duration < timedelta(0):
            raise ValueError("weekday time cannot run backwards")
        _require_aware(start)
        cursor = start.astimezone(UTC)
        remaining = duration
        while True:
            if self.is_weekend(cursor):
                cursor = self.next_monday_start(cursor)
            weekend = self.next_weekend_start(cursor)
            span = weekend - cursor
            if remaining < span:
                return cursor + remaining
            remaining -= span
            cursor = weekend

    def weekday_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much weekday time lies between two moments (zero if `end` is not later)."""
        _require_aware(start)
        _require_aware(end)
        cursor = start.astimezone(UTC)
        end = end.astimezone(UTC)
        counted = timedelta(0)
        while cursor < end:
            if self.is_weekend(cursor):
                cursor = self.next_monday_start(cursor)
                continue
            weekend = self.next_weekend_start(cursor)
            counted += min(weekend, end) - cursor
            cursor = weekend
        return counted

    def add_weekdays(self, start: datetime, weekdays: int) -> datetime:
        """N weekdays are N × 24 hours of weekday time (SPEC §2)."""
        return self.add_weekday_time(start, timedelta(hours=24 * weekdays))
