"""Subscriptions end to end (SPEC §7, issue #16), on SQLite and PostgreSQL.

The demo's subscriptions: S1001 (Jane, automatic, credit card, billed on the
2nd), S1002 (Grace, manual, next billing 20 Dec 15:00 UTC), S1003 (Heidi,
automatic but paid by invoice, two items, next billing 6 Dec 15:00 UTC).
Acme reminds 7 days ahead. The clock starts on Mon 23 Nov 2026 14:00 UTC.
Everything goes in as the outside world sends it (the API, SMTP) and comes
out as caught mail, parsed back.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, reply_address_of, text_of

pytestmark = pytest.mark.anyio

ACME = "acme-demo-key"
GLOBEX = "globex-demo-key"


async def _subscription(served: Served, subscription_id: str, token: str = ACME) -> Any:
    response = await served.api("GET", f"/api/v1/subscriptions/{subscription_id}", token=token)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_json_shows_the_subscription_to_its_vendor_alone(served: Served) -> None:
    data = await _subscription(served, "S1001")
    assert data["order"] == "Q7K2M9XA" and data["renewal"] == "auto"
    assert data["next_billing_at"] == "2026-12-02T10:00:00Z"
    assert data["next_amount"] == "19.95" and data["payment_status"] == "ok"
    assert data["items"][0]["number"] == 1 and data["items"][0]["pending_change"] is None
    assert data["links"]["self_service"] == "http://desk.test/s/S1001-DemoS1001SelfService"
    other = await served.api("GET", "/api/v1/subscriptions/S1001", token=GLOBEX)
    missing = await served.api("GET", "/api/v1/subscriptions/S9999", token=GLOBEX)
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"].replace("S1001", "S9999") == missing.json()["error"]
    malformed = await served.api("GET", "/api/v1/subscriptions/1001")
    assert malformed.status_code == 400 and "S1001" in malformed.json()["error"]
    order = await served.order("Q7K2M9XA")
    assert order["subscription"]["id"] == "S1001"
    assert re.fullmatch(r"http://desk\.test/p/Q7K2M9XA-[A-Za-z0-9]{20}", order["links"]["purchase"])


async def test_an_early_bill_keeps_the_time_left_and_confirms_the_renewal(served: Served) -> None:
    bill = {"billed_at": "2026-11-25T12:00:00Z", "amount": "19.95"}
    response = await served.api("POST", "/api/v1/subscriptions/S1001/bills", bill, token=ACME)
    assert response.status_code == 200, response.text
    # One month on from the date it was due (2 Dec), not from the day it was paid.
    assert response.json()["next_billing_at"] == "2027-01-02T10:00:00Z"
    order = await served.order("Q7K2M9XA")
    assert order["bills"][-1]["billed_at"] == "2026-11-25T12:00:00Z"
    confirmation = await served.latest_to("jane@example.test", "is renewed")
    text = text_of(confirmation)
    assert "19.95 USD was charged" in text
    assert "the next billing date is Sat 2 Jan 2027 05:00 EST" in " ".join(text.split())
    again = await served.api("POST", "/api/v1/subscriptions/S1001/bills", bill, token=ACME)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_bill"
    bad = await served.api(
        "POST", "/api/v1/subscriptions/S1001/bills", {"billed_at": "2026-11-25", "amount": "x"}
    )
    assert bad.status_code == 400 and "billed_at" in bad.json()["error"]


async def test_a_declined_payment_sends_the_way_to_update_it(served: Served) -> None:
    failure = {"at": "2026-11-24T08:00:00Z", "reason": "card expired"}
    response = await served.api(
        "POST", "/api/v1/subscriptions/S1001/payment-failures", failure, token=ACME
    )
    assert response.status_code == 200, response.text
    assert response.json()["payment_status"] == "past_due"
    email = await served.latest_to("jane@example.test", "declined")
    assert "http://desk.test/s/S1001-DemoS1001SelfService/payment" in text_of(email)
    assert "card expired" in text_of(email)
    assert await served.mail_to("help@acme.test", "declined") == []


async def test_a_price_rise_waits_for_consent_given_by_email(served: Served) -> None:
    change = {"unit_price": "24.95"}
    response = await served.api(
        "POST", "/api/v1/subscriptions/S1001/items/1/change", change, token=ACME
    )
    assert response.status_code == 200, response.text
    pending = response.json()["items"][0]["pending_change"]
    assert pending["consent"] == "pending" and pending["needs_consent"] is True
    assert response.json()["next_amount"] == "19.95"  # not until accepted
    notice = await served.latest_to("jane@example.test", "consent is needed")
    assert "#accept" in text_of(notice) and "#decline" in text_of(notice)
    address = reply_address_of(notice)
    assert re.fullmatch(rf"s1001\.[a-z2-7]{{20}}@{re.escape(DOMAIN)}", address)

    code, _ = await served.send("jane@example.test", address, "Re: price", "#accept\n")
    assert code == 250
    data = await _subscription(served, "S1001")
    assert data["items"][0]["pending_change"]["consent"] == "accepted"
    assert data["next_amount"] == "24.95"
    assert data["events"][-1]["kind"] == "price_change_accepted"
    assert data["events"][-1]["by"] == "customer"
    assert await served.mail_to("jane@example.test", "New price accepted")
    told = await served.latest_to("help@acme.test", "New price accepted")
    assert "Your customer Jane Doe accepted the new price" in " ".join(text_of(told).split())
    # Only the customer's tickets were opened: a reply of commands alone opens nothing.
    assert await served.tickets(order="Q7K2M9XA") == []


async def test_a_reply_with_other_text_opens_a_support_ticket_after_the_commands(
    served: Served,
) -> None:
    await served.api("POST", "/api/v1/subscriptions/S1003/items/2/change", {"quantity": 2})
    address = reply_address_of(await served.latest_to("heidi@example.test", "consent"))
    body = "#decline\n\nWhy does the second seat cost more now?\n"
    code, _ = await served.send("heidi@example.test", address, "Re: seats", body)
    assert code == 250
    data = await _subscription(served, "S1003")
    assert data["items"][1]["pending_change"]["consent"] == "declined"
    (ticket,) = await served.tickets(order="INVOICE1")
    assert ticket["type"] == "support" and ticket["opened_by"] == "customer"
    assert ticket["comments"][0]["text"] == "Why does the second seat cost more now?"


async def test_only_the_customer_may_use_a_subscription_reply_address(served: Served) -> None:
    await served.api(
        "POST", "/api/v1/subscriptions/S1001/payment-failures", {"at": "2026-11-24T08:00:00Z"}
    )
    address = reply_address_of(await served.latest_to("jane@example.test", "declined"))
    code, message = await served.send("bob@example.test", address, "Re", "#renew off\n")
    assert code == 550 and "not yours" in message
    forged = address.replace("s1001.", "s1002.")
    code, _ = await served.send("grace@example.test", forged, "Re", "#renew off\n")
    assert code == 550
    assert (await _subscription(served, "S1001"))["items"][0]["auto_renew"] is True


async def test_a_refused_choice_is_explained_to_the_customer(served: Served) -> None:
    await served.api(
        "POST", "/api/v1/subscriptions/S1002/payment-failures", {"at": "2026-11-24T08:00:00Z"}
    )
    address = reply_address_of(await served.latest_to("grace@example.test", "declined"))
    code, _ = await served.send("grace@example.test", address, "Re", "#renew off\n")
    assert code == 250
    refused = await served.latest_to("grace@example.test", "was not changed")
    assert "renews only when you renew it" in " ".join(text_of(refused).split())


async def test_reminders_fire_to_the_minute_for_manual_and_offline_payments(
    served: Served,
) -> None:
    # S1003 is paid by invoice: reminded 7 days before 6 Dec 15:00 UTC.
    await served.move_to("2026-11-29T14:59:00Z")
    assert await served.mail_to("heidi@example.test", "renews on") == []
    await served.move_to("2026-11-29T15:00:00Z")
    (reminder,) = await served.mail_to("heidi@example.test", "renews on")
    text = " ".join(text_of(reminder).split())
    assert "for 69.80 USD" in text and "You pay it by invoice" in text
    # S1001 is charged automatically to a card: never reminded (remind_auto_renewals off).
    # S1002 is manual: reminded on 13 Dec 15:00 UTC with the way to renew now.
    await served.move_to("2026-12-13T15:00:00Z")
    assert await served.mail_to("jane@example.test", "renews on") == []
    (manual,) = await served.mail_to("grace@example.test", "renews on")
    assert "Renew now" in text_of(manual)
    assert "/s/S1002-DemoS1002SelfService" in text_of(manual)
    await served.move_to("2026-12-14T15:00:00Z")  # exactly once
    assert len(await served.mail_to("grace@example.test", "renews on")) == 1


async def test_a_manual_subscription_not_renewed_ends_at_its_billing_date(served: Served) -> None:
    await served.move_to("2026-12-20T14:59:00Z")
    assert (await _subscription(served, "S1002"))["status"] == "active"
    await served.move_to("2026-12-20T15:00:00Z")
    data = await _subscription(served, "S1002")
    assert data["status"] == "canceled" and data["cancel_reason"] == "not_renewed"
    assert (await served.order("MANUAL01"))["subscription_status"] == "canceled"
    assert await served.mail_to("grace@example.test", "has ended")
    assert await served.mail_to("help@acme.test", "has ended")
    late = await served.api(
        "POST",
        "/api/v1/subscriptions/S1002/bills",
        {"billed_at": "2026-12-21T10:00:00Z", "amount": "19.95"},
    )
    assert late.status_code == 422 and late.json()["code"] == "canceled"


async def test_turning_every_item_off_ends_the_subscription_at_its_term(served: Served) -> None:
    await served.api(
        "POST", "/api/v1/subscriptions/S1003/payment-failures", {"at": "2026-11-24T08:00:00Z"}
    )
    address = reply_address_of(await served.latest_to("heidi@example.test", "declined"))
    await served.send("heidi@example.test", address, "Re", "#renew off 1\n")
    data = await _subscription(served, "S1003")
    assert [i["auto_renew"] for i in data["items"]] == [False, True]
    assert data["ends_at"] is None and data["next_amount"] == "9.95"
    await served.send("heidi@example.test", address, "Re", "#renew off 2\n")
    data = await _subscription(served, "S1003")
    assert data["ends_at"] == data["next_billing_at"] == "2026-12-06T15:00:00Z"
    await served.move_to("2026-12-06T15:00:00Z")
    data = await _subscription(served, "S1003")
    assert data["status"] == "canceled" and data["cancel_reason"] == "not_renewed"


async def test_an_unanswered_rise_lapses_at_the_billing_date(served: Served) -> None:
    await served.api("POST", "/api/v1/subscriptions/S1001/items/1/change", {"unit_price": "29.95"})
    await served.move_to("2026-12-02T10:00:00Z")
    data = await _subscription(served, "S1001")
    assert data["items"][0]["pending_change"] is None
    assert data["items"][0]["unit_price"] == "19.95" and data["status"] == "active"
    assert await served.mail_to("jane@example.test", "old price stays")
    assert await served.mail_to("help@acme.test", "old price stays")


async def test_rotating_the_secret_changes_the_link(served: Served) -> None:
    before = (await _subscription(served, "S1001"))["links"]["self_service"]
    vendor = await served.api("POST", "/api/v1/admin/subscriptions/S1001/rotate", {}, token=ACME)
    assert vendor.status_code == 403
    rotated = await served.api("POST", "/api/v1/admin/subscriptions/S1001/rotate", {})
    assert rotated.status_code == 200
    after = rotated.json()["links"]["self_service"]
    assert after != before and after.startswith("http://desk.test/s/S1001-")


async def test_bad_reports_get_a_clear_error_and_change_nothing(served: Served) -> None:
    before = await _subscription(served, "S1001")
    cases = [
        (
            "/api/v1/subscriptions/S9999/bills",
            {"billed_at": "2026-11-25T12:00:00Z", "amount": "1"},
            404,
            "S9999",
        ),
        (
            "/api/v1/subscriptions/S1001/bills",
            {"billed_at": "2026-11-25T12:00:00Z", "amount": "-5"},
            400,
            "zero or more",
        ),
        (
            "/api/v1/subscriptions/S1001/bills",
            {"billed_at": "2026-11-25T12:00:00Z", "amount": "1e999x"},
            400,
            "decimal",
        ),
        (
            "/api/v1/subscriptions/S1001/bills",
            {"billed_at": "2026-11-25T12:00:00", "amount": "1"},
            400,
            "time zone",
        ),
        ("/api/v1/subscriptions/S1001/bills", {"billed_at": "2026-11-25T12:00:00Z"}, 400, "amount"),
        ("/api/v1/subscriptions/S1001/items/2/change", {"unit_price": "1.00"}, 404, "no item 2"),
        ("/api/v1/subscriptions/S1001/items/0/change", {"unit_price": "1.00"}, 400, "item number"),
        ("/api/v1/subscriptions/S1001/items/1/change", {}, 400, "unit_price, quantity"),
        ("/api/v1/subscriptions/S1001/items/1/change", {"quantity": 0}, 400, "1 or more"),
        ("/api/v1/subscriptions/S1001/items/1/change", {"unit_price": 19.95}, 400, "decimal"),
        ("/api/v1/subscriptions/S1001/items/1/change", {"colour": "red"}, 400, "unknown field"),
        ("/api/v1/subscriptions/S1001/payment-failures", {"at": "yesterday"}, 400, "ISO-8601"),
    ]
    for path, body, status, words in cases:
        response = await served.api("POST", path, body, token=ACME)
        assert response.status_code == status, (path, body, response.text)
        assert words in response.json()["error"], (path, body, response.text)
    invalid_json = await served.http.post(
        "/api/v1/subscriptions/S1001/bills",
        content=b"{not json",
        headers={"Authorization": f"Bearer {ACME}"},
    )
    assert invalid_json.status_code == 400
    assert await _subscription(served, "S1001") == before
    assert await served.mail_to("jane@example.test") == []


async def test_a_processed_cancelation_ends_the_subscription_and_its_notices(
    served: Served,
) -> None:
    # Grace cancels by email; after the save-the-sale window her subscription is canceled,
    # and its reminder (13 Dec) and end of term (20 Dec) never come.
    code, _ = await served.send("grace@example.test", f"cancel@{DOMAIN}", "MANUAL01", "Stop it.")
    assert code == 250
    await served.move_to("2026-11-25T15:00:00Z")
    data = await _subscription(served, "S1002")
    assert data["status"] == "canceled" and data["cancel_reason"] == "canceled"
    assert data["due"] is None
    await served.clear_mail()
    await served.move_to("2026-12-21T00:00:00Z")
    assert await served.mail_to("grace@example.test") == []
    assert (await _subscription(served, "S1002"))["events"] == data["events"]


async def test_a_lower_price_needs_no_consent_and_applies_at_the_next_bill(served: Served) -> None:
    response = await served.api(
        "POST", "/api/v1/subscriptions/S1003/items/1/change", {"quantity": 2}, token=ACME
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["items"][0]["pending_change"]["consent"] == "not_needed"
    assert data["next_amount"] == "49.85"  # 2 x 19.95 + 9.95, from the next billing
    notice = await served.latest_to("heidi@example.test", "A change to your subscription")
    assert "nothing is needed from you" in " ".join(text_of(notice).split())
    bill = {"billed_at": "2026-12-06T15:00:00Z", "amount": "49.85"}
    billed = await served.api("POST", "/api/v1/subscriptions/S1003/bills", bill, token=ACME)
    item = billed.json()["items"][0]
    assert item["quantity"] == 2 and item["pending_change"] is None


async def test_a_billing_date_nearer_than_the_reminder_period_is_reminded_at_once(
    served: Served,
) -> None:
    # A manual subscription imported on Mon 23 Nov that bills on Sat 28 Nov: within the
    # 7 days, so its reminder goes out at once rather than never.
    order = {
        "reference": "LATE0001",
        "vendor": "acme",
        "customer": {"email": "ivan@example.test", "name": "Ivan"},
        "items": [{"sku": "ACME-PRO", "quantity": 1}],
        "payment_method": "credit_card",
        "purchased_at": "2026-10-28T14:00:00Z",
        "bills": [{"billed_at": "2026-10-28T14:00:00Z", "amount": "19.95"}],
        "subscription": {"renewal": "manual", "next_billing_at": "2026-11-28T14:00:00Z"},
    }
    imported = await served.api(
        "POST", "/api/v1/admin/import", {"vendors": [], "products": [], "orders": [order]}
    )
    assert imported.status_code == 200, imported.text
    await served.advance("PT1M")
    (reminder,) = await served.mail_to("ivan@example.test", "renews on")
    assert "Sat 28 Nov 2026" in reminder.subject
