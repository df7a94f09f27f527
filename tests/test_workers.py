"""A background worker keeps going: a failing tick is logged and retried, a wake is never lost."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import pytest

from service.workers import Worker

pytestmark = pytest.mark.anyio


class Recorder(Worker):
    """Reports each tick on a stream; `before` runs inside the tick."""

    name = "recorder"

    def __init__(self, poll_interval: float, sleep: float, before: Callable[[int], None]) -> None:
        super().__init__(poll_interval)
        self.sleep = sleep
        self.before = before
        self.count = 0
        self.send, self.ticks = anyio.create_memory_object_stream[int](10)

    async def tick(self) -> float:
        self.count += 1
        await self.send.send(self.count)
        self.before(self.count)
        return self.sleep


def nothing(_: int) -> None:
    pass


async def test_a_failing_tick_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail_first(count: int) -> None:
        if count == 1:
            raise RuntimeError("database is down")

    worker = Recorder(poll_interval=0.01, sleep=0.0, before=fail_first)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run_forever)
            assert [await worker.ticks.receive() for _ in range(3)] == [1, 2, 3]
            tg.cancel_scope.cancel()
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.getMessage() == "recorder tick failed; retrying in 0.0s"
    assert failure.exc_info is not None and "database is down" in str(failure.exc_info[1])


async def test_a_wake_rouses_a_worker_sleeping_for_an_hour() -> None:
    worker = Recorder(poll_interval=3600.0, sleep=3600.0, before=nothing)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run_forever)
            await worker.ticks.receive()
            worker.wake()
            await worker.ticks.receive()
            tg.cancel_scope.cancel()


async def test_a_wake_during_a_tick_is_not_lost() -> None:
    worker = Recorder(poll_interval=3600.0, sleep=3600.0, before=lambda n: None)
    worker.before = lambda count: worker.wake() if count == 1 else None  # work arrived meanwhile
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run_forever)
            assert [await worker.ticks.receive() for _ in range(2)] == [1, 2]
            tg.cancel_scope.cancel()
