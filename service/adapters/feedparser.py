"""The stdlib email parser's multipart boundary, found without compiling a regex per message.

`email.feedparser.FeedParser._parsegen` compiles, for every multipart part
it reads, the regex `(?P<sep>` + `re.escape("--" + boundary)` +
`)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$`. Boundaries are
unique to a message, so `re`'s cache never helps: the compile, ~85 us, is
repeated for every multipart message, a twentieth of what a Gmail-style
reply costs maildesk in all. Of that regex the parser uses `match(line)` and
the groups `end` and `linesep`; `BoundaryMatcher` answers the same with a
prefix test and one regex compiled once, for the rest of the line.

And when a multipart part ends, `_parsegen` takes the line end off its
payload with `NLCRE_eol.search(payload)`, the regex `(\\r\\n|\\r|\\n)\\Z`:
`search` tries it at every position of the payload, ~70 us for the 12 KB
HTML part of an ordinary message, to find at most two characters at the
end. `LineEndAtEnd.search` tries the two positions where a match can start.

Private names used:

- `email.feedparser.re`, the module global through which `_parsegen` reaches
  `re`: `install` replaces it with `FeedparserRe`, which is `re` except that
  `compile` returns a `BoundaryMatcher` for that one pattern (recognised by
  its fixed start and end, `BOUNDARY_START` and `BOUNDARY_END`); any other
  pattern is compiled by `re` as before.
- `email.feedparser.NLCRE_eol`, that compiled regex, read by `_parsegen` as
  a module global: `install` replaces it with a `LineEndAtEnd` (checked at
  install to be the pattern it stands for).

If a Python release builds the pattern differently, nothing is recognised
and the stdlib's own regex is used: slower, never different.
`tests/adapters/test_feedparser.py` fails in that case (the fast path must
be taken for a multipart message) and parses a range of multipart messages
both ways, holding the results to be the same.

What this module must never do: change what the parser makes of a message.
"""

from __future__ import annotations

import email.feedparser
import re
from typing import Any

BOUNDARY_START = "(?P<sep>"
BOUNDARY_END = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(BOUNDARY_END[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)  # `re.escape` puts a backslash before a character


class BoundaryMatcher:
    """The boundary regex as `_parsegen` uses it: `match(line)`, the groups `end`, `linesep`."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, len(self.separator))


class FeedparserRe:
    """`re` as `email.feedparser` sees it once installed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if (
            not flags
            and isinstance(pattern, str)
            and pattern.startswith(BOUNDARY_START)
            and pattern.endswith(BOUNDARY_END)
        ):
            escaped = pattern[len(BOUNDARY_START) : -len(BOUNDARY_END)]
            return BoundaryMatcher(_ESCAPED.sub(r"\1", escaped))
        return re.compile(pattern, flags)


_LINE_END_AT_END = re.compile(r"(\r\n|\r|\n)\Z")
_STDLIB_LINE_END_AT_END: re.Pattern[str] = getattr(email.feedparser, "NLCRE_eol")  # noqa: B009


class LineEndAtEnd:
    """`re.compile(r"(\\r\\n|\\r|\\n)\\Z")` for `search`: a match is at most two characters
    and ends the string, so only the last two positions can start one."""

    pattern = _LINE_END_AT_END.pattern

    @staticmethod
    def search(text: str) -> re.Match[str] | None:
        start = max(len(text) - 2, 0)
        return _LINE_END_AT_END.match(text, start) or _LINE_END_AT_END.match(text, start + 1)


def install() -> None:
    """Give `email.feedparser` the boundary matcher and the line-end search (idempotent;
    the whole process sees them). Where the stdlib's line-end regex is not the one
    `LineEndAtEnd` stands for, it is left alone."""
    setattr(email.feedparser, "re", FeedparserRe())  # noqa: B010 (typeshed omits the global)
    if _STDLIB_LINE_END_AT_END.pattern == LineEndAtEnd.pattern:
        setattr(email.feedparser, "NLCRE_eol", LineEndAtEnd())  # noqa: B010


def uninstall() -> None:
    """Give `email.feedparser` the real `re` and regex back (for the differential test)."""
    setattr(email.feedparser, "re", re)  # noqa: B010
    setattr(email.feedparser, "NLCRE_eol", _STDLIB_LINE_END_AT_END)  # noqa: B010
