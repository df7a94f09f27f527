"""Rendered notifications as MIME messages, read back with mail-parser (SPEC §4)."""

from __future__ import annotations

import email
import html
from datetime import UTC, datetime
from email.header import Header
from typing import Any

import mailparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.adapters.aiosmtplib import _crlf_only
from service.outbound.message import (
    UTF8_BASE64,
    MailFile,
    WireMessage,
    _encoded_words,
    _lines_fit,
    build_message,
    new_message_id,
)
from service.outbound.render import RenderedEmail, Renderer
from tests.outbound.samples import ALL_KINDS, DOMAIN, PARTIES, TICKET_KINDS, sample_context

ROOT = "<t1234.root@desk.example.test>"
WHEN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def build(rendered: RenderedEmail, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_address": f"support@{DOMAIN}",
        "from_name": "Acme Software via maildesk",
        "to_address": "jane@example.test",
        "to_name": "Jane Doe",
        "reply_to": f"t1234.c.abcdefghijklmnopqrst@{DOMAIN}",
        "message_id": "<reply-2@desk.example.test>",
        "in_reply_to": ROOT,
        "references": [ROOT],
        "date": WHEN,
    }
    arguments.update(changes)
    return build_message(rendered, **arguments)


def lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def as_sent(markup: str) -> str:
    """The HTML part as sent: non-ASCII characters written as numeric character references."""
    return markup.encode("ascii", "xmlcharrefreplace").decode("ascii")


SIMPLE = RenderedEmail("[#1234] Refund processed — Acme Pro", "Hello\n", "<p>Hello</p>\n")


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_survives_the_round_trip(renderer: Renderer, kind: str, party: str) -> None:
    rendered = renderer.render(kind, sample_context(kind, party))
    parsed = mailparser.parse_from_bytes(build(rendered))
    assert parsed.subject == rendered.subject
    if kind in TICKET_KINDS:
        assert parsed.subject.startswith("[#1234] ")
    assert parsed.message_id == "<reply-2@desk.example.test>"
    assert parsed.headers["Auto-Submitted"] == "auto-generated"
    assert lines(parsed.text_plain[0]).strip() == rendered.text.strip()
    assert lines(parsed.text_html[0]).strip() == as_sent(rendered.html).strip()
    assert html.unescape(lines(parsed.text_html[0])).strip() == html.unescape(rendered.html).strip()


def test_threading_and_robot_headers() -> None:
    parsed = mailparser.parse_from_bytes(build(SIMPLE, references=["<a@desk.example.test>", ROOT]))
    headers = parsed.headers
    assert headers["Message-ID"] == "<reply-2@desk.example.test>"
    assert headers["In-Reply-To"] == ROOT
    assert headers["References"].split() == ["<a@desk.example.test>", ROOT]
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["X-Auto-Response-Suppress"] == "All"
    assert headers["Reply-To"] == [("", f"t1234.c.abcdefghijklmnopqrst@{DOMAIN}")]
    assert parsed.date == WHEN


def test_the_first_message_of_a_thread_has_no_in_reply_to_and_no_references() -> None:
    message = email.message_from_bytes(
        build(SIMPLE, in_reply_to=None, references=[], reply_to=None)
    )
    for header in ("In-Reply-To", "References", "Reply-To"):
        assert header not in message


def test_non_ascii_names_and_subject_round_trip_as_encoded_words() -> None:
    subject = "[#1234] Grüße aus Köln — Ünïcödé " + "long " * 20
    rendered = RenderedEmail(subject, "Grüße — ✓\n", "<p>Grüße — ✓</p>\n")
    raw = build(rendered, from_name="Søren’s Shop via maildesk", to_name="Jürgen Müller, Jr.")
    assert raw.isascii()
    assert b"=?utf-8?" in raw
    parsed = mailparser.parse_from_bytes(raw)
    assert parsed.subject == subject.strip()
    assert parsed.from_ == [("Søren’s Shop via maildesk", f"support@{DOMAIN}")]
    assert parsed.to == [("Jürgen Müller, Jr.", "jane@example.test")]
    assert lines(parsed.text_plain[0]) == "Grüße — ✓\n"


def test_ascii_names_with_specials_are_quoted() -> None:
    parsed = mailparser.parse_from_bytes(build(SIMPLE, to_name='Doe, "JJ" Jane'))
    assert parsed.to == [('Doe, "JJ" Jane', "jane@example.test")]


def test_message_is_multipart_alternative_text_first_with_smtp_line_endings() -> None:
    raw = build(SIMPLE)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw)
    assert message.get_content_type() == "multipart/alternative"
    parts = [part for part in message.walk() if not part.is_multipart()]
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part["Content-Transfer-Encoding"] == "7bit"
        assert part.get_content_charset() == "utf-8"


def encodings(raw: bytes) -> list[str]:
    message = email.message_from_bytes(raw)
    return [
        str(part["Content-Transfer-Encoding"])
        for part in message.walk()
        if part.get_payload(decode=False) and not part.is_multipart()
    ]


NOT_AS_IT_IS = {
    "non-ASCII": "Grüße\n",
    "a 999-character line": "x" * 999 + "\n",
    "a trailing space": "trailing space \nnext\n",
    "a first line of dash-dash-space": "-- \nnot after a line break, so no signature separator\n",
    "a trailing space beside a signature separator": "signed\n-- \nsig \n",
    "a trailing tab": "trailing tab\t\nnext\n",
    "a last space": "ends in a space ",
    "NUL": "a NUL \0 byte\n",
}


@pytest.mark.parametrize("text", NOT_AS_IT_IS.values(), ids=NOT_AS_IT_IS.keys())
def test_a_part_that_cannot_go_as_it_is_is_quoted_printable(text: str) -> None:
    raw = build(RenderedEmail("s", text, "<p>x</p>"))
    assert encodings(raw) == ["quoted-printable", "7bit"]
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert lines(mailparser.parse_from_bytes(raw).text_plain[0]) == text


def test_ascii_lines_up_to_998_characters_go_as_they_are() -> None:
    text = "x" * 998 + "\n.\nFrom here\n-- \nmaildesk\n"
    raw = build(RenderedEmail("s", text, "<p>" + "y" * 990 + "</p>\n"))
    assert encodings(raw) == ["7bit", "7bit"]
    assert max(len(line) for line in raw.split(b"\r\n")) == 998
    assert lines(mailparser.parse_from_bytes(raw).text_plain[0]) == text


def test_white_space_before_a_line_break_keeps_html_7bit_but_not_text() -> None:
    raw = build(RenderedEmail("s", "text \n", "<p>html \n\tmore\t\n</p> "))
    assert encodings(raw) == ["quoted-printable", "7bit"]
    assert mailparser.parse_from_bytes(raw).text_html[0].endswith("</p> ")


def test_non_ascii_html_goes_as_character_references_that_read_the_same() -> None:
    markup = '<title>Refund — Zoë’s shop</title><p title="Grüße">Ünïcödé ✓ 😀</p>\n'
    raw = build(RenderedEmail("s", "x\n", markup))
    assert raw.isascii()
    assert encodings(raw) == ["7bit", "7bit"]
    sent = lines(mailparser.parse_from_bytes(raw).text_html[0])
    assert "&#8212;" in sent and "&#128512;" in sent
    assert html.unescape(sent) == markup


def test_long_lines_and_trailing_spaces_survive_quoted_printable() -> None:
    text = "x" * 300 + "\ntrailing space \nequals = sign\n.\nFrom here\n"
    parsed = mailparser.parse_from_bytes(build(RenderedEmail("s", text, "<p></p>")))
    assert lines(parsed.text_plain[0]) == text


def test_a_line_break_in_a_name_or_subject_never_makes_a_new_header() -> None:
    rendered = RenderedEmail("Hi\r\nBcc: victim@example.test", "x\n", "<p>x</p>")
    raw = build(rendered, to_name="Jane\r\nBcc: victim@example.test")
    message = email.message_from_bytes(raw)
    assert "Bcc" not in message
    assert message["Subject"] == "Hi Bcc: victim@example.test"


@pytest.mark.parametrize(
    "changes",
    [
        {"to_address": "jane@example.test\r\nBcc: x@y.test"},
        {"to_address": "not an address"},
        {"reply_to": "a@b.test, c@d.test"},
        {"message_id": "no-brackets@desk.example.test"},
        {"in_reply_to": "<a@b>\r\nX: y"},
        {"references": ["<ok@desk.example.test>", "bad"]},
        {"date": datetime(2026, 12, 3, 9, 0)},
    ],
)
def test_malformed_header_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build(SIMPLE, **changes)


def test_new_message_ids_are_random_and_under_our_domain() -> None:
    first, second = new_message_id(DOMAIN), new_message_id(DOMAIN)
    assert first != second
    assert first.startswith("<") and first.endswith(f"@{DOMAIN}>")
    assert len(first) == len(f"<@{DOMAIN}>") + 32
    with pytest.raises(ValueError):
        new_message_id("bad domain>")


@given(
    st.sampled_from(["Subject", "X", "X-Very-Long-Field-Name-For-Testing"]),
    st.text(st.sampled_from("ab Z-[#]1—éü€😀中文"), min_size=1, max_size=200),
)
def test_encoded_words_are_the_ones_email_header_makes(field: str, text: str) -> None:
    """`_encoded_words` replaced `email.header.Header` for speed; subjects must not change."""
    value = " ".join(text.split())
    if value.isascii():
        return
    expected = Header(value, UTF8_BASE64, header_name=field).encode(linesep="\r\n")
    assert _encoded_words(field, value) == expected


@given(
    st.lists(st.sampled_from([b"x" * 300, b"y" * 499, b"z" * 998, b"w", b"", b"\n"]), max_size=12)
)
def test_lines_are_measured_as_splitting_into_lines_measures_them(pieces: list[bytes]) -> None:
    payload = b"".join(pieces)
    assert _lines_fit(payload) == (max(map(len, payload.split(b"\n"))) <= 998)


_ANY_TEXT = st.text(st.sampled_from("ab .-\t\r\n\x00é😀<>&=\"'"), max_size=300)


@settings(max_examples=300)
@given(
    _ANY_TEXT,
    _ANY_TEXT,
    _ANY_TEXT,
    _ANY_TEXT,
    st.lists(st.binary(max_size=200), max_size=2),
)
def test_every_line_of_a_built_message_ends_in_crlf(
    subject: str, text: str, markup: str, name: str, files: list[bytes]
) -> None:
    """What lets the relay transport send a `WireMessage` without counting its line ends."""
    attached = [
        MailFile(f"b{i}", f"f{i}\r\n.txt", "text/plain", data) for i, data in enumerate(files)
    ]
    raw = build(RenderedEmail(subject, text, markup), to_name=name, from_name=name, files=attached)
    assert isinstance(raw, WireMessage)
    assert _crlf_only(raw)
