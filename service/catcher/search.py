"""Searching caught mail: what a query means, and what each message offers to be searched.

A query is words; a message matches when it contains every one of them,
ignoring case (Unicode case folding, so `STRASSE` finds `Straße`). A word
may be limited to one field with a prefix, and a phrase kept whole with
double quotes:

    refund                      anywhere: sender, recipients, subject or text
    from:acme subject:"order Q7K2M9XA"
    to:jane@example.test text:unterwegs

The fields are `from` (the `From` header, name and address, and the
envelope sender), `to` (the `To` and `Cc` headers and every envelope
recipient, Bcc included), `subject`, and `text` (the text body; for mail
with only HTML, the HTML's text without its tags).

Cost: a message's `SearchText` is built once, when it is first searched, and
kept with the message; each search after that is one substring test per
word per message (about 15 ms for 10,000 kept messages). Building it
(`searchable`) reads only those four fields, with the standard library's
quick `compat32` parser: about 0.2 ms a message, where reading a message
for its page (`service.catcher.reading`, every header through the modern
header registry) takes ten times that. So the first search of 10,000
messages takes seconds, not a minute.

What this module must never do: raise on any query (every string is a valid
one) or on any message, or read a message more than once.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

FIELDS = ("from", "to", "subject", "text")

_TERM = re.compile(
    r'(?:(?P<field>from|to|subject|text):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))', re.IGNORECASE
)
_TAG = re.compile(
    r"<(?:style|script)\b.*?</(?:style|script)\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL
)
_HEADER_BLOCK_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Term:
    """One word or phrase of a query, case-folded; `field` is None for anywhere."""

    field: str | None
    text: str


def parse_query(query: str) -> tuple[Term, ...]:
    """The terms of `query`; none for an empty or blank one (which matches every message).

    An unknown prefix (`date:x`) is an ordinary word, and an unclosed quote
    runs to the end of the query.
    """
    terms = []
    for match in _TERM.finditer(query):
        text = match.group("phrase") if match.group("phrase") is not None else match.group("word")
        text = " ".join(text.split()).casefold()
        if text:
            terms.append(Term(match.group("field").lower() if match.group("field") else None, text))
    return tuple(terms)


@dataclass(frozen=True)
class SearchText:
    """What of one message a query is matched against, case-folded once."""

    sender: str
    recipients: str
    subject: str
    text: str

    @classmethod
    def of(
        cls,
        *,
        sender: Iterable[str],
        recipients: Iterable[str],
        subject: str | None,
        text: str | None,
        html_body: str | None,
    ) -> SearchText:
        body = text if text is not None else html_text(html_body or "")
        return cls(
            sender=_fold(" ".join(sender)),
            recipients=_fold(" ".join(recipients)),
            subject=_fold(subject or ""),
            text=_fold(body),
        )

    def matches(self, terms: Iterable[Term]) -> bool:
        """Whether every term is found, each in its own field or, without one, in any field."""
        return all(self._has(term) for term in terms)

    def _has(self, term: Term) -> bool:
        if term.field == "from":
            return term.text in self.sender
        if term.field == "to":
            return term.text in self.recipients
        if term.field == "subject":
            return term.text in self.subject
        if term.field == "text":
            return term.text in self.text
        return any(
            term.text in field for field in (self.sender, self.recipients, self.subject, self.text)
        )


def searchable(raw: bytes, mail_from: str, rcpt_tos: Iterable[str]) -> SearchText:
    """What of a message a search looks at, read from its raw bytes; never raises.

    Mail whose headers or structure cannot be read is searched by its raw
    text, and always by its envelope.
    """
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        sender = _decoded(message, "from")
        recipients = _decoded(message, "to") + _decoded(message, "cc")
        subject = " ".join(_decoded(message, "subject"))
        text = _body_text(message)
    except Exception:  # unreadable mail is searched as text
        sender, recipients, subject, text = [], [], "", None
    if text is None:
        parts = _HEADER_BLOCK_END.split(raw, maxsplit=1)
        text = (parts[1] if len(parts) == 2 else raw).decode("utf-8", "replace")
    return SearchText.of(
        sender=[*sender, mail_from],
        recipients=[*recipients, *rcpt_tos],
        subject=subject,
        text=text,
        html_body=None,
    )


def _decoded(message: Message, name: str) -> list[str]:
    """Each value of a header, RFC 2047 words decoded; as sent when they cannot be."""
    values = []
    for value in message.get_all(name) or []:
        try:
            values.append(str(make_header(decode_header(str(value)))))
        except Exception:
            values.append(str(value))
    return [_text(value) for value in values]


def _body_text(message: Message) -> str | None:
    """The first text/plain part that is not an attachment, else the text of the first HTML one."""
    found: dict[str, str] = {}
    for part in message.walk():
        subtype = part.get_content_subtype() if part.get_content_maintype() == "text" else ""
        if subtype not in ("plain", "html") or subtype in found:
            continue
        if part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found[subtype] = _decoded_payload(payload, part.get_content_charset())
        if subtype == "plain":
            break
    if "plain" in found:
        return found["plain"]
    return html_text(found["html"]) if "html" in found else None


def _decoded_payload(payload: bytes, charset: str | None) -> str:
    try:
        return payload.decode(charset or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _text(value: str) -> str:
    """Raw 8-bit header bytes (kept by the parser as surrogates) read as UTF-8."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def html_text(markup: str) -> str:
    """The readable text of an HTML body, roughly: tags, styles and scripts gone, entities read."""
    return html.unescape(_TAG.sub(" ", markup))


def _fold(text: str) -> str:
    """Case-folded, with runs of white space as one space, so a phrase matches across a line end."""
    return " ".join(text.split()).casefold()
