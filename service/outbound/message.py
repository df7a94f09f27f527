"""Assemble one rendered notification into the bytes of a MIME message (SPEC §4).

`build_message` makes a multipart/alternative message (a UTF-8 text part and
an HTML part, both quoted-printable) with the headers that keep robots and
mail clients in line: `Auto-Submitted: auto-generated` and
`X-Auto-Response-Suppress: All` so auto-responders stay quiet, and the
given `Message-ID`, `In-Reply-To` and `References` so a ticket's mails thread
together. Non-ASCII display names and subjects become RFC 2047 encoded words.

Built with `email.mime` and the compat32 policy with CRLF line endings (the
line endings of `email.policy.SMTP`): `email.policy.SMTP` itself re-parses
every header through the header registry and cannot fold `Header` objects,
which makes a message about three times slower to build. Bodies are encoded
with `binascii.b2a_qp` (C) rather than the pure-Python `email.quoprimime`.

This module must never send mail, pick recipients or render templates, and it
must never let a value with a line break into a header.
"""

from __future__ import annotations

import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr
from typing import cast

from service.outbound.render import RenderedEmail

SMTP_LINES = compat32.clone(linesep="\r\n")
"""compat32 folding, SMTP line endings: the policy `email.mime` messages are built for."""

_MSG_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_ADDRESS = re.compile(r"[^<>\s@\"(),;:]+@[^<>\s@\"(),;:\[\]]+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LINE_BREAKS = re.compile(r"[\r\n\x00]+")


def new_message_id(domain: str) -> str:
    """A fresh random `Message-ID` under our domain: `<32 hex digits@domain>`."""
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain for a Message-ID: {domain!r}")
    return f"<{uuid.uuid4().hex}@{domain}>"


def build_message(
    rendered: RenderedEmail,
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str,
    reply_to: str | None,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime,
) -> bytes:
    """The whole message, headers and both parts, ready for SMTP `DATA` (CRLF lines)."""
    if date.tzinfo is None:
        raise ValueError("the Date of a message must be timezone-aware")
    message = MIMEMultipart("alternative", boundary=f"=_{uuid.uuid4().hex}")
    _set(message, "From", _mailbox("From", from_name, _address(from_address)))
    _set(message, "To", _mailbox("To", to_name, _address(to_address)))
    if reply_to:
        message["Reply-To"] = _address(reply_to)
    _set(message, "Subject", _unstructured("Subject", rendered.subject))
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _message_id(message_id)
    if in_reply_to:
        message["In-Reply-To"] = _message_id(in_reply_to)
    if references:
        message["References"] = " ".join(_message_id(ref) for ref in references)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.attach(_text_part("plain", rendered.text))
    message.attach(_text_part("html", rendered.html))
    return message.as_bytes(policy=SMTP_LINES)


def _set(message: MIMEMultipart, field: str, value: str | Header) -> None:
    # compat32 messages fold `Header` values themselves; typeshed only admits str.
    message[field] = cast(str, value)


def _text_part(subtype: str, body: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    del part["MIME-Version"]  # only the top level needs it
    part["Content-Transfer-Encoding"] = "quoted-printable"
    lines = body.replace("\r\n", "\n").replace("\r", "\n")
    part.set_payload(binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _mailbox(field: str, name: str, address: str) -> str | Header:
    """`Name <address>`, the name quoted when ASCII, RFC 2047 encoded when not."""
    name = " ".join(_LINE_BREAKS.sub(" ", name).split())
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    header = Header(name, "utf-8", header_name=field)
    header.append(f"<{address}>", "us-ascii")
    return header


def _unstructured(field: str, value: str) -> str | Header:
    value = " ".join(_LINE_BREAKS.sub(" ", value).split())
    return value if value.isascii() else Header(value, "utf-8", header_name=field)


def _address(address: str) -> str:
    address = address.strip()
    if not address.isascii() or not _ADDRESS.fullmatch(address):
        raise ValueError(f"not a plain ASCII email address: {address!r}")
    return address


def _message_id(message_id: str) -> str:
    message_id = message_id.strip()
    if not _MSG_ID.fullmatch(message_id):
        raise ValueError(f"not a Message-ID (want <local@domain>): {message_id!r}")
    return message_id
