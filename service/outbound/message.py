"""Assemble one rendered notification into the bytes of a MIME message (SPEC §4).

`build_message` makes a multipart/alternative message (a UTF-8 text part and
an HTML part), inside a multipart/mixed one with a base64 part per file when
it carries files (`MailFile`), with the headers that keep robots and
mail clients in line: `Auto-Submitted: auto-generated` and
`X-Auto-Response-Suppress: All` so auto-responders stay quiet, and the
given `Message-ID`, `In-Reply-To` and `References` so a ticket's mails thread
together. Non-ASCII display names and subjects become RFC 2047 encoded words.

Each part goes as it is (`7bit`) when it can: ASCII, no line over RFC 5322's
998 characters, and in the text part no trailing white space for a relay to
strip (but for the `-- ` signature separator, see `_fits_7bit`). Anything else
is quoted-printable. The HTML part is made ASCII first by writing non-ASCII
characters as numeric character references (`&#8212;` for an em dash), which
every HTML reader takes for the same text. Unencoded parts cost nothing to
encode, and they are smaller and have fewer lines, which the SMTP client's
line-ending and dot-stuffing passes and the receiver's DATA loop pay for by
the line; notifications are ASCII HTML with lines of at most a few hundred
characters, so most go `7bit` whole.

Assembled as text: the structure is fixed (two parts under one boundary, and
the files beside them under another), so
the generic generators buy nothing and cost most of the time: `email.policy`
re-parses every header, and compat32 re-folds each one through `Header`
(about 1 ms a message together). Non-ASCII names go through
`email.header.Header` for RFC 2047; non-ASCII subjects through
`_encoded_words`, its greedy split without the quadratic re-encoding
(a property test holds the two equal). Quoted-printable bodies come from
`binascii.b2a_qp` (C), whose lines never exceed 76 characters.

This module must never send mail, pick recipients or render templates, and it
must never let a value with a line break into a header.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import BASE64, Charset
from email.header import Header
from email.utils import format_datetime, formataddr

from service.outbound.render import RenderedEmail

UTF8_BASE64 = Charset("utf-8")
UTF8_BASE64.header_encoding = BASE64
"""Encoded words in base64 only: "shortest of QP and base64" costs a character-by-character
length count per header, for a few bytes saved."""

_MSG_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_ADDRESS = re.compile(r"[^<>\s@\"(),;:]+@[^<>\s@\"(),;:\[\]]+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LINE_BREAKS = re.compile(r"[\r\n\x00]+")
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ASCII_NAME_CHARS = 200
_OTHER_NAME_CHARS = 60
"""A file name's length in a header: RFC 2231 writes a non-ASCII character as up to 12
characters, and no header line may pass 998."""


class WireMessage(bytes):
    """A whole message as `build_message` makes it: every line ends in CRLF.

    The parts are made LF-only and then written with CRLF, every header is
    joined with CRLF and no value brings a line break of its own, files are
    base64 lines ending in CRLF; a property test holds it for any text,
    names and subject. The relay transport therefore sends one without
    counting its line ends again. Anything that changes the bytes (a DKIM
    signature on top) makes plain `bytes`, which are checked.
    """

    __slots__ = ()


@dataclass(frozen=True)
class MailFile:
    """A file a notification carries: the attachment's id, its name, its type and its bytes."""

    id: str
    filename: str
    content_type: str
    data: bytes


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
    files: Sequence[MailFile] = (),
) -> WireMessage:
    """The whole message, headers, both parts and any files, ready for SMTP `DATA` (CRLF lines)."""
    if date.tzinfo is None:
        raise ValueError("the Date of a message must be timezone-aware")
    boundary = f"=_{uuid.uuid4().hex}"
    mixed = f"=_{uuid.uuid4().hex}" if files else None
    headers = [
        f"From: {_mailbox('From', from_name, _address(from_address))}",
        f"To: {_mailbox('To', to_name, _address(to_address))}",
    ]
    if reply_to:
        headers.append(f"Reply-To: {_address(reply_to)}")
    headers += [
        f"Subject: {_unstructured('Subject', rendered.subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {_message_id(message_id)}",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {_message_id(in_reply_to)}")
    if references:
        headers.append("References: " + " ".join(_message_id(ref) for ref in references))
    headers += [
        "Auto-Submitted: auto-generated",
        "X-Auto-Response-Suppress: All",
        "MIME-Version: 1.0",
    ]
    alternative = f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"'
    if mixed is None:
        headers.append(alternative)
    else:
        headers.append(f'Content-Type: multipart/mixed;\r\n boundary="{mixed}"')
    head = "\r\n".join(_fold(header) for header in headers).encode("utf-8")
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    body = [
        delimiter,
        _text_part("plain", rendered.text),
        delimiter,
        _text_part("html", rendered.html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    if mixed is None:
        return WireMessage(b"".join([head, b"\r\n", *body]))
    outer = f"\r\n--{mixed}\r\n".encode("ascii")
    parts = [head, b"\r\n", outer, alternative.encode("ascii"), b"\r\n", *body]
    for file in files:
        parts += [outer, _file_part(file)]
    parts.append(f"\r\n--{mixed}--\r\n".encode("ascii"))
    return WireMessage(b"".join(parts))


def _file_part(file: MailFile) -> bytes:
    """One attached file: its type (octet-stream unless plain), its name, base64 lines."""
    media_type = file.content_type.split(";")[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(media_type):
        media_type = "application/octet-stream"
    name = _file_name(file.filename)
    encoded = base64.encodebytes(file.data).replace(b"\n", b"\r\n")
    return (
        f"Content-Type: {media_type};\r\n {name.replace('filename', 'name', 1)}\r\n"
        f"Content-Disposition: attachment;\r\n {name}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + encoded.rstrip(b"\r\n")


def _file_name(filename: str) -> str:
    """`filename="…"` for a plain ASCII name, RFC 2231's `filename*=utf-8''…` for any other."""
    name = " ".join(_CONTROL.sub(" ", filename).split()) or "attachment"
    if name.isascii() and '"' not in name and "\\" not in name:
        return f'filename="{name[:_ASCII_NAME_CHARS]}"'
    quoted = urllib.parse.quote(name[:_OTHER_NAME_CHARS], safe="")
    return f"filename*=utf-8''{quoted}"


def _fold(line: str, width: int = 78) -> str:
    """Fold a header line at spaces so no line is longer than `width` where it can be."""
    if len(line) <= width or "\r\n" in line:
        return line
    folded, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            folded.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    folded.append(current)
    return "\r\n".join(folded)


def _text_part(subtype: str, body: str) -> bytes:
    """One UTF-8 part, `7bit` when it can go as it is, else quoted-printable; CRLF line endings.

    Built as bytes: the parts are most of a message, and a round trip
    through `str` for the join copied each of them twice more.
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n") if "\r" in body else body
    markup = subtype == "html"
    payload = lines.encode("ascii", "xmlcharrefreplace") if markup else lines.encode("utf-8")
    if _fits_7bit(payload, markup=markup):
        encoding, encoded = "7bit", payload
    else:
        encoding, encoded = "quoted-printable", binascii.b2a_qp(payload, istext=True)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii") + encoded.replace(b"\n", b"\r\n")


_LONGEST_LINE = 998
"""RFC 5322 §2.1.1: no line of a message may be longer (CRLF not counted)."""


def _fits_7bit(payload: bytes, *, markup: bool) -> bool:
    """ASCII without NUL, no line over 998, none ending in white space (relays may strip it).

    White space before a line break means nothing in HTML (`markup`; the notifications
    have no `<pre>`), so only a text part is searched for it; and there the signature
    separator `-- ` is allowed, which mail clients themselves send unencoded (RFC 3676
    §4.3): losing its space would cost nothing but the signature's recognition.
    """
    return (
        payload.isascii()
        and b"\0" not in payload
        and (markup or _no_trailing_white_space(payload))
        and _lines_fit(payload)
    )


def _lines_fit(payload: bytes) -> bool:
    """No line of `payload` (LF line ends) is longer than `_LONGEST_LINE`.

    From each line start, the last line break within reach is found with
    `rfind` (`memrchr`, a few dozen calls for a whole part); no break within
    reach is a line too long. Splitting the part into lines to measure them
    cost as much as building the rest of the message (a property test holds
    the two equal).
    """
    start, end = 0, len(payload)
    while end - start > _LONGEST_LINE:
        line_break = payload.rfind(b"\n", start, start + _LONGEST_LINE + 1)
        if line_break < 0:
            return False
        start = line_break + 1
    return True


def _no_trailing_white_space(payload: bytes) -> bool:
    """No line ends in a space or a tab, except `-- ` lines.

    A tab is looked for alone first (`memchr`): text parts rarely have one, and
    the search for a two-byte `\\t\\n` is a byte-by-byte loop.
    """
    if (b"\t" in payload and b"\t\n" in payload) or payload.endswith((b" ", b"\t")):
        return False
    space = payload.find(b" \n")
    while space >= 0:  # usually once: the separator, near the end
        if space < 3 or payload[space - 3 : space] != b"\n--":
            return False
        space = payload.find(b" \n", space + 2)
    return True


def _mailbox(field: str, name: str, address: str) -> str:
    """`Name <address>`, the name quoted when ASCII, RFC 2047 encoded when not."""
    name = " ".join(_LINE_BREAKS.sub(" ", name).split())
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    header = Header(name, UTF8_BASE64, header_name=field)
    header.append(f"<{address}>", "us-ascii")
    return header.encode(linesep="\r\n")


def _unstructured(field: str, value: str) -> str:
    value = " ".join(_LINE_BREAKS.sub(" ", value).split())
    if value.isascii():
        return value
    return _encoded_words(field, value)


_HEADER_WIDTH = 78
"""`email.header`'s line length, which the encoded words below reproduce."""
_WORD_CHROME = len("=?utf-8?b??=")


def _encoded_words(field: str, value: str) -> str:
    """`value` as base64 encoded words, the same as `Header(value, UTF8_BASE64, header_name=field)`.

    `Header` finds where to split by re-encoding the growing line after each
    character (quadratic; ~45 µs for a subject, and every subject with a dash
    or a name like Zoë is non-ASCII). Its split is greedy: a word takes
    characters while its base64 fits the line (the first line shortened by
    `field: `), continuation lines start with a space. Base64 of n bytes fits
    `room` characters when n <= 3 * (room // 4), so each word is the longest
    run of whole UTF-8 characters within that many bytes: found by stepping
    back from the limit over continuation bytes, not by counting characters.
    `value` is one line without runs of white space (`_unstructured` made it so).
    """
    encoded = value.encode("utf-8")
    room = _HEADER_WIDTH - len(field) - 2 - _WORD_CHROME
    words: list[str] = []
    start = 0
    while start < len(encoded):
        end = start + 3 * (room // 4)
        if end >= len(encoded):
            end = len(encoded)
        else:
            while end > start and encoded[end] & 0xC0 == 0x80:  # inside a character
                end -= 1
            if end == start:  # not one whole character fits: take one anyway, as Header does
                end = start + 1
                while end < len(encoded) and encoded[end] & 0xC0 == 0x80:
                    end += 1
        words.append(f"=?utf-8?b?{base64.b64encode(encoded[start:end]).decode('ascii')}?=")
        start = end
        room = _HEADER_WIDTH - 1 - _WORD_CHROME
    return "\r\n ".join(words)


def _address(address: str) -> str:
    """An addr-spec as it goes in a header: ASCII, or UTF-8 as RFC 6532 writes it (such a
    message can only travel by SMTPUTF8, which the transport checks before sending)."""
    address = address.strip()
    if not _ADDRESS.fullmatch(address) or _CONTROL.search(address):
        raise ValueError(f"not an email address: {address!r}")
    return address


def _message_id(message_id: str) -> str:
    message_id = message_id.strip()
    if not _MSG_ID.fullmatch(message_id):
        raise ValueError(f"not a Message-ID (want <local@domain>): {message_id!r}")
    return message_id
