"""Shared fixtures.

Async tests run on anyio's pytest plugin with asyncio (aiosmtpd needs it).
`store` is parametrised over both backends: every test that uses it runs on
a real SQLite file and on a real PostgreSQL schema of its own. Without a
reachable PostgreSQL the second run is skipped with the reason, unless
MAILDESK_REQUIRE_POSTGRES=1 (CI), where it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.catalog import import_catalog
from service.clock import FakeClock
from service.desk import Desk, MailIdentity
from service.event_loop import anyio_backend_options
from service.scheduler import Scheduler
from service.store import Store
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore

POSTGRES_URL = os.environ.get("MAILDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("MAILDESK_REQUIRE_POSTGRES") == "1"
DOMAIN = "support.maildesk.test"


def _postgres_problem() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
        await conn.close()

    problems: list[str] = []

    def run() -> None:  # in a thread of its own: the caller may be inside an event loop
        try:
            asyncio.run(probe())
        except Exception as error:  # any failure to connect means "not reachable"
            problems.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return problems[0] if problems else None


_POSTGRES_PROBLEM: list[str | None] = []


def postgres_problem() -> str | None:
    if not _POSTGRES_PROBLEM:
        _POSTGRES_PROBLEM.append(_postgres_problem())
    return _POSTGRES_PROBLEM[0]


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})"
    if REQUIRE_POSTGRES:
        pytest.fail(f"{message}; MAILDESK_REQUIRE_POSTGRES=1 forbids skipping")
    pytest.skip(f"{message}; set MAILDESK_TEST_POSTGRES to run the PostgreSQL tests")


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """The loop `maildesk serve` runs on by default (uvloop where it is installed); the
    modules that touch transports and protocols run on both (`tests/loops.py`)."""
    return ("asyncio", anyio_backend_options({}))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    if backend == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "maildesk.db")
        yield sqlite
        await sqlite.close()
        return
    async with postgres_store(max_size=4) as postgres:
        yield postgres


@asynccontextmanager
async def postgres_store(*, max_size: int) -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store in a schema of its own, dropped after."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    postgres = await PostgresStore.open(POSTGRES_URL, schema=schema, max_size=max_size)
    try:
        yield postgres
    finally:
        await postgres.close()
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


# A Monday, 10:00 UTC: most tests start here and move the clock themselves.
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def desk(store: Store, clock: FakeClock) -> Desk:
    return Desk(store, clock, MailIdentity(DOMAIN))


@pytest.fixture
def scheduler(store: Store, desk: Desk, clock: FakeClock) -> Scheduler:
    return Scheduler(store, desk, clock)


def small_catalog() -> dict[str, Any]:
    """Two vendors, one of each kind of product, orders billed shortly before START."""
    return {
        "vendors": [
            {
                "id": "acme",
                "name": "Acme Software",
                "account_email": "owner@acme.test",
                "support_email": "help@acme.test",
                "agent_emails": ["agent@acme.test"],
                "timezone": "America/New_York",
                "refund_policy": {"category": "within_days", "days": 30},
                "api_key": "acme-key",
            },
            {
                "id": "globex",
                "name": "Globex",
                "account_email": "owner@globex.test",
                "timezone": "Europe/Berlin",
                "refund_policy": {"category": "approval_required"},
                "api_key": "globex-key",
            },
        ],
        "products": [
            {
                "sku": "ACME-PRO",
                "vendor": "acme",
                "name": "Acme Pro",
                "kind": "subscription",
                "price": "19.95",
                "currency": "USD",
                "interval": "P1M",
            },
            {
                "sku": "ACME-BOOK",
                "vendor": "acme",
                "name": "Acme Book",
                "kind": "digital",
                "price": "9.00",
                "currency": "USD",
            },
            {
                "sku": "ACME-MUG",
                "vendor": "acme",
                "name": "Acme Mug",
                "kind": "physical",
                "price": "15.00",
                "currency": "USD",
            },
            {
                "sku": "GLOBEX-APP",
                "vendor": "globex",
                "name": "Globex App",
                "kind": "digital",
                "price": "49.00",
                "currency": "EUR",
            },
        ],
        "orders": [
            {
                "reference": "SUB00001",
                "vendor": "acme",
                "customer": {"email": "jane@example.test", "name": "Jane Doe"},
                "items": [{"sku": "ACME-PRO", "quantity": 1, "unit_price": "19.95"}],
                "payment_method": "credit_card",
                "purchased_at": "2026-09-02T10:00:00Z",
                "license_key": "AAAA-BBBB",
                "download_url": "https://acme.test/dl/1",
                "bills": [
                    {"billed_at": "2026-09-02T10:00:00Z", "amount": "19.95"},
                    {"billed_at": "2026-10-02T10:00:00Z", "amount": "19.95"},
                    {"billed_at": "2026-11-01T10:00:00Z", "amount": "24.95"},
                ],
            },
            {
                "reference": "BOOK0001",
                "vendor": "acme",
                "customer": {"email": "jane@example.test", "name": "Jane Doe"},
                "items": [{"sku": "ACME-BOOK", "quantity": 1}],
                "payment_method": "paypal",
                "purchased_at": "2026-10-30T12:00:00Z",
                "bills": [{"billed_at": "2026-10-30T12:00:00Z", "amount": "9.00"}],
            },
            {
                "reference": "MUG00001",
                "vendor": "acme",
                "customer": {"email": "bob@example.test", "name": "Bob"},
                "items": [{"sku": "ACME-MUG", "quantity": 2}],
                "payment_method": "credit_card",
                "purchased_at": "2026-10-30T12:00:00Z",
                "bills": [{"billed_at": "2026-10-30T12:00:00Z", "amount": "30.00"}],
            },
            {
                "reference": "GLX00001",
                "vendor": "globex",
                "customer": {"email": "jane@example.test", "name": "Jane D."},
                "items": [{"sku": "GLOBEX-APP", "quantity": 1}],
                "payment_method": "credit_card",
                "purchased_at": "2026-10-28T09:00:00Z",
                "bills": [{"billed_at": "2026-10-28T09:00:00Z", "amount": "49.00"}],
            },
        ],
    }


@pytest.fixture
async def catalog(store: Store) -> dict[str, Any]:
    data = small_catalog()
    await import_catalog(store, data)
    return data


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for tests that run `maildesk` processes; its URL."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f"DROP DATABASE {name} WITH (FORCE)"))


# The in-process `maildesk serve` fixture, for every test folder that talks to a running server.
from tests.e2e.conftest import served  # noqa: E402, F401
