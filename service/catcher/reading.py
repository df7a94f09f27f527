"""Reading a caught message: its sender, subject, date, headers, bodies and attachments.

Every step has a fallback and `read` itself catches the rest: broken MIME,
unknown charsets, undecodable headers and garbage degrade to whatever text
can be recovered. The raw bytes are never changed; this only reads them.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage, Message
from typing import Any

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
class Reading:
    """What could be read from a message's raw bytes; built once per message, then cached."""

    header_from: str | None
    from_name: str | None
    reply_to: tuple[str, ...]
    subject: str | None
    date: str | None
    message_id: str | None
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    attachments: tuple[CaughtAttachment, ...]


_FOLD = re.compile(r"\r?\n[ \t]*")
_HEADER_BLOCK_END = re.compile(rb"\r?\n\r?\n")


def read(raw: bytes) -> Reading:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            raise TypeError(f"expected an EmailMessage, got {type(message).__name__}")
        return _read_message(message, raw)
    except Exception:  # unreadable mail degrades to its raw text
        return Reading(
            header_from=None,
            from_name=None,
            reply_to=(),
            subject=None,
            date=None,
            message_id=None,
            headers=(),
            text=_clean(raw.decode("utf-8", "replace")),
            html=None,
            attachments=(),
        )


def _read_message(message: EmailMessage, raw: bytes) -> Reading:
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
    sender_name, sender_address = _sender(message)
    return Reading(
        header_from=sender_address,
        from_name=sender_name,
        reply_to=_addresses(message, "Reply-To"),
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


def _sender(message: EmailMessage) -> tuple[str | None, str | None]:
    """The display name and bare address of the first `From` mailbox; None for what is missing.

    Read strictly, then leniently: a name with unquoted specials still shows.
    """
    try:
        header = message["From"]
        if header is None:
            return None, None
        addresses = header.addresses
        if addresses and addresses[0].addr_spec:
            return _name(addresses[0].display_name), _clean(str(addresses[0].addr_spec))
    except Exception:  # fall back to the lenient parser below
        pass
    for name, value in message.raw_items():
        if name.lower() == "from":
            display_name, address = email.utils.parseaddr(str(value))
            return _name(display_name), (_clean(address) if address else None)
    return None, None


def _addresses(message: EmailMessage, header_name: str) -> tuple[str, ...]:
    """The bare addresses of every mailbox in a header (groups flattened), strictly or leniently."""
    try:
        header = message[header_name]
        if header is None:
            return ()
        found = tuple(_clean(str(a.addr_spec)) for a in header.addresses if a.addr_spec)
        if found:
            return found
    except Exception:  # fall back to the lenient parser below
        pass
    values = [str(v) for n, v in message.raw_items() if n.lower() == header_name.lower()]
    return tuple(_clean(address) for _, address in email.utils.getaddresses(values) if address)


def _name(display_name: str | None) -> str | None:
    cleaned = _clean(_FOLD.sub(" ", display_name or "")).strip()
    return cleaned or None


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
