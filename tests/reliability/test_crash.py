"""`maildesk serve` killed with SIGKILL while 16 connections send mail, then restarted.

Every message that got `250` is present and acted on exactly once, no event
is half-applied (each ticket has its history and both notifications, or does
not exist), and every notification is delivered; a message whose `250` was
lost in the crash is sent again, like a mail server would, and acts once.
Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import httpx
import pytest

from service.store import open_store
from tests.cli.test_serve_process import free_port, wait_for_health
from tests.conftest import fresh_postgres_database
from tests.e2e.test_many_processes import environment

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 600
CONNECTIONS = 16


def catalog() -> dict[str, Any]:
    return {
        "vendors": [
            {
                "id": "acme",
                "name": "Acme",
                "account_email": "owner@acme.test",
                "timezone": "America/New_York",
            }
        ],
        "products": [
            {
                "sku": "BOOK",
                "vendor": "acme",
                "name": "Book",
                "kind": "digital",
                "price": "9.00",
                "currency": "USD",
            }
        ],
        "orders": [
            {
                "reference": f"C{i:06d}",
                "vendor": "acme",
                "customer": {"email": f"c{i}@example.test"},
                "items": [{"sku": "BOOK"}],
                "payment_method": "credit_card",
                "purchased_at": "2026-11-20T10:00:00Z",
                "bills": [{"billed_at": "2026-11-20T10:00:00Z", "amount": "9.00"}],
            }
            for i in range(CUSTOMERS)
        ],
    }


def message(i: int) -> bytes:
    return (
        f"From: c{i}@example.test\r\nTo: support@support.maildesk.test\r\n"
        f"Subject: C{i:06d} does not start\r\nMessage-ID: <crash-{i}@c.test>\r\n\r\n"
        f"Order C{i:06d} shows an error.\r\n"
    ).encode()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "crash.db")
        return
    with fresh_postgres_database("maildesk_crash") as url:
        yield url


def start(database: str, relay_port: int, cwd: Path) -> tuple[subprocess.Popen[str], int, int]:
    smtp, http = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--db",
            database,
            "--relay",
            f"127.0.0.1:{relay_port}",
            "--sender-auth",  # the test sends from made-up domains with no DNS
            "off",
            "--smtp-port",
            str(smtp),
            "--http-port",
            str(http),
        ],
        cwd=cwd,
        env=environment(MAILDESK_NEW_TICKETS_PER_HOUR="100000"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_health(http, process)
    return process, smtp, http


async def send_until_killed(port: int, process: subprocess.Popen[str]) -> set[int]:
    """16 connections send distinct messages; SIGKILL lands while they are busy."""
    accepted: set[int] = set()
    enough = anyio.Event()
    finished: list[int] = []
    queue = iter(range(CUSTOMERS))

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5)
        try:
            await client.connect()
            for i in queue:
                await client.sendmail(
                    f"c{i}@example.test", ["support@support.maildesk.test"], message(i)
                )
                accepted.add(i)
                if len(accepted) >= 60:
                    enough.set()
        except (aiosmtplib.SMTPException, OSError):
            return  # the server died under us: this message got no 250

    async def killer() -> None:
        await enough.wait()
        process.send_signal(signal.SIGKILL)

    async def sender() -> None:
        await connection()
        finished.append(1)
        if len(finished) == CONNECTIONS:
            enough.set()  # all gave up early: fail on the count below, never hang

    async with anyio.create_task_group() as group:
        group.start_soon(killer)
        for _ in range(CONNECTIONS):
            group.start_soon(sender)
    return accepted


async def resend(port: int, numbers: list[int]) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    await client.connect()
    for i in numbers:
        await client.sendmail(f"c{i}@example.test", ["support@support.maildesk.test"], message(i))
    await client.quit()


async def final_state(database: str) -> dict[str, Any]:
    store = await open_store(database)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with store.reading() as q:
                counts = await q.outbox.counts()
            if not counts.get("pending") and not counts.get("retrying"):
                break
            await anyio.sleep(0.3)
        async with store.reading() as q:
            tickets = await q.tickets.find(limit=10_000)
            outbox = await q.outbox.find(limit=10_000)
            inbound = await q.inbound.find(limit=10_000)
    finally:
        await store.close()
    return {"tickets": tickets, "outbox": outbox, "inbound": inbound}


def test_sigkill_under_load_loses_nothing_and_acts_once(database: str, tmp_path: Path) -> None:
    relay_smtp, relay_http = free_port(), free_port()
    relay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "catcher",
            "--smtp-port",
            str(relay_smtp),
            "--http-port",
            str(relay_http),
        ],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (tmp_path / "catalog.json").write_text(json.dumps(catalog()))
    imported = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", "catalog.json", "--db", database],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    server = None
    try:
        process, smtp, _ = start(database, relay_smtp, tmp_path)
        accepted = anyio.run(send_until_killed, smtp, process)
        assert process.wait(timeout=10) == -signal.SIGKILL
        assert 60 <= len(accepted) < CUSTOMERS
        server, smtp, _ = start(database, relay_smtp, tmp_path)
        # The mail servers retry whatever got no 250; some of it may have been committed.
        retried = sorted(set(range(max(accepted) + 20)) - accepted)
        anyio.run(resend, smtp, [*retried, *sorted(accepted)[:20]])
        state = anyio.run(final_state, database)
        caught = httpx.get(f"http://127.0.0.1:{relay_http}/api/messages", timeout=10).json()
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        relay.send_signal(signal.SIGINT)
        relay.wait(timeout=10)

    expected = accepted | set(retried)
    orders = Counter(t.order_reference for t in state["tickets"])
    assert set(orders) == {f"C{i:06d}" for i in expected}  # every accepted message acted on
    assert set(orders.values()) == {1}  # ... exactly once
    acted = Counter(row["message_id"] for row in state["inbound"] if row["status"] == "acted")
    assert set(acted.values()) == {1} and len(acted) == len(expected)
    per_ticket = Counter(m.item.ticket_number for m in state["outbox"])
    for ticket in state["tickets"]:  # no half-applied event: history and both emails, or nothing
        assert [h.kind for h in ticket.history] == ["opened"]
        assert per_ticket[ticket.number] == 2
    assert {m.status for m in state["outbox"]} == {"sent"}
    arrived = Counter(m["message_id"] for m in caught)
    assert set(arrived) == {m.item.message_id for m in state["outbox"]}
    assert max(arrived.values()) <= 2  # a crash between hand-over and marking: same Message-ID
