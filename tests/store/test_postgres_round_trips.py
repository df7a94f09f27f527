"""What a PostgreSQL unit of work sends: no round trip that does nothing, one text per query.

Every round trip to the server costs a node CPU on both sides; these tests
hold the ones that were cut (issue #19) without loosening what a unit of work
guarantees: a unit that fails leaves nothing behind for the next user of its
connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from service.catalog.writing import write_catalog
from service.store.postgres import PostgresStore
from tests.conftest import POSTGRES_URL, START, require_postgres, small_catalog

pytestmark = pytest.mark.anyio


class Refused(Exception):
    pass


@pytest.fixture
async def one_connection() -> AsyncIterator[PostgresStore]:
    """A store whose pool holds a single connection, so every unit of work shares it."""
    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    store = await PostgresStore.open(POSTGRES_URL, schema=schema, max_size=1)
    yield store
    await store.close()
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


async def _logged(store: PostgresStore, units: Any) -> list[str]:
    """The statements the pool's connection sent while `units()` ran."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    async with store.raw_connection() as conn:
        conn.add_query_logger(log)
    try:
        await units()
    finally:
        async with store.raw_connection() as conn:
            conn.remove_query_logger(log)
    return sent


async def test_a_connection_goes_back_to_the_pool_without_a_reset(
    one_connection: PostgresStore,
) -> None:
    store = one_connection

    async def units() -> None:
        async with store.reading() as q:
            await q.settings.get("greeting")
        async with store.transaction() as q:
            await q.settings.set("greeting", "hello")

    sent = await _logged(store, units)
    assert not [s for s in sent if "RESET ALL" in s.upper() or "UNLOCK_ALL" in s.upper()], sent
    assert [s.strip().rstrip(";").upper() for s in sent if "settings" not in s] == [
        "BEGIN",
        "COMMIT",
    ]


async def test_a_failed_unit_leaves_no_open_transaction_to_the_next_user(
    one_connection: PostgresStore,
) -> None:
    store = one_connection
    with pytest.raises(Refused):
        async with store.transaction() as q:
            await q.settings.set("greeting", "never")
            raise Refused
    async with store.raw_connection() as conn:
        assert not conn.is_in_transaction()
    async with store.reading() as q:
        assert await q.settings.get("greeting") is None
    async with store.transaction() as q:
        await q.settings.set("greeting", "hello")
    async with store.reading() as q:
        assert await q.settings.get("greeting") == "hello"


async def test_a_lookup_of_any_number_of_orders_is_one_statement_text(
    one_connection: PostgresStore,
) -> None:
    """`among` takes its references as one array: asyncpg prepares the text once per
    connection, where a text per count was prepared again for nearly every message."""
    store = one_connection
    async with store.transaction() as q:
        await write_catalog(q, small_catalog(), START)
    found: list[list[str]] = []

    async def units() -> None:
        for words in (["BOOK0001"], ["nope", "BOOK0001", "MUG00001"], ["x"] * 7 + ["SUB00001"]):
            async with store.reading() as q:
                found.append(await q.orders.among(words, customer_email="jane@example.test"))

    sent = await _logged(store, units)
    assert found == [["BOOK0001"], ["BOOK0001"], ["SUB00001"]]
    assert len(set(sent)) == 1, sent
