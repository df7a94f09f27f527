"""Everything maildesk takes from mail-parser-reply beyond its public API, in this one module.

mail-parser-reply's public surface is what its package exports:
`EmailReplyParser`, `EmailMessage` and `EmailReply`. maildesk does not use
them (`service.inbound.reply_text` says why); it uses the knowledge they are
built on, the per-language patterns in `mailparser_reply.constants`, a
module the package does not export. A release that renames a constant,
drops a language or a kind of pattern, or changes their shape breaks this
one file, loudly: pyproject.toml pins the series this was written against
(`mail-parser-reply~=1.36.0`), and `tests/adapters/test_mailparser_reply.py`
checks every name and shape below.

Private names used (in a module the package does not export):

- `mailparser_reply.constants.MAIL_LANGUAGES`: a dict from a language code
  (`"en"`, `"de"`, …) to a dict from a kind of pattern to one regular
  expression (a `str`) or a list of them. The kinds read are those of
  `PatternKind`: `wrote_header` (an "On … wrote:" attribution),
  `from_header` (an Outlook "From:/Sent:/To:" block), `signatures` (sign-off
  lines) and `sent_from` ("Sent from my …").
- `mailparser_reply.constants.GENERIC_MAIL_SEPARATOR`: one regular
  expression (a `str`) for Outlook's "-----Original Message-----" line.

`reply_text` combines and compiles the patterns itself (case-insensitive,
and line by line where it searches a whole text); each must compile so.

What this module must never do: decide which languages or patterns maildesk
trusts (`reply_text` does), or run the library's parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from mailparser_reply.constants import GENERIC_MAIL_SEPARATOR, MAIL_LANGUAGES

PatternKind = Literal["wrote_header", "from_header", "signatures", "sent_from"]
PATTERN_KINDS: tuple[PatternKind, ...] = get_args(PatternKind)

ORIGINAL_MESSAGE_SEPARATOR: str = GENERIC_MAIL_SEPARATOR
"""Outlook's "-----Original Message-----" line, as a regular expression."""


def language_patterns(kind: PatternKind, languages: Sequence[str]) -> list[str]:
    """The library's regular expressions of `kind` for each of `languages`, in that order.

    A language without patterns of that kind adds none.
    """
    found: list[str] = []
    for language in languages:
        value = MAIL_LANGUAGES[language].get(kind) or []
        found.extend([value] if isinstance(value, str) else value)
    return [pattern for pattern in found if pattern]
