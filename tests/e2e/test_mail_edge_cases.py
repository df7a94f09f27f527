"""Real-world and broken mail over SMTP: never a crash, always a defined answer, the raw kept.

SPEC §3: undecodable or malformed mail is acted on with what can be read or
answered with a clear error; HTML-only mail is turned into text; unknown
charsets, split encoded-words and broken MIME are tolerated; the raw message is
always kept beside what was extracted (read back here through the store).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, text_of

pytestmark = pytest.mark.anyio

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
SUPPORT = f"support@{DOMAIN}"
REFUND = f"refund@{DOMAIN}"
JANE = "jane@example.test"
ACME = "help@acme.test"

# Not one well-formed part: no boundary parameter on one multipart, an unterminated
# one, a part with no blank line after its headers, bad base64, a truncated
# message/rfc822, an 8-bit header, a NUL byte and a header line with no colon.
MALFORMED = b"\r\n".join(
    [
        b"From: Jane Doe <jane@example.test>",
        b"To: support@support.maildesk.test",
        b"Subject: Q7K2M9XA \xff\xfe broken =?utf-8?B?!!!?= =?x-nonsense?Q?caf=E9?=",
        b"Message-ID: <malformed-1@mail.example.test>",
        b"this line is not a header",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="outer"',
        b"",
        b"--outer",
        b"Content-Type: multipart/alternative",
        b"",
        b"no boundary parameter, so this is not really a multipart",
        b"--outer",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: base64",
        b"",
        b"VGhlIGtleSBmb3IgUTdLMk05WEEgZmFpbHM=!!!not base64***",
        b"--outer",
        b'Content-Type: multipart/related; boundary="never-closed"',
        b"",
        b"--never-closed",
        b"Content-Type: text/plain; charset=x-unknown-8bit",
        b"The licence for Q7K2M9XA \xe9\xe8 fails\x00 after the update.",
        b"--outer",
        b"Content-Type: message/rfc822",
        b"",
        b"From: someone",
        b"Subject: truncated",
    ]
)


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def same_message(kept: bytes | None, sent: bytes) -> bool:
    """The kept raw is what was sent (SMTP sends CRLF line ends and a final line end)."""
    assert kept is not None
    return kept.replace(b"\r\n", b"\n").rstrip(b"\n") == sent.replace(b"\r\n", b"\n").rstrip(b"\n")


async def kept_raw(served: Served, message_id: str) -> bytes | None:
    rows = [r for r in await served.inbound() if r["message_id"] == message_id]
    assert rows, f"{message_id} was not kept; kept: {[r['message_id'] for r in rows]}"
    return await served.inbound_raw(rows[0]["id"])


# (file, envelope sender, its Message-ID); "malformed" is MALFORMED above.
EVERY_KIND = [
    ("support-html-only.eml", JANE, "<html-only-1@mail.example.test>"),
    ("broken-encoding.eml", "jorg@example.test", "<broken-1@mail.example.test>"),
    ("attachment.eml", JANE, "<attach-1@mail.example.test>"),
    ("refund-request.eml", JANE, "<CAF7x1-refund-1@mail.example.test>"),
    ("reply-gmail.eml", JANE, "<CAF7x1-reply-2@mail.gmail.example.test>"),
    ("reply-outlook.eml", JANE, "<DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.example.test>"),
    ("out-of-office.eml", JANE, "<oof-1@mail.example.test>"),
    ("bounce-dsn.eml", "", "<20261102100005.ABC123@mx.example.test>"),
    ("delay-dsn.eml", "", "<delay-20261102140005@mx.example.test>"),
    ("malformed", JANE, "<malformed-1@mail.example.test>"),
]


async def test_any_mail_to_support_gets_a_defined_answer_and_its_raw_is_kept(
    served: Served,
) -> None:
    for name, sender, message_id in EVERY_KIND:
        raw = MALFORMED if name == "malformed" else fixture(name)

        code, text = await served.deliver(raw, SUPPORT, sender)

        assert code == 250 or (500 <= code < 600 and text), (name, code, text)
        assert same_message(await kept_raw(served, message_id), raw), name
        await served.advance("PT1H1M")  # stay under the per-sender limit of new tickets
    # The listener is still there for the next message.
    code, text = await served.send(JANE, SUPPORT, "B00K4JNE", "Still there?")
    assert code == 250, text


async def test_html_only_mail_becomes_readable_text(served: Served) -> None:
    code, text = await served.deliver(fixture("support-html-only.eml"), SUPPORT, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    assert (ticket["type"], ticket["order"]) == ("support", "Q7K2M9XA")
    comment = ticket["comments"][0]["text"]
    assert "The license key for order" in comment and "Q7K2M9XA" in comment
    assert '"invalid key"' in comment and "Café owner" in comment
    assert "<div" not in comment and "&quot;" not in comment and "p { margin" not in comment
    assert "tracker.example.test" not in comment


async def test_unknown_charsets_and_split_encoded_words_still_open_the_request(
    served: Served,
) -> None:
    raw = fixture("broken-encoding.eml").replace(b"jorg@example.test", JANE.encode())

    code, text = await served.deliver(raw, REFUND, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    assert (ticket["type"], ticket["order"], ticket["customer"]) == ("refund", "Q7K2M9XA", JANE)
    assert "Q7K2M9XA" in ticket["comments"][0]["text"]
    assert sorted(await served.recipients()) == [ACME, JANE]


async def test_malformed_mime_is_acted_on_with_what_can_be_read(served: Served) -> None:
    code, text = await served.deliver(MALFORMED, SUPPORT, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    assert (ticket["type"], ticket["order"]) == ("support", "Q7K2M9XA")
    assert sorted(await served.recipients()) == [ACME, JANE]


async def test_attachments_are_kept_with_the_comment_and_listed_in_notifications(
    served: Served,
) -> None:
    code, text = await served.deliver(fixture("attachment.eml"), SUPPORT, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    files = ticket["comments"][0]["attachments"]
    pdf = [f for f in files if f["content_type"] == "application/pdf"]
    assert len(pdf) == 1 and pdf[0]["size"] > 0
    for attachment in files:  # a name from the mail never walks out of its folder
        assert "/" not in attachment["filename"] and "\\" not in attachment["filename"]
        assert not attachment["filename"].startswith(".")
    to_vendor = text_of(await served.latest_to(ACME))
    assert pdf[0]["filename"] in to_vendor


async def test_a_message_to_several_of_our_addresses_acts_for_each(served: Served) -> None:
    raw = fixture("support-html-only.eml")

    code, text = await served.deliver(raw, SUPPORT, JANE, to_all=(f"lookup@{DOMAIN}",))

    assert code == 250, text
    assert [t["type"] for t in await served.tickets()] == ["support"]
    assert any("ACME-PRO-7Q2K-M9XA" in text_of(m) for m in await served.mail_to(JANE))
