"""Mail whose sender cannot be read is refused at the door (issue #13, item 10).

Two `From` addresses, or a `From` that names no readable mailbox, used to be
answered `250` and to queue a reply to an empty address that then failed in
the outbox forever. Decided once, at the door: such mail is refused in the
SMTP conversation (`550 5.1.7`), so the sending server tells its user; the
raw message is kept for the operator; nothing is queued.
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

JANE = "jane@example.test"

UNREADABLE_FROM = [
    "jane@example.test, bob@example.test",  # two senders
    "=?utf-8?b?amFuZUBleGFtcGxlLnRlc3QKQmNjOiBib2JAeC50ZXN0?=",  # an encoded line break
    '"Jane\\\r\n" <jane@example.test>',  # a quoted name cut by a line break
    "undisclosed-recipients:;",  # a group with nobody in it
]


def raw_with_from(value: str, to: str) -> bytes:
    return (
        f"From: {value}\r\nTo: {to}\r\nSubject: Refund Q7K2M9XA\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n\r\nPlease refund me.\r\n"
    ).encode()


@pytest.mark.parametrize("mailbox", ["refund", "support", "lookup"])
@pytest.mark.parametrize("from_value", UNREADABLE_FROM)
async def test_a_sender_that_cannot_be_read_is_refused_and_nothing_is_queued(
    served: Served, mailbox: str, from_value: str
) -> None:
    code, reply = await served.deliver(
        raw_with_from(from_value, f"{mailbox}@{DOMAIN}"), f"{mailbox}@{DOMAIN}", JANE
    )

    assert code == 550, reply
    assert reply.startswith("5.1.7"), reply
    assert await served.tickets() == []
    async with served.runtime.store.reading() as q:
        assert await q.outbox.find() == []  # nothing queued, to anyone
    (kept,) = await served.inbound()
    assert kept["status"] == "refused"


async def test_a_line_break_in_the_display_name_is_read_as_one_line(served: Served) -> None:
    raw = raw_with_from(
        "=?utf-8?q?Jane=0D=0ABcc=3A_mallory=40evil=2Etest?= <jane@example.test>", f"refund@{DOMAIN}"
    )

    code, reply = await served.deliver(raw, f"refund@{DOMAIN}", JANE)

    assert code == 250, reply
    (ticket,) = await served.tickets()
    assert ticket["customer"] == JANE
    assert sorted(await served.recipients()) == ["help@acme.test", JANE]
