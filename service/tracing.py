"""Stopwatches at maildesk's seams: off by default, on under `maildesk bench --trace`.

To find where a message's time goes, the benchmark needs wall and CPU time
at a few places: the inbound receive, the parse, the funnel's transaction,
the render, the relay send, and every SQL call. Wrapping those functions
from outside at run time broke silently whenever one moved or was renamed,
and patched the very code being measured; so the product names its seams
itself, and this module does nothing until a tracer is installed:

- `@traced("label")` on a function or coroutine function: with a tracer,
  each call reports its wall time (and for a plain function, which never
  suspends, the calling thread's CPU time); without one, the wrapper checks
  one module global and calls straight through.
- `sql(connection)` where a store hands a `SqlConnection` to its queries:
  without a tracer it returns the connection itself (no cost per
  statement); with one, a stand-in that reports each statement
  (`Tracer.record_sql`), so no repository method needs a hook of its own.

`install(tracer)` turns it on for the whole process (the benchmark's trace
runner, `service.bench.trace`, does it before `serve` starts); a tracer is
called from the event loop and from worker threads, so it takes its own
lock. This module imports nothing of maildesk's, so any layer may use it.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from service.store.base import Row, SqlConnection

P = ParamSpec("P")
R = TypeVar("R")


class Tracer(Protocol):
    """What the seams report to; installed by `install`. Must be thread-safe."""

    def record(self, label: str, wall_s: float, cpu_s: float | None) -> None:
        """One call of a `traced` function: wall seconds, and CPU seconds or None."""
        ...

    def record_sql(self, sql: str, wall_s: float, cpu_s: float | None) -> None:
        """One statement through a connection `sql` wrapped: its text, wall and CPU seconds."""
        ...


_tracer: Tracer | None = None


def install(tracer: Tracer | None) -> None:
    """Turn tracing on for the whole process (None turns it off again)."""
    global _tracer
    _tracer = tracer


def installed() -> Tracer | None:
    return _tracer


def traced(label: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Report every call of the decorated function under `label` while a tracer is installed.

    A coroutine function reports wall time only: while it is suspended other
    tasks run on the thread, so the thread's CPU time would be theirs too.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):
            call = cast(Callable[P, Any], function)

            @functools.wraps(function)
            async def timed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                tracer = _tracer
                if tracer is None:
                    return await call(*args, **kwargs)
                started = time.perf_counter()
                try:
                    return await call(*args, **kwargs)
                finally:
                    tracer.record(label, time.perf_counter() - started, None)

            return cast(Callable[P, R], timed_async)

        @functools.wraps(function)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            tracer = _tracer
            if tracer is None:
                return function(*args, **kwargs)
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                tracer.record(label, time.perf_counter() - started, time.thread_time() - cpu)

        return timed

    return decorate


def sql(connection: SqlConnection) -> SqlConnection:
    """`connection` itself, or while a tracer is installed, one that reports each statement."""
    tracer = _tracer
    if tracer is None:
        return connection
    return _TimedSql(connection, tracer)


class _TimedSql:
    """A `SqlConnection` that reports each statement's text and time, then passes it on.

    SQLite's connection runs each statement inline without suspending, so the
    thread's CPU time over the call is the statement's own; a PostgreSQL call
    suspends while other tasks run, so it reports wall time only.
    """

    def __init__(self, inner: SqlConnection, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer
        self.dialect = inner.dialect
        self._inline = inner.dialect == "sqlite"

    def _report(self, sql: str, started: float, cpu: float) -> None:
        cpu_s = time.thread_time() - cpu if self._inline else None
        self._tracer.record_sql(sql, time.perf_counter() - started, cpu_s)

    async def execute(self, sql: str, *args: object) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            await self._inner.execute(sql, *args)
        finally:
            self._report(sql, started, cpu)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            await self._inner.executemany(sql, rows)
        finally:
            self._report(sql, started, cpu)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return await self._inner.fetch(sql, *args)
        finally:
            self._report(sql, started, cpu)

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return await self._inner.fetchrow(sql, *args)
        finally:
            self._report(sql, started, cpu)

    async def fetchval(self, sql: str, *args: object) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return await self._inner.fetchval(sql, *args)
        finally:
            self._report(sql, started, cpu)
