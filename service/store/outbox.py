"""The durable outbox: emails and webhooks queued in the transaction of the event that caused them.

Rows are typed by channel. An email keeps its recipient, Message-ID and thread
root; a webhook keeps its URL (in `to_address`), its vendor (`to_name`), its
event (`kind`) and its stable delivery id (`message_id`). Deliveries are
claimed with leases, so each is sent by one process at a time, and every
attempt's outcome is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from service.domain.effects import Channel
from service.domain.records import Party, RecordKind, RecordRef
from service.store.base import Repository, Row, as_optional_time, as_time
from service.store.rows import (
    EmailItem,
    OutboxItem,
    Queued,
    QueuedDelivery,
    QueuedEmail,
    WebhookItem,
)


class OutboxRepository(Repository):
    async def enqueue(self, items: Iterable[OutboxItem]) -> None:
        await self.sql.executemany(
            """INSERT INTO outbox (channel, record_kind, record_id, kind, party, to_address,
                   to_name, message_id, thread_root, payload, status, attempts,
                   next_attempt_at, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)""",
            [_columns(item) for item in items],
        )

    async def find(
        self, status: str | Sequence[str] | None = None, limit: int = 200
    ) -> list[QueuedDelivery]:
        """The newest deliveries first: all of them, or those with one of the statuses."""
        if status is None:
            rows = await self.sql.fetch("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", limit)
        else:
            statuses = [status] if isinstance(status, str) else list(status)
            among, args = self.one_of("status", statuses)
            rows = await self.sql.fetch(
                f"SELECT * FROM outbox WHERE {among} ORDER BY id DESC LIMIT ?", *args, limit
            )
        return [_queued(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self.sql.fetch("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    async def email(self, message_id: str) -> QueuedEmail | None:
        """The email maildesk sent (or queued) with this Message-ID."""
        row = await self.sql.fetchrow(
            "SELECT * FROM outbox WHERE message_id = ? AND channel = ?",
            message_id,
            Channel.EMAIL.value,
        )
        # The query asks for the email channel, so the row is an email's.
        return cast(QueuedEmail, _queued(row)) if row else None

    async def by_id(self, outbox_id: int) -> QueuedDelivery | None:
        row = await self.sql.fetchrow("SELECT * FROM outbox WHERE id = ?", outbox_id)
        return _queued(row) if row else None

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[QueuedDelivery]:
        """Take up to `limit` deliveries that are due, holding them until `lease_until`."""
        skip = " FOR UPDATE SKIP LOCKED" if self.postgresql else ""
        rows = await self.sql.fetch(
            """SELECT id FROM outbox WHERE status IN ('pending', 'retrying')
                 AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
               ORDER BY next_attempt_at, id LIMIT ?"""
            + skip,
            now,
            now,
            limit,
        )
        ids = [int(r["id"]) for r in rows]
        if not ids:
            return []
        await self.sql.executemany(
            "UPDATE outbox SET claimed_until = ? WHERE id = ?", [(lease_until, i) for i in ids]
        )
        among, args = self.one_of("id", ids)
        claimed = await self.sql.fetch(f"SELECT * FROM outbox WHERE {among} ORDER BY id", *args)
        return [_queued(r) for r in claimed]

    async def renew(self, outbox_ids: Sequence[int], lease_until: datetime) -> None:
        """Extend the claims a live worker still holds."""
        await self.sql.executemany(
            "UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_until IS NOT NULL",
            [(lease_until, outbox_id) for outbox_id in outbox_ids],
        )

    async def release(self, outbox_id: int) -> None:
        """Give back a claim without an attempt (the worker paused before trying it)."""
        await self.sql.execute("UPDATE outbox SET claimed_until = NULL WHERE id = ?", outbox_id)

    async def mark_all_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        """Mark a batch's deliveries sent in one statement (`executemany`), not one per row."""
        await self.sql.executemany(
            """UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,
                   claimed_until = NULL, last_error = NULL WHERE id = ?""",
            [(now, outbox_id) for outbox_id in outbox_ids],
        )

    async def mark_retry(self, outbox_id: int, next_attempt_at: datetime, error: str) -> None:
        await self.sql.execute(
            """UPDATE outbox SET status = 'retrying', attempts = attempts + 1,
                   next_attempt_at = ?, claimed_until = NULL, last_error = ? WHERE id = ?""",
            next_attempt_at,
            error,
            outbox_id,
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        await self.sql.execute(
            """UPDATE outbox SET status = 'failed', attempts = attempts + 1,
                   claimed_until = NULL, last_error = ? WHERE id = ?""",
            error,
            outbox_id,
        )

    async def retry_now(self, outbox_id: int, now: datetime) -> bool:
        """Make a failed or retrying delivery due now (the operator's retry)."""
        found = await self.sql.fetchval(
            """UPDATE outbox SET status = 'retrying', next_attempt_at = ?, claimed_until = NULL
               WHERE id = ? AND status IN ('failed', 'retrying') RETURNING id""",
            now,
            outbox_id,
        )
        return found is not None

    async def give_up(self, outbox_id: int) -> bool:
        """Stop retrying a delivery (the operator's give-up): it is failed from now on."""
        found = await self.sql.fetchval(
            """UPDATE outbox SET status = 'failed', claimed_until = NULL,
                   last_error = COALESCE(last_error || '; ', '') || 'given up by the operator'
               WHERE id = ? AND status IN ('pending', 'retrying') RETURNING id""",
            outbox_id,
        )
        return found is not None

    async def webhooks_of(self, vendor_id: str, limit: int = 10) -> list[QueuedDelivery]:
        """A vendor's newest webhook deliveries, for its settings page."""
        rows = await self.sql.fetch(
            "SELECT * FROM outbox WHERE channel = ? AND to_name = ? ORDER BY id DESC LIMIT ?",
            Channel.WEBHOOK.value,
            vendor_id,
            limit,
        )
        return [_queued(r) for r in rows]

    async def next_at(self) -> datetime | None:
        return as_optional_time(
            await self.sql.fetchval(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'retrying')"
            )
        )

    async def oldest_waiting(self) -> datetime | None:
        """When the oldest delivery still waiting (pending or retrying) was queued."""
        return as_optional_time(
            await self.sql.fetchval(
                "SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'retrying')"
            )
        )


def _columns(item: OutboxItem) -> tuple[object, ...]:
    record = item.record
    kind, record_id = (record.kind.value, record.id) if record is not None else (None, None)
    if isinstance(item, EmailItem):
        destination = (item.kind, item.party, item.to_address, item.to_name, item.message_id)
        thread_root: str | None = item.thread_root
    else:
        destination = (item.event, Party.VENDOR.value, item.url, item.vendor_id, item.delivery_id)
        thread_root = None
    return (
        item.channel.value,
        kind,
        record_id,
        *destination,
        thread_root,
        json.dumps(dict(item.payload)),
        item.created_at,
        item.created_at,
    )


def _queued(row: Row) -> QueuedDelivery:
    # Both channels share one table: the webhook's event, URL, vendor and delivery id live
    # in the email's kind, address, name and Message-ID columns.
    common: dict[str, Any] = {
        "payload": json.loads(row["payload"] or "{}"),
        "record": RecordRef(RecordKind(row["record_kind"]), row["record_id"])
        if row["record_kind"]
        else None,
        "created_at": as_time(row["created_at"]),
    }
    progress = _progress(row)
    if row["channel"] == Channel.WEBHOOK.value:
        webhook = WebhookItem(
            event=row["kind"],
            url=row["to_address"],
            vendor_id=row["to_name"],
            delivery_id=row["message_id"],
            **common,
        )
        return Queued(row["id"], webhook, *progress)
    email = EmailItem(
        kind=row["kind"],
        party=row["party"],
        to_address=row["to_address"],
        to_name=row["to_name"],
        message_id=row["message_id"],
        thread_root=row["thread_root"],
        **common,
    )
    return Queued(row["id"], email, *progress)


def _progress(row: Row) -> tuple[str, int, datetime, str | None]:
    return (
        row["status"],
        int(row["attempts"]),
        as_time(row["next_attempt_at"]),
        row["last_error"],
    )
