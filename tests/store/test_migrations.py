"""The schema is written once: both databases end with the same tables and columns."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from service.clock import FakeClock
from service.desk import Desk, MailIdentity
from service.store.migrations import COLUMN_TYPES, DIALECTS, render, scripts
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore
from tests.conftest import POSTGRES_URL, require_postgres

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_placeholder_becomes_a_column_type(dialect: str) -> None:
    versions = scripts(dialect)
    assert [v for v, _ in versions] == list(range(1, len(versions) + 1)), "versions have gaps"
    for version, sql in versions:
        assert "${" not in sql, f"version {version} keeps a placeholder for {dialect}"


def test_an_unknown_placeholder_is_named() -> None:
    with pytest.raises(KeyError, match=r"\$\{DATE\}"):
        render("CREATE TABLE t (d ${DATE});", "sqlite")
    assert render("x ${TIME} '$.event'", "postgresql") == "x TIMESTAMPTZ '$.event'"
    assert set(COLUMN_TYPES["MONEY"]) == set(DIALECTS)


def test_a_dialects_own_script_runs_after_the_shared_one_of_its_version() -> None:
    first = dict(scripts("postgresql"))[1]
    assert first.index("CREATE TABLE tickets") < first.index("CREATE SEQUENCE ticket_numbers")
    assert "ticket_numbers" not in dict(scripts("sqlite"))[1]


async def test_sqlite_and_postgresql_have_the_same_tables_and_columns(tmp_path: Path) -> None:
    require_postgres()
    store = await SqliteStore.open(tmp_path / "schema.db")
    await store.close()
    with closing(sqlite3.connect(tmp_path / "schema.db")) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        in_sqlite = {
            (table, column[1])
            for table in tables
            for column in db.execute(f"PRAGMA table_info({table})")
        }
    schema = f"test_{uuid.uuid4().hex[:12]}"
    postgres = await PostgresStore.open(POSTGRES_URL, schema=schema, max_size=1)
    await postgres.close()
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = $1",
            schema,
        )
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    in_postgres = {(r["table_name"], r["column_name"]) for r in rows} - {
        ("schema_version", "version")
    }
    assert in_sqlite == in_postgres
    assert ("tickets", "customer_utc_offset") in in_sqlite  # the newest migration ran


async def test_a_database_from_before_subscriptions_gets_them_and_keeps_working(
    tmp_path: Path,
) -> None:
    """Issue #16: orders of a subscription product imported before subscriptions were records
    get one each (automatic renewal, billed one interval after their latest bill), and every
    order a purchase-page secret, when the new version opens the old file."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        for version, script in scripts("sqlite"):
            if version < 6:
                db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        db.executescript(
            """INSERT INTO vendors (id, name, account_email, timezone, api_key)
                   VALUES ('acme', 'Acme', 'owner@acme.test', 'America/New_York',
                           'k');
               INSERT INTO products (sku, vendor_id, name, kind, price, currency, interval)
                   VALUES ('PRO', 'acme', 'Pro', 'subscription', '19.95', 'USD', 'P1M');
               INSERT INTO orders (reference, vendor_id, customer_email, payment_method,
                                   purchased_at, subscription_status)
                   VALUES ('OLD1', 'acme', 'jane@example.test', 'credit_card',
                           '2026-10-02T10:00:00+00:00', 'active');
               INSERT INTO order_items (order_reference, line, sku, quantity, unit_price)
                   VALUES ('OLD1', 1, 'PRO', 2, '19.95');
               INSERT INTO bills (order_reference, billed_at, amount)
                   VALUES ('OLD1', '2026-11-02T10:00:00+00:00', '39.90');"""
        )
    store = await SqliteStore.open(path)
    try:
        desk = Desk(
            store, FakeClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC)), MailIdentity("d.test")
        )
        assert await desk.create_missing_subscriptions() == 1
        assert await desk.create_missing_subscriptions() == 0  # once
        async with store.reading() as q:
            subscription_id = await q.subscriptions.id_of_order("OLD1")
            assert subscription_id == "S1001"
            subscription = await q.subscriptions.get(subscription_id)
            order = await q.orders.get("OLD1")
        assert subscription is not None and order is not None
        assert subscription.renewal.value == "auto"
        assert subscription.next_billing_at == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
        assert [item.quantity for item in subscription.items] == [2]
        assert order.secret and len(order.secret) == 32
    finally:
        await store.close()
