"""`service.adapters.feedparser` against the Python running: taken, and the same answers.

The adapter replaces the regex the stdlib's feed parser compiles for every
multipart boundary. If a Python release builds that pattern differently the
adapter quietly steps aside (slower, not wrong), and the first test here
fails so that someone looks. The others parse multipart messages of every
shape that boundary lines come in both ways and compare everything the
parser made of them.
"""

from __future__ import annotations

import email.feedparser
import re
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from service.adapters import feedparser
from service.adapters.feedparser import BoundaryMatcher, FeedparserRe, LineEndAtEnd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"

BOUNDARIES = (
    "simple",
    "000000000000a1b2c3d4e5f6a7b8",
    "----=_Part_123_456.789",
    "with space",
    "(parens)[brackets]{braces}?*+|^$.&~#",
    "back\\slash",
    "ünï-cødé",
    "ends--",
    "'quoted'",
)


def multipart(boundary: str, *, newline: str = "\r\n", variant: int = 0) -> bytes:
    """A multipart/alternative message in one of the shapes its boundary lines come in."""
    sep = f"--{boundary}"
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "Subject: parts",
        "",
        "preamble text",
        sep + (" \t" if variant == 1 else ""),
        "Content-Type: text/plain",
        "",
        "plain body",
        sep + "x" if variant == 2 else "not a boundary",  # a longer separator is text
        sep,
        sep if variant == 3 else "",  # a repeated boundary line
        "Content-Type: text/html",
        "",
        "<p>html</p>",
    ]
    if variant != 4:  # 4: the closing boundary never comes
        lines += [f"{sep}--" + ("  " if variant == 1 else ""), "epilogue"]
    return newline.join(lines).encode("utf-8") + (b"" if variant == 5 else newline.encode())


NESTED = (
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    b"--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n-- \r\nsignature\r\n--\r\n"
    b"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
    b"--outer\r\nContent-Type: text/plain\r\n\r\nafter the inner one never closed\r\n"
    b"--outer--\r\n"
)
"""Nested multiparts, an inner one never closed, lines that start with `--` but are not
boundaries: several boundaries in force at once."""


def dump(message: Message) -> Iterator[object]:
    """Everything the parser made of a message, part by part."""
    for part in message.walk():
        yield part.get_content_type(), part.preamble, part.epilogue, part.items()
        yield [type(d).__name__ for d in part.defects]
        if not part.is_multipart():
            yield part.get_payload()


def parsed(raw: bytes, *, stock: bool) -> list[object]:
    if stock:
        feedparser.uninstall()
    try:
        return list(dump(BytesParser(policy=compat32).parsebytes(raw)))
    finally:
        feedparser.install()


def test_the_stdlib_parser_takes_the_matcher_for_a_multipart_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    real_init = BoundaryMatcher.__init__

    def counting_init(self: BoundaryMatcher, separator: str) -> None:
        made.append(separator)
        real_init(self, separator)

    monkeypatch.setattr(BoundaryMatcher, "__init__", counting_init)
    feedparser.install()
    assert isinstance(email.feedparser.re, FeedparserRe)
    BytesParser(policy=compat32).parsebytes(multipart("000abc.def"))
    assert made == ["--000abc.def"], (
        "the stdlib no longer builds its boundary regex as service/adapters/feedparser.py "
        "expects: compare FeedParser._parsegen with BOUNDARY_START and BOUNDARY_END"
    )


def test_the_stdlib_parser_takes_the_line_end_search() -> None:
    feedparser.install()
    assert isinstance(email.feedparser.NLCRE_eol, LineEndAtEnd), (
        "the stdlib's NLCRE_eol is no longer the pattern service/adapters/feedparser.py "
        "stands in for: compare it with LineEndAtEnd.pattern"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "\n",
        "\r",
        "\r\n",
        "\n\n",
        "\r\r",
        "\n\r",
        "\r\n\r\n",
        "a\r\n",
        "a\n",
        "a\r",
        "ab\n\r",
        "a\r\nb",
        "a\nb\n",
        "x" * 5000 + "\r\n",
        "\r\nx",
        "é\n",
    ],
)
def test_the_line_end_search_answers_as_the_regex(text: str) -> None:
    regex = re.compile(LineEndAtEnd.pattern)
    found, expected = LineEndAtEnd.search(text), regex.search(text)
    assert (found and found.span()) == (expected and expected.span())
    assert (found and found.group(0)) == (expected and expected.group(0))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("variant", range(6))
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_a_multipart_message_parses_the_same_with_the_matcher(
    boundary: str, variant: int, newline: str
) -> None:
    raw = multipart(boundary, newline=newline, variant=variant)
    assert parsed(raw, stock=False) == parsed(raw, stock=True)


def test_nested_multiparts_parse_the_same_with_the_matcher() -> None:
    assert parsed(NESTED, stock=False) == parsed(NESTED, stock=True)
    assert len(parsed(NESTED, stock=False)) > 12  # every part was read


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_every_sample_message_parses_the_same_with_the_matcher(path: Path) -> None:
    raw = path.read_bytes()
    assert parsed(raw, stock=False) == parsed(raw, stock=True)


def test_other_patterns_are_compiled_by_re() -> None:
    shim = FeedparserRe()
    assert shim.compile(r"\r\n|\r|\n") is re.compile(r"\r\n|\r|\n")
    assert shim.escape("a.b") == "a\\.b"
    flagged = shim.compile(feedparser.BOUNDARY_START + "x" + feedparser.BOUNDARY_END, re.I)
    assert isinstance(flagged, re.Pattern)  # flags the parser never passes: not the matcher
