"""Keeping received mail no longer than the operator wants (`MAILDESK_KEEP_RAW_MAIL_DAYS`).

Every received message is kept whole (SPEC §3) so an operator can read and
replay it. That is customers' mail; an operator bound by a retention policy
sets how many days it stays. Once a day (and at start) the raw bytes of older
messages are emptied; the record of each message, and the tickets and
comments it made, stay. 0, the default, keeps raw mail for good.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from service.clock import Clock
from service.store import Store
from service.workers import Worker

log = logging.getLogger(__name__)

DAY = 24 * 3600.0


class RawMailRetention(Worker):
    name = "retention"

    def __init__(self, store: Store, clock: Clock, days: int) -> None:
        super().__init__(poll_interval=DAY)
        self.store = store
        self.clock = clock
        self.days = days

    async def tick(self) -> float | None:
        if self.days <= 0:
            return None
        cutoff = self.clock.now() - timedelta(days=self.days)
        async with self.store.transaction() as q:
            emptied = await q.inbound.forget_raw_before(cutoff)
        if emptied:
            log.info("emptied the raw message of %d received before %s", emptied, cutoff.date())
        return None
