"""Every sample in fixtures/mail/ does what its name says, sent over SMTP to a served demo.

The samples are what a newcomer sends first (`maildesk send FILE.eml`), so
each is checked here against `fixtures/demo.json` on the demo's clock (Monday
23 November 2026). The three replies are written to ticket #1's customer
reply address as this suite's secret signs it (`tests/e2e/conftest.py`); with
another secret (`maildesk demo` makes its own) the test's way is to put the
served address in, as `reply_fixture` does. The two delivery reports stand
for reports about one of our notifications: the test names a real one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.outbound.addresses import reply_address
from tests.conftest import DOMAIN
from tests.e2e.conftest import SECRET, Served, text_of

pytestmark = pytest.mark.anyio

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
REFUND = f"refund@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
JANE = "jane@example.test"
ACME = "help@acme.test"
REPLY_ADDRESS = re.compile(rb"t[1-9][0-9]*\.[cv]\.[a-z2-7]{20}@" + re.escape(DOMAIN.encode()))


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def reply_fixture(name: str, served: Served, number: int) -> bytes:
    """A reply sample addressed to ticket `number`'s customer reply address on `served`."""
    raw = fixture(name)
    written = {m.group(0) for m in REPLY_ADDRESS.finditer(raw)}
    assert written == {reply_address(SECRET, DOMAIN, 1, "customer").encode()}, written
    address = reply_address(served.runtime.settings.secret, DOMAIN, number, "customer")
    return REPLY_ADDRESS.sub(address.encode(), raw)


def words(mail: object) -> str:
    return " ".join(text_of(mail).split())


async def test_every_sample_mail_has_a_test_here() -> None:
    tested = {name for name in globals() if name.startswith("test_")}
    for path in MAIL.glob("*.eml"):
        assert f"test_{path.stem.replace('-', '_')}" in tested, path.name


async def test_refund_request(served: Served) -> None:
    code, text = await served.deliver(fixture("refund-request.eml"), REFUND, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    assert (ticket["number"], ticket["type"], ticket["order"]) == (1, "refund", "Q7K2M9XA")
    assert (ticket["customer"], ticket["opened_by"], ticket["status"]) == (JANE, "customer", "open")
    # Acme's 30 days count from the renewal of 2 November: 21 days ago, so it opens.
    (comment,) = ticket["comments"]
    assert comment["text"].startswith("Hello,") and comment["text"].endswith("a refund, please.")
    assert "Thanks" not in comment["text"] and "jane@example.test" not in comment["text"]
    to_jane = words(await served.latest_to(JANE, "Refund request opened"))
    assert "processed on Tue 24 Nov 2026 15:00 UTC+01:00" in to_jane  # her Date's zone
    await served.latest_to(ACME, "Refund request opened")


async def test_support_html_only(served: Served) -> None:
    code, text = await served.deliver(fixture("support-html-only.eml"), SUPPORT, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    assert (ticket["type"], ticket["order"]) == ("support", "Q7K2M9XA")
    comment = ticket["comments"][0]["text"]
    assert "The license key for order Q7K2M9XA is not accepted." in comment
    assert "<div" not in comment and "tracker.example.test" not in comment
    assert "license key for order" in words(await served.latest_to(ACME, "Support ticket opened"))


async def test_attachment(served: Served) -> None:
    code, text = await served.deliver(fixture("attachment.eml"), SUPPORT, JANE)

    assert code == 250, text
    (ticket,) = await served.tickets()
    files = ticket["comments"][0]["attachments"]
    assert [f["filename"] for f in files] == ["invoice Q7K2M9XA.pdf", "winmail.dat"]
    to_acme = await served.latest_to(ACME, "Support ticket opened")
    assert [a["filename"] for a in to_acme.attachments] == ["invoice Q7K2M9XA.pdf", "winmail.dat"]
    assert (await served.latest_to(JANE, "Support ticket opened")).attachments == []


async def test_broken_encoding(served: Served) -> None:
    # Jörg bought nothing: the reference is read through the split encoded-word and the
    # unknown charset, and repeated back to him alone.
    code, text = await served.deliver(fixture("broken-encoding.eml"), REFUND, "jorg@example.test")

    assert code == 250, text
    assert await served.tickets() == []
    (answer,) = await served.mail()
    assert answer.to[0][1] == "jorg@example.test"
    assert "with the order reference Q7K2M9XA" in words(answer)


async def test_reply_gmail(served: Served) -> None:
    await served.deliver(fixture("support-html-only.eml"), SUPPORT, JANE)
    (opened,) = await served.tickets()
    vendor = reply_address(served.runtime.settings.secret, DOMAIN, opened["number"], "vendor")
    await served.send(ACME, vendor, "Re", "Would you like us to refund order Q7K2M9XA?")

    raw = reply_fixture("reply-gmail.eml", served, opened["number"])
    code, text = await served.deliver(raw, reply_address_of(raw), JANE)

    assert code == 250, text
    ticket = await served.ticket(opened["number"])
    assert ticket["type"] == "refund"  # its #refund line turned the ticket into a refund
    assert ticket["comments"][-1]["text"] == "Yes, please go ahead with the refund."


async def test_reply_outlook(served: Served) -> None:
    await served.deliver(fixture("refund-request.eml"), REFUND, JANE)
    raw = reply_fixture("reply-outlook.eml", served, 1)

    code, text = await served.deliver(raw, reply_address_of(raw), JANE)

    assert code == 250, text
    ticket = await served.ticket(1)
    assert ticket["status"] == "open" and len(ticket["comments"]) == 2
    assert ticket["comments"][-1]["text"] == (
        "I changed my mind, please keep the ticket open. The installer fails with\n"
        "error 0x80070005."
    )
    await served.latest_to(ACME, "Reply from Jane Doe")


async def test_out_of_office(served: Served) -> None:
    await served.deliver(fixture("refund-request.eml"), REFUND, JANE)
    before = await served.ticket(1)
    await served.forget_mail()
    raw = reply_fixture("out-of-office.eml", served, 1)

    code, text = await served.deliver(raw, reply_address_of(raw), JANE)

    assert code == 250, text  # accepted, kept, and never acted on or answered
    assert await served.ticket(1) == before
    assert await served.mail() == []
    assert any(r["message_id"] == "<oof-1@mail.example.test>" for r in await served.inbound())


async def test_bounce_dsn(served: Served) -> None:
    await served.deliver(fixture("refund-request.eml"), REFUND, JANE)
    notification = await served.latest_to(JANE)
    await served.forget_mail()

    code, text = await served.deliver(about(fixture("bounce-dsn.eml"), notification), SUPPORT, "")

    assert code == 250, text
    assert await served.is_bouncing(JANE) and not await served.is_bouncing(ACME)
    assert await served.mail() == [] and len(await served.tickets()) == 1


async def test_delay_dsn(served: Served) -> None:
    await served.deliver(fixture("refund-request.eml"), REFUND, JANE)
    notification = await served.latest_to(JANE)
    await served.forget_mail()

    code, text = await served.deliver(about(fixture("delay-dsn.eml"), notification), SUPPORT, "")

    assert code == 250, text
    assert not await served.is_bouncing(JANE)
    assert await served.mail() == [] and len(await served.tickets()) == 1


def about(report: bytes, notification: Any) -> bytes:
    """A delivery report sample made about `notification`, one of our own to Jane."""
    for sample in (b"<notification-12-1@", b"<notification-12-2@"):
        ours = notification.message_id.encode()
        report = report.replace(sample + DOMAIN.encode() + b">", ours)
    return re.sub(rb"(?i)nobody@example\.test", JANE.encode(), report)


def reply_address_of(raw: bytes) -> str:
    found = REPLY_ADDRESS.search(raw)
    assert found is not None
    return found.group(0).decode()
