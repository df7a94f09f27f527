"""`service.adapters.mailparser_reply` against the mail-parser-reply installed: its constants.

`reply_text` builds its history and signature patterns from
`mailparser_reply.constants`, a module the package does not export. If a
release renames a constant, drops a language or a kind of pattern that
`reply_text` reads, or changes their shape, a test here fails naming it,
instead of quoted history or signatures quietly staying in new text (a
missing pattern would only make the combined regular expression shorter).
Update the adapter and the pin in pyproject.toml together, then this file.

What the patterns find is tested where they are used:
`tests/inbound/test_reply_text.py` (attributions in each language, Outlook
blocks and separators, sign-offs, "sent from" lines, hostile input in
bounded time) and `tests/inbound/test_parse_fuzz.py` (no text makes it raise).
"""

from __future__ import annotations

import re

import mailparser_reply.constants as constants
import pytest

from service.adapters.mailparser_reply import (
    ORIGINAL_MESSAGE_SEPARATOR,
    PATTERN_KINDS,
    PatternKind,
    language_patterns,
)
from service.inbound.reply_text import _LANGUAGES
from tests.adapters.pins import assert_installed_in_pinned_series

FLAGS = re.MULTILINE | re.IGNORECASE


def test_mail_parser_reply_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("mail-parser-reply", "service/adapters/mailparser_reply.py")


def test_the_constants_are_still_there_with_their_types() -> None:
    assert isinstance(getattr(constants, "MAIL_LANGUAGES", None), dict), "MAIL_LANGUAGES moved"
    assert isinstance(getattr(constants, "GENERIC_MAIL_SEPARATOR", None), str), (
        "GENERIC_MAIL_SEPARATOR moved"
    )


@pytest.mark.parametrize("language", _LANGUAGES)
@pytest.mark.parametrize("kind", PATTERN_KINDS)
def test_each_language_still_has_each_kind_of_pattern_reply_text_reads(
    language: str, kind: str
) -> None:
    patterns = constants.MAIL_LANGUAGES.get(language)
    assert isinstance(patterns, dict), f"mail-parser-reply no longer has language {language!r}"
    value = patterns.get(kind)
    assert value, f"mail-parser-reply's {language!r} has no {kind!r} patterns any more"
    found = [value] if isinstance(value, str) else value
    assert isinstance(found, list) and all(isinstance(p, str) and p for p in found), (
        f"{language!r} {kind!r} is now {value!r}: a regular expression or a list of them expected"
    )
    for pattern in found:
        re.compile(pattern, FLAGS)


@pytest.mark.parametrize("kind", PATTERN_KINDS)
def test_the_adapter_gives_every_pattern_of_every_language(kind: PatternKind) -> None:
    assert len(language_patterns(kind, _LANGUAGES)) >= len(_LANGUAGES)


def test_the_original_message_separator_still_finds_outlooks_line() -> None:
    separator = re.compile(ORIGINAL_MESSAGE_SEPARATOR, FLAGS)
    assert separator.search("I still need help.\n\n-----Original Message-----\nFrom: Acme\n")
    assert not separator.search("I still need help.\n-- \nJane\n")


# A field name and its colon, right after the line boundary each block pattern opens with.
_BLOCK_OPENING = re.compile(
    r"\(\(\?:\(\?:\^\|\\n\|\\n\(\?:> \?\)\*\)\[\* \]\*"  # ((?:(?:^|\n|\n(?:> ?)*)[* ]*
    r"\(\?:(?:[\w ]|\\u[0-9A-Fa-f]{4})+(?:\|(?:[\w ]|\\u[0-9A-Fa-f]{4})+)*\):"  # (?:From|…):
)


@pytest.mark.parametrize("pattern", language_patterns("from_header", _LANGUAGES))
def test_each_header_block_opens_with_a_field_name_and_colon_on_its_first_line(
    pattern: str,
) -> None:
    """`reply_text._header_block` tries the block patterns only on lines holding a colon."""
    assert _BLOCK_OPENING.match(pattern), f"a header block pattern changed its shape: {pattern!r}"


def test_the_original_message_separator_opens_with_five_dashes() -> None:
    """`reply_text._header_block` tries it only on lines holding five dashes."""
    assert ORIGINAL_MESSAGE_SEPARATOR.startswith("^-{5,}")
