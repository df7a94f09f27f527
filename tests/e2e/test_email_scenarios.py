"""SPEC §2 and §3 driven by email only: each test is one rule a customer or vendor relies on.

Every action is a message over real SMTP to the running `maildesk serve`; time
moves only through the admin clock API; outcomes are read from the built-in
catcher and the JSON API. The clock starts on Monday 2026-11-23 14:00 UTC
(09:00 in New York, acme's zone).
"""

from __future__ import annotations

from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import DEMO_START, Served, text_of

pytestmark = pytest.mark.anyio

REFUND = f"refund@{DOMAIN}"
CANCEL = f"cancel@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
LOOKUP = f"lookup@{DOMAIN}"

JANE = "jane@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"
ERIN = "erin@example.test"
STRANGER = "mallory@evil.test"
ACME = "help@acme.test"  # acme's support_email: where its notifications go
ACME_AGENT = "agent@acme.test"
GLOBEX = "owner@globex.test"  # globex has no support_email: its account_email


async def open_ticket(served: Served, sender: str, to: str, subject: str, body: str) -> int:
    """Send a new-ticket email; return the number of the one ticket it opened."""
    before = {t["number"] for t in await served.tickets()}
    code, reply = await served.send(sender, to, subject, body)
    assert code == 250, reply
    (number,) = {t["number"] for t in await served.tickets()} - before
    return int(number)


def gmail_reply(sender: str, to: str, new_text: str, quoted: str, in_reply_to: str) -> bytes:
    """A reply as Gmail writes it: text and HTML alternatives, the history quoted below."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Re: your ticket"
    message["Date"] = format_datetime(DEMO_START)
    message["Message-ID"] = make_msgid(domain="mail.gmail.example.test")
    message["In-Reply-To"] = in_reply_to
    message["References"] = in_reply_to
    quoted_text = "\n".join(f"> {line}" if line else ">" for line in quoted.splitlines())
    message.set_content(
        f"{new_text}\n\nOn Mon, 23 Nov 2026 at 09:00, Acme Software via maildesk <\n{to}> wrote:\n"
        f"\n{quoted_text}\n"
    )
    message.add_alternative(
        f'<div dir="ltr">{new_text}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">On Mon, 23 Nov 2026 at 09:00, Acme Software via '
        f"maildesk &lt;{to}&gt; wrote:<br></div>"
        f'<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">{quoted}'
        "</blockquote></div>",
        subtype="html",
    )
    return message.as_bytes()


def last_comment(ticket: dict[str, Any]) -> dict[str, Any]:
    comment: dict[str, Any] = ticket["comments"][-1]
    return comment


# --- opening a ticket ------------------------------------------------------------------


FRANK = "frank@example.test"

# Per mailbox: one email with the reference in the subject, one with it only in the body.
OPENINGS = {
    "refund": [
        (JANE, "Refund Q7K2M9XA please", "It does not do what I hoped.", "Q7K2M9XA", ACME),
        (JANE, "Money back, please", "My order B00K4JNE is the wrong book.", "B00K4JNE", ACME),
    ],
    "cancel": [
        (JANE, "Cancel Q7K2M9XA", "Please stop my subscription.", "Q7K2M9XA", ACME),
        (FRANK, "Please cancel", "The order is GLXCL0UD, thanks.", "GLXCL0UD", GLOBEX),
    ],
    "support": [
        (JANE, "B00K4JNE will not open", "The PDF shows a blank page.", "B00K4JNE", ACME),
        (JANE, "Help please", "Order Q7K2M9XA: the key is refused.", "Q7K2M9XA", ACME),
    ],
}
KINDS = {"refund": "refund", "cancel": "cancelation", "support": "support"}


@pytest.mark.parametrize("mailbox", sorted(OPENINGS))
async def test_a_customer_opens_a_ticket_by_email_with_the_reference_in_subject_or_body(
    served: Served, mailbox: str
) -> None:
    for customer, subject, body, reference, vendor in OPENINGS[mailbox]:
        await served.forget_mail()
        number = await open_ticket(served, customer, f"{mailbox}@{DOMAIN}", subject, body)

        ticket = await served.ticket(number)
        assert (ticket["type"], ticket["order"], ticket["customer"], ticket["opened_by"]) == (
            KINDS[mailbox],
            reference,
            customer,
            "customer",
        ), subject
        assert ticket["status"] == "open"
        assert last_comment(ticket)["text"] == body
        mail = await served.mail()
        assert sorted(m.to[0][1] for m in mail) == sorted([customer, vendor]), subject
        assert all(f"[#{number}]" in m.subject and "opened" in m.subject for m in mail)
        # Every notification says it is automatic, so two robots never answer each other.
        assert all(m.headers.get("Auto-Submitted") == "auto-generated" for m in mail)


async def test_a_reference_to_someone_elses_order_gets_no_purchase_found_to_the_sender_only(
    served: Served,
) -> None:
    code, _ = await served.send(BOB, REFUND, "Refund Q7K2M9XA", "I want my money back.")

    assert code == 250
    assert await served.tickets() == []
    (answer,) = await served.mail()
    assert answer.to[0][1] == BOB
    text = text_of(answer)
    assert "no purchase" in text.lower()
    # Neutral: nothing about Jane's order leaks to Bob.
    assert "Jane" not in text and "ACME-PRO-7Q2K-M9XA" not in text


async def test_a_refund_outside_the_vendors_window_is_refused_by_email_saying_why(
    served: Served,
) -> None:
    code, _ = await served.send(CAROL, REFUND, "Refund OLD45DAY", "Never used it.")

    assert code == 250
    assert await served.tickets() == []
    (answer,) = await served.mail()
    assert answer.to[0][1] == CAROL
    text = " ".join(text_of(answer).split())
    assert "not opened" in answer.subject
    assert "within 30 days" in text and "2026-10-09" in text


# --- replies ---------------------------------------------------------------------------


async def test_a_customer_reply_keeps_only_the_new_text_and_notifies_both(served: Served) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE will not open", "Blank page.")
    notification = await served.latest_to(JANE)
    address = await served.reply_address(JANE)
    await served.forget_mail()

    raw = gmail_reply(
        "Jane Doe <Jane@Example.TEST>",  # mail clients may change the case of an address
        address,
        "I tried another reader and it is still blank.",
        "You opened support ticket #1 for your order B00K4JNE.\n\n-- \nmaildesk",
        notification.message_id,
    )
    code, reply = await served.send(JANE, address, "", "", raw=raw)

    assert code == 250, reply
    ticket = await served.ticket(number)
    assert len(ticket["comments"]) == 2
    comment = last_comment(ticket)
    assert comment["author"] == "customer"
    assert comment["text"] == "I tried another reader and it is still blank."
    mine = await served.latest_to(JANE, "Your reply was sent")
    theirs = await served.latest_to(ACME, "Reply from")
    assert "still blank" in text_of(mine) and "still blank" in text_of(theirs)
    assert sorted(await served.recipients()) == [ACME, JANE]
    # Threaded under the ticket's first email to the same party.
    assert mine.headers.get("In-Reply-To") == notification.message_id


async def test_a_vendor_reply_from_any_of_its_addresses_reaches_the_customer(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE will not open", "Blank page.")
    address = await served.reply_address(ACME)

    for sender in (ACME, ACME_AGENT):  # the support_email, then an agent
        await served.forget_mail()
        text = f"{sender} here: please download it again, we fixed the file."
        code, reply = await served.send(sender, address, "Re: blank page", text)

        assert code == 250, reply
        comment = last_comment(await served.ticket(number))
        assert (comment["author"], comment["text"]) == ("vendor", text)
        to_customer = await served.latest_to(JANE, "Reply from")
        assert "we fixed the file" in text_of(to_customer)
        await served.latest_to(ACME, "Your reply was sent")
        assert sorted(await served.recipients()) == [ACME, JANE]


async def test_a_reply_that_lost_its_reply_address_is_matched_by_in_reply_to(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE will not open", "Blank page.")
    notification = await served.latest_to(JANE)
    await served.forget_mail()

    code, reply = await served.send(
        JANE,
        SUPPORT,
        f"Re: {notification.subject}",
        "Still blank after a restart.",
        headers={
            "In-Reply-To": notification.message_id,
            "References": notification.message_id,
        },
    )

    assert code == 250, reply
    assert [t["number"] for t in await served.tickets()] == [number]
    comment = last_comment(await served.ticket(number))
    assert (comment["author"], comment["text"]) == ("customer", "Still blank after a restart.")
    await served.latest_to(ACME, "Reply from")
    await served.latest_to(JANE, "Your reply was sent")


async def test_a_vendor_agent_reply_that_lost_its_address_is_matched_to_the_vendor(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE will not open", "Blank page.")
    notification = await served.latest_to(ACME)
    await served.forget_mail()

    code, reply = await served.send(
        ACME_AGENT,
        SUPPORT,
        f"Re: {notification.subject}",
        "We re-uploaded the file.",
        headers={"In-Reply-To": notification.message_id},
    )

    assert code == 250, reply
    comment = last_comment(await served.ticket(number))
    assert (comment["author"], comment["text"]) == ("vendor", "We re-uploaded the file.")


async def test_in_reply_to_a_notification_sent_to_someone_else_authorises_nothing(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE will not open", "Blank page.")
    notification = await served.latest_to(JANE)
    before = await served.ticket(number)
    await served.forget_mail()

    await served.send(
        STRANGER,
        SUPPORT,
        f"Re: {notification.subject}",
        "Please close this.\n\n#close",
        headers={
            "In-Reply-To": notification.message_id,
            "References": notification.message_id,
        },
    )

    assert await served.ticket(number) == before
    assert [t["number"] for t in await served.tickets()] == [number]
    assert set(await served.recipients()) <= {STRANGER}


# --- commands --------------------------------------------------------------------------


async def test_close_command_by_the_customer_withdraws_the_refund(served: Served) -> None:
    number = await open_ticket(served, JANE, REFUND, "Refund Q7K2M9XA", "Does not run.")
    address = await served.reply_address(JANE)
    await served.forget_mail()

    code, reply = await served.send(
        JANE, address, "Re: refund", "Found the setting, no refund needed.\n\n#close\n"
    )

    assert code == 250, reply
    ticket = await served.ticket(number)
    assert ticket["status"] == "closed" and ticket["close_reason"] == "closed_by_customer"
    assert last_comment(ticket)["text"] == "Found the setting, no refund needed."
    assert ticket["due"] is None
    await served.latest_to(JANE, "closed")
    await served.latest_to(ACME, "closed")
    await served.advance("P3D")
    order = await served.order("Q7K2M9XA")
    assert Decimal(order["refunded_amount"]) == 0 and order["subscription_status"] == "active"


async def test_support_command_by_the_vendor_is_a_save_that_stops_the_refund(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, REFUND, "Refund B00K4JNE", "Wrong book.")
    address = await served.reply_address(ACME)
    await served.forget_mail()

    code, reply = await served.send(
        ACME, address, "Re: refund", "Could we send you the right edition instead?\n#SUPPORT"
    )

    assert code == 250, reply
    ticket = await served.ticket(number)
    assert ticket["type"] == "support" and ticket["status"] == "open"
    assert ticket["due"]["event"] == "inactivity_warning"
    changed = [e for e in ticket["events"] if e["kind"] == "changed"]
    assert [(e["by"], e["detail"]) for e in changed] == [
        ("vendor", {"from": "refund", "to": "support"})
    ]
    to_customer = await served.latest_to(JANE, "Changed to support")
    assert "#escalate" in text_of(to_customer)
    await served.latest_to(ACME, "Changed to support")
    await served.advance("PT25H")
    assert Decimal((await served.order("B00K4JNE"))["refunded_amount"]) == 0


async def test_refund_command_by_the_customer_is_processed_24_weekday_hours_later(
    served: Served,
) -> None:
    await served.move_to("2026-11-27T20:00:00Z")  # Friday 15:00 in New York
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE", "The PDF is blank.")
    address = await served.reply_address(JANE)
    await served.forget_mail()

    code, reply = await served.send(JANE, address, "Re: blank", "I give up.\n#refund")

    assert code == 250, reply
    ticket = await served.ticket(number)
    assert ticket["type"] == "refund"
    # Saturday and Sunday do not count: Monday 15:00 in New York.
    assert ticket["due"] == {"event": "process", "at": "2026-11-30T20:00:00Z"}
    await served.latest_to(ACME, "Changed to refund")
    await served.move_to("2026-11-30T19:59:00Z")
    assert (await served.ticket(number))["status"] == "open"
    await served.advance("PT1M")
    done = await served.ticket(number)
    assert done["status"] == "closed" and done["close_reason"] == "refunded"
    assert done["closed_at"] == "2026-11-30T20:00:00Z"
    assert (await served.order("B00K4JNE"))["refunded_amount"] == "9.00"
    await served.latest_to(JANE, "Refund processed")
    await served.latest_to(ACME, "Refund processed")


async def test_approve_command_processes_a_refund_waiting_for_approval_at_once(
    served: Served,
) -> None:
    number = await open_ticket(served, ERIN, REFUND, "Refund GLXW1RE1", "Not what I needed.")
    ticket = await served.ticket(number)
    assert ticket["due"] is None  # waits for the vendor, not for a timer
    address = await served.reply_address(GLOBEX)
    await served.advance("P4DT22H")  # Saturday 2026-11-28 12:00 UTC: nothing happens by itself
    assert (await served.ticket(number))["status"] == "open"
    await served.forget_mail()

    code, reply = await served.send(GLOBEX, address, "Re: refund", "Approved.\n\n#approve")

    assert code == 250, reply
    done = await served.ticket(number)
    assert done["status"] == "closed" and done["close_reason"] == "refunded"
    assert done["closed_at"] == "2026-11-28T12:00:00Z"  # a person's approval: no weekend delay
    assert (await served.order("GLXW1RE1"))["refunded_amount"] == "49.00"
    await served.latest_to(ERIN, "Refund processed")
    await served.latest_to(GLOBEX, "Refund processed")


async def test_escalate_command_reaches_the_operator_who_can_stop_the_vendor_saving_sales(
    served: Served,
) -> None:
    saved = await open_ticket(served, JANE, REFUND, "Refund Q7K2M9XA", "Does not run.")
    jane_address = await served.reply_address(JANE)
    vendor_address = await served.reply_address(ACME)
    mug = await open_ticket(served, BOB, REFUND, "Refund MUG2B0BX", "Both mugs chipped.")
    mug_vendor_address = await served.reply_address(ACME)
    assert mug_vendor_address != vendor_address

    code, reply = await served.send(ACME, vendor_address, "Re: refund", "Sorted by phone.\n#close")
    assert code == 250, reply
    assert (await served.ticket(saved))["close_reason"] == "closed_by_vendor"
    await served.forget_mail()

    code, reply = await served.send(
        JANE, jane_address, "Re: refund", "I never agreed to this.\n#escalate"
    )

    assert code == 250, reply
    assert (await served.ticket(saved))["escalated_at"] is not None
    escalations = (await served.api("GET", "/api/v1/admin/escalations")).json()["escalations"]
    assert [(e["ticket"], e["vendor"]) for e in escalations] == [(saved, "acme")]
    await served.latest_to(JANE, "Escalated")

    response = await served.api("POST", "/api/v1/admin/vendors/acme/abuse", {"abusing": True})
    assert response.status_code == 200, response.text
    at_once = await open_ticket(served, JANE, REFUND, "Refund B00K4JNE", "Wrong book.")
    done = await served.ticket(at_once)
    assert done["status"] == "closed" and done["close_reason"] == "refunded"
    assert (await served.order("B00K4JNE"))["refunded_amount"] == "9.00"

    await served.forget_mail()
    await served.send(ACME, mug_vendor_address, "Re: mugs", "Keep them, we will resend.\n#close")
    assert (await served.ticket(mug))["close_reason"] != "closed_by_vendor"
    refusal = await served.latest_to(ACME)
    assert "no longer close" in " ".join(text_of(refusal).split())
    assert BOB not in await served.recipients()


async def test_a_refused_command_changes_nothing_and_tells_the_sender_why(served: Served) -> None:
    number = await open_ticket(served, JANE, REFUND, "Refund Q7K2M9XA", "Does not run.")
    address = await served.reply_address(JANE)
    before = await served.ticket(number)
    await served.forget_mail()

    code, _ = await served.send(JANE, address, "Re: refund", "Hurry up.\n#approve")

    assert code < 400
    assert await served.ticket(number) == before
    (answer,) = await served.mail()
    assert answer.to[0][1] == JANE
    assert "Only the vendor can approve" in " ".join(text_of(answer).split())


async def test_a_refused_command_is_answered_in_the_tickets_own_thread(served: Served) -> None:
    number = await open_ticket(served, JANE, REFUND, "Refund Q7K2M9XA", "Does not run.")
    address = await served.reply_address(JANE)
    await served.forget_mail()

    await served.send(JANE, address, "Re: refund", "Hurry up.\n#approve")

    (answer,) = await served.mail()
    assert f"[#{number}]" in answer.subject  # SPEC §4: the subject tagged with the number
    assert "not opened" not in answer.subject and "not opened" not in text_of(answer)
    assert [a for _, a in answer.reply_to] == [address]
    assert answer.headers.get("In-Reply-To")  # threaded with the ticket's emails


# --- the vendor command address --------------------------------------------------------


async def test_vendor_command_address_opens_a_vendor_ticket_processed_five_minutes_later(
    served: Served,
) -> None:
    address = await served.command_address("acme")

    number = await open_ticket(served, ACME, address, "refund B00K4JNE", "Customer phoned us.")

    ticket = await served.ticket(number)
    assert (ticket["type"], ticket["order"], ticket["opened_by"]) == (
        "refund",
        "B00K4JNE",
        "vendor",
    )
    assert ticket["due"] == {"event": "process", "at": "2026-11-23T14:05:00Z"}
    assert sorted(await served.recipients()) == [ACME, JANE]
    await served.advance("PT4M")
    assert (await served.ticket(number))["status"] == "open"
    await served.advance("PT1M")
    done = await served.ticket(number)
    assert done["status"] == "closed" and done["close_reason"] == "refunded"
    await served.latest_to(JANE, "Refund processed")


async def test_vendor_command_address_refuses_anyone_but_the_vendor(served: Served) -> None:
    address = await served.command_address("acme")

    for sender in (STRANGER, JANE, GLOBEX):
        code, _ = await served.send(sender, address, "refund B00K4JNE", "Refund it.")

        assert 500 <= code < 600, sender
    assert await served.tickets() == []
    assert not {JANE, ACME} & set(await served.recipients())


# --- purchase lookup -------------------------------------------------------------------


async def test_lookup_sends_the_license_key_and_download_link_to_the_orders_customer(
    served: Served,
) -> None:
    code, _ = await served.send(JANE, LOOKUP, "B00K4JNE", "Where is my download?")

    assert code == 250
    (answer,) = await served.mail()
    assert answer.to[0][1] == JANE
    text = text_of(answer)
    assert "BOOK-4JNE" in text and "https://acme.test/dl/handbook" in text
    assert await served.tickets() == []


async def test_lookup_by_anyone_else_learns_nothing_of_the_order(served: Served) -> None:
    # A stranger gets a neutral "no purchase found"; a customer of another order gets
    # their own purchases (the mail goes to them alone), never the order they named.
    for sender, answer_says in ((STRANGER, "no purchase"), (BOB, "MUG2B0BX")):
        await served.forget_mail()
        code, _ = await served.send(sender, LOOKUP, "B00K4JNE", "Send me the key.")

        assert code == 250
        (answer,) = await served.mail()
        assert answer.to[0][1] == sender
        text = text_of(answer)
        assert answer_says in text.lower() if answer_says == "no purchase" else answer_says in text
        assert "BOOK-4JNE" not in text and "acme.test/dl" not in text and "Jane" not in text
        assert "B00K4JNE" not in answer.subject and "Handbook" not in answer.subject


async def test_a_lookup_without_a_match_is_answered_as_a_lookup(served: Served) -> None:
    await served.send(STRANGER, LOOKUP, "B00K4JNE", "Send me the key.")

    (answer,) = await served.mail()
    assert "No purchase found" in answer.subject
    assert "not opened" not in text_of(answer)


# --- inactivity ------------------------------------------------------------------------


async def test_an_unanswered_support_ticket_is_warned_at_48_and_96_hours_and_closed_monday(
    served: Served,
) -> None:
    number = await open_ticket(served, JANE, SUPPORT, "B00K4JNE", "The PDF is blank.")
    await served.forget_mail()

    await served.advance("PT47H59M")
    assert await served.mail() == []
    assert (await served.advance("PT1M"))["fired"] == 1  # Wednesday 14:00 UTC
    await served.latest_to(JANE, "No answer yet")
    await served.latest_to(ACME, "waiting for an answer")
    warning = text_of(await served.latest_to(JANE))
    assert "#refund" in warning

    await served.forget_mail()
    assert (await served.advance("P2D"))["fired"] == 1  # Friday 14:00 UTC: 96 hours
    assert sorted(await served.recipients()) == [ACME, JANE]

    # Six days end on Sunday 14:00 UTC; the system does not close on a weekend.
    await served.forget_mail()
    await served.advance("P2D")
    ticket = await served.ticket(number)
    assert ticket["status"] == "open"
    assert ticket["due"] == {"event": "inactivity_close", "at": "2026-11-30T05:00:00Z"}
    await served.move_to("2026-11-30T05:00:00Z")  # Monday 00:00 in New York
    closed = await served.ticket(number)
    assert closed["status"] == "closed" and closed["close_reason"] == "inactivity"
    assert closed["closed_at"] == "2026-11-30T05:00:00Z"
    await served.latest_to(JANE, "closed")
    await served.latest_to(ACME, "closed")
