"""The desk's settings and dashboard (issue #17), over real HTTP on both stores."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Served
from tests.web.desk_support import browser, sign_in
from tests.web.support import BOB, JANE, open_by_email, post_form

pytestmark = pytest.mark.anyio

SETTINGS = "/desk/settings"


async def save(client: object, **fields: str) -> object:
    values = {
        "timezone": "America/New_York",
        "support_email": "help@acme.test",
        "agent_emails": "agent@acme.test",
        "webhook_url": "",
    }
    values.update(fields)
    return await post_form(client, SETTINGS, SETTINGS, values)  # type: ignore[arg-type]


async def test_settings_change_the_vendor_and_a_new_agent_may_sign_in(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        page = await client.get(SETTINGS)
        assert page.status_code == 200
        command = await served.command_address("acme")
        assert command in page.text
        assert "within 30 days" in page.text  # the refund policy, shown only
        saved = await save(
            client,
            timezone="Europe/Paris",
            support_email="Care@Acme.test",
            agent_emails="agent@acme.test\nnew.agent@acme.test",
        )
        assert saved.status_code == 303  # type: ignore[attr-defined]
        assert "Your settings are saved." in (await client.get(SETTINGS)).text
    vendor = (await served.api("GET", "/api/v1/vendors/acme")).json()
    assert vendor["timezone"] == "Europe/Paris"
    assert vendor["support_email"] == "care@acme.test"
    assert vendor["agent_emails"] == ["agent@acme.test", "new.agent@acme.test"]
    async with browser(served) as agent:
        await sign_in(served, agent, "new.agent@acme.test")
        assert (await agent.get("/desk/tickets")).status_code == 200


async def test_wrong_settings_name_the_field_and_change_nothing(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        refused = await save(
            client,
            timezone="Mars/Olympus",
            support_email="not an address",
            webhook_url="http://127.0.0.1:9/hook",
        )
        assert refused.status_code == 400  # type: ignore[attr-defined]
        text = refused.text  # type: ignore[attr-defined]
        assert "is not a time zone" in text
        assert "is not one email address" in text
        assert 'aria-invalid="true"' in text
    vendor = (await served.api("GET", "/api/v1/vendors/acme")).json()
    assert vendor["timezone"] == "America/New_York" and vendor["support_email"] == "help@acme.test"
    assert vendor.get("webhook_url") in (None, "")


async def test_a_test_event_is_queued_and_listed_with_its_status(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        without = await post_form(client, SETTINGS, f"{SETTINGS}/webhook-test", {})
        assert without.status_code == 303
        assert "Set a webhook URL first" in (await client.get(SETTINGS)).text
        saved = await save(client, webhook_url="https://hooks.acme.example/maildesk")
        assert saved.status_code == 303  # type: ignore[attr-defined]
        sent = await post_form(client, SETTINGS, f"{SETTINGS}/webhook-test", {})
        assert sent.status_code == 303
        page = (await client.get(SETTINGS)).text
        assert "A test event is on its way" in page
        assert re.search(
            r"<td>test</td><td>[^<]+</td><td>(pending|retrying|failed|sent)</td>", page
        )


async def test_a_new_api_key_replaces_the_old_one_at_once(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        rotated = await post_form(client, SETTINGS, f"{SETTINGS}/api-key", {})
        assert rotated.status_code == 303
        page = (await client.get(SETTINGS)).text
        match = re.search(r"Your new API key is (mdk_[A-Za-z0-9_-]+)", page)
        assert match
    new_key = match.group(1)
    old = await served.api("GET", "/api/v1/orders/Q7K2M9XA", token="acme-demo-key")
    assert old.status_code == 401
    new = await served.api("GET", "/api/v1/orders/Q7K2M9XA", token=new_key)
    assert new.status_code == 200


async def test_the_dashboard_counts_the_vendors_day(served: Served) -> None:
    await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    await open_by_email(served, BOB, "support", "MUG2B0BX", "Is it dishwasher safe?")
    await open_by_email(served, JANE, "refund", "Refund B00K4JNE", "Wrong book.")
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        page = (await client.get("/desk")).text
        assert re.search(
            r'<span class="n">2</span>\s*<a href="[^"]*type=refund">Refund requests', page
        )
        assert re.search(r'<span class="n">1</span>\s*<a href="[^"]*type=support">Support', page)
        assert re.search(r'<span class="n">3</span>\s*<a href="[^"]*mine=1">Waiting for you', page)
        today = (await client.get("/desk/tickets", params={"due": "today"})).text
        assert "0 tickets due today" in today  # Monday 09:00 in New York: all due tomorrow
        await served.advance("PT16H")  # Tuesday 01:00 in New York
        await sign_in(served, client, "owner@acme.test")
        today = (await client.get("/desk/tickets", params={"due": "today"})).text
        assert "2 tickets due today" in today  # the refunds, at 09:00 and 09:00
        await served.advance("PT8H1M")  # both refunds are processed; the session idled out
        await sign_in(served, client, "owner@acme.test")
        page = (await client.get("/desk")).text
        week = page[page.index("This week") :]
        assert re.search(r'<span class="n">2</span> Refunds processed', week), week[:700]
