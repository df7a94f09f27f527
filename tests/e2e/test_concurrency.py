"""Many senders at once: no request ever holds one database connection while waiting for another.

On PostgreSQL the `store` fixture's pool has 4 connections; 16 concurrent
new-ticket messages deadlocked it when the intake nested two reads.
"""

from __future__ import annotations

import aiosmtplib
import anyio
import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served

pytestmark = pytest.mark.anyio


async def test_sixteen_concurrent_senders_all_get_their_ticket(served: Served) -> None:
    senders = ["jane@example.test", "bob@example.test", "carol@example.test", "dave@example.test"]
    orders = {
        "jane@example.test": "B00K4JNE",
        "bob@example.test": "MUG2B0BX",
        "carol@example.test": "OLD45DAY",
        "dave@example.test": "GLX75DAY",
    }
    codes: list[int] = []

    async def send(i: int) -> None:
        sender = senders[i % 4]
        message = (
            f"From: {sender}\r\nTo: support@{DOMAIN}\r\nSubject: {orders[sender]} "
            f"question {i}\r\nMessage-ID: <c{i}@x.test>\r\n\r\nHello\r\n"
        ).encode()
        with anyio.fail_after(20):
            try:
                await aiosmtplib.send(
                    message,
                    sender=sender,
                    recipients=[f"support@{DOMAIN}"],
                    hostname="127.0.0.1",
                    port=served.smtp_port,
                    start_tls=False,
                    timeout=15,
                )
                codes.append(250)
            except aiosmtplib.SMTPResponseException as error:
                codes.append(error.code)

    async with anyio.create_task_group() as group:
        for i in range(16):
            group.start_soon(send, i)
    limit = served.runtime.settings.new_tickets_per_hour  # 5 per sender in these tests
    assert codes.count(250) == 4 * min(4, limit)
    assert len(await served.tickets()) == 4 * min(4, limit)
