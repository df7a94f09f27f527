"""The catcher's memory: every message it caught, in arrival order, readable as JSON.

`Mailbox` keeps the raw bytes of each message exactly as they were received,
with the SMTP envelope and the time of arrival, and lets tests wait until the
mail they expect has arrived. `CaughtMessage.to_json()` reads a message the way
a person or a black-box test wants to see it (SPEC §8, "Catcher API").

What this module must never do:

- raise while reading a message: broken MIME, unknown charsets, undecodable
  headers and garbage all degrade to whatever text can be recovered, and the
  raw bytes are always kept unchanged beside it;
- grow without bound: at most `max_messages` are kept, the oldest are dropped
  first (default `DEFAULT_MAX_MESSAGES`);
- reuse an id: ids increase from 1 for the life of the mailbox, across
  `clear()`, so a stale link never shows a different message;
- poll: waiters sleep on an event that `add()` sets.

A mailbox belongs to one process and lives in memory only. `add()` may be
called from any thread (aiosmtpd's threaded `Controller`, for instance);
`wait_for()` and `wait_for_count()` run on an asyncio event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import anyio

from service.catcher.reading import CaughtAttachment, JSONValue, Reading, read
from service.clock import SystemClock

DEFAULT_MAX_MESSAGES = 10_000
"""How many messages a `Mailbox` keeps unless told otherwise; older ones are dropped."""

DEFAULT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class CaughtMessage:
    """One message as the catcher received it: envelope, raw bytes and time of arrival.

    `raw` is never altered. Everything else about the message (subject, bodies,
    attachments) is read from it on demand, once, and never raises.
    """

    id: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_at: datetime

    @property
    def subject(self) -> str | None:
        """The decoded `Subject` header, or None when there is none."""
        return self._reading.subject

    @property
    def text(self) -> str | None:
        """The text/plain body, or None when the message has none."""
        return self._reading.text

    @property
    def html(self) -> str | None:
        """The text/html body, or None when the message has none."""
        return self._reading.html

    @property
    def attachments(self) -> tuple[CaughtAttachment, ...]:
        return self._reading.attachments

    def to_json(self) -> dict[str, JSONValue]:
        """The message in the shape of SPEC §8's Catcher API.

        - `id`: int, increasing from 1.
        - `from`: the bare address of the `From` header (the envelope sender
          when the header is missing or unreadable).
        - `to`: the envelope recipients (RCPT TO), bare addresses: everyone the
          message was delivered to, Bcc included. The `To` header is in `headers`.
        - `subject`: the decoded subject (RFC 2047 words decoded), or null.
        - `date`: the `Date` header as ISO-8601, or null when missing or unparseable.
        - `message_id`: the `Message-ID` header as sent, or null.
        - `headers`: a list of `[name, value]` pairs in message order, values
          decoded and unfolded. A list, not a dict, because names repeat
          (`Received`) and order matters.
        - `text`, `html`: the bodies with LF line ends, or null. Mail whose
          structure cannot be read has its raw body in `text`.
        - `attachments`: every other part, as `{"filename", "content_type", "size"}`
          (`size` in decoded bytes; `filename` may be null for inline parts).

        Extensions beyond SPEC §8: `envelope_from` (MAIL FROM, "" for bounces),
        `received_at` (ISO-8601, UTC) and `size` (raw bytes).
        """
        reading = self._reading
        return {
            "id": self.id,
            "from": reading.header_from or self.mail_from,
            "to": list(self.rcpt_tos),
            "subject": reading.subject,
            "date": reading.date,
            "message_id": reading.message_id,
            "headers": [[name, value] for name, value in reading.headers],
            "text": reading.text,
            "html": reading.html,
            "attachments": [attachment.to_json() for attachment in reading.attachments],
            "envelope_from": self.mail_from,
            "received_at": self.received_at.isoformat(),
            "size": len(self.raw),
        }

    @cached_property
    def _reading(self) -> Reading:
        return read(self.raw)


_SYSTEM_CLOCK = SystemClock()


class Mailbox:
    """Caught messages in memory, oldest first, at most `max_messages` of them.

    `clock` stamps `received_at`; it defaults to the real time in UTC (the
    catcher records when mail really arrived, whatever clock the rest of
    maildesk runs on).
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
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            _set_on_loop(loop, event)
        return message

    def messages(self) -> list[CaughtMessage]:
        """Every message kept, oldest first (a copy: later arrivals do not change it)."""
        with self._lock:
            return list(self._messages.values())

    def get(self, message_id: int) -> CaughtMessage | None:
        with self._lock:
            return self._messages.get(message_id)

    def clear(self) -> int:
        """Forget every message; returns how many were forgotten. Ids keep increasing."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count

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

    def _register_waiter(self) -> asyncio.Event:
        """An event the next `add()` sets; registered before looking, so no arrival is missed."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((asyncio.get_running_loop(), event))
        return event

    def _discard_waiter(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = [(loop, e) for loop, e in self._waiters if e is not event]


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
