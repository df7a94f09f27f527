"""The new text of a reply, and the `#command` lines in it.

`new_text` keeps what the person wrote in this message. Quoted history is cut
off: an attribution ("On … wrote:", also in German, French, Spanish, Italian
and Dutch), Outlook's "-----Original Message-----" and "From:/Sent:/To:/
Subject:" blocks, and trailing "> " quotes. Signatures go too: a "-- " line,
"Sent from my iPhone", an Outlook underscore separator, and a sign-off line
("Best regards,") followed by a short name block. `parse_commands` then takes
out the lines that are only a command.

Both are pure functions over text. They never look at headers and never decide
who may act. They drop text only on a clear marker: a "signature" that reads
like a sentence ("Thanks, but the key still fails") stays, and a sign-off is
never cut when nothing would be left above it.

mail-parser-reply supplies the knowledge: its per-language attribution and
header-block patterns and its sign-off and "sent from" phrases, read through
`service.adapters.mailparser_reply` (they live in a module the package does
not export). Its
`EmailReplyParser.parse_reply` is not used, because its source shows that it
returns the reply *with* its signature (`latest_reply` is a fragment's
`content`, not its `body`), returns the quoted history when nothing precedes
the first attribution (a bottom-posted reply), strips every line (losing
indentation), deletes Outlook's underscore line through a
`re.sub(..., re.MULTILINE)` passed as `count`, treats any line starting with
"- word" as a signature (swallowing bullet lists), and cuts at any line that
merely starts with "Thanks,". Its combined header regex also backtracks
quadratically on long lines starting with "On" (one 200 KB line takes minutes),
so here the attribution patterns only run, a bounded number of times, on
the few lines that end like an attribution. The patterns find where to cut;
the cut is made on the original lines.
"""

from __future__ import annotations

import re

from service.adapters.mailparser_reply import (
    ORIGINAL_MESSAGE_SEPARATOR,
    PatternKind,
    language_patterns,
)
from service.domain.actions import COMMAND_WORDS, Action
from service.domain.subscription.choices import Choice, Offer

__all__ = ["new_text", "parse_commands", "parse_subscription_commands"]

# Languages whose patterns are precise enough for customer text. Left out:
# da and sv (sign-offs like "Tak", "Mvh" and "/name" match ordinary lines) and
# pl (a single "Do:" or "Data:" line counts as a header block).
_LANGUAGES = ("en", "de", "fr", "es", "it", "nl")


def _patterns(kind: PatternKind) -> list[str]:
    return language_patterns(kind, _LANGUAGES)


def _any_of(patterns: list[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


# History: "On … wrote:" attributions, and Outlook header blocks or separators.
_ATTRIBUTION = re.compile(_any_of(_patterns("wrote_header")), re.MULTILINE | re.IGNORECASE)
_HEADER_BLOCK = re.compile(
    _any_of([*_patterns("from_header"), ORIGINAL_MESSAGE_SEPARATOR]), re.MULTILINE | re.IGNORECASE
)
# The cheap test a line passes before the attribution patterns run on it.
_ATTRIBUTION_END = re.compile(
    r"\b(?:wrote|schrieb|écrit|escribió|scritto|schreef)\b.*:$", re.IGNORECASE
)
_ATTRIBUTION_MAX_LINES = 2  # Gmail wraps a long attribution onto a second line
_ATTRIBUTION_MAX_CHARS = 300
_ATTRIBUTION_MAX_TRIES = 20  # each try may backtrack quadratically over 300 characters
_BLOCK_SLACK = 2_000  # room for a header block that starts just before an attribution

# Signatures.
_QUOTE_PREFIX = r"^(?:> ?)*"
_MORE_SIGN_OFFS = [  # bare forms the library lists only with a comma, or not at all
    r"(?:best|kind|warm|warmest|many)?\s*(?:regards|thanks|wishes)",
    r"thank you",
    r"cheers",
    r"best",
    r"(?:yours\s+)?(?:sincerely|truly)",
]
_SIGN_OFF = re.compile(
    _QUOTE_PREFIX + f"(?:{_any_of(_patterns('signatures') + _MORE_SIGN_OFFS)})" + r"[\s,.!]*$",
    re.IGNORECASE,
)
_SENT_FROM = re.compile(_QUOTE_PREFIX + f"(?:{_any_of(_patterns('sent_from'))})", re.IGNORECASE)
_SENT_FROM_MAX_WORDS = 8
_SIGNATURE_DELIMITER = re.compile(_QUOTE_PREFIX + r"(?:--|__)$")  # "-- " once lines are stripped
_OUTLOOK_SEPARATOR = re.compile(_QUOTE_PREFIX + r"[_-]{20,}$")
# Any of the four: one match rules out most lines, which start no signature (the first two
# have no letters, so ignoring case changes nothing for them).
_MAY_START_SIGNATURE = re.compile(
    _any_of([p.pattern for p in (_SIGNATURE_DELIMITER, _OUTLOOK_SEPARATOR, _SENT_FROM, _SIGN_OFF)]),
    re.IGNORECASE,
)
_NAME_BLOCK_MAX_LINES = 6
_NAME_LINE_MAX_WORDS = 8

# Trailing debris: quotes and separators (html2text writes <hr> as "* * *").
_QUOTED = re.compile(r"^\s*>")
_SEPARATOR = re.compile(r"^\s*(?:[-_=*]\s*){3,}$")

# Bounds of the history search (see `_scan_view`).
_SCAN_LINES = 2_000
_SCAN_LINE_CHARS = 200
_SCAN_CHARS = 64_000


def new_text(body: str) -> str:
    """The text written in this message, without quoted history and signatures.

    Top-posted replies keep what is above the history. A reply that opens with
    an attribution and `>` quotes (bottom-posted or answered inline) keeps its
    unquoted lines. A message that opens with an Outlook header block is all
    history (or a forward): its new text is "".
    """
    return _new_text(body.replace("\r\n", "\n").replace("\r", "\n").split("\n"), depth=0)


def _new_text(lines: list[str], depth: int) -> str:
    view = _scan_view(lines)
    history = _history(view)
    top = lines
    if history is not None:
        start, end, attribution = history
        top = lines[:start]
        if not any(line.strip() for line in top):
            return _below_history(lines[end + 1 :], attribution, depth)
    return "\n".join(line.rstrip() for line in _drop_trailing_quote(_cut_signature(top))).strip(
        "\n"
    )


def _scan_view(lines: list[str]) -> list[str]:
    """The lines the history patterns see: stripped, as they expect, and bounded.

    Lines are cut at 200 characters (no attribution or header line needs more)
    and only the first 64 KB or 2,000 lines are searched. A reply whose new
    text is longer than that keeps its history: more text, never less, and
    hostile input costs milliseconds.
    """
    view = [line.strip()[:_SCAN_LINE_CHARS] for line in lines[:_SCAN_LINES]]
    if sum(map(len, view)) + len(view) <= _SCAN_CHARS:
        return view  # the usual case, in one pass without a running count
    size = 0
    for count, cut in enumerate(view):
        size += len(cut) + 1
        if size > _SCAN_CHARS:
            return view[:count]
    return view


def _history(view: list[str]) -> tuple[int, int, bool] | None:
    """(first line, last line, is an attribution) of the earliest history marker."""
    found = _first_attribution(view)
    text = "\n".join(view)
    # A header block matters only if it starts before the attribution, so the
    # regex (the costly part) need not read the quoted history.
    if found is None:
        block = _header_block(view, text, len(text) + 1, len(text))
    else:
        attribution_at = sum(len(line) + 1 for line in view[: found[0]])
        endpos = min(len(text), attribution_at + _BLOCK_SLACK)
        block = _header_block(view, text, attribution_at, endpos)
    if block is not None:
        start = _line_at(text, block.start(), forward=True)
        if found is None or start < found[0]:
            found = (start, _line_at(text, block.end(), forward=False), False)
    return found


def _header_block(view: list[str], text: str, before: int, endpos: int) -> re.Match[str] | None:
    """`_HEADER_BLOCK.search(text, 0, endpos)`, for the matches that start before `before`.

    `text` is `view` joined by newlines. `search` tries the pattern at every
    position, ~0.3 µs each whether or not a block could start there: 2 ms of
    a 7 KB message, most of a new ticket's cost beyond parsing. A block
    starts only at a line's start or at the newline before it, on a line that
    `_may_open_block` (the shape of the library's patterns, which
    `tests/adapters/test_mailparser_reply.py` holds them to), so trying just
    those positions, in order, finds the same leftmost match. A block that
    starts at or after an attribution is never used, so with one found
    `before` stops the search there instead of deep in the quoted history,
    where each try costs most (quote markers make the pattern backtrack).
    """
    match = _HEADER_BLOCK.match
    last = min(before - 1, endpos)  # the last position a match may start at
    start = 0  # of the line, in `text`
    for line in view:
        if start - 1 > last:
            break
        if _may_open_block(line):
            for position in (start - 1, start) if start else (0,):
                if position <= last:
                    found = match(text, position, endpos)
                    if found is not None:
                        return found
        start += len(line) + 1
    return None


def _may_open_block(line: str) -> bool:
    """Whether a header block could start with this line: each of the library's blocks opens
    with a field name and its colon ("From:", "Von:", "De :"), or is a line of dashes."""
    return ":" in line or "-----" in line


def _first_attribution(view: list[str]) -> tuple[int, int, bool] | None:
    """The first "On …, … wrote:" line (or pair of lines), as `_history` reports it."""
    tries = 0
    for end, line in enumerate(view):
        # `endswith` first: the pattern ends in ":$", and most lines end otherwise.
        if not line.endswith(":") or not _ATTRIBUTION_END.search(line):
            continue
        for start in range(max(0, end - _ATTRIBUTION_MAX_LINES + 1), end + 1):
            window = "\n".join(view[start : end + 1])
            tries += 1
            if len(window) > _ATTRIBUTION_MAX_CHARS or tries > _ATTRIBUTION_MAX_TRIES:
                continue
            match = _ATTRIBUTION.match(window)
            if match is not None and match.end() == len(window):
                return (start, end, True)
    return None


def _line_at(text: str, position: int, *, forward: bool) -> int:
    """The index of the line holding `position`, off the newlines a match starts or ends with."""
    if forward:
        while position < len(text) and text[position] == "\n":
            position += 1
    else:
        while position > 0 and text[position - 1] == "\n":
            position -= 1
    return text.count("\n", 0, position)


def _below_history(rest: list[str], attribution: bool, depth: int) -> str:
    """The new text of a reply that opens with its history: its unquoted lines."""
    if depth > 2 or not attribution or not any(_QUOTED.match(line) for line in rest):
        return ""
    return _new_text([line for line in rest if not _QUOTED.match(line)], depth + 1)


def _cut_signature(lines: list[str]) -> list[str]:
    """Cut at the first line that starts a signature.

    A "-- " line, an Outlook underscore separator and "Sent from my …" always
    start one. A sign-off ("Thanks,", "Best regards") does only when it is the
    whole line, a short name block follows and some text precedes it.
    """
    seen_text = False
    for index, line in enumerate(lines):
        line = line.strip()
        if not _MAY_START_SIGNATURE.match(line):
            seen_text = seen_text or bool(line)
            continue
        if (
            _SIGNATURE_DELIMITER.match(line)
            or _OUTLOOK_SEPARATOR.match(line)
            or (_SENT_FROM.match(line) and len(line.split()) <= _SENT_FROM_MAX_WORDS)
        ):
            return lines[:index]
        if seen_text and _SIGN_OFF.match(line) and _is_name_block(lines, index + 1):
            return lines[:index]
        seen_text = seen_text or bool(line)
    return lines


def _is_name_block(lines: list[str], start: int) -> bool:
    """Whether `lines[start:]` holds one to six short lines, as a name and role do."""
    count = 0
    for index in range(start, len(lines)):
        words = len(lines[index].split())
        if not words:
            continue
        count += 1
        if count > _NAME_BLOCK_MAX_LINES or words > _NAME_LINE_MAX_WORDS:
            return False
    return count > 0


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    """Remove quoted lines, separators and blank lines from the end."""
    end = len(lines)
    while end and (
        not lines[end - 1].strip()
        or _QUOTED.match(lines[end - 1])
        or _SEPARATOR.match(lines[end - 1])
    ):
        end -= 1
    return lines[:end]


# --- commands -------------------------------------------------------------------


_COMMAND_LINE = re.compile(rf"^\s*#({'|'.join(COMMAND_WORDS)})\s*$", re.IGNORECASE)


def parse_commands(text: str) -> tuple[str, tuple[Action, ...]]:
    """Split `text` into the comment and the commands on lines of their own.

    A line is a command when it holds only `#close`, `#refund`, `#cancel`,
    `#support`, `#approve` or `#escalate`, in any case, with surrounding
    whitespace. Those lines are removed (with the blank line a removal would
    double); a `#close` inside a sentence stays text. Run it on `new_text`, so
    a command quoted from an earlier message is not taken again.
    """
    text, matches = _split_command_lines(text, _COMMAND_LINE)
    return text, tuple(COMMAND_WORDS[match.group(1).lower()] for match in matches)


_SUBSCRIPTION_LINE = re.compile(
    r"^\s*#(?:(renew)\s+(off|on)|(accept)|(decline))(?:\s+(?:item\s*)?#?([0-9]{1,4}))?\s*$",
    re.IGNORECASE,
)


def parse_subscription_commands(text: str) -> tuple[str, tuple[Offer, ...]]:
    """Split a reply to a subscription email into its text and its choices (SPEC §7).

    `#renew off`, `#renew on`, `#accept` and `#decline` on lines of their
    own, each optionally followed by an item number (`#renew off 2`; without
    one, every item), in any case. As with ticket commands, the lines are
    removed from the text, and what is left is the customer's message.
    """
    text, matches = _split_command_lines(text, _SUBSCRIPTION_LINE)
    offers = []
    for match in matches:
        renew, state, accept, _decline, item = match.groups()
        if renew:
            choice = Choice.RENEW_ON if state.lower() == "on" else Choice.RENEW_OFF
        else:
            choice = Choice.ACCEPT if accept else Choice.DECLINE
        offers.append(Offer(choice, int(item) if item else None))
    return text, tuple(offers)


def _split_command_lines(text: str, command: re.Pattern[str]) -> tuple[str, list[re.Match[str]]]:
    """The text without the lines that are `command`s (and the blank lines they leave
    doubled), and the commands, in order."""
    kept: list[str] = []
    matches: list[re.Match[str]] = []
    drop_blank = False
    for line in text.splitlines():
        match = command.match(line)
        if match:
            matches.append(match)
            drop_blank = not kept or not kept[-1].strip()
            continue
        if drop_blank and not line.strip():
            continue
        drop_blank = False
        kept.append(line)
    return "\n".join(kept).strip(), matches
