"""Another vendor's ticket or order costs exactly what a missing one costs.

Penetration-test report #13, item 7: a vendor's key asking for another
vendor's ticket got the same 404 as for a missing one, but about 300 µs
later (the whole ticket was loaded, then refused), so timing told it the
ticket existed. Here every such request goes through the real HTTP API of a
running `maildesk serve` whose store records each SQL statement and the task
that ran it; the statements of the request for a foreign record and for a
missing one must be the same, one for one. A loose timing check over a few
hundred requests is marked slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from service.store import Queries, Store
from service.store.base import Row, SqlConnection
from tests.e2e.conftest import Served, serving

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ACME, GLOBEX = "acme-demo-key", "globex-demo-key"
MISSING_ORDER = "NOSUCH01"


@dataclass(frozen=True)
class Statement:
    task: asyncio.Task[Any] | None
    sql: str
    args: tuple[object, ...]


@dataclass
class _RecordingSql:
    """A `SqlConnection` that notes every statement, with the task that ran it, then runs it."""

    inner: SqlConnection
    log: list[Statement]
    dialect: str = field(init=False)

    def __post_init__(self) -> None:
        self.dialect = self.inner.dialect

    def _note(self, sql: str, args: Sequence[object]) -> None:
        self.log.append(Statement(asyncio.current_task(), " ".join(sql.split()), tuple(args)))

    async def execute(self, sql: str, *args: object) -> None:
        self._note(sql, args)
        await self.inner.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._note(sql, ())
        await self.inner.executemany(sql, rows)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        self._note(sql, args)
        return await self.inner.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        self._note(sql, args)
        return await self.inner.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: object) -> Any:
        self._note(sql, args)
        return await self.inner.fetchval(sql, *args)


class RecordingStore:
    """The test's store behind the `Store` interface, every statement noted in `log`."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.url = inner.url
        if hasattr(inner, "path"):
            self.path = inner.path
        self.log: list[Statement] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        async with self._inner.transaction() as q:
            yield Queries(_RecordingSql(q.sql, self.log))

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Queries]:
        async with self._inner.reading() as q:
            yield Queries(_RecordingSql(q.sql, self.log))

    async def close(self) -> None:
        await self._inner.close()


@pytest.fixture
async def recorded(store: Store) -> AsyncIterator[tuple[Served, RecordingStore]]:
    recording = RecordingStore(store)
    async with serving(recording) as running:  # type: ignore[arg-type]
        yield running, recording


async def statements_of(
    served: Served, recording: RecordingStore, method: str, path: str, body: Any = None
) -> tuple[list[str], int]:
    """The SQL one request of acme's ran (its own task's), and its status.

    The scheduler and outbox keep polling the store in tasks of their own; the
    request's task is the one that looked acme's key up.
    """
    recording.log.clear()
    response = await served.api(method, path, body, token=ACME)
    tasks = [s.task for s in recording.log if ACME in s.args]
    assert len(set(tasks)) == 1, "the request's statements ran in one task"
    return [s.sql for s in recording.log if s.task is tasks[0]], response.status_code


async def a_globex_ticket(served: Served) -> int:
    opened = await served.api(
        "POST", "/api/v1/tickets", {"order": "GLX75DAY", "type": "support"}, token=GLOBEX
    )
    assert opened.status_code == 201, opened.text
    number: int = opened.json()["number"]
    return number


async def assert_alike(
    served: Served,
    recording: RecordingStore,
    method: str,
    requests: tuple[tuple[str, Any], tuple[str, Any]],
) -> None:
    """Two requests of acme's, (path, body) each: the same status and the same statements."""
    (theirs_path, theirs_body), (missing_path, missing_body) = requests
    theirs, theirs_status = await statements_of(served, recording, method, theirs_path, theirs_body)
    nothing, nothing_status = await statements_of(
        served, recording, method, missing_path, missing_body
    )
    assert theirs_status == nothing_status, (theirs_path, theirs_status, nothing_status)
    assert theirs == nothing, (theirs_path, theirs, nothing)


async def test_another_vendors_ticket_runs_the_same_statements_as_a_missing_one(
    recorded: tuple[Served, RecordingStore],
) -> None:
    served, recording = recorded
    foreign = await a_globex_ticket(served)
    missing = foreign + 1000
    for method, path, body in [
        ("GET", "/api/v1/tickets/{}", None),
        ("POST", "/api/v1/tickets/{}/reply", {"text": "Is this yours?"}),
        ("POST", "/api/v1/tickets/{}/close", {}),
        ("POST", "/api/v1/tickets/{}/change", {"type": "refund"}),
        ("POST", "/api/v1/tickets/{}/approve", {}),
    ]:
        pair = ((path.format(foreign), body), (path.format(missing), body))
        await assert_alike(served, recording, method, pair)
    untouched = await served.api("GET", f"/api/v1/tickets/{foreign}", token=GLOBEX)
    assert untouched.status_code == 200 and len(untouched.json()["events"]) == 1


async def test_another_vendors_order_or_vendor_runs_the_same_statements_as_a_missing_one(
    recorded: tuple[Served, RecordingStore],
) -> None:
    served, recording = recorded
    assert (await served.api("GET", "/api/v1/orders/GLX75DAY", token=GLOBEX)).status_code == 200
    await a_globex_ticket(served)  # so that listing by its order has something to hide
    opening = {"type": "support", "text": "Mine?"}
    await assert_alike(
        served,
        recording,
        "POST",
        (
            ("/api/v1/tickets", {"order": "GLX75DAY", **opening}),
            ("/api/v1/tickets", {"order": MISSING_ORDER, **opening}),
        ),
    )
    for path, theirs, missing in [
        ("/api/v1/orders/{}", "GLX75DAY", MISSING_ORDER),
        ("/api/v1/tickets?order={}", "GLX75DAY", MISSING_ORDER),
        ("/api/v1/vendors/{}", "globex", "nosuch"),
        ("/api/v1/tickets?vendor={}", "globex", "nosuch"),
    ]:
        pair = ((path.format(theirs), None), (path.format(missing), None))
        await assert_alike(served, recording, "GET", pair)
    assert len(await served.tickets(order="GLX75DAY")) == 1  # acme opened nothing on it
