"""Fires due timers through the funnel, in time order, each exactly once.

Timers live in the database (one row per ticket), so they survive restarts:
whatever fell due while maildesk was down fires on the next tick. Each timer
fires as its own funnel transaction at the moment it was due, so a fake clock
advanced by a week produces the same history as a week of real time: the
first warning at hour 48, the second at hour 96, the close at day six.

Exactly once: processes claim due timers with a short lease that they renew
while they work (`SKIP LOCKED` on PostgreSQL; `service.leases`), so each is
normally fired by one process, and a dead process's claims lapse within
seconds. Beneath that, the state machine ignores a timer
that is no longer the ticket's pending one, and the funnel's transaction
makes the check and the change atomic, so even two processes firing the
same timer change the ticket once.
"""

from __future__ import annotations

import heapq
import logging
from datetime import datetime, timedelta
from functools import partial

import anyio

from service.clock import Clock
from service.desk import Desk, DeskError
from service.domain.records import RecordRef
from service.leases import LEASE, renewing
from service.store import DueTimer, Store
from service.workers import Worker

log = logging.getLogger(__name__)

BATCH = 500


class Scheduler(Worker):
    name = "scheduler"

    def __init__(
        self, store: Store, desk: Desk, clock: Clock, *, poll_interval: float = 1.0
    ) -> None:
        super().__init__(poll_interval)
        self.store = store
        self.desk = desk
        self.clock = clock
        self._lock = anyio.Lock()

    async def run_due(self) -> int:
        """Fire every timer due by now, oldest first; return how many changed a ticket."""
        async with self._lock:
            fired = 0
            while True:
                now = self.clock.now()
                async with self.store.transaction() as q:
                    batch = await q.timers.claim(now, now + LEASE, BATCH)
                if not batch:
                    return fired
                async with renewing(partial(self._renew, [t.record for t in batch])):
                    fired += await self._fire_in_order(batch, now, full=len(batch) == BATCH)

    async def _fire_in_order(self, batch: list[DueTimer], now: datetime, *, full: bool) -> int:
        """Fire a batch, also firing follow-up timers that fall due inside it, in time order.

        When the batch was full, timers beyond it may be due before a follow-up,
        so follow-ups later than the batch's last timer wait for the next query.
        """
        horizon = batch[-1].at if full else now
        heap = [(t.at, t.record, t) for t in batch]
        heapq.heapify(heap)
        fired = 0
        while heap:
            _, _, timer = heapq.heappop(heap)
            try:
                outcome = await self.desk.fire(timer.record, timer.event, timer.at)
            except DeskError as error:
                log.error("timer of %s cannot fire: %s", timer.record, error)
                continue
            if not outcome.changed:
                continue
            fired += 1
            due = outcome.ticket.due if outcome.ticket else None
            if due is not None and due.at <= horizon:
                follow_up = DueTimer(timer.record, due.event.value, due.at)
                heapq.heappush(heap, (due.at, timer.record, follow_up))
        return fired

    async def _renew(self, records: list[RecordRef]) -> None:
        async with self.store.transaction() as q:
            await q.timers.renew(records, self.clock.now() + LEASE)

    async def tick(self) -> float:
        """Fire what is due, then sleep until the next timer."""
        await self.run_due()
        return await self._sleep_for()

    async def _sleep_for(self) -> float:
        async with self.store.reading() as q:
            next_at = await q.timers.next_at()
        if next_at is None:
            return self.poll_interval
        wait = (next_at - self.clock.now()) / timedelta(seconds=1)
        return max(0.0, min(wait, self.poll_interval))
