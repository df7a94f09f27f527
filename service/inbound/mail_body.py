"""The parts of a MIME message: which are its text, which its HTML, which attachments.

Bounded on purpose (`MAX_DEPTH`, `MAX_PARTS`): a message built to exhaust the
parser keeps its first parts, and the raw message (which the intake keeps)
holds the rest.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from service.inbound.mail_text import clean_text, decode_bytes, decode_words

MAX_DEPTH = 40
"""Deeper MIME nesting than this is an attack, not mail; parts below it are dropped."""
MAX_PARTS = 1000
"""Leaf parts read as text or attachments."""


@dataclass(frozen=True)
class InboundAttachment:
    """A MIME part that is not body text: a file, a forwarded message, a report part."""

    filename: str
    content_type: str
    payload: bytes

    @property
    def size(self) -> int:
        return len(self.payload)


_EXTENSIONS = {
    "application/ms-tnef": ".dat",
    "application/pdf": ".pdf",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "message/delivery-status": ".txt",
    "message/global-delivery-status": ".txt",
    "message/global": ".eml",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/rfc822-headers": ".txt",
}


class MimeBody:
    """Walks the MIME tree once, sorting leaf parts into body text and attachments."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[InboundAttachment] = []
        self.leaves = 0  # leaf parts met, read or not

    def visit(self, part: Message, depth: int) -> None:
        content_type = part.get_content_type()
        for defect in part.defects:
            self.defects.append(f"{type(defect).__name__} in {content_type}")
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME nested deeper than {MAX_DEPTH}; inner parts dropped")
            return
        is_message = part.get_content_maintype() == "message"
        if is_message or not part.is_multipart():
            self.leaves += 1
            if self.leaves > MAX_PARTS:
                return
        if is_message:
            self._attach(content_type, self._message_bytes(part), part)
            return
        if part.is_multipart():
            for child in part.get_payload():
                if isinstance(child, Message):
                    self.visit(child, depth + 1)
            return
        try:
            self._leaf(part, content_type)
        except Exception as exc:
            self.defects.append(f"{content_type} part dropped ({type(exc).__name__})")

    def _leaf(self, part: Message, content_type: str) -> None:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        is_attachment = part.get_content_disposition() == "attachment" or bool(filename)
        if content_type.startswith("multipart/"):
            content_type = "text/plain"  # a multipart without a usable boundary: read as text
        if not is_attachment and content_type in ("text/plain", "text/html"):
            text = decode_bytes(data, part.get_content_charset(), self.defects, content_type)
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if content_type == "text/html":
                self.html.append(text)
            else:
                if str(part.get_param("format", "") or "").lower() == "flowed":
                    text = _unflow(text, str(part.get_param("delsp", "") or "").lower() == "yes")
                self.plain.append(text)
            return
        if content_type.startswith("image/") and not filename:
            return  # an inline picture (signature logo, pasted image): not a file the sender sent
        self._attach(content_type, data, part)

    def _attach(self, content_type: str, data: bytes, part: Message) -> None:
        filename = _safe_filename(decode_words(str(part.get_filename() or ""), self.defects))
        if not filename:
            number = len(self.attachments) + 1
            filename = f"attachment-{number}{_EXTENSIONS.get(content_type, '.bin')}"
        self.attachments.append(InboundAttachment(filename, content_type, data))

    def _message_bytes(self, part: Message) -> bytes:
        """The bytes of a `message/*` part, which compat32 has parsed into messages."""
        payload = part.get_payload()
        if not isinstance(payload, list):
            raw = part.get_payload(decode=True)
            return raw if isinstance(raw, bytes) else b""
        if part.get_content_type() == "message/delivery-status":
            blocks = [
                "".join(f"{name}: {value}\n" for name, value in block.raw_items())
                for block in payload
                if isinstance(block, Message)
            ]
            return "\n".join(blocks).encode("utf-8", errors="surrogateescape")
        chunks: list[bytes] = []
        for inner in payload:
            if isinstance(inner, Message):
                try:
                    chunks.append(_message_source(inner))
                except Exception as exc:  # flattening can meet any broken charset
                    self.defects.append(f"attached message not kept ({type(exc).__name__})")
        return b"".join(chunks)


# Writes headers back as they arrived (no refolding, 8-bit bytes restored).
_AS_RECEIVED = email.policy.default.clone(refold_source="none")


def _message_source(message: Message) -> bytes:
    """The bytes of a parsed message, as close to what arrived as the parser allows."""
    payload = message.get_payload()
    if isinstance(payload, str):  # the common case, written directly: five times faster
        head = "".join(f"{name}: {value}\n" for name, value in message.raw_items())
        return (head + "\n" + payload).encode("utf-8", errors="surrogateescape")
    return message.as_bytes(policy=_AS_RECEIVED)


def _safe_filename(name: str) -> str:
    """The base name only: no directories, control characters or leading dots."""
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return clean_text(name)[:255]


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks (a trailing space) of RFC 3676 `format=flowed` text."""
    lines: list[tuple[str, int]] = []
    joining = False
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if joining and lines[-1][1] == depth:
            previous = lines[-1][0]
            lines[-1] = ((previous[:-1] if delsp else previous) + content, depth)
        else:
            lines.append(((">" * depth + " " if depth else "") + content, depth))
        joining = content.endswith(" ") and content != "-- "
    return "\n".join(line for line, _ in lines)
