"""How the background workers (the scheduler, the outbox) wait and keep going.

A worker works in ticks: it does what is due, then sleeps until its next due
moment (at most `poll_interval`) or until it is woken, which the funnel does
after each commit that gave it work. A tick that raises is logged with its
traceback and retried after `poll_interval`: a worker never dies silently,
and never spins on a lasting fault (a database that is down).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import NoReturn

import anyio

log = logging.getLogger(__name__)


class Worker(ABC):
    """A background loop of ticks that a commit can wake early."""

    name = "worker"
    """Names the worker in its log lines."""

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._woken = anyio.Event()

    @abstractmethod
    async def tick(self) -> float | None:
        """Do what is due; return how long the worker may sleep (None: `poll_interval`)."""

    def wake(self) -> None:
        """Tick again now; a wake during a tick makes the next one start straight after it."""
        self._woken.set()

    async def run_forever(self) -> NoReturn:
        """Tick until cancelled."""
        while True:
            try:
                delay = await self.tick()
            except Exception:
                log.exception("%s tick failed; retrying in %.1fs", self.name, self.poll_interval)
                delay = self.poll_interval
            with anyio.move_on_after(
                self.poll_interval if delay is None else min(delay, self.poll_interval)
            ):
                await self._woken.wait()
            self._woken = anyio.Event()
