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
import email
import email.policy
import email.utils
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from functools import cached_property
from typing import Any

import anyio

from service.clock import SystemClock

DEFAULT_MAX_MESSAGES = 10_000
"""How many messages a `Mailbox` keeps unless told otherwise; older ones are dropped."""

DEFAULT_WAIT_SECONDS = 5.0

JSONValue = Any
"""A value that `json.dumps` accepts; kept loose on purpose (mypy has no JSON type)."""


@dataclass(frozen=True)
class CaughtAttachment:
    """A part of a caught message that is not its text or HTML body."""

    filename: str | None
    content_type: str
    size: int

    def to_json(self) -> dict[str, JSONValue]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}


@dataclass(frozen=True)
class _Reading:
    """What could be read from a message's raw bytes; built once per message, then cached."""

    header_from: str | None
    subject: str | None
    date: str | None
    message_id: str | None
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    attachments: tuple[CaughtAttachment, ...]


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
    def _reading(self) -> _Reading:
        return _read(self.raw)


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


# Reading a message. Every step has a fallback; `_read` itself catches the rest.

_FOLD = re.compile(r"\r?\n[ \t]*")
_HEADER_BLOCK_END = re.compile(rb"\r?\n\r?\n")


def _read(raw: bytes) -> _Reading:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            raise TypeError(f"expected an EmailMessage, got {type(message).__name__}")
        return _read_message(message, raw)
    except Exception:  # unreadable mail degrades to its raw text
        return _Reading(
            header_from=None,
            subject=None,
            date=None,
            message_id=None,
            headers=(),
            text=_clean(raw.decode("utf-8", "replace")),
            html=None,
            attachments=(),
        )


def _read_message(message: EmailMessage, raw: bytes) -> _Reading:
    headers = tuple(
        (_clean(str(name)), _header_text(message, str(name), value))
        for name, value in message.raw_items()
    )
    text_part = _body_part(message, "plain")
    html_part = _body_part(message, "html")
    bodies = [part for part in (text_part, html_part) if part is not None]
    attachments = tuple(
        _attachment(part)
        for part in _leaf_parts(message)
        if not any(part is body for body in bodies)
    )
    text = _part_text(text_part) if text_part is not None else None
    html = _part_text(html_part) if html_part is not None else None
    if text is None and html is None and not attachments:
        text = _raw_body(raw)
    return _Reading(
        header_from=_header_address(message),
        subject=_first_header(headers, "subject"),
        date=_header_date(message),
        message_id=_first_header(headers, "message-id"),
        headers=headers,
        text=text,
        html=html,
        attachments=attachments,
    )


def _clean(text: str) -> str:
    """Text safe to encode as UTF-8: raw 8-bit bytes smuggled in as surrogates become characters."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _header_text(message: EmailMessage, name: str, value: Any) -> str:
    """A header value, RFC 2047 words decoded and folding removed; the raw value if that fails."""
    try:
        decoded = str(message.policy.header_fetch_parse(name, value))
    except Exception:
        decoded = str(value)
    return _clean(_FOLD.sub(" ", decoded).strip())


def _first_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for header_name, value in headers:
        if header_name.lower() == name:
            return value
    return None


def _header_address(message: EmailMessage) -> str | None:
    """The bare address of the first `From` mailbox, read strictly, then leniently."""
    try:
        header = message["From"]
        if header is None:
            return None
        addresses = header.addresses
        if addresses and addresses[0].addr_spec:
            return _clean(str(addresses[0].addr_spec))
    except Exception:  # fall back to the lenient parser below
        pass
    for name, value in message.raw_items():
        if name.lower() == "from":
            _, address = email.utils.parseaddr(str(value))
            return _clean(address) if address else None
    return None


def _header_date(message: EmailMessage) -> str | None:
    try:
        value = message["Date"]
        if value is None:
            return None
        moment = email.utils.parsedate_to_datetime(str(value))
    except Exception:  # an unparseable date is reported as null
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _body_part(message: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
    except Exception:
        return None
    return part if isinstance(part, EmailMessage) else None


def _leaf_parts(part: Message) -> Iterator[Message]:
    """Every part that is not a container; an attached message counts as one part.

    A multipart whose parts could not be split (no boundary, boundary never
    found) is skipped: its text is shown as the raw body instead.
    """
    if part.get_content_maintype() != "multipart":
        yield part
    elif part.is_multipart():
        for subpart in part.get_payload():
            if isinstance(subpart, Message):
                yield from _leaf_parts(subpart)


def _part_text(part: Message) -> str:
    """A body part as text with LF line ends, decoded by its charset or, failing that, as UTF-8."""
    return _decode_part(part).replace("\r\n", "\n")


def _decode_part(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
    except Exception:  # unknown charset, bad transfer encoding: decode by hand
        content = None
    if isinstance(content, str):
        return _clean(content)
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return _clean(payload.decode(charset, "replace"))
    except LookupError:
        return _clean(payload.decode("utf-8", "replace"))


def _attachment(part: Message) -> CaughtAttachment:
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    return CaughtAttachment(
        filename=_clean(str(filename)) if filename else None,
        content_type=part.get_content_type(),
        size=_part_size(part),
    )


def _part_size(part: Message) -> int:
    try:
        if part.is_multipart():  # an attached message/rfc822
            return len(part.as_bytes())
        payload = part.get_payload(decode=True)
    except Exception:
        return 0
    return len(payload) if isinstance(payload, bytes) else 0


def _raw_body(raw: bytes) -> str:
    """Everything after the header block, as text: what is left when the structure is unreadable."""
    parts = _HEADER_BLOCK_END.split(raw, maxsplit=1)
    body = parts[1] if len(parts) == 2 else raw
    return _clean(body.decode("utf-8", "replace")).replace("\r\n", "\n")
