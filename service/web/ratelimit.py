"""Rate limits for the self-service forms (purchase lookup, refund request).

Each form post may send an email to the address typed into it, so a script
must not be able to use the forms to flood one mailbox or to sweep order
references. `FormLimiter` keeps a sliding window of recent accepted posts per
client IP and per email address, in memory; a post is allowed only when both
windows have room, and only an allowed post is counted.

Time comes from the runtime clock passed in by the caller (the fake clock in
tests and demos), never from `datetime.now()`. The limits are per process:
several `serve` processes behind one database each count on their own, which
is a looser limit, never a stricter one. This module must never read or write
the database and never block: it answers at once from memory, which it keeps
bounded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limit:
    """At most `count` posts in any `window` of time."""

    count: int
    window: timedelta


PER_EMAIL = Limit(5, timedelta(minutes=10))
"""Emails a form may cause to one address: the mailbox a flood would hit."""

PER_CLIENT = Limit(20, timedelta(minutes=10))
"""Posts from one IP address: looser than per email, as an office or a phone
network puts many customers behind one address."""


class SlidingWindow:
    """Recent moments per key; a key has room while fewer than `limit.count` are in the window."""

    def __init__(self, limit: Limit, *, max_keys: int = 50_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._moments: dict[str, deque[datetime]] = {}

    def wait(self, key: str, now: datetime) -> timedelta | None:
        """None when `key` has room now, else how long until it has."""
        moments = self._moments.get(key)
        if moments is None:
            return None
        self._forget_before(moments, now - self.limit.window)
        if not moments:
            del self._moments[key]
            return None
        if len(moments) < self.limit.count:
            return None
        return moments[0] + self.limit.window - now

    def record(self, key: str, now: datetime) -> None:
        if key not in self._moments and len(self._moments) >= self.max_keys:
            self._make_room(now)
        self._moments.setdefault(key, deque()).append(now)

    def _make_room(self, now: datetime) -> None:
        """Drop keys whose window is empty; if none is, drop the quietest half."""
        cutoff = now - self.limit.window
        for key in list(self._moments):
            moments = self._moments[key]
            self._forget_before(moments, cutoff)
            if not moments:
                del self._moments[key]
        if len(self._moments) >= self.max_keys:
            by_latest = sorted(self._moments, key=lambda k: self._moments[k][-1])
            for key in by_latest[: len(by_latest) // 2 + 1]:
                del self._moments[key]

    @staticmethod
    def _forget_before(moments: deque[datetime], cutoff: datetime) -> None:
        while moments and moments[0] <= cutoff:
            moments.popleft()


class FormLimiter:
    """The self-service forms' limits: one window per client IP, one per email address."""

    def __init__(self, per_client: Limit = PER_CLIENT, per_email: Limit = PER_EMAIL) -> None:
        self.clients = SlidingWindow(per_client)
        self.emails = SlidingWindow(per_email)

    def attempt(self, client: str, email: str, now: datetime) -> timedelta | None:
        """Count one post and return None, or return how long to wait (and count nothing)."""
        email = email.strip().lower()
        waits = [
            wait
            for wait in (self.clients.wait(client, now), self.emails.wait(email, now))
            if wait is not None
        ]
        if waits:
            return max(waits)
        self.clients.record(client, now)
        self.emails.record(email, now)
        return None
