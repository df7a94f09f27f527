"""Every record's one pending timer, in one table the scheduler reads by due time.

A record (a ticket, a subscription) has at most one pending timed event: the
earliest thing that must happen to it. When it fires, the record's machine
sets the next one. Claims are leased, so several processes share the work
and a dead process's claims lapse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.domain.records import RecordKind, RecordRef
from service.store.base import Repository, as_optional_time, as_time
from service.store.rows import DueTimer

_CLEAR = "DELETE FROM timers WHERE record_kind = ? AND record_id = ?"
_SET = """INSERT INTO timers (record_kind, record_id, event, due_at, claimed_until)
    VALUES (?, ?, ?, ?, NULL)
    ON CONFLICT (record_kind, record_id) DO UPDATE SET event = excluded.event,
        due_at = excluded.due_at, claimed_until = NULL"""

TimerSetting = tuple[RecordRef, str | None, datetime | None]
"""A record, and its pending timer's event and time (None for both: no timer)."""


class TimerRepository(Repository):
    async def set(self, record: RecordRef, event: str | None, at: datetime | None) -> None:
        """Make `event` at `at` the record's pending timer; None for both clears it."""
        if event is None or at is None:
            await self.sql.execute(_CLEAR, record.kind.value, record.id)
            return
        await self.sql.execute(_SET, record.kind.value, record.id, event, at)

    async def set_many(self, settings: Sequence[TimerSetting]) -> None:
        """`set` for many records (an import batch's new subscriptions): a statement for
        those that clear and one for those that set, not one per record."""
        await self.sql.executemany(
            _CLEAR,
            [(r.kind.value, r.id) for r, event, at in settings if event is None or at is None],
        )
        await self.sql.executemany(
            _SET,
            [
                (r.kind.value, r.id, event, at)
                for r, event, at in settings
                if event is not None and at is not None
            ],
        )

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[DueTimer]:
        """Take up to `limit` due timers, oldest first, holding them until `lease_until`.

        Several processes claim concurrently without waiting on each other (`SKIP
        LOCKED`); the claims of a process that died lapse with its lease.
        """
        skip = " FOR UPDATE SKIP LOCKED" if self.postgresql else ""
        rows = await self.sql.fetch(
            """UPDATE timers SET claimed_until = ? WHERE (record_kind, record_id) IN (
                   SELECT record_kind, record_id FROM timers
                   WHERE due_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
                   ORDER BY due_at, record_kind, record_id LIMIT ?"""
            + skip
            + """)
               RETURNING record_kind, record_id, event, due_at""",
            lease_until,
            now,
            now,
            limit,
        )
        timers = [
            DueTimer(
                RecordRef(RecordKind(r["record_kind"]), r["record_id"]),
                r["event"],
                as_time(r["due_at"]),
            )
            for r in rows
        ]
        return sorted(timers, key=lambda t: (t.at, t.record))

    async def renew(self, records: Sequence[RecordRef], lease_until: datetime) -> None:
        """Extend the claims a live scheduler still holds (a fired timer is gone or reset)."""
        await self.sql.executemany(
            """UPDATE timers SET claimed_until = ?
               WHERE record_kind = ? AND record_id = ? AND claimed_until IS NOT NULL""",
            [(lease_until, r.kind.value, r.id) for r in records],
        )

    async def next_at(self) -> datetime | None:
        return as_optional_time(await self.sql.fetchval("SELECT MIN(due_at) FROM timers"))

    async def due(self, now: datetime) -> tuple[int, datetime | None]:
        """How many timers are due at `now`, and the earliest due time among them."""
        row = await self.sql.fetchrow(
            "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM timers WHERE due_at <= ?", now
        )
        if row is None:
            return 0, None
        return int(row["n"]), as_optional_time(row["oldest"])
