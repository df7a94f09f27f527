"""A customer acting as the vendor by naming the vendor's thread (issue #13, item 1).

The attack that moved money: each party's first notification was the thread
root `<t{n}.{party}.{token}@…>` with one token for both parties, so the
customer, reading its own copy, could write the vendor's root. Mail to
`support@` answering that root with the vendor's address in `From` was taken
as the vendor, and its `#approve` refunded an approval-required request.

Every identifier one party receives must now be unguessable from what the
other party receives, and a reply matched only by `In-Reply-To`/`References`
may add a comment but never act unless its `From` is proven (DMARC pass at a
server the operator trusts).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, serving

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

REFUND = f"refund@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
ERIN = "erin@example.test"  # GLXW1RE1, Globex: every customer refund waits for approval
GLOBEX = "owner@globex.test"
OUR_MX = "mx.support.maildesk.test"


async def caught(served: Served, to: str) -> list[dict[str, Any]]:
    """Every caught message to `to`, oldest first, as the catcher's JSON plus its raw text."""
    await served.flush()
    response = await served.http.get("/api/messages")
    found = []
    for message in response.json():
        if to in message["to"]:
            raw = await served.http.get(f"/api/messages/{message['id']}/raw")
            found.append({**message, "raw": raw.text})
    return found


async def approval_waiting_refund(served: Served) -> int:
    code, reply = await served.send(ERIN, REFUND, "Refund GLXW1RE1", "It crashes on start.")
    assert code == 250, reply
    (ticket,) = await served.tickets()
    assert ticket["due"] is None  # waiting for Globex's approval, no timer
    await served.flush()
    return int(ticket["number"])


def header(message: dict[str, Any], name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message["raw"], re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else ""


async def assert_not_refunded(served: Served, number: int) -> None:
    ticket = await served.ticket(number)
    assert ticket["status"] == "open"
    assert [e["kind"] for e in ticket["events"]] == ["opened"]
    assert (await served.order("GLXW1RE1"))["refunded_amount"] == "0"


async def test_the_customer_cannot_derive_the_vendors_thread_root_from_its_own(
    served: Served,
) -> None:
    number = await approval_waiting_refund(served)
    (own,) = await caught(served, ERIN)
    # The old attack: the vendor's root was the customer's with the party swapped.
    customer_root = own["message_id"]
    guessed_vendor_root = customer_root.replace(".customer.", ".vendor.")

    code, _ = await served.send(
        GLOBEX,
        SUPPORT,
        f"Re: [#{number}] your refund request",
        "#approve\n",
        headers={"In-Reply-To": guessed_vendor_root, "References": guessed_vendor_root},
        envelope_from=ERIN,
    )

    assert code != 451
    await assert_not_refunded(served, number)


async def test_nothing_the_customer_receives_names_the_vendors_copies(served: Served) -> None:
    """Message-IDs, thread roots, reply addresses and links: each party's are its own."""
    number = await approval_waiting_refund(served)
    code, reply = await served.send(
        ERIN, await served.reply_address(ERIN), "Re: refund", "Any news?\n"
    )
    assert code == 250, reply
    customer_mail = await caught(served, ERIN)
    vendor_mail = await caught(served, GLOBEX)
    assert len(customer_mail) >= 2 and len(vendor_mail) >= 2

    vendor_identifiers = set()
    for message in vendor_mail:
        for name in ("Message-ID", "In-Reply-To", "References", "Reply-To"):
            vendor_identifiers.update(
                re.findall(r"<?([^\s<>,]+@[^\s<>,]+)>?", header(message, name))
            )
        vendor_identifiers.update(re.findall(rf"/t/{number}-v-[a-z2-7]+", message["raw"]))
    secrets_of_vendor = {identifier.partition("@")[0] for identifier in vendor_identifiers}
    secrets_of_vendor.discard("support")  # our From address, the same for everyone
    assert secrets_of_vendor

    customer_text = "\n".join(message["raw"] for message in customer_mail)
    for secret in secrets_of_vendor:
        # Neither whole nor in part: no token of the vendor's shows in the customer's mail.
        for token in re.split(r"[.\-/]", secret):
            if len(token) >= 8:
                assert token not in customer_text, f"the customer's mail holds {token!r}"


async def test_a_reply_matched_only_by_its_thread_may_comment_but_not_act(served: Served) -> None:
    """Even the genuine vendor: its thread id alone does not prove its From."""
    number = await approval_waiting_refund(served)
    (first,) = await caught(served, GLOBEX)
    root = first["message_id"]

    code, reply = await served.send(
        GLOBEX, SUPPORT, f"Re: [#{number}]", "#approve\n", headers={"In-Reply-To": root}
    )
    assert code == 550, reply
    assert "reply address" in reply
    await assert_not_refunded(served, number)

    code, reply = await served.send(
        GLOBEX,
        SUPPORT,
        f"Re: [#{number}]",
        "We are looking into it.\n",
        headers={"In-Reply-To": root},
    )
    assert code == 250, reply
    ticket = await served.ticket(number)
    assert ticket["comments"][-1]["author"] == "vendor"
    assert ticket["comments"][-1]["text"] == "We are looking into it."
    assert ticket["status"] == "open" and (await served.order("GLXW1RE1"))["refunded_amount"] == "0"


@pytest.fixture
async def served_behind_our_mx(store: Store) -> AsyncIterator[Served]:
    """A listener whose operator trusts the Authentication-Results of its own MX."""
    async with serving(store, trusted_authserv_ids=(OUR_MX,)) as running:
        yield running


async def test_a_thread_reply_acts_when_a_trusted_server_proved_its_from(
    served_behind_our_mx: Served,
) -> None:
    served = served_behind_our_mx
    number = await approval_waiting_refund(served)
    (first,) = await caught(served, GLOBEX)
    proven = {
        "In-Reply-To": first["message_id"],
        "Authentication-Results": f"{OUR_MX}; spf=pass; dmarc=pass header.from=globex.test",
    }
    forged = {
        **proven,
        "Authentication-Results": "mx.attacker.test; dmarc=pass header.from=globex.test",
    }

    code, reply = await served.send(
        GLOBEX, SUPPORT, f"Re: [#{number}]", "#approve\n", headers=forged
    )
    assert code == 550, reply
    await assert_not_refunded(served, number)

    code, reply = await served.send(
        GLOBEX, SUPPORT, f"Re: [#{number}]", "#approve\n", headers=proven
    )
    assert code == 250, reply
    assert [e["kind"] for e in (await served.ticket(number))["events"]][:2] == [
        "opened",
        "approved",
    ]


async def test_a_legacy_shared_token_root_is_never_matched(served: Served) -> None:
    """Tickets opened before per-party roots keep threading, but their roots prove nothing."""
    number = await approval_waiting_refund(served)
    reply_address = await served.reply_address(ERIN)
    async with served.runtime.store.transaction() as q:  # as a ticket from before the fix
        await q.sql.execute(
            "UPDATE tickets SET customer_thread_root = NULL, vendor_thread_root = NULL, "
            "thread_token = ? WHERE number = ?",
            "0123456789abcdef",
            number,
        )
    await served.forget_mail()
    code, reply = await served.send(ERIN, reply_address, "Re: x", "Any news?")
    assert code == 250, reply
    legacy_vendor_root = f"<t{number}.vendor.0123456789abcdef@{DOMAIN}>"
    (to_vendor,) = await caught(served, GLOBEX)
    assert header(to_vendor, "In-Reply-To") == legacy_vendor_root  # mail clients still thread

    code, reply = await served.send(
        GLOBEX,
        SUPPORT,
        f"Re: [#{number}]",
        "Approved, says the customer.",
        headers={"In-Reply-To": legacy_vendor_root},
    )

    assert code == 250, reply  # a new support request, which finds no purchase of Globex's
    assert [c["author"] for c in (await served.ticket(number))["comments"]] == [
        "customer",
        "customer",
    ]
