"""The ticket page behind each party's signed link (SPEC §5): history, replies, buttons.

Every action from the page goes through the same funnel as an email command,
so the same rules hold: what a party may not do is refused with the reason on
the page (and by email), and the other party hears of every change by email.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import Served, text_of
from tests.web.support import (
    ACME,
    BOB,
    ERIN,
    GLOBEX,
    JANE,
    buttons_on,
    open_by_email,
    page_link,
    post_form,
)

pytestmark = pytest.mark.anyio


async def jane_refund(served: Served) -> tuple[int, str, str]:
    """Jane's refund of her Acme Pro subscription: (number, her page, the vendor's page)."""
    number = await open_by_email(
        served, JANE, "refund", "Refund Q7K2M9XA please", "It does not do what I hoped."
    )
    return number, await page_link(served, JANE, number), await page_link(served, ACME, number)


async def test_the_page_shows_the_history_and_only_the_buttons_each_party_may_use(
    served: Served,
) -> None:
    number, customer_page, vendor_page = await jane_refund(served)

    customer = await served.http.get(customer_page)
    assert customer.status_code == 200
    assert f"Ticket #{number}" in customer.text
    assert "It does not do what I hoped." in customer.text
    assert "Q7K2M9XA" in customer.text and "Acme Software" in customer.text
    assert buttons_on(customer.text) == ["close", "change-to-cancelation", "change-to-support"]
    assert customer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in customer.headers["content-security-policy"]

    vendor = await served.http.get(vendor_page)
    assert vendor.status_code == 200
    assert "It does not do what I hoped." in vendor.text
    assert "jane@example.test" in vendor.text  # the vendor sees who the customer is
    assert buttons_on(vendor.text) == ["close", "change-to-support"]


async def test_a_reply_from_the_page_reaches_the_other_party_by_email_with_its_file(
    served: Served,
) -> None:
    number, customer_page, vendor_page = await jane_refund(served)
    await served.clear_mail()

    response = await post_form(
        served.http,
        customer_page,
        f"{customer_page}/reply",
        {"text": "Here is a screenshot of the error."},
        files={"attachments": ("error.png", b"\x89PNG fake image", "image/png")},
    )
    assert response.status_code == 303 and response.headers["location"] == customer_page

    page = await served.http.get(customer_page)
    assert "Your reply was added" in page.text
    assert "Here is a screenshot of the error." in page.text
    assert "error.png" in page.text
    again = await served.http.get(customer_page)
    assert "Your reply was added" not in again.text  # a one-time message

    mail = await served.latest_to(ACME, f"[#{number}]")
    assert "Here is a screenshot of the error." in text_of(mail)
    assert "error.png" in text_of(mail)
    (comment,) = [c for c in (await served.ticket(number))["comments"] if c["attachments"]]
    assert comment["author"] == "customer"
    blob = comment["attachments"][0]["id"]

    download = await served.http.get(f"{vendor_page}/attachments/{blob}")
    assert download.status_code == 200
    assert download.content == b"\x89PNG fake image"
    assert download.headers["content-disposition"].startswith('attachment; filename="error.png"')
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]


async def test_an_attachment_downloads_only_through_its_own_tickets_link(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    await post_form(
        served.http,
        customer_page,
        f"{customer_page}/reply",
        {"text": "Invoice attached."},
        files={"attachments": ("invoice.pdf", b"%PDF-1.4 jane", "application/pdf")},
    )
    (comment,) = [c for c in (await served.ticket(number))["comments"] if c["attachments"]]
    blob = comment["attachments"][0]["id"]
    bob_number = await open_by_email(served, BOB, "support", "MUG2B0BX", "My mug is chipped.")
    bob_page = await page_link(served, BOB, bob_number)

    stolen = await served.http.get(f"{bob_page}/attachments/{blob}")
    assert stolen.status_code == 404 and b"%PDF" not in stolen.content
    unknown = await served.http.get(f"{customer_page}/attachments/{'0' * 32}")
    assert unknown.status_code == 404
    own = await served.http.get(f"{customer_page}/attachments/{blob}")
    assert own.status_code == 200 and own.content == b"%PDF-1.4 jane"


async def test_a_tampered_link_is_a_plain_404_that_reveals_nothing(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    signature = customer_page.rsplit("-", 1)[1]
    flipped = ("b" if signature[0] != "b" else "c") + signature[1:]
    tampered = [
        customer_page.replace(signature, flipped),  # a forged signature
        customer_page.replace("-c-", "-v-"),  # the customer's signature as the vendor
        f"/t/{number + 1}-c-{signature}",  # another ticket with this signature
        "/t/not-a-ticket",
    ]
    answers = set()
    for path in tampered:
        response = await served.http.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text
        assert "Q7K2M9XA" not in response.text and "Ticket #" not in response.text
        answers.add(response.text)
    assert len(answers) == 1  # a forged link to a real ticket looks like any other bad link
    forged_post = await post_form(
        served.http, customer_page, f"{tampered[0]}/action", {"action": "close"}
    )
    assert forged_post.status_code == 404
    assert (await served.ticket(number))["status"] == "open"


async def test_the_customer_closes_from_the_page_and_both_are_told(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    await served.clear_mail()

    response = await post_form(
        served.http, customer_page, f"{customer_page}/action", {"action": "close"}
    )
    assert response.status_code == 303
    page = await served.http.get(customer_page)
    assert "The ticket is closed." in page.text
    ticket = await served.ticket(number)
    assert ticket["status"] == "closed" and ticket["close_reason"] == "closed_by_customer"
    assert sorted(await served.recipients()) == [ACME, JANE]
    assert "Send reply" not in page.text  # a closed ticket takes no replies


async def test_a_vendor_marked_abusing_gets_no_close_button_and_a_forced_close_is_refused(
    served: Served,
) -> None:
    number, _, vendor_page = await jane_refund(served)
    marked = await served.api("POST", "/api/v1/admin/vendors/acme/abuse", {"abusing": True})
    assert marked.status_code == 200
    await served.clear_mail()

    page = await served.http.get(vendor_page)
    assert buttons_on(page.text) == []

    response = await post_form(
        served.http, vendor_page, f"{vendor_page}/action", {"action": "close"}
    )
    assert response.status_code == 303
    refused = await served.http.get(vendor_page)
    assert "Not done:" in refused.text and "can no longer close or change" in refused.text
    assert (await served.ticket(number))["status"] == "open"
    assert await served.recipients() == [ACME]  # the refusal, by email too, to the vendor only


async def test_the_customer_turns_a_refund_into_support_and_cannot_approve(
    served: Served,
) -> None:
    number, customer_page, _ = await jane_refund(served)
    await served.clear_mail()

    approve = await post_form(
        served.http, customer_page, f"{customer_page}/action", {"action": "approve"}
    )
    assert approve.status_code == 303
    assert "Only the vendor can approve" in (await served.http.get(customer_page)).text
    assert await served.recipients() == [JANE]  # the refusal, by email too, as for #approve

    await served.clear_mail()
    change = await post_form(
        served.http,
        customer_page,
        f"{customer_page}/action",
        {"action": "change-to-support", "text": "Actually, help me set it up instead."},
    )
    assert change.status_code == 303
    page = await served.http.get(customer_page)
    assert "The ticket is now a support ticket." in page.text
    ticket = await served.ticket(number)
    assert ticket["type"] == "support" and ticket["status"] == "open"
    assert ticket["comments"][-1]["text"] == "Actually, help me set it up instead."
    assert sorted(await served.recipients()) == [ACME, JANE]
    assert "change-to-refund" in buttons_on(page.text)


async def test_the_vendor_approves_from_the_page_and_the_refund_is_carried_out_at_once(
    served: Served,
) -> None:
    # Globex requires approval; Erin paid by wire transfer.
    number = await open_by_email(served, ERIN, "refund", "GLXW1RE1", "Please refund.")
    customer_page = await page_link(served, ERIN, number)
    vendor_page = await page_link(served, GLOBEX, number)
    assert (await served.ticket(number))["awaiting_approval"] is True
    assert "approve" not in buttons_on((await served.http.get(customer_page)).text)
    assert "approve" in buttons_on((await served.http.get(vendor_page)).text)

    response = await post_form(
        served.http, vendor_page, f"{vendor_page}/action", {"action": "approve"}
    )
    assert response.status_code == 303
    assert "It has been carried out." in (await served.http.get(vendor_page)).text
    ticket = await served.ticket(number)
    assert ticket["status"] == "closed" and ticket["close_reason"] == "refunded"
    assert (await served.order("GLXW1RE1"))["refunded_amount"] == "49.00"


async def test_the_customer_escalates_from_the_page_after_the_vendor_closed_the_refund(
    served: Served,
) -> None:
    number, customer_page, vendor_page = await jane_refund(served)
    closed = await post_form(
        served.http,
        vendor_page,
        f"{vendor_page}/action",
        {"action": "close", "text": "We fixed it for you."},
    )
    assert closed.status_code == 303
    assert (await served.ticket(number))["close_reason"] == "closed_by_vendor"

    page = await served.http.get(customer_page)
    assert buttons_on(page.text) == ["escalate"]
    assert "Send reply" not in page.text
    escalated = await post_form(
        served.http,
        customer_page,
        f"{customer_page}/action",
        {"action": "escalate", "text": "I never agreed to this."},
    )
    assert escalated.status_code == 303
    assert "escalated" in (await served.http.get(customer_page)).text
    listed = (await served.api("GET", "/api/v1/admin/escalations")).json()["escalations"]
    assert [e["ticket"] for e in listed] == [number]
    assert buttons_on((await served.http.get(customer_page)).text) == []


async def test_an_empty_reply_changes_nothing_and_sends_nothing(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    await served.clear_mail()
    before = await served.ticket(number)

    response = await post_form(served.http, customer_page, f"{customer_page}/reply", {"text": " "})
    assert response.status_code == 303
    assert "Write a reply before sending it." in (await served.http.get(customer_page)).text
    assert await served.ticket(number) == before
    assert await served.recipients() == []


async def test_an_unknown_action_is_a_bad_request(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    response = await post_form(
        served.http, customer_page, f"{customer_page}/action", {"action": "delete"}
    )
    assert response.status_code == 400
    assert (await served.ticket(number))["status"] == "open"


async def test_files_over_the_size_limit_are_refused_and_change_nothing(served: Served) -> None:
    number, customer_page, _ = await jane_refund(served)
    await served.clear_mail()
    before = await served.ticket(number)
    limit = served.runtime.settings.max_message_size

    for size, answer in ((limit + 1, "Those files are too large"), (2 * limit, "Too much")):
        response = await post_form(
            served.http,
            customer_page,
            f"{customer_page}/reply",
            {"text": "A huge file."},
            files={"attachments": ("huge.bin", b"x" * size, "application/octet-stream")},
        )
        assert response.status_code == 413 and answer in response.text

    async def endless_upload() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check
        yield b'--b\r\nContent-Disposition: form-data; name="attachments"; filename="a"\r\n\r\n'
        for _ in range(2 * limit // 65536):
            yield b"y" * 65536

    chunked = await served.http.post(
        f"{customer_page}/reply",
        content=endless_upload(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert chunked.status_code == 413
    many = [("attachments", (f"f{n}.txt", b"x", "text/plain")) for n in range(11)]
    too_many = await post_form(
        served.http, customer_page, f"{customer_page}/reply", {"text": "Many."}, files=many
    )
    assert too_many.status_code == 400
    assert await served.ticket(number) == before
    assert await served.recipients() == []
