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
word per message, so searching 10,000 kept messages stays a matter of
milliseconds.

What this module must never do: raise on any query (every string is a valid
one), or read a message more than once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

FIELDS = ("from", "to", "subject", "text")

_TERM = re.compile(
    r'(?:(?P<field>from|to|subject|text):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>\S+))', re.IGNORECASE
)
_TAG = re.compile(
    r"<(?:style|script)\b.*?</(?:style|script)\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL
)


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


def html_text(markup: str) -> str:
    """The readable text of an HTML body, roughly: tags, styles and scripts gone, entities read."""
    return html.unescape(_TAG.sub(" ", markup))


def _fold(text: str) -> str:
    """Case-folded, with runs of white space as one space, so a phrase matches across a line end."""
    return " ".join(text.split()).casefold()
