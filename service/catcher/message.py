"""One caught message: its envelope and raw bytes, and how it reads as JSON and for search.

What this module must never do: change the raw bytes, raise while reading
them (`service.catcher.reading` degrades instead), or read them twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from service.catcher.reading import CaughtAttachment, JSONValue, Reading, read
from service.catcher.search import SearchText, searchable


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

        Extensions beyond SPEC §8:

        - `from_name`: the display name of the `From` header, or null, so
          senders that share an address (every vendor's notifications come
          from maildesk's) can be told apart;
        - `reply_to`: the bare addresses of the `Reply-To` header, `[]` when
          there is none;
        - `envelope_from` (MAIL FROM, "" for bounces), `received_at`
          (ISO-8601, UTC) and `size` (raw bytes).
        """
        reading = self._reading
        return {
            "id": self.id,
            "from": reading.header_from or self.mail_from,
            "from_name": reading.from_name,
            "to": list(self.rcpt_tos),
            "reply_to": list(reading.reply_to),
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
    def search_text(self) -> SearchText:
        """What a search query is matched against (`service.catcher.search`); built once."""
        return searchable(self.raw, self.mail_from, self.rcpt_tos)

    @cached_property
    def _reading(self) -> Reading:
        return read(self.raw)
