"""The intake's first check answers, in one statement, what the separate reads answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.clock import FakeClock
from service.store import InboundReceipt, Store

pytestmark = pytest.mark.anyio

JANE = "jane@example.test"


async def test_the_first_check_counts_as_the_flood_limits_do(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as q:
        for i, (rcpt, new_request, status, envelope) in enumerate(
            [
                ("refund@desk.test", True, "acted", JANE),
                ("support@desk.test", True, "refused", "bounces@relay.test"),
                ("t1.x@desk.test", False, "acted", JANE),
                ("t1.x@desk.test", False, "acted", JANE),
                ("t1.x@desk.test", False, "ignored", JANE),
            ]
        ):
            await q.inbound.record(
                InboundReceipt(
                    received_at=now - timedelta(minutes=i),
                    mail_from=envelope,
                    rcpt_to=rcpt,
                    message_id=f"<{i}@x>",
                    body_hash=f"h{i}",
                    raw=b"",
                    status=status,
                    sender=JANE,
                    new_request=new_request,
                )
            )
        await q.inbound.mark_bouncing(JANE, now, "550 gone")
    since = now - timedelta(hours=1)
    async with store.reading() as q:
        plain = await q.inbound.arrival("<0@x>", "refund@desk.test", "h0", JANE.upper())
        asked = await q.inbound.arrival(
            "<9@x>",
            "refund@desk.test",
            "h9",
            JANE,
            count="new_requests",
            mail_from=JANE,
            since=since,
        )
        replies = await q.inbound.arrival(
            "<9@x>", "t1.x@desk.test", "h9", JANE, count="replies", since=since, ticket=404
        )
        assert (plain.seen, plain.bouncing, plain.recent) == (True, True, None)
        assert not asked.seen and asked.bouncing
        assert asked.recent == await q.inbound.new_requests_from(JANE, JANE, since) == 2
        assert replies.recent == await q.inbound.replies_to("t1.x@desk.test", since) == 2
        assert replies.parties is None is await q.tickets.parties(404)
