"""The operator's console (issue #17): vendors, escalations, the outbox, kept mail, bounces.

Over real HTTP on both stores, signed in with the admin token; everything it
changes goes through the funnel (or the intake, for a replay).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.web.desk_support import browser, sign_in, sign_in_as_operator
from tests.web.support import JANE, open_by_email, page_link, post_form

pytestmark = pytest.mark.anyio


async def escalated_refund(served: Served) -> int:
    """Jane's refund, closed by Acme (a save), escalated by Jane."""
    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    vendor_page = await page_link(served, "help@acme.test", number)
    await post_form(served.http, vendor_page, f"{vendor_page}/action", {"action": "close"})
    customer_page = await page_link(served, JANE, number)
    escalated = await post_form(
        served.http,
        customer_page,
        f"{customer_page}/action",
        {"action": "escalate", "text": "I never agreed."},
    )
    assert escalated.status_code == 303
    return number


async def test_vendors_are_listed_searched_and_opened(served: Served) -> None:
    async with browser(served) as client:
        await sign_in_as_operator(client)
        listed = (await client.get("/console")).text
        assert "Acme Software" in listed and "Globex" in listed
        found = (await client.get("/console", params={"q": "globex"})).text
        assert "Globex" in found and "Acme Software" not in found
        vendor = await client.get("/console/vendors/acme")
        assert vendor.status_code == 200
        assert await served.command_address("acme") in vendor.text
        assert "Never marked." in vendor.text
        assert (await client.get("/console/vendors/nobody")).status_code == 404


async def test_the_operator_reviews_an_escalation_and_marks_the_vendor(served: Served) -> None:
    number = await escalated_refund(served)
    async with browser(served) as client:
        await sign_in_as_operator(client)
        page = await client.get("/console/escalations")
        assert f"#{number}" in page.text and "I never agreed." in page.text
        marked = await post_form(
            client,
            "/console/escalations",
            "/console/vendors/acme/abuse",
            {"abusing": "1", "back": "escalations"},
        )
        assert marked.status_code == 303
        assert marked.headers["location"] == "/console/escalations"
        after = (await client.get("/console/escalations")).text
        assert "is marked as abusing" in after and "Clear the abuse mark of Acme" in after
        vendor = (await served.api("GET", "/api/v1/vendors/acme")).json()
        assert vendor["abusing"] is True
        cleared = await post_form(
            client, "/console/vendors/acme", "/console/vendors/acme/abuse", {"abusing": "0"}
        )
        assert cleared.status_code == 303
        history = (await client.get("/console/vendors/acme")).text
        assert "Marked as abusing" in history and "Mark cleared" in history
        assert "by console (admin token)" in history
    assert (await served.api("GET", "/api/v1/vendors/acme")).json()["abusing"] is False


async def test_a_failing_delivery_is_retried_or_given_up(served: Served) -> None:
    async with browser(served) as vendor:
        await sign_in(served, vendor, "owner@acme.test")
        await post_form(
            vendor,
            "/desk/settings",
            "/desk/settings",
            {
                "timezone": "America/New_York",
                "support_email": "help@acme.test",
                "agent_emails": "",
                "webhook_url": "https://hooks.acme.invalid/maildesk",
            },
        )
        await post_form(vendor, "/desk/settings", "/desk/settings/webhook-test", {})
    await served.flush()  # the host does not resolve: retrying
    async with browser(served) as client:
        await sign_in_as_operator(client)
        page = (await client.get("/console/outbox")).text
        match = re.search(r"<tr><td>(\d+)</td>\s*<td>webhook test</td>", page)
        assert match, page
        delivery = match.group(1)
        given_up = await post_form(
            client, "/console/outbox", f"/console/outbox/{delivery}/give-up", {}
        )
        assert given_up.status_code == 303
        failed = (await client.get("/console/outbox", params={"show": "failed"})).text
        assert "given up by the operator" in failed
        retried = await post_form(
            client, "/console/outbox", f"/console/outbox/{delivery}/retry", {}
        )
        assert retried.status_code == 303
        assert (
            f"Delivery {delivery} will be tried again now."
            in (await client.get("/console/outbox")).text
        )
        twice = await post_form(client, "/console/outbox", "/console/outbox/999999/retry", {})
        assert twice.status_code == 303
        assert "was not changed" in (await client.get("/console/outbox")).text


async def test_kept_mail_is_shown_raw_and_replayed(served: Served) -> None:
    code, _ = await served.send(
        "stranger@example.test", "support@support.maildesk.test", "NOSUCH99", "Hello?"
    )
    assert code == 250
    async with browser(served) as client:
        await sign_in_as_operator(client)
        page = (await client.get("/console/inbound")).text
        match = re.search(r'href="/console/inbound/(\d+)/raw"', page)
        assert match and "stranger@example.test" in page
        kept = match.group(1)
        raw = await client.get(f"/console/inbound/{kept}/raw")
        assert raw.status_code == 200 and "Subject: NOSUCH99" in raw.text
        assert raw.headers["content-type"].startswith("text/plain")
        await served.clear_mail()
        replayed = await post_form(
            client, "/console/inbound", f"/console/inbound/{kept}/replay", {}
        )
        assert replayed.status_code == 303
        assert (
            "was replayed to support@support.maildesk.test"
            in (await client.get("/console/inbound")).text
        )
        assert await served.mail_to("stranger@example.test")  # answered again
        again = await post_form(client, "/console/inbound", f"/console/inbound/{kept}/replay", {})
        assert again.status_code == 303
        assert "was not replayed" in (await client.get("/console/inbound")).text


async def test_a_bouncing_mark_is_cleared(served: Served) -> None:
    from datetime import UTC, datetime

    async with served.runtime.store.transaction() as q:
        await q.inbound.mark_bouncing("gone@example.test", datetime.now(UTC), "550 no such user")
    async with browser(served) as client:
        await sign_in_as_operator(client)
        page = (await client.get("/console/bouncing")).text
        assert "gone@example.test" in page and "550 no such user" in page
        cleared = await post_form(
            client, "/console/bouncing", "/console/bouncing/clear", {"address": "gone@example.test"}
        )
        assert cleared.status_code == 303
        assert "is no longer marked as bouncing" in (await client.get("/console/bouncing")).text
    assert not await served.is_bouncing("gone@example.test")


async def test_the_console_refuses_strangers_and_forged_forms(served: Served) -> None:
    async with browser(served) as stranger:
        for path in ("/console/outbox", "/console/escalations", "/console/vendors/acme"):
            response = await stranger.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == f"/console?next={path}"
        response = await stranger.post("/console/vendors/acme/abuse", data={"abusing": "1"})
        assert response.status_code == 303
    async with httpx.AsyncClient(base_url=str(served.http.base_url)) as operator:
        await sign_in_as_operator(operator)
        forged = await operator.post(
            "/console/vendors/acme/abuse", data={"abusing": "1", "csrf_token": "0" * 64}
        )
        assert forged.status_code == 403
    assert (await served.api("GET", "/api/v1/vendors/acme")).json()["abusing"] is False


async def test_the_operator_imports_a_file_from_the_console(served: Served) -> None:
    import json

    catalog = {
        "vendors": [{"id": "initech", "name": "Initech", "account_email": "bill@initech.test"}]
    }
    async with browser(served) as client:
        await sign_in_as_operator(client)
        from tests.web.support import csrf_token

        token = await csrf_token(client, "/console")
        done = await client.post(
            "/console/import",
            data={"csrf_token": token},
            files={"catalog": ("c.json", json.dumps(catalog).encode(), "application/json")},
        )
        assert done.status_code == 303
        assert "Imported 1 vendor, 0 products, 0 orders." in (await client.get("/console")).text
        bad = await client.post(
            "/console/import",
            data={"csrf_token": token},
            files={"catalog": ("c.json", b'{"vendors": [{"id": "X!"}]}', "application/json")},
        )
        assert bad.status_code == 303
        assert "Nothing was imported: vendors[0]" in (await client.get("/console")).text
    assert (await served.api("GET", "/api/v1/vendors/initech")).status_code == 200


async def test_the_operator_reads_an_escalated_ticket_and_moves_the_fake_clock(
    served: Served,
) -> None:
    number = await escalated_refund(served)
    async with browser(served) as client:
        await sign_in_as_operator(client)
        escalations = (await client.get("/console/escalations")).text
        assert f'href="/console/tickets/{number}"' in escalations
        ticket = await client.get(f"/console/tickets/{number}")
        assert ticket.status_code == 200
        assert "Not for me." in ticket.text and "I never agreed." in ticket.text
        assert "Escalated by the customer" in ticket.text
        assert (await client.get("/console/tickets/99999")).status_code == 404

        wrong = await post_form(client, "/console", "/console/clock", {"advance": "soon"})
        assert wrong.status_code == 303
        assert "is not a duration" in (await client.get("/console")).text
        moved = await post_form(client, "/console", "/console/clock", {"advance": "P1D"})
        assert moved.status_code == 303
        assert (
            "The clock now reads Tue 24 Nov 2026 14:00 UTC" in (await client.get("/console")).text
        )


async def test_the_operator_lists_every_vendors_tickets_and_filters_by_vendor(
    served: Served,
) -> None:
    acme = await open_by_email(served, JANE, "support", "Q7K2M9XA", "Acme question")
    opened = await served.api(
        "POST",
        "/api/v1/tickets",
        {"order": "GLX75DAY", "type": "support", "text": "Globex question"},
        "globex-demo-key",
    )
    globex = int(opened.json()["number"])
    async with browser(served) as client:
        await sign_in_as_operator(client)
        every = (await client.get("/console/tickets")).text
        assert f'href="/console/tickets/{acme}"' in every
        assert f'href="/console/tickets/{globex}"' in every
        assert "Globex" in every and "Acme Software" in every
        only = (await client.get("/console/tickets", params={"vendor": "globex"})).text
        assert f'href="/console/tickets/{globex}"' in only
        assert f'href="/console/tickets/{acme}"' not in only
        found = (await client.get("/console/tickets", params={"q": "acme question"})).text
        assert f'href="/console/tickets/{acme}"' in found
        assert f'href="/console/tickets/{globex}"' not in found


async def test_a_subscription_is_found_and_its_secret_rotated(served: Served) -> None:
    async with browser(served) as client:
        await sign_in_as_operator(client)
        by_order = await client.get("/console/subscriptions", params={"id": "INVOICE1"})
        assert by_order.status_code == 200
        assert "S1003: order INVOICE1" in by_order.text
        assert "/s/S1003-DemoS1003SelfService" in by_order.text
        missing = await client.get("/console/subscriptions", params={"id": "S9999"})
        assert "No subscription has the id or order reference S9999" in missing.text
        rotated = await post_form(
            client, "/console/subscriptions?id=S1003", "/console/subscriptions/S1003/rotate", {}
        )
        assert rotated.status_code == 303
        after = await client.get(rotated.headers["location"])
        assert "has a new secret" in after.text
        assert "DemoS1003SelfService" not in after.text
    assert (await served.http.get("/s/S1003-DemoS1003SelfService")).status_code == 404


async def test_the_vendors_page_has_a_plain_title_and_each_form_once(served: Served) -> None:
    async with browser(served) as client:
        await sign_in_as_operator(client)
        page = (await client.get("/console")).text
    assert "<title>Vendors · console · maildesk support</title>" in page
    assert page.count('action="/console/import"') == 1
    assert page.count('action="/console/clock"') == 1
