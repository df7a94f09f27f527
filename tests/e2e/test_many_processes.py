"""Three `maildesk serve` processes on one PostgreSQL database, one killed with SIGKILL midway.

Mail is spread over all three like an MTA spreads it over MX hosts, and a
message that got no `250` is sent again to another host. Afterwards: every
accepted email acted on once, every refund processed once, every
notification delivered once (counted at the relay by Message-ID). Subscription
reminders fall due on all three clocks, half before the kill and half after:
each is recorded and sent once.
"""

from __future__ import annotations

import json
import os
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
import asyncpg
import httpx
import pytest

from tests.cli.test_serve_process import free_port, wait_for_health
from tests.conftest import fresh_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "cluster-admin-token"
START = "2026-11-23T14:00:00Z"
CUSTOMERS = 24
SUBSCRIBERS = 20


def catalog() -> dict[str, Any]:
    orders = [
        {
            "reference": f"ORD{i:05d}",
            "vendor": "acme",
            "customer": {"email": f"buyer{i}@example.test", "name": f"Buyer {i}"},
            "items": [{"sku": "ACME-BOOK", "quantity": 1}],
            "payment_method": "credit_card",
            "purchased_at": "2026-11-20T10:00:00Z",
            "bills": [{"billed_at": "2026-11-20T10:00:00Z", "amount": "9.00"}],
        }
        for i in range(CUSTOMERS)
    ]
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
                "sku": "ACME-BOOK",
                "vendor": "acme",
                "name": "Book",
                "kind": "digital",
                "price": "9.00",
                "currency": "USD",
            }
        ],
        "orders": orders,
    }


def subscriptions() -> dict[str, Any]:
    """Manual subscriptions whose reminders fall due a minute apart from Tue 24 Nov 10:00 UTC.

    Imported through a node's API, so their timers count from the nodes' fake clock.
    """
    return {
        "vendors": [],
        "products": [
            {
                "sku": "ACME-PLAN",
                "vendor": "acme",
                "name": "Plan",
                "kind": "subscription",
                "price": "5.00",
                "currency": "USD",
                "interval": "P1M",
            }
        ],
        "orders": [
            {
                "reference": f"SUB{i:05d}",
                "vendor": "acme",
                "customer": {"email": f"subscriber{i}@example.test", "name": f"Sub {i}"},
                "items": [{"sku": "ACME-PLAN", "quantity": 1}],
                "payment_method": "credit_card",
                "purchased_at": f"2026-11-01T10:{i:02d}:00Z",
                "bills": [{"billed_at": f"2026-11-01T10:{i:02d}:00Z", "amount": "5.00"}],
                "subscription": {"renewal": "manual"},
            }
            for i in range(SUBSCRIBERS)
        ],
    }


def move_clock(http_port: int, moment: str) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{http_port}/api/v1/admin/clock",
        json={"now": moment},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_postgres_database("maildesk_cluster") as url:
        yield url


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "MAILDESK_SECRET": "cluster-secret-0123456789",
        "MAILDESK_ADMIN_TOKEN": ADMIN,
        **extra,
    }


def spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        cwd=cwd,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def message(i: int, kind: str) -> bytes:
    return (
        f"From: buyer{i}@example.test\r\nTo: {kind}@support.maildesk.test\r\n"
        f"Subject: ORD{i:05d} {kind}\r\nMessage-ID: <m{i}-{kind}@buyer.test>\r\n\r\n"
        f"Please help with ORD{i:05d}.\r\n"
    ).encode()


async def deliver(raw: bytes, sender: str, rcpt: str, ports: list[int], first: int) -> int:
    """Like an MTA: try the hosts in turn until one answers 250; return which one did."""
    for attempt in range(len(ports) * 3):
        port = ports[(first + attempt) % len(ports)]
        try:
            _, _ = await aiosmtplib.send(
                raw,
                sender=sender,
                recipients=[rcpt],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
                timeout=10,
            )
            return port
        except (aiosmtplib.SMTPException, OSError):
            await anyio.sleep(0.1)
    raise AssertionError(f"no host accepted {rcpt} from {sender}")


def test_three_processes_share_the_work_and_survive_one_being_killed(
    database: str, tmp_path: Path
) -> None:
    relay_smtp, relay_http = free_port(), free_port()
    relay = spawn(
        "catcher", "--smtp-port", str(relay_smtp), "--http-port", str(relay_http), cwd=tmp_path
    )
    imported = tmp_path / "catalog.json"
    imported.write_text(json.dumps(catalog()))
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(imported), "--db", database],
        env=environment(),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    nodes: list[tuple[subprocess.Popen[str], int, int]] = []
    try:
        for _ in range(3):
            smtp, http = free_port(), free_port()
            process = spawn(
                "serve",
                "--db",
                database,
                "--relay",
                f"127.0.0.1:{relay_smtp}",
                "--sender-auth",  # the test sends from made-up domains with no DNS
                "off",
                "--smtp-port",
                str(smtp),
                "--http-port",
                str(http),
                "--fake-clock",
                START,
                cwd=tmp_path,
            )
            nodes.append((process, smtp, http))
        for process, _, http in nodes:
            wait_for_health(http, process)
        smtp_ports = [smtp for _, smtp, _ in nodes]
        imported_subscriptions = httpx.post(
            f"http://127.0.0.1:{nodes[0][2]}/api/v1/admin/import",
            json=subscriptions(),
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=60,
        )
        assert imported_subscriptions.status_code == 200, imported_subscriptions.text
        # Half the reminders fall due on every node's clock before the kill.
        for _, _, http in nodes:
            move_clock(http, f"2026-11-24T10:{SUBSCRIBERS // 2 - 1:02d}:00Z")

        async def send_all() -> None:
            half = CUSTOMERS // 2
            async with anyio.create_task_group() as group:
                for i in range(half):
                    group.start_soon(
                        deliver,
                        message(i, "refund"),
                        f"buyer{i}@example.test",
                        "refund@support.maildesk.test",
                        smtp_ports,
                        i,
                    )
            nodes[1][0].send_signal(signal.SIGKILL)  # midway, with its work in the database
            async with anyio.create_task_group() as group:
                for i in range(half, CUSTOMERS):
                    kind = "refund" if i % 2 else "support"
                    group.start_soon(
                        deliver,
                        message(i, kind),
                        f"buyer{i}@example.test",
                        f"{kind}@support.maildesk.test",
                        smtp_ports,
                        i,
                    )
                # A message redelivered after its 250 was lost acts once.
                group.start_soon(
                    deliver,
                    message(0, "refund"),
                    "buyer0@example.test",
                    "refund@support.maildesk.test",
                    smtp_ports,
                    2,
                )

        anyio.run(send_all)
        nodes[1][0].wait(timeout=10)
        survivors = [nodes[0], nodes[2]]
        for _, _, http in survivors:  # two weekdays later, on every surviving clock
            move_clock(http, "2026-11-25T15:00:00Z")
        state = anyio.run(wait_until_outbox_is_empty, database)
        caught = httpx.get(f"http://127.0.0.1:{relay_http}/api/messages", timeout=10).json()
    finally:
        for process, _, _ in nodes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _, _ in nodes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        relay.send_signal(signal.SIGINT)
        relay.wait(timeout=10)

    refunds = [i for i in range(CUSTOMERS) if i < CUSTOMERS // 2 or i % 2]
    assert state["tickets"] == CUSTOMERS  # every accepted email acted on once
    assert state["acted"] == CUSTOMERS
    assert state["refunded_bills"] == len(refunds)
    assert state["refund_events"] == len(refunds)  # each refund processed exactly once
    ids = Counter(m["message_id"] for m in caught)
    assert set(ids) == set(state["sent_ids"])  # every notification arrived
    # Only a message the killed process had handed to the relay but not yet marked sent
    # may arrive twice, and then under the same Message-ID, so it is recognised.
    assert max(ids.values()) <= 2
    # Every subscriber reminded once: one history entry each, one email each at the relay.
    assert state["reminders"] == {f"SUB{i:05d}": 1 for i in range(SUBSCRIBERS)}
    reminded = Counter(
        m["to"][0] if isinstance(m["to"], list) else m["to"]
        for m in caught
        if "renews on" in m["subject"]
    )
    assert len(reminded) == SUBSCRIBERS
    assert all(1 <= count <= 2 for count in reminded.values())  # 2: the in-flight case above
    assert len({m["message_id"] for m in caught if "renews on" in m["subject"]}) == SUBSCRIBERS


async def wait_until_outbox_is_empty(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'retrying')"
            )
            if waiting == 0:
                break
            await anyio.sleep(0.5)
        else:
            raise AssertionError("the outbox did not drain in 90 s")
        return {
            "tickets": await conn.fetchval("SELECT COUNT(*) FROM tickets"),
            "acted": await conn.fetchval(
                "SELECT COUNT(*) FROM inbound_messages WHERE status = 'acted'"
            ),
            "refunded_bills": await conn.fetchval(
                "SELECT COUNT(*) FROM bills WHERE refunded_at IS NOT NULL"
            ),
            "refund_events": await conn.fetchval(
                "SELECT COUNT(*) FROM ticket_events WHERE kind = 'refund_processed'"
            ),
            "reminders": {
                r["order_reference"]: r["count"]
                for r in await conn.fetch(
                    "SELECT s.order_reference, COUNT(*) AS count FROM subscription_events e "
                    "JOIN subscriptions s ON s.id = e.subscription_id "
                    "WHERE e.kind = 'renewal_reminder' GROUP BY s.order_reference"
                )
            },
            "sent_ids": [
                r["message_id"]
                for r in await conn.fetch("SELECT message_id FROM outbox WHERE status = 'sent'")
            ],
        }
    finally:
        await conn.close()
