"""Searching caught mail: the query's meaning, each field, and a cost that stays linear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import service.catcher.message
from service.catcher import Mailbox
from service.catcher.search import Term, parse_query
from tests.catcher import mail


def vendor_notice(vendor: str, subject: str, text: str, to: str = mail.RECIPIENT) -> bytes:
    return (
        f'From: "{vendor} via maildesk" <support@desk.test>\r\nTo: {to}\r\n'
        f"Reply-To: reply+{vendor.lower()}@desk.test\r\nSubject: {subject}\r\n\r\n{text}\r\n"
    ).encode()


@pytest.fixture
def mailbox() -> Mailbox:
    mailbox = Mailbox()
    mailbox.add(mail.refund_notice(), mail.SENDER, [mail.RECIPIENT])  # 1
    acme = vendor_notice("Acme", "Ticket #7 opened", "Your order Q7K2M9XA", to="a@x.test")
    mailbox.add(acme, "", ["a@x.test"])
    globex = vendor_notice("Globex", "Ticket #8 closed", "Bye", to="bob@example.test")
    mailbox.add(globex, "", ["bob@example.test"])
    mailbox.add(
        b"Subject: html only\r\nContent-Type: text/html\r\n\r\n<p>Caf&eacute; <b>Nord</b></p>",
        "",
        [],
    )
    return mailbox


def ids(messages: list[service.catcher.CaughtMessage]) -> list[int]:
    return [message.id for message in messages]


def test_a_query_is_words_phrases_and_field_prefixes_case_folded() -> None:
    assert parse_query('Refund from:ACME subject:"Order  Q7K2M9XA" TEXT:Straße') == (
        Term(None, "refund"),
        Term("from", "acme"),
        Term("subject", "order q7k2m9xa"),
        Term("text", "strasse"),
    )


@pytest.mark.parametrize("query", ["", "   ", '""', "\t\n"])
def test_a_blank_query_has_no_terms_and_lists_everything(mailbox: Mailbox, query: str) -> None:
    assert parse_query(query) == ()
    assert ids(mailbox.search(query)) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "query", ['"unclosed', "date:today", "from:", ":::", "\ud800", "a" * 10_000]
)
def test_any_string_is_a_query_that_never_raises(mailbox: Mailbox, query: str) -> None:
    assert isinstance(mailbox.search(query), list)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("acme", [1, 2]),  # Acme Support <help@acme.test>; "Acme via maildesk"
        ("from:globex", [3]),
        ("from:help@acme.test", [1]),
        ("to:bob@example.test", [3]),
        ("to:jane", [1]),
        ("subject:ticket", [2, 3]),
        ("subject:rückerstattung", [1]),
        ("SUBJECT:RÜCKERSTATTUNG", [1]),
        ("text:unterwegs", [1]),
        ("text:q7k2m9xa", [2]),
        ("q7k2m9xa", [1, 2]),  # in the subject of 1, the text of 2
        ('"ticket #8 closed"', [3]),
        ("ticket globex", [3]),  # every word must match
        ("ticket nobody", []),
        ("café nord", [4]),  # an HTML-only message is searched by its text
        ("subject:acme", []),
    ],
)
def test_each_field_is_searched_and_every_word_must_match(
    mailbox: Mailbox, query: str, expected: list[int]
) -> None:
    assert ids(mailbox.search(query)) == expected


def test_the_envelope_is_searched_too_bcc_included() -> None:
    mailbox = Mailbox()
    mailbox.add(b"Subject: x\r\n\r\nx", "bounces@desk.test", ["hidden-bcc@example.test"])

    assert ids(mailbox.search("to:hidden-bcc")) == [1]
    assert ids(mailbox.search("from:bounces@desk.test")) == [1]


def test_html_markup_is_not_searched_as_words() -> None:
    mailbox = Mailbox()
    mailbox.add(b"Content-Type: text/html\r\n\r\n<div style='color:red'>hello</div>", "", [])

    assert ids(mailbox.search("hello")) == [1]
    assert ids(mailbox.search("div")) == []
    assert ids(mailbox.search("color")) == []


def test_results_are_oldest_first_like_the_list(mailbox: Mailbox) -> None:
    assert ids(mailbox.search("ticket")) == sorted(ids(mailbox.search("ticket")))


def test_each_message_is_read_once_for_search_and_never_fully(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rules that keep a search of 10,000 messages cheap: read the few fields it needs,
    once, with the quick parser; never the whole reading a page needs (ten times the cost)."""
    calls = {"searchable": 0, "read": 0}

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            calls[name] += 1
            return real(*args)

        return counted

    for name in calls:
        real = getattr(service.catcher.message, name)
        monkeypatch.setattr(service.catcher.message, name, counting(name, real))
    mailbox = Mailbox()
    for n in range(200):
        mailbox.add(vendor_notice(f"V{n}", f"Ticket #{n}", "text"), "", [mail.RECIPIENT])

    for query in ("ticket", "v7", "from:v1", "nothing at all"):
        mailbox.search(query)

    assert calls == {"searchable": 200, "read": 0}
    first = mailbox.messages()[0]
    assert first.search_text is first.search_text


@pytest.mark.parametrize("name", sorted(mail.MALFORMED))
def test_malformed_mail_is_searched_by_whatever_text_survives(name: str) -> None:
    mailbox = Mailbox()
    mailbox.add(mail.MALFORMED[name], "sender@example.test", [mail.RECIPIENT])

    assert ids(mailbox.search("from:sender@example.test")) == [1]
    if name not in mail.GARBLED_BODY:
        assert ids(mailbox.search("survives")) == [1]
