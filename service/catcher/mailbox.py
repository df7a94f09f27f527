"""The catcher's memory: every message it caught, in arrival order, readable as JSON.

`Mailbox` keeps the raw bytes of each message exactly as they were received,
with the SMTP envelope and the time of arrival, finds them by a search
query (`service.catcher.search`), and lets tests and pages wait until the
mail they expect has arrived or the mailbox has changed.
`CaughtMessage.to_json()` (`service.catcher.message`) reads a message the
way a person or a black-box test wants to see it (SPEC §8, "Catcher API").

What this module must never do:

- raise while reading a message: broken MIME, unknown charsets, undecodable
  headers and garbage all degrade to whatever text can be recovered, and the
  raw bytes are always kept unchanged beside it;
- grow without bound: at most `max_messages` are kept, the oldest are dropped
  first (default `DEFAULT_MAX_MESSAGES`);
- reuse an id: ids increase from 1 for the life of the mailbox, across
  `clear()` and `delete()`, so a stale link never shows a different message;
- poll: waiters sleep on an event that every change (`add()`, `delete()`,
  `clear()`) sets;
- read a message twice: its reading and its search text are built once,
  when first needed, and kept with it.

A mailbox belongs to one process and lives in memory only. `add()`,
`delete()` and `clear()` may be called from any thread (aiosmtpd's threaded
`Controller`, for instance); `wait_for()`, `wait_for_count()` and
`wait_for_change()` run on an asyncio event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

import anyio

from service.catcher.message import CaughtMessage
from service.catcher.search import parse_query
from service.clock import SystemClock

__all__ = ["DEFAULT_MAX_MESSAGES", "DEFAULT_WAIT_SECONDS", "CaughtMessage", "Mailbox"]

DEFAULT_MAX_MESSAGES = 10_000
"""How many messages a `Mailbox` keeps unless told otherwise; older ones are dropped."""

DEFAULT_WAIT_SECONDS = 5.0


_SYSTEM_CLOCK = SystemClock()


class Mailbox:
    """Caught messages in memory, oldest first, at most `max_messages` of them.

    `clock` stamps `received_at`; it defaults to the real time in UTC (the
    catcher records when mail really arrived, whatever clock the rest of
    maildesk runs on). `version` counts the changes to what is kept, so a
    page can tell whether what it shows is still current.
    """

    def __init__(
        self,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        *,
        clock: Callable[[], datetime] = _SYSTEM_CLOCK.now,
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages}")
        self.max_messages = max_messages
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: OrderedDict[int, CaughtMessage] = OrderedDict()
        self._last_id = 0
        self._version = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:
        """Always true, even when empty, so `mailbox or Mailbox()` never swaps a shared one."""
        return True

    @property
    def received(self) -> int:
        """How many messages ever arrived here, dropped and cleared ones included."""
        return self._last_id

    @property
    def version(self) -> int:
        """Increases with every message added, deleted or cleared; never decreases."""
        return self._version

    def add(self, raw: bytes, mail_from: str, rcpt_tos: Iterable[str]) -> CaughtMessage:
        """Keep one message and wake everyone waiting for mail; drops the oldest when full."""
        with self._lock:
            self._last_id += 1
            message = CaughtMessage(
                id=self._last_id,
                mail_from=mail_from,
                rcpt_tos=tuple(rcpt_tos),
                raw=bytes(raw),
                received_at=self._clock(),
            )
            self._messages[message.id] = message
            while len(self._messages) > self.max_messages:
                self._messages.popitem(last=False)
            waiters = self._changed()
        _wake(waiters)
        return message

    def messages(self) -> list[CaughtMessage]:
        """Every message kept, oldest first (a copy: later arrivals do not change it)."""
        with self._lock:
            return list(self._messages.values())

    def search(self, query: str) -> list[CaughtMessage]:
        """The kept messages that match `query`, oldest first; all of them for a blank query.

        The syntax is `service.catcher.search`'s. The first search reads the
        searched fields of every message (about 0.2 ms each, two seconds for
        10,000); later ones only compare the text kept from that.
        """
        terms = parse_query(query)
        messages = self.messages()
        if not terms:
            return messages
        return [message for message in messages if message.search_text.matches(terms)]

    def get(self, message_id: int) -> CaughtMessage | None:
        with self._lock:
            return self._messages.get(message_id)

    def delete(self, message_id: int) -> bool:
        """Forget one message; False when it was not kept. Its id is never given out again."""
        with self._lock:
            if self._messages.pop(message_id, None) is None:
                return False
            waiters = self._changed()
        _wake(waiters)
        return True

    def clear(self) -> int:
        """Forget every message; returns how many were forgotten. Ids keep increasing."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            waiters = self._changed() if count else []
        _wake(waiters)
        return count

    async def wait_for_change(
        self,
        version: int,
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109 - see wait_for
    ) -> int:
        """The mailbox's `version` once it differs from `version`, or after `timeout` seconds.

        Returns at once when it already differs; returns the unchanged version
        on timeout (no error: a page that waits for mail just asks again).
        """
        with anyio.move_on_after(timeout):
            while True:
                event = self._register_waiter()
                try:
                    if self._version != version:
                        break
                    await event.wait()
                finally:
                    self._discard_waiter(event)
        return self._version

    async def wait_for(
        self,
        predicate: Callable[[CaughtMessage], bool],
        # A timeout of our own, not the caller's fail_after, so the error can say what arrived.
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109
    ) -> CaughtMessage:
        """The oldest kept message that satisfies `predicate`, waiting for it if need be.

        Messages already in the mailbox count. Raises `TimeoutError` after
        `timeout` seconds, saying how many messages arrived meanwhile.
        """
        received_before = self.received
        checked_up_to = 0
        with anyio.move_on_after(timeout):
            while True:
                event = self._register_waiter()
                try:
                    for message in self.messages():
                        if message.id > checked_up_to:
                            checked_up_to = message.id
                            if predicate(message):
                                return message
                    await event.wait()
                finally:
                    self._discard_waiter(event)
        arrived = self.received - received_before
        raise TimeoutError(
            f"no caught message matched within {timeout:g}s: {arrived} arrived while waiting, "
            f"{len(self)} kept in all"
        )

    async def wait_for_count(
        self,
        count: int,
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109 - see wait_for
    ) -> list[CaughtMessage]:
        """Every kept message, oldest first, once at least `count` are kept.

        Counts the messages in the mailbox now (call `clear()` first to count
        only new mail). Raises `TimeoutError` after `timeout` seconds, saying
        how many arrived.
        """
        if count > self.max_messages:
            raise ValueError(
                f"cannot wait for {count} messages: this mailbox keeps at most {self.max_messages}"
            )
        with anyio.move_on_after(timeout):
            while True:
                event = self._register_waiter()
                try:
                    messages = self.messages()
                    if len(messages) >= count:
                        return messages
                    await event.wait()
                finally:
                    self._discard_waiter(event)
        raise TimeoutError(
            f"expected at least {count} caught message(s) within {timeout:g}s, "
            f"but only {len(self)} arrived"
        )

    def _changed(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]:
        """Count a change and hand over the waiters to wake; called with the lock held."""
        self._version += 1
        waiters, self._waiters = self._waiters, []
        return waiters

    def _register_waiter(self) -> asyncio.Event:
        """An event the next change sets; registered before looking, so no arrival is missed."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((asyncio.get_running_loop(), event))
        return event

    def _discard_waiter(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = [(loop, e) for loop, e in self._waiters if e is not event]


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    for loop, event in waiters:
        _set_on_loop(loop, event)


def _set_on_loop(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` from whichever thread `add()` runs in; asyncio events are not thread-safe."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
        return
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # the waiter's loop is closed: nobody is left to wake
        pass
