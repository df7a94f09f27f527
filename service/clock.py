"""Where maildesk gets the time: an injected clock, never `datetime.now()` elsewhere.

`SystemClock` reads the real time. `FakeClock` stands still until told to
move, so tests and demos can step through a refund's 24 weekday hours in a
second; the scheduler listens to it and fires whatever falls due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when set or advanced; it never goes backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the fake clock needs an aware start time, e.g. 2026-11-02T10:00Z")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError(f"{moment.isoformat()} has no time zone; add Z or an offset")
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError(
                f"the fake clock cannot go back from {self._now.isoformat()} "
                f"to {moment.isoformat()}"
            )
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the fake clock only moves forward")
        self._now += delta
