"""Short claims that the worker holding them keeps renewing: a dead worker's claims lapse soon.

The outbox and the scheduler claim rows with a lease, so several processes
(or nodes) share the work and each row is handled by one of them. A lease
long enough for the slowest batch would strand a killed process's rows for
that long; instead the lease is short (`LEASE`) and the live worker extends
it every `RENEW_EVERY` while its batch runs, so after a SIGKILL the rows are
free again within `LEASE`, and a slow batch never loses its claim midway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio

LEASE = timedelta(seconds=30)
RENEW_EVERY = LEASE.total_seconds() / 3


@asynccontextmanager
async def renewing(renew: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Call `renew` every `RENEW_EVERY` seconds while the block runs."""

    async def keep_renewing() -> None:
        while True:
            await anyio.sleep(RENEW_EVERY)
            await renew()

    async with anyio.create_task_group() as group:
        group.start_soon(keep_renewing)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
