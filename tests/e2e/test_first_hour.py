"""Issue #15, notifications and pages: every sentence written for its reader.

Each test is a real SMTP conversation with a running `maildesk serve` (the
demo data, a fake clock on Monday 23 November 2026, 14:00 UTC), and reads
back what was sent from the built-in catcher, as a person would: whose point
of view, whose name, whose time zone, which files.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, text_of

pytestmark = pytest.mark.anyio

REFUND = f"refund@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
JANE = "jane@example.test"
BOB = "bob@example.test"
ACME = "help@acme.test"
AGENT = "agent@acme.test"
MONDAY = "Mon, 23 Nov 2026 15:00:00 +0100"  # 14:00 UTC, written from UTC+01:00


def message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    date: str = MONDAY,
    files: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """An email as a mail client writes it: `sender` may carry a display name."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = date
    mail["Message-ID"] = make_msgid(domain="client.example.test")
    mail.set_content(body)
    for name, data in files:
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return mail.as_bytes()


async def send(served: Served, sender: str, to: str, raw: bytes) -> None:
    address = sender.rsplit("<", 1)[-1].strip(">")
    code, reply = await served.deliver(raw, to, address)
    assert code == 250, reply


def words(mail: Any) -> str:
    return " ".join(text_of(mail).split())


async def open_support(served: Served, body: str = "The PDF shows a blank page.") -> int:
    await send(served, JANE, SUPPORT, message(f"Jane Doe <{JANE}>", SUPPORT, "B00K4JNE", body))
    (ticket,) = await served.tickets()
    return int(ticket["number"])


# --- point of view -----------------------------------------------------------------------


async def test_the_vendors_copy_of_its_own_reply_speaks_of_the_customers_request(
    served: Served,
) -> None:
    await send(served, JANE, REFUND, message(JANE, REFUND, "Refund B00K4JNE", "Wrong book."))
    address = await served.reply_address(ACME)
    await served.forget_mail()

    await send(served, ACME, address, message(ACME, address, "Re", "Which book did you want?"))

    own = words(await served.latest_to(ACME, "Your reply was sent"))
    assert "your refund request" not in own.lower()
    assert "the refund request of your customer Jane Doe" in own
    theirs = words(await served.latest_to(JANE, "Reply from Acme Software"))
    assert "Acme Software replied on ticket #1, your refund request" in theirs


async def test_an_agents_reply_names_the_agent_to_the_vendor_and_only_the_vendor_to_the_customer(
    served: Served,
) -> None:
    number = await open_support(served)
    address = await served.reply_address(ACME)
    await served.forget_mail()

    raw = message(f"Anna Agent <{AGENT}>", address, "Re", "Please download it again.")
    await send(served, AGENT, address, raw)

    to_vendor = words(await served.latest_to(ACME))
    assert "Anna Agent (agent@acme.test)" in to_vendor
    to_customer = await served.latest_to(JANE)
    assert "Anna" not in words(to_customer) and AGENT not in words(to_customer)
    assert "Anna" not in "\n".join(to_customer.text_html) and AGENT not in to_customer.body
    comment = (await served.ticket(number))["comments"][-1]
    assert (comment["author_email"], comment["author_name"]) == (AGENT, "Anna Agent")
    # The pages say the same: the vendor's names the agent, the customer's does not.
    vendor_page = await served.http.get(page_path(to_vendor))
    customer_page = await served.http.get(page_path(words(to_customer)))
    assert "Anna Agent (agent@acme.test)" in vendor_page.text
    assert "Anna" not in customer_page.text and AGENT not in customer_page.text


async def page_text(served: Served, mail: Any) -> str:
    """The words of the ticket page that `mail` links to."""
    return " ".join((await served.http.get(page_path(words(mail)))).text.split())


def page_path(text: str) -> str:
    start = text.index("http://desk.test/t/") + len("http://desk.test")
    return text[start:].split()[0]


# --- signatures and the only comment ----------------------------------------------------


async def test_every_comment_loses_its_signature_and_a_first_email_shows_its_comment_once(
    served: Served,
) -> None:
    body = "The PDF shows a blank page.\n\nThanks,\nJane\n\n-- \nJane Doe, Example Ltd\n"
    number = await open_support(served, body)

    assert (await served.ticket(number))["comments"][0]["text"] == "The PDF shows a blank page."
    for party in (JANE, ACME):
        first = text_of(await served.latest_to(party, "opened"))
        assert first.count("The PDF shows a blank page.") == 1, party
        assert "History of ticket" not in first and "Example Ltd" not in first

    address = await served.reply_address(ACME)
    signed = "Please try the new file.\n\nBest regards,\nAnna\nAcme Software support\n"
    await send(served, ACME, address, message(ACME, address, "Re", signed))
    assert (await served.ticket(number))["comments"][-1]["text"] == "Please try the new file."
    later = text_of(await served.latest_to(JANE, "Reply from"))
    assert "History of ticket" in later  # two comments now: the history has something to add


# --- times ---------------------------------------------------------------------------------


async def test_a_physical_refund_says_why_its_date_in_each_readers_own_zone(
    served: Served,
) -> None:
    await send(served, BOB, REFUND, message(BOB, REFUND, "Refund MUG2B0BX", "Chipped."))

    # 19 days from Monday 23 November 14:00 UTC is Saturday 12 December: processed at
    # the start of Monday 14 December in New York (acme's zone), 05:00 UTC.
    (ticket,) = await served.tickets()
    assert ticket["due"] == {"event": "process", "at": "2026-12-14T05:00:00Z"}
    customer = words(await served.latest_to(BOB, "opened"))
    assert "processed on Mon 14 Dec 2026 06:00 UTC+01:00" in customer
    assert "a physical product is processed 19 days after it is asked for" in customer
    assert "weekend in Acme Software's time zone (America/New_York)" in customer
    assert "Opened: Mon 23 Nov 2026 15:00 UTC+01:00" in customer
    vendor = words(await served.latest_to(ACME, "opened"))
    assert "processed on Mon 14 Dec 2026 00:00 EST (America/New_York)" in vendor
    assert "weekend in your time zone" in vendor
    # The customer's page reads the same zone, and names the step still to come.
    page = (await served.http.get(page_path(customer))).text
    assert "Refund scheduled for" in page and "Carried out on" not in page
    assert "Mon 14 Dec 2026 06:00 UTC+01:00" in page and "19 days" in page


async def test_without_a_zone_in_its_date_the_customer_reads_the_vendors_zone_named(
    served: Served,
) -> None:
    raw = message(BOB, REFUND, "Refund MUG2B0BX", "Chipped.", date="Mon, 23 Nov 2026 14:00 -0000")
    await send(served, BOB, REFUND, raw)

    customer = words(await served.latest_to(BOB, "opened"))
    assert "processed on Mon 14 Dec 2026 00:00 EST (America/New_York)" in customer


async def test_a_reply_from_another_zone_moves_the_customers_times_there(served: Served) -> None:
    number = await open_support(served)
    address = await served.reply_address(JANE)
    travelling = message(JANE, address, "Re", "Now in Tokyo.", date="Tue, 24 Nov 2026 08:00 +0900")

    await send(served, JANE, address, travelling)

    mine = words(await served.latest_to(JANE, "Your reply was sent"))
    assert "Opened: Mon 23 Nov 2026 23:00 UTC+09:00" in mine
    assert (await served.ticket(number))["status"] == "open"


# --- pages -------------------------------------------------------------------------------


async def test_a_closed_ticket_page_advises_each_party_its_own_way(served: Served) -> None:
    number = await open_support(served)
    address = await served.reply_address(ACME)
    await send(served, ACME, address, message(ACME, address, "Re", "Solved.\n\n#close"))
    assert (await served.ticket(number))["status"] == "closed"

    vendor_page = await page_text(served, await served.latest_to(ACME))
    customer_page = await page_text(served, await served.latest_to(JANE))
    assert "refund form" not in vendor_page and "email your command address" in vendor_page
    assert "Closed (closed by you)" in vendor_page
    assert "refund form" in customer_page and "Closed (closed by the seller)" in customer_page


# --- attachments -------------------------------------------------------------------------


async def test_the_other_party_gets_the_files_attached_and_the_writer_does_not(
    served: Served,
) -> None:
    await open_support(served)
    address = await served.reply_address(JANE)
    await served.forget_mail()
    log = b"crash at 0x80070005\n" * 50

    await send(
        served,
        JANE,
        address,
        message(JANE, address, "Re", "Log attached.", files=(("crash.log", log),)),
    )

    to_vendor = await served.latest_to(ACME, "Reply from")
    ((attached),) = to_vendor.attachments
    assert attached["filename"] == "crash.log"
    assert decoded(attached) == log
    assert "attached to this email" in text_of(to_vendor)
    to_customer = await served.latest_to(JANE, "Your reply was sent")
    assert to_customer.attachments == []
    assert "/attachments/" in text_of(to_customer)  # the writer's copy links its own file


async def test_files_beyond_the_limit_are_linked_to_the_readers_own_page(served: Served) -> None:
    from service.outbound.compose import ATTACHMENT_LIMIT

    assert ATTACHMENT_LIMIT == 7 * 1024 * 1024  # the documented limit
    composer = served.runtime.outbox.composer
    composer.settings = type(composer.settings)(
        **{**composer.settings.__dict__, "attachment_limit": 3000}
    )
    await open_support(served)
    address = await served.reply_address(JANE)
    files = (("first.bin", b"1" * 2000), ("second.bin", b"2" * 2000))

    await send(served, JANE, address, message(JANE, address, "Re", "Two files.", files=files))

    to_vendor = await served.latest_to(ACME, "Reply from")
    assert [a["filename"] for a in to_vendor.attachments] == ["first.bin"]
    text = words(to_vendor)
    assert "first.bin (application/octet-stream, 2 KB), attached to this email" in text
    link = text.split("second.bin (application/octet-stream, 2 KB): ")[1].split()[0]
    assert "/t/1-v-" in link  # the vendor's own page
    download = await served.http.get(link.removeprefix("http://desk.test"))
    assert download.status_code == 200 and download.content == b"2" * 2000


def decoded(attachment: dict[str, Any]) -> bytes:
    import base64

    payload = attachment["payload"]
    return base64.b64decode(payload) if attachment.get("binary") else payload.encode()
