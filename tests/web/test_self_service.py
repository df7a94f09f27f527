"""The purchase lookup and refund forms follow the email rules of SPEC §3.

An order is found only by its reference together with its customer's own
email address. The page always answers the same sentence, so it never tells
whether an order exists; what happened is told by email, to the order's own
address, or ("no purchase found") to the address typed, and to nobody else.
"""

from __future__ import annotations

import httpx
import pytest

from service.web.self_service import NEUTRAL_ANSWER
from tests.e2e.conftest import Served, text_of
from tests.web.support import ACME, BOB, CAROL, JANE, post_form

pytestmark = pytest.mark.anyio


async def lookup(served: Served, email: str, reference: str) -> httpx.Response:
    return await post_form(
        served.http, "/lookup", "/lookup", {"email": email, "reference": reference}
    )


async def refund(
    served: Served, email: str, reference: str, reason: str = "Duplicate order", details: str = ""
) -> httpx.Response:
    return await post_form(
        served.http,
        "/refund",
        "/refund",
        {"email": email, "reference": reference, "reason": reason, "details": details},
    )


async def test_the_home_page_links_both_forms(served: Served) -> None:
    response = await served.http.get("/")
    assert response.status_code == 200
    assert 'href="/lookup"' in response.text and 'href="/refund"' in response.text


async def test_a_lookup_of_ones_own_order_emails_its_details_to_the_orders_address(
    served: Served,
) -> None:
    response = await lookup(served, "Jane@Example.test", "q7k2m9xa")
    assert response.status_code == 200 and NEUTRAL_ANSWER in response.text
    (mail,) = await served.mail()
    assert mail.to[0][1] == JANE
    assert "ACME-PRO-7Q2K-M9XA" in text_of(mail)  # Q7K2M9XA's license key


async def test_a_lookup_of_an_unknown_or_others_order_looks_the_same_and_tells_only_the_asker(
    served: Served,
) -> None:
    found = await lookup(served, JANE, "Q7K2M9XA")
    await served.flush()
    await served.clear_mail()

    unknown = await lookup(served, JANE, "NOSUCHORDER")
    elses = await lookup(served, BOB, "Q7K2M9XA")  # Jane's order, Bob's address
    assert unknown.status_code == elses.status_code == found.status_code == 200
    assert unknown.text == elses.text == found.text

    mail = await served.mail()
    assert [m.to[0][1] for m in mail] == [JANE, BOB]
    assert all("no purchase" in text_of(m).lower() for m in mail)
    assert not any("ACME-PRO-7Q2K-M9XA" in text_of(m) for m in mail)


async def test_a_refund_of_ones_own_order_opens_a_ticket_and_tells_both(served: Served) -> None:
    response = await refund(served, JANE, "B00K4JNE", "Wrong product ordered", "Meant the mug.")
    assert response.status_code == 200 and NEUTRAL_ANSWER in response.text
    (ticket,) = await served.tickets()
    assert ticket["type"] == "refund" and ticket["order"] == "B00K4JNE"
    assert ticket["opened_by"] == "customer"
    assert ticket["comments"][0]["text"] == "Reason: Wrong product ordered\n\nMeant the mug."
    assert sorted(await served.recipients()) == [ACME, JANE]


async def test_a_refund_of_someone_elses_order_opens_nothing_and_tells_only_the_asker(
    served: Served,
) -> None:
    found = await refund(served, JANE, "B00K4JNE")
    await served.flush()
    await served.clear_mail()
    before = await served.tickets()

    elses = await refund(served, BOB, "Q7K2M9XA")
    assert elses.text == found.text
    assert await served.tickets() == before  # Jane's own refund, nothing on Q7K2M9XA
    (mail,) = await served.mail()
    assert mail.to[0][1] == BOB and "no purchase" in text_of(mail).lower()


async def test_a_refund_outside_the_window_opens_nothing_and_tells_the_customer_why(
    served: Served,
) -> None:
    # OLD45DAY was billed 45 days ago; acme allows customers 30.
    response = await refund(served, CAROL, "OLD45DAY")
    assert response.status_code == 200 and NEUTRAL_ANSWER in response.text
    assert await served.tickets() == []
    (mail,) = await served.mail()
    assert mail.to[0][1] == CAROL and "30 days" in text_of(mail)


async def test_a_form_with_bad_input_is_shown_again_with_the_problem_and_sends_nothing(
    served: Served,
) -> None:
    response = await refund(served, "not-an-address", "Q7K2M9XA", reason="Because")
    assert response.status_code == 400
    assert "Enter the email address you bought with" in response.text
    assert "Choose a reason." in response.text
    assert 'value="Q7K2M9XA"' in response.text  # what was typed is kept
    other = await refund(served, JANE, "Q7K2M9XA", reason="Other")
    assert other.status_code == 400 and "Tell the seller" in other.text
    assert await served.recipients() == []


async def test_one_address_gets_at_most_five_form_emails_in_ten_minutes(served: Served) -> None:
    for _ in range(5):
        assert (await lookup(served, BOB, "NOSUCHORDER")).status_code == 200
    limited = await lookup(served, BOB, "NOSUCHORDER")
    assert limited.status_code == 429
    assert "Too many requests" in limited.text and int(limited.headers["retry-after"]) > 0
    assert len(await served.mail_to(BOB)) == 5
    assert (await refund(served, BOB, "MUG2B0BX")).status_code == 429  # both forms count
    assert (await lookup(served, JANE, "Q7K2M9XA")).status_code == 200  # others still may

    await served.advance("PT10M")
    assert (await lookup(served, BOB, "NOSUCHORDER")).status_code == 200


async def test_one_client_may_post_the_forms_at_most_twenty_times_in_ten_minutes(
    served: Served,
) -> None:
    for n in range(20):
        assert (await lookup(served, f"person{n}@example.test", "NOSUCHORDER")).status_code == 200
    limited = await lookup(served, "someone.new@example.test", "NOSUCHORDER")
    assert limited.status_code == 429
    assert await served.mail_to("someone.new@example.test") == []
