"""What each door offers is what the state machine accepts (issue #14: the domain decides).

The drift the old command list had, end to end: a vendor marked as abusing
the save-the-sale window was still offered `#close` and `#support` in its
notifications, which the machine refuses; `#escalate` was offered after its
30-day window. Now emails and pages both list `allowed_actions`.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, text_of
from tests.web.support import buttons_on, page_link

pytestmark = pytest.mark.anyio

JANE = "jane@example.test"
ACME = "help@acme.test"


def offered_commands(message: object) -> set[str]:
    return set(re.findall(r"^\s+#(\w+) ", text_of(message), re.MULTILINE))


async def test_a_vendor_marked_as_abusing_is_offered_neither_close_nor_support(
    served: Served,
) -> None:
    code, reply = await served.send(JANE, f"refund@{DOMAIN}", "Refund Q7K2M9XA", "It breaks.")
    assert code == 250, reply
    (ticket,) = await served.tickets()
    number = ticket["number"]
    assert {"close", "support"} <= offered_commands(await served.latest_to(ACME))

    response = await served.api("POST", "/api/v1/admin/vendors/acme/abuse", {"abusing": True})
    assert response.status_code == 200, response.text
    code, reply = await served.send(JANE, await served.reply_address(JANE), "Re", "Any news?")
    assert code == 250, reply

    to_vendor = await served.latest_to(ACME)
    assert offered_commands(to_vendor) == set()  # a reply needs no command
    page = await served.http.get(await page_link(served, ACME, number))
    assert buttons_on(page.text) == []
    # And the machine agrees: the vendor's #close is refused.
    code, reply = await served.send(ACME, await served.reply_address(ACME), "Re", "#close")
    assert code == 250, reply
    assert (await served.ticket(number))["status"] == "open"


async def test_escalation_is_offered_only_within_its_thirty_days(served: Served) -> None:
    code, reply = await served.send(JANE, f"refund@{DOMAIN}", "Refund Q7K2M9XA", "It breaks.")
    assert code == 250, reply
    (ticket,) = await served.tickets()
    code, reply = await served.send(ACME, await served.reply_address(ACME), "Re", "#close")
    assert code == 250, reply
    closed = await served.latest_to(JANE, "closed")
    assert offered_commands(closed) == {"escalate"}
    link = await page_link(served, JANE, ticket["number"])
    assert buttons_on((await served.http.get(link)).text) == ["escalate"]

    await served.advance("P31D")
    assert buttons_on((await served.http.get(link)).text) == []
