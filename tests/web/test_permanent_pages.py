"""The permanent subscription and purchase pages (SPEC §7, seed 004), over real HTTP.

The link is the key: a wrong secret and an unknown id are the same 404; a
button goes through the same use case as a reply's `#command` (so the same
emails follow), a cancel through the same one as mail to cancel@.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Served, text_of
from tests.web.support import ACME, JANE, post_form

pytestmark = pytest.mark.anyio

JANES = "/s/S1001-DemoS1001SelfService"
HEIDIS = "/s/S1003-DemoS1003SelfService"
GRACES = "/s/S1002-DemoS1002SelfService"


async def _subscription(served: Served, subscription_id: str) -> dict[str, object]:
    response = await served.api("GET", f"/api/v1/subscriptions/{subscription_id}")
    assert response.status_code == 200
    data: dict[str, object] = response.json()
    return data


async def test_the_page_shows_items_billing_and_payments(served: Served) -> None:
    response = await served.http.get(HEIDIS)
    assert response.status_code == 200
    page = " ".join(response.text.split())
    assert "Your subscription S1003" in page and "order INVOICE1" in page
    assert 'id="item-1"' in page and 'id="item-2"' in page
    assert "69.80 USD" in page  # the next amount
    assert "Sun 6 Dec 2026 10:00 EST (America/New_York)" in page  # the vendor's zone, named
    assert page.count('value="renew_off"') == 2
    assert "Renew now" not in page  # automatic renewal: nothing to renew by hand
    assert response.headers["cache-control"] == "no-store"
    assert "noindex" in response.headers["x-robots-tag"]


async def test_a_wrong_secret_and_an_unknown_id_are_the_same_404(served: Served) -> None:
    wrong = await served.http.get("/s/S1001-DemoS1001SelfServicX")
    unknown = await served.http.get("/s/S9999-DemoS1001SelfService")
    malformed = await served.http.get("/s/S1001")
    assert wrong.status_code == unknown.status_code == malformed.status_code == 404
    assert wrong.text == unknown.text == malformed.text
    post = await served.http.post("/s/S1001-DemoS1001SelfServicX/choose", data={"choice": "x"})
    assert post.status_code == 404


async def test_an_item_link_and_the_seeds_links_open_the_page_at_the_item(served: Served) -> None:
    at_item = await served.http.get(f"{HEIDIS}-2")
    assert at_item.status_code == 303 and at_item.headers["location"] == f"{HEIDIS}#item-2"
    for prefix in ("csi", "asi", "rsi", "crb", "scp"):
        legacy = await served.http.get(f"/{prefix}/S1003-DemoS1003SelfService-2")
        assert legacy.status_code == 301
        assert legacy.headers["location"] == "/s/S1003-DemoS1003SelfService-2"


async def test_turning_an_item_off_on_the_page_is_confirmed_to_both(served: Served) -> None:
    response = await post_form(
        served.http, HEIDIS, f"{HEIDIS}/choose", {"choice": "renew_off", "item": "2"}
    )
    assert response.status_code == 303 and response.headers["location"] == HEIDIS
    page = await served.http.get(HEIDIS)
    assert "Automatic renewal is off for item 2" in page.text
    data = await _subscription(served, "S1003")
    items = data["items"]
    assert isinstance(items, list) and [i["auto_renew"] for i in items] == [True, False]
    assert await served.mail_to("heidi@example.test", "Automatic renewal turned off")
    told = await served.latest_to(ACME, "Automatic renewal turned off")
    assert "Your customer Heidi Lamarr turned automatic renewal off" in " ".join(
        text_of(told).split()
    )
    again = await post_form(
        served.http, HEIDIS, f"{HEIDIS}/choose", {"choice": "renew_on", "item": "7"}
    )
    assert again.status_code == 303
    refused = await served.http.get(HEIDIS)
    assert "Not done:" in refused.text and "has no item 7" in refused.text


async def test_a_post_without_the_pages_token_is_refused(served: Served) -> None:
    response = await served.http.post(
        f"{HEIDIS}/choose", data={"choice": "renew_off", "item": "1", "csrf_token": "forged"}
    )
    assert response.status_code == 403
    data = await _subscription(served, "S1003")
    items = data["items"]
    assert isinstance(items, list) and items[0]["auto_renew"] is True


async def test_renew_now_on_a_manual_subscription_tells_the_vendor(served: Served) -> None:
    page = await served.http.get(GRACES)
    assert "Renew now" in page.text and 'value="renew_off"' not in page.text
    await post_form(served.http, GRACES, f"{GRACES}/choose", {"choice": "renew_now"})
    assert await served.mail_to("grace@example.test", "Your renewal request")
    told = await served.latest_to(ACME, "Renewal requested")
    assert "/api/v1/subscriptions/S1002/bills" in text_of(told)


async def test_cancel_on_the_page_opens_a_cancelation_ticket(served: Served) -> None:
    response = await post_form(
        served.http, JANES, f"{JANES}/request", {"kind": "cancelation", "details": "Too pricey"}
    )
    assert response.status_code == 303
    page = await served.http.get(JANES)
    match = re.search(r"Your cancelation is ticket #(\d+)", page.text)
    assert match, page.text
    ticket = await served.ticket(int(match.group(1)))
    assert ticket["type"] == "cancelation" and ticket["opened_by"] == "customer"
    assert ticket["comments"][0]["text"] == "Too pricey"
    assert await served.mail_to(JANE, f"[#{match.group(1)}]")


async def test_the_payment_link_goes_to_the_vendors_page(served: Served) -> None:
    response = await served.http.get(f"{JANES}/payment")
    assert response.status_code == 303
    assert response.headers["location"] == "https://acme.test/billing/S1001"


async def test_a_rotated_secret_retires_the_old_link(served: Served) -> None:
    rotated = await served.api("POST", "/api/v1/admin/subscriptions/S1001/rotate", {})
    new_link = rotated.json()["links"]["self_service"].removeprefix("http://desk.test")
    assert (await served.http.get(JANES)).status_code == 404
    assert (await served.http.get(new_link)).status_code == 200


async def test_the_purchase_page_lists_tickets_and_takes_a_refund_request(served: Served) -> None:
    order = await served.order("B00K4JNE")
    path = order["links"]["purchase"].removeprefix("http://desk.test")
    page = await served.http.get(path)
    assert page.status_code == 200
    assert "The Acme Handbook (PDF)" in page.text and "None yet." in page.text
    response = await post_form(served.http, path, f"{path}/refund", {"details": "Wrong book"})
    assert response.status_code == 303
    page = await served.http.get(path)
    match = re.search(r"Your refund request is ticket #(\d+)", page.text)
    assert match, page.text
    assert f"Ticket #{match.group(1)}</a>: refund, open" in page.text
    assert re.search(r'href="http://desk\.test/t/\d+-c-[a-z2-7]{20}"', page.text)
    wrong = await served.http.get(path[:-1] + ("A" if path[-1] != "A" else "B"))
    assert wrong.status_code == 404


async def test_the_lookup_email_links_the_purchase_page(served: Served) -> None:
    await post_form(served.http, "/lookup", "/lookup", {"email": JANE, "reference": "B00K4JNE"})
    (mail,) = await served.mail_to(JANE)
    order = await served.order("B00K4JNE")
    assert order["links"]["purchase"] in text_of(mail)


async def test_a_forged_choice_or_request_is_a_clear_400_and_changes_nothing(
    served: Served,
) -> None:
    before = await _subscription(served, "S1003")
    bogus = await post_form(served.http, HEIDIS, f"{HEIDIS}/choose", {"choice": "free_forever"})
    assert bogus.status_code == 400 and "use a button" in bogus.text
    odd = await post_form(served.http, HEIDIS, f"{HEIDIS}/request", {"kind": "chargeback"})
    assert odd.status_code == 400 and "Unknown request" in odd.text
    assert await _subscription(served, "S1003") == before
