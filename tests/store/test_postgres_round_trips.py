"""What a PostgreSQL unit of work sends: no round trip that does nothing, one text per query,
the writes nobody reads back together.

Every round trip to the server costs a node CPU on both sides; these tests
hold the ones that were cut (issue #19) without loosening what a unit of work
guarantees: a unit that fails leaves nothing behind for the next user of its
connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.catalog.writing import write_catalog
from service.clock import FakeClock
from service.desk import Desk, MailIdentity
from service.inbound.intake import Intake
from service.inbound.route import Router
from service.outbound.addresses import reply_address
from service.store import StorageError
from service.store.pg_batch import MAX_PARAMETERS, MAX_ROWS, deferrable
from service.store.postgres import PostgresStore
from tests.conftest import (
    DOMAIN,
    START,
    postgres_store,
    require_postgres,
    small_catalog,
)

JANE = "jane@example.test"

pytestmark = pytest.mark.anyio


class Refused(Exception):
    pass


@pytest.fixture
async def one_connection() -> AsyncIterator[PostgresStore]:
    """A store whose pool holds a single connection, so every unit of work shares it."""
    require_postgres()
    async with postgres_store(max_size=1) as store:
        yield store


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


async def test_writes_nobody_reads_back_go_together_and_reads_see_them(
    one_connection: PostgresStore,
) -> None:
    store = one_connection
    read: list[str | None] = []

    async def units() -> None:
        async with store.transaction() as q:
            await q.settings.set("greeting", "hello")
            await q.inbound.mark_bouncing("gone@example.test", START, "550 no such user")
            read.append(await q.settings.get("greeting"))  # sends the two writes first
            await q.settings.set("greeting", "hi")
            await q.settings.set("greeting", "hey")  # the same table: the first goes alone
            await q.inbound.mark_bouncing("away@example.test", START, "550 gone")

    sent = [s.strip() for s in await _logged(store, units)]
    assert read == ["hello"]
    assert [s.split()[0].upper().rstrip(";") for s in sent] == [
        "BEGIN",
        "WITH",  # greeting=hello with the first bounce
        "SELECT",
        "INSERT",  # greeting=hi, alone
        "WITH",  # greeting=hey with the second bounce, at the commit
        "COMMIT",
    ]
    async with store.reading() as q:
        assert await q.settings.get("greeting") == "hey"
        assert set(await q.inbound.bouncing(["gone@example.test", "away@example.test"])) == {
            "gone@example.test",
            "away@example.test",
        }


async def test_a_waiting_write_that_fails_fails_its_whole_unit(
    one_connection: PostgresStore,
) -> None:
    store = one_connection
    with pytest.raises(StorageError, match="foreign key"):
        async with store.transaction() as q:
            await q.settings.set("greeting", "never")
            await q.sql.execute(  # ticket 999 does not exist: refused when it is sent
                "INSERT INTO comments (ticket_number, seq, author, text, at) "
                "VALUES (?, ?, ?, ?, ?)",
                999,
                1,
                "customer",
                "orphan",
                START,
            )
    async with store.reading() as q:
        assert await q.settings.get("greeting") is None


@pytest.mark.parametrize(
    ("sql", "rows", "waits"),
    [
        ("INSERT INTO t (a, b) VALUES (?, ?)", [(1, 2)], "INSERT INTO t (a, b) VALUES (?, ?)"),
        (
            "INSERT INTO t (a, b) VALUES (?, 'x', ?)",
            [(1, 2), (3, 4)],
            "INSERT INTO t (a, b) VALUES (?, 'x', ?), (?, 'x', ?)",
        ),
        ("UPDATE t SET a = ? WHERE b = ?", [(1, 2)], "UPDATE t SET a = ? WHERE b = ?"),
        (
            "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
            [(1,)],
            "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
        ),
        ("INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING", [(1,), (2,)], None),
        ("UPDATE t SET a = ? WHERE b = ?", [(1, 2), (3, 4)], None),
        ("INSERT INTO t (a) SELECT a FROM u WHERE b = ?", [(1,)], None),
        ("UPDATE t SET a = u.a FROM u WHERE u.b = ?", [(1,)], None),
        ("DELETE FROM t WHERE a = ?", [(1,)], None),
        ("SELECT 1 FROM t WHERE a = ? FOR UPDATE", [(1,)], None),
        ("INSERT INTO t (a) VALUES (?)", [(i,) for i in range(MAX_ROWS + 1)], None),
        ("INSERT INTO t (a) VALUES (?)", [(1,) * (MAX_PARAMETERS + 1)], None),
    ],
)
def test_which_writes_may_wait(sql: str, rows: list[tuple[object, ...]], waits: str | None) -> None:
    write = deferrable(sql, rows)
    assert (write.sql if write else None) == waits
    if write is not None:
        assert write.table == "t" and write.args == tuple(a for row in rows for a in row)


def _mail(to: str, subject: str, body: str) -> bytes:
    return (
        f"From: {JANE}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


async def test_a_new_ticket_and_a_reply_each_take_a_handful_of_round_trips(
    one_connection: PostgresStore,
) -> None:
    """What the intake sends for a new request and for a reply, every statement a round
    trip: the checks before acting (a repeat delivery, a bouncing sender, the flood
    limit's count and a reply's parties in one), a new request's orders, then BEGIN, the
    lock, the record and its facts, every write together, COMMIT. It was 27 and 29 (issue
    #19)."""
    store = one_connection
    async with store.transaction() as q:
        await write_catalog(q, small_catalog(), START)
        # asyncpg asks the server about a row type the first time a connection meets it
        # (an order's items and bills come as arrays of records): once per connection.
        await q.orders.get("BOOK0001")
    secret = b"round-trips-secret-0123456789abcdef"
    clock = FakeClock(START)
    intake = Intake(Desk(store, clock, MailIdentity(DOMAIN)), store, Router(DOMAIN, secret), clock)
    replies: list[Any] = []

    async def new_ticket() -> None:
        raw = _mail(f"refund@{DOMAIN}", "Refund BOOK0001", "It does not open.")
        replies.append(await intake.receive(raw, JANE, [f"refund@{DOMAIN}"]))

    async def reply() -> None:
        to = reply_address(secret, DOMAIN, number, "customer")
        replies.append(await intake.receive(_mail(to, "Re: refund", "Any news?"), JANE, [to]))

    opening = await _logged(store, new_ticket)
    async with store.reading() as q:
        (ticket,) = await q.tickets.find()
    number = ticket.number
    replying = await _logged(store, reply)
    assert all(r.accepted for r in replies), replies
    async with store.reading() as q:
        replied = await q.tickets.get(number)
    assert replied is not None and len(replied.comments) == 2
    assert len(opening) <= 7, "\n---\n".join(opening)
    assert len(replying) <= 7, replying
