"""Signing in to the desk and the console (issue #17): one-time links, sessions, signing out.

Over real HTTP on a running `serve` (both stores): the link is read from the
mail the outbox delivered to the catcher, as the person would read it.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.e2e.conftest import Served, serving, text_of
from tests.web.desk_support import (
    SIGNIN_LINK,
    ask_for_link,
    browser,
    emailed_link,
    redeem,
    sign_in,
    sign_in_as_operator,
)
from tests.web.support import JANE, open_by_email, post_form

pytestmark = pytest.mark.anyio


async def test_signed_out_the_desk_is_its_sign_in_page_and_its_pages_send_you_there(
    served: Served,
) -> None:
    async with browser(served) as client:
        page = await client.get("/desk")
        assert page.status_code == 200
        assert "Sign in to your desk" in page.text
        for path in ("/desk/tickets", "/desk/orders", "/desk/settings", "/desk/tickets/1"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/desk?next={path}", path


async def test_an_agent_signs_in_with_the_emailed_link_and_lands_on_the_desk(
    served: Served,
) -> None:
    async with browser(served) as client:
        asked = await ask_for_link(served, client, "Agent@acme.test")
        assert asked.status_code == 200
        assert "If Agent@acme.test may sign in to the desk" in asked.text
        link = await emailed_link(served, "agent@acme.test")
        confirm = await client.get(link)  # a mail scanner's visit spends nothing
        assert confirm.status_code == 200 and "Press the button to sign in" in confirm.text
        signed = await redeem(client, link)
        assert signed.status_code == 303 and signed.headers["location"] == "/desk"
        cookie = signed.headers["set-cookie"]
        assert "maildesk_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # the test's base URL is http
        desk = await client.get("/desk")
        assert desk.status_code == 200 and "Acme Software: today" in desk.text
        assert "agent@acme.test" in desk.text


async def test_after_signing_in_the_link_leads_back_to_the_page_that_asked(
    served: Served,
) -> None:
    number = await open_by_email(served, JANE, "support", "Q7K2M9XA", "Hello?")
    async with browser(served) as client:
        asked_at = await client.get(f"/desk/tickets/{number}")
        assert asked_at.headers["location"] == f"/desk?next=/desk/tickets/{number}"
        page = f"/desk?next=/desk/tickets/{number}"
        await post_form(
            client,
            page,
            "/desk/signin",
            {"email": "owner@acme.test", "place": "desk", "next": f"/desk/tickets/{number}"},
        )
        link = await emailed_link(served, "owner@acme.test")
        message = text_of(await served.latest_to("owner@acme.test", "Sign in"))
        assert f"{link}?next=/desk/tickets/{number}" in message
        signed = await post_form(client, link, f"{link}?next=/desk/tickets/{number}", {})
        assert signed.headers["location"] == f"/desk/tickets/{number}"
    for hostile in ("//evil.test/desk", "https://evil.test/", "/desk/../console", "/console"):
        async with browser(served) as client:
            await ask_for_link(served, client, "owner@acme.test")
            link = await emailed_link(served, "owner@acme.test")
            signed = await post_form(client, link, f"{link}?next={hostile}", {})
            assert signed.headers["location"] == "/desk", hostile


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(served: Served) -> None:
    async with browser(served) as client:
        known = await ask_for_link(served, client, "owner@acme.test")
        unknown = await ask_for_link(served, client, "stranger@example.test")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("owner@acme.test", "X") == unknown.text.replace(
        "stranger@example.test", "X"
    )
    assert await served.mail_to("stranger@example.test") == []
    assert len(await served.mail_to("owner@acme.test", "Sign in")) == 1


async def test_a_link_works_once(served: Served) -> None:
    async with browser(served) as first, browser(served) as second:
        await ask_for_link(served, first, "owner@acme.test")
        link = await emailed_link(served, "owner@acme.test")
        assert (await redeem(first, link)).status_code == 303
        again = await post_form(second, "/desk", link, {})
        assert again.status_code == 410 and "no longer works" in again.text
        assert (await second.get(link)).status_code == 410
        assert (await second.get("/desk/tickets")).status_code == 303  # not signed in


async def test_a_link_expires_after_15_minutes(served: Served) -> None:
    async with browser(served) as client:
        await ask_for_link(served, client, "owner@acme.test")
        link = await emailed_link(served, "owner@acme.test")
        await served.advance("PT15M1S")
        assert (await client.get(link)).status_code == 410
        assert (await post_form(client, "/desk", link, {})).status_code == 410


async def test_signing_in_makes_a_new_session_whatever_cookie_the_browser_had(
    served: Served,
) -> None:
    """Session fixation: a session id planted before sign-in is never the one signed in."""
    async with browser(served) as attacker, browser(served) as victim:
        await sign_in(served, attacker, "owner@globex.test")
        planted = attacker.cookies["maildesk_session"]
        victim.cookies.set("maildesk_session", planted)
        async with browser(served) as phone:  # the link was asked for elsewhere
            await ask_for_link(served, phone, "owner@acme.test")
        link = await emailed_link(served, "owner@acme.test")
        signed = await redeem(victim, link)
        fresh = signed.cookies["maildesk_session"]
        assert signed.status_code == 303 and fresh != planted
        # The planted session was ended by the sign-in in its browser.
        assert (await attacker.get("/desk/tickets")).status_code == 303
        assert "Acme Software" in (await victim.get("/desk")).text


async def test_signing_out_ends_the_session_in_every_browser_that_holds_it(
    served: Served,
) -> None:
    async with browser(served) as client, browser(served) as copy:
        await sign_in(served, client, "owner@acme.test")
        copy.cookies.set("maildesk_session", client.cookies["maildesk_session"])
        assert (await copy.get("/desk/tickets")).status_code == 200
        out = await post_form(client, "/desk", "/desk/signout", {})
        assert out.status_code == 303 and out.headers["location"] == "/desk"
        assert (await copy.get("/desk/tickets")).status_code == 303
        assert "You are signed out" in (await client.get("/desk")).text


async def test_a_session_ends_after_8_idle_hours(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        await served.advance("PT7H")
        assert (await client.get("/desk/tickets")).status_code == 200
        await served.advance("PT8H1M")
        assert (await client.get("/desk/tickets")).status_code == 303


async def test_a_forged_cookie_is_no_session(served: Served) -> None:
    async with browser(served) as client:
        client.cookies.set("maildesk_session", "A" * 43 + "." + "0" * 64)
        assert (await client.get("/desk/tickets")).status_code == 303


async def test_signing_out_needs_the_sessions_own_form_token(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        forged = await client.post("/desk/signout", data={"csrf_token": "0" * 64})
        assert forged.status_code == 403
        assert (await client.get("/desk/tickets")).status_code == 200


async def test_the_operator_signs_in_with_the_admin_token_and_a_vendor_never_sees_the_console(
    served: Served,
) -> None:
    async with browser(served) as operator, browser(served) as vendor:
        wrong = await post_form(operator, "/console", "/console/signin", {"token": "nope"})
        assert wrong.status_code == 400 and "not the admin token" in wrong.text
        await sign_in_as_operator(operator)
        console = await operator.get("/console")
        assert console.status_code == 200 and "Acme Software" in console.text
        await sign_in(served, vendor, "owner@acme.test")
        assert (await vendor.get("/console")).status_code == 404
        assert (await vendor.get("/console/outbox")).status_code == 404


async def test_an_operator_address_gets_a_console_link(served: Served) -> None:
    served.runtime.settings = replace(  # type: ignore[misc]
        served.runtime.settings, operator_emails=("ops@maildesk.test",)
    )
    async with browser(served) as client:
        await post_form(
            client, "/console", "/desk/signin", {"email": "ops@maildesk.test", "place": "console"}
        )
        link = await emailed_link(served, "ops@maildesk.test", "console")
        signed = await redeem(client, link)
        assert signed.status_code == 303 and signed.headers["location"] == "/console"
        assert "Vendors" in (await client.get("/console")).text


async def test_asking_for_links_is_limited_per_address(served: Served) -> None:
    async with browser(served) as client:
        answers = [
            (await ask_for_link(served, client, "owner@acme.test")).status_code for _ in range(6)
        ]
    assert answers == [200] * 5 + [429]


async def test_the_session_cookie_is_secure_when_the_site_is_served_over_https(
    store: object,
) -> None:
    async with serving(store, base_url="https://desk.test") as running:  # type: ignore[arg-type]
        host = {"Host": "desk.test"}
        page = await running.http.get("/desk", headers=host)
        csrf_cookie = page.cookies["maildesk_csrf"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        jar = {"Cookie": f"maildesk_csrf={csrf_cookie}", **host}
        running.http.cookies.clear()
        asked = await running.http.post(
            "/desk/signin",
            data={"email": "owner@acme.test", "csrf_token": token.group(1)},
            headers=jar,
        )
        assert asked.status_code == 200
        link = SIGNIN_LINK.search(text_of(await running.latest_to("owner@acme.test", "Sign in")))
        assert link and link.group(0).startswith("https://desk.test/desk/signin/")
        signed = await running.http.post(
            link.group(1), data={"csrf_token": token.group(1)}, headers=jar
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("maildesk_session=")
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()


async def test_an_agent_the_vendor_removes_is_signed_out_at_once(served: Served) -> None:
    async with browser(served) as owner, browser(served) as agent:
        await sign_in(served, owner, "owner@acme.test")
        await sign_in(served, agent, "agent@acme.test")
        assert (await agent.get("/desk/tickets")).status_code == 200
        saved = await post_form(
            owner,
            "/desk/settings",
            "/desk/settings",
            {
                "timezone": "America/New_York",
                "support_email": "help@acme.test",
                "agent_emails": "",
                "webhook_url": "",
            },
        )
        assert saved.status_code == 303
        assert (await agent.get("/desk/tickets")).status_code == 303
        await ask_for_link(served, agent, "agent@acme.test")
        assert len(await served.mail_to("agent@acme.test", "Sign in")) == 1  # no new link
