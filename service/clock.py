"""Where maildesk gets the time: an injected clock, never `datetime.now()` elsewhere.

`SystemClock` reads the real time. `FakeClock` stands still until told to
move, so tests and demos can step through a refund's 24 weekday hours in a
second; the scheduler listens to it and fires whatever falls due. When
`serve` runs more than one SMTP process, the extra ones read the main
process's fake clock through a `SharedTime` (`FollowingClock`), so a ticket
opened by any of them is stamped with the same moment.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COUNTER = struct.Struct("<Q")  # at offset 0: writes begun plus writes ended
_MOMENT = struct.Struct("<q")  # at offset 8: microseconds since 1970
_SIZE = _COUNTER.size + _MOMENT.size


def parse_instant(text: str) -> datetime:
    """An ISO-8601 time that names its zone ("Z" or an offset like +01:00).

    A time without a zone is refused rather than read as UTC: the same wall
    clock reading is a different moment for every vendor, and a guess here
    moves a refund by hours. The `ValueError` says which half is wrong, for the
    caller to prefix with where the text came from.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 time like 2026-11-02T10:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset like +01:00")
    return moment


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
        self._shared: SharedTime | None = None

    def now(self) -> datetime:
        return self._now

    def share(self, shared: SharedTime | None) -> None:
        """Publish every move to `shared`, where other processes' `FollowingClock`s read it.

        `None` stops publishing (before `shared` is closed).
        """
        self._shared = shared
        self._publish()

    def _publish(self) -> None:
        if self._shared is not None:
            self._shared.write(self._now)

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
        self._publish()

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the fake clock only moves forward")
        self._now += delta
        self._publish()


class SharedTime:
    """One moment in sixteen bytes of memory shared between processes.

    It lives in an unlinked temporary file, so it needs no name and no cleanup:
    a child process gets it by inheriting `fileno()` and opening it with
    `SharedTime(fd)`. One process writes (the main one's `FakeClock`), the
    others only read. The write counter is odd while a write is under way (a
    sequence lock), and a read that saw it odd or changing is retried, so a
    reader never sees half of one moment and half of the next.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._map = mmap.mmap(fd, _SIZE)

    @classmethod
    def create(cls) -> SharedTime:
        fd, path = tempfile.mkstemp(prefix="maildesk-clock-")
        os.unlink(path)
        os.ftruncate(fd, _SIZE)
        return cls(fd)

    def fileno(self) -> int:
        return self._fd

    def write(self, moment: datetime) -> None:
        count = _COUNTER.unpack_from(self._map, 0)[0]
        _COUNTER.pack_into(self._map, 0, count + 1)
        _MOMENT.pack_into(self._map, _COUNTER.size, (moment - _EPOCH) // timedelta(microseconds=1))
        _COUNTER.pack_into(self._map, 0, count + 2)

    def read(self) -> datetime:
        while True:
            count = _COUNTER.unpack_from(self._map, 0)[0]
            microseconds = _MOMENT.unpack_from(self._map, _COUNTER.size)[0]
            if count % 2 == 0 and _COUNTER.unpack_from(self._map, 0)[0] == count:
                return _EPOCH + timedelta(microseconds=microseconds)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class FollowingClock:
    """The clock of an extra SMTP process: whatever the main process's fake clock says."""

    def __init__(self, shared: SharedTime) -> None:
        self._shared = shared

    def now(self) -> datetime:
        return self._shared.read()
