"""Every query maildesk runs, written once for SQLite and PostgreSQL.

`Queries` maps rows to the domain records and back. It knows tables, not
rules: it never decides whether a refund is allowed, it only records one.
Placeholders are `?`; the PostgreSQL connection rewrites them. Values go in as
Python objects (datetime, Decimal, bool) and each connection encodes them for
its database; values read back are decoded here, whichever form they take.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from service.domain.records import (
    Attachment,
    Bill,
    CloseReason,
    Comment,
    HistoryEntry,
    Order,
    OrderItem,
    Party,
    Product,
    ProductKind,
    RefundCategory,
    RefundPolicy,
    SubscriptionStatus,
    Ticket,
    TicketStatus,
    TicketType,
    Timer,
    TimerEvent,
    Vendor,
)
from service.store.base import Row, SqlConnection


def as_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def as_optional_time(value: object) -> datetime | None:
    return None if value is None else as_time(value)


@dataclass(frozen=True)
class OutboxItem:
    """A notification queued for delivery: enough to render it later, exactly as it was."""

    kind: str
    party: str
    to_address: str
    to_name: str
    message_id: str
    thread_root: str | None
    payload: Mapping[str, Any]
    ticket_number: int | None
    created_at: datetime


@dataclass(frozen=True)
class QueuedMail:
    id: int
    item: OutboxItem
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class InboundReceipt:
    """One received message for one of our recipients, kept with what was made of it."""

    received_at: datetime
    mail_from: str
    rcpt_to: str
    message_id: str
    body_hash: str
    raw: bytes
    status: str = "acted"
    detail: str = ""
    ticket_number: int | None = None
    opened_ticket: bool = False


@dataclass(frozen=True)
class DueTimer:
    ticket_number: int
    event: TimerEvent
    at: datetime


@dataclass(frozen=True)
class Escalation:
    id: int
    ticket_number: int
    vendor_id: str
    at: datetime
    reason: str
    vendor_abusing: bool


@dataclass(frozen=True)
class TicketParties:
    """Who may act on a ticket: its customer's address and its vendor."""

    customer_email: str
    vendor: Vendor


class Queries:
    """Typed access to the tables, bound to one connection (and maybe one transaction)."""

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql

    # --- vendors, customers, products, orders ---------------------------------

    async def vendor(self, vendor_id: str) -> Vendor | None:
        row = await self.sql.fetchrow("SELECT * FROM vendors WHERE id = ?", vendor_id)
        return _vendor(row) if row else None

    async def vendor_by_api_key(self, api_key: str) -> Vendor | None:
        row = await self.sql.fetchrow("SELECT * FROM vendors WHERE api_key = ?", api_key)
        return _vendor(row) if row else None

    async def vendors(self) -> list[Vendor]:
        return [_vendor(r) for r in await self.sql.fetch("SELECT * FROM vendors ORDER BY id")]

    async def upsert_vendor(self, vendor: Vendor) -> None:
        await self.sql.execute(
            """INSERT INTO vendors (id, name, account_email, support_email, agent_emails,
                   timezone, policy_category, policy_days, api_key, webhook_url, abusing)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                   account_email = excluded.account_email,
                   support_email = excluded.support_email,
                   agent_emails = excluded.agent_emails, timezone = excluded.timezone,
                   policy_category = excluded.policy_category,
                   policy_days = excluded.policy_days, api_key = excluded.api_key,
                   webhook_url = excluded.webhook_url""",
            vendor.id,
            vendor.name,
            vendor.account_email,
            vendor.support_email,
            json.dumps(list(vendor.agent_emails)),
            vendor.timezone,
            vendor.refund_policy.category.value,
            vendor.refund_policy.days,
            vendor.api_key,
            vendor.webhook_url,
            vendor.abusing,
        )

    async def set_vendor_abusing(self, vendor_id: str, abusing: bool) -> bool:
        found = await self.sql.fetchval(
            "UPDATE vendors SET abusing = ? WHERE id = ? RETURNING id", abusing, vendor_id
        )
        return found is not None

    async def upsert_customer(self, vendor_id: str, email: str, name: str) -> None:
        await self.sql.execute(
            """INSERT INTO customers (vendor_id, email, name) VALUES (?, ?, ?)
               ON CONFLICT (vendor_id, email) DO UPDATE SET name = excluded.name""",
            vendor_id,
            email,
            name,
        )

    async def product(self, sku: str) -> Product | None:
        row = await self.sql.fetchrow("SELECT * FROM products WHERE sku = ?", sku)
        if row is None:
            return None
        return Product(
            sku=row["sku"],
            vendor_id=row["vendor_id"],
            name=row["name"],
            kind=ProductKind(row["kind"]),
            price=Decimal(str(row["price"])),
            currency=row["currency"],
            interval=row["interval"],
        )

    async def upsert_product(self, product: Product) -> None:
        await self.sql.execute(
            """INSERT INTO products (sku, vendor_id, name, kind, price, currency, interval)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (sku) DO UPDATE SET vendor_id = excluded.vendor_id,
                   name = excluded.name, kind = excluded.kind, price = excluded.price,
                   currency = excluded.currency, interval = excluded.interval""",
            product.sku,
            product.vendor_id,
            product.name,
            product.kind.value,
            product.price,
            product.currency,
            product.interval,
        )

    async def upsert_order(self, order: Order) -> None:
        """Insert or update an order; refunds already recorded on its bills are kept."""
        status = order.subscription_status.value if order.subscription_status else None
        await self.sql.execute(
            """INSERT INTO orders (reference, vendor_id, customer_email, payment_method,
                   purchased_at, license_key, download_url, subscription_status)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (reference) DO UPDATE SET vendor_id = excluded.vendor_id,
                   customer_email = excluded.customer_email,
                   payment_method = excluded.payment_method,
                   purchased_at = excluded.purchased_at, license_key = excluded.license_key,
                   download_url = excluded.download_url,
                   subscription_status = COALESCE(orders.subscription_status,
                                                  excluded.subscription_status)""",
            order.reference,
            order.vendor_id,
            order.customer_email,
            order.payment_method,
            order.purchased_at,
            order.license_key,
            order.download_url,
            status,
        )
        await self.sql.execute("DELETE FROM order_items WHERE order_reference = ?", order.reference)
        await self.sql.executemany(
            """INSERT INTO order_items (order_reference, line, sku, quantity, unit_price)
               VALUES (?, ?, ?, ?, ?)""",
            [
                (order.reference, line, item.sku, item.quantity, item.unit_price)
                for line, item in enumerate(order.items, start=1)
            ],
        )
        await self.sql.executemany(
            """INSERT INTO bills (order_reference, billed_at, amount) VALUES (?, ?, ?)
               ON CONFLICT (order_reference, billed_at) DO UPDATE SET amount = excluded.amount""",
            [(order.reference, bill.billed_at, bill.amount) for bill in order.bills],
        )

    async def order(self, reference: str, *, vendor_id: str | None = None) -> Order | None:
        """The order; with `vendor_id`, only if it is that vendor's.

        The vendor is part of the first statement, so another vendor's order
        costs exactly what a missing one costs: one statement and nothing loaded.
        """
        mine, args = ("", ()) if vendor_id is None else (" AND o.vendor_id = ?", (vendor_id,))
        row = await self.sql.fetchrow(
            """SELECT o.*, c.name AS customer_name FROM orders o
               LEFT JOIN customers c ON c.vendor_id = o.vendor_id AND c.email = o.customer_email
               WHERE o.reference = ?"""
            + mine,
            reference,
            *args,
        )
        if row is None:
            return None
        items = await self.sql.fetch(
            """SELECT i.*, p.name, p.kind, p.currency FROM order_items i
               JOIN products p ON p.sku = i.sku
               WHERE i.order_reference = ? ORDER BY i.line""",
            reference,
        )
        bills = await self.sql.fetch(
            "SELECT * FROM bills WHERE order_reference = ? ORDER BY billed_at", reference
        )
        return Order(
            reference=row["reference"],
            vendor_id=row["vendor_id"],
            customer_email=row["customer_email"],
            customer_name=row["customer_name"] or "",
            items=tuple(
                OrderItem(
                    sku=i["sku"],
                    quantity=int(i["quantity"]),
                    unit_price=Decimal(str(i["unit_price"])),
                    name=i["name"],
                    kind=ProductKind(i["kind"]),
                    currency=i["currency"],
                )
                for i in items
            ),
            payment_method=row["payment_method"],
            purchased_at=as_time(row["purchased_at"]),
            bills=tuple(
                Bill(
                    billed_at=as_time(b["billed_at"]),
                    amount=Decimal(str(b["amount"])),
                    refunded_at=as_optional_time(b["refunded_at"]),
                )
                for b in bills
            ),
            license_key=row["license_key"],
            download_url=row["download_url"],
            subscription_status=(
                SubscriptionStatus(row["subscription_status"])
                if row["subscription_status"]
                else None
            ),
        )

    async def refund_bill(self, reference: str, billed_at: datetime, now: datetime) -> None:
        await self.sql.execute(
            """UPDATE bills SET refunded_at = ?
               WHERE order_reference = ? AND billed_at = ? AND refunded_at IS NULL""",
            now,
            reference,
            billed_at,
        )

    async def cancel_subscription(self, reference: str) -> None:
        await self.sql.execute(
            "UPDATE orders SET subscription_status = ? WHERE reference = ?",
            SubscriptionStatus.CANCELED.value,
            reference,
        )

    # --- tickets ----------------------------------------------------------------

    async def next_ticket_number(self) -> int:
        if self.sql.dialect == "postgresql":
            return int(await self.sql.fetchval("SELECT nextval('ticket_numbers')"))
        return int(await self.sql.fetchval("SELECT COALESCE(MAX(number), 0) + 1 FROM tickets"))

    async def lock_order(self, reference: str) -> None:
        """Serialise requests on one order (a no-op where writes are already serial)."""
        if self.sql.dialect == "postgresql":
            await self.sql.execute(
                "SELECT reference FROM orders WHERE reference = ? FOR UPDATE", reference
            )

    async def ticket(
        self, number: int, *, vendor_id: str | None = None, for_update: bool = False
    ) -> Ticket | None:
        """The ticket; with `vendor_id`, only if it is that vendor's (one statement either way
        when it is not, as for a missing one: see `order`)."""
        if for_update and self.sql.dialect == "postgresql":
            # Lock in a statement of its own: a locking read that had to wait re-checks
            # only the locked row, and would pair the new ticket with its old timer.
            await self.sql.execute("SELECT 1 FROM tickets WHERE number = ? FOR UPDATE", number)
        mine, args = ("", ()) if vendor_id is None else (" AND t.vendor_id = ?", (vendor_id,))
        row = await self.sql.fetchrow(
            "SELECT t.*, tm.event AS due_event, tm.due_at FROM tickets t "
            "LEFT JOIN timers tm ON tm.ticket_number = t.number WHERE t.number = ?" + mine,
            number,
            *args,
        )
        if row is None:
            return None
        comments = await self.sql.fetch(
            "SELECT * FROM comments WHERE ticket_number = ? ORDER BY seq", number
        )
        attachments = await self.sql.fetch(
            """SELECT a.comment_id, a.blob_id, a.filename, a.content_type, a.size
               FROM attachments a JOIN comments c ON c.id = a.comment_id
               WHERE c.ticket_number = ? ORDER BY a.id""",
            number,
        )
        events = await self.sql.fetch(
            "SELECT * FROM ticket_events WHERE ticket_number = ? ORDER BY seq", number
        )
        return _ticket(row, comments, attachments, events)

    async def vendor_has_ticket(self, vendor_id: str, number: int) -> bool:
        """Whether ticket `number` is `vendor_id`'s: one statement, whoever's it is or isn't."""
        value = await self.sql.fetchval(
            "SELECT 1 FROM tickets WHERE number = ? AND vendor_id = ?", number, vendor_id
        )
        return value is not None

    async def vendor_has_order(self, vendor_id: str, reference: str) -> bool:
        """Whether order `reference` is `vendor_id`'s, like `vendor_has_ticket`."""
        value = await self.sql.fetchval(
            "SELECT 1 FROM orders WHERE reference = ? AND vendor_id = ?", reference, vendor_id
        )
        return value is not None

    async def ticket_parties(self, number: int) -> TicketParties | None:
        """A ticket's customer address and vendor, in one statement.

        Enough to authorise mail to a reply address without loading the whole
        ticket (its comments and history are most of a ticket read); the funnel
        loads that itself, under its lock, to act. A ticket's customer and vendor
        never change once it is opened, so reading them outside its transaction
        cannot pair a sender with the wrong ticket.
        """
        row = await self.sql.fetchrow(
            "SELECT t.customer_email AS ticket_customer_email, v.* FROM tickets t "
            "JOIN vendors v ON v.id = t.vendor_id WHERE t.number = ?",
            number,
        )
        return TicketParties(row["ticket_customer_email"], _vendor(row)) if row else None

    async def ticket_thread_token(self, number: int) -> str | None:
        value = await self.sql.fetchval("SELECT thread_token FROM tickets WHERE number = ?", number)
        return None if value is None else str(value)

    async def tickets(
        self,
        *,
        vendor_id: str | None = None,
        order_reference: str | None = None,
        status: str | None = None,
        limit: int = 500,
    ) -> list[Ticket]:
        clauses, args = [], []
        for column, value in (
            ("vendor_id", vendor_id),
            ("order_reference", order_reference),
            ("status", status),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        numbers = await self.sql.fetch(
            f"SELECT number FROM tickets {where} ORDER BY number LIMIT {int(limit)}", *args
        )
        found = [await self.ticket(int(r["number"])) for r in numbers]
        return [t for t in found if t is not None]

    async def open_request_on(self, reference: str, *, excluding: int | None = None) -> int | None:
        value = await self.sql.fetchval(
            """SELECT number FROM tickets
               WHERE order_reference = ? AND status = 'open' AND type <> 'support'
                 AND number <> ? ORDER BY number LIMIT 1""",
            reference,
            excluding if excluding is not None else -1,
        )
        return None if value is None else int(value)

    async def insert_ticket(
        self, ticket: Ticket, thread_token: str, blobs: Mapping[str, bytes]
    ) -> None:
        await self.sql.execute(
            """INSERT INTO tickets (number, vendor_id, order_reference, customer_email, type,
                   status, opened_by, opened_at, last_activity_at, waiting_on, warnings_sent,
                   awaiting_approval, vendor_saved_at, escalated_at, closed_at, close_reason,
                   thread_token)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            ticket.number,
            ticket.vendor_id,
            ticket.order_reference,
            ticket.customer_email,
            *_ticket_state(ticket),
            thread_token,
        )
        await self._append(ticket.number, ticket.comments, ticket.history, 0, 0, blobs)
        await self._write_timer(ticket.number, ticket.due)

    async def save_ticket(self, old: Ticket, new: Ticket, blobs: Mapping[str, bytes]) -> None:
        """Store the ticket's new state, its new comments and history, and its timer."""
        await self.sql.execute(
            """UPDATE tickets SET type = ?, status = ?, opened_by = ?, opened_at = ?,
                   last_activity_at = ?, waiting_on = ?, warnings_sent = ?,
                   awaiting_approval = ?, vendor_saved_at = ?, escalated_at = ?,
                   closed_at = ?, close_reason = ?
               WHERE number = ?""",
            *_ticket_state(new),
            new.number,
        )
        await self._append(
            new.number,
            new.comments[len(old.comments) :],
            new.history[len(old.history) :],
            len(old.comments),
            len(old.history),
            blobs,
        )
        if new.due != old.due:
            await self._write_timer(new.number, new.due)

    async def _append(
        self,
        number: int,
        comments: Sequence[Comment],
        history: Sequence[HistoryEntry],
        comment_seq: int,
        history_seq: int,
        blobs: Mapping[str, bytes],
    ) -> None:
        for offset, comment in enumerate(comments, start=1):
            comment_id = await self.sql.fetchval(
                """INSERT INTO comments (ticket_number, seq, author, text, at)
                   VALUES (?, ?, ?, ?, ?) RETURNING id""",
                number,
                comment_seq + offset,
                comment.author.value,
                comment.text,
                comment.at,
            )
            if comment.attachments:
                await self.sql.executemany(
                    """INSERT INTO attachments (comment_id, blob_id, filename, content_type,
                           size, data) VALUES (?, ?, ?, ?, ?, ?)""",
                    [
                        (
                            comment_id,
                            a.blob_id,
                            a.filename,
                            a.content_type,
                            a.size,
                            blobs.get(a.blob_id, b""),
                        )
                        for a in comment.attachments
                    ],
                )
        if history:
            await self.sql.executemany(
                """INSERT INTO ticket_events (ticket_number, seq, kind, by_party, at, detail)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [
                    (
                        number,
                        history_seq + offset,
                        e.kind,
                        e.by.value,
                        e.at,
                        json.dumps(dict(e.detail)),
                    )
                    for offset, e in enumerate(history, start=1)
                ],
            )

    async def _write_timer(self, number: int, timer: Timer | None) -> None:
        if timer is None:
            await self.sql.execute("DELETE FROM timers WHERE ticket_number = ?", number)
            return
        await self.sql.execute(
            """INSERT INTO timers (ticket_number, event, due_at, claimed_until)
               VALUES (?, ?, ?, NULL)
               ON CONFLICT (ticket_number) DO UPDATE SET event = excluded.event,
                   due_at = excluded.due_at, claimed_until = NULL""",
            number,
            timer.event.value,
            timer.at,
        )

    async def attachment(self, blob_id: str) -> tuple[Attachment, bytes, int] | None:
        row = await self.sql.fetchrow(
            """SELECT a.*, c.ticket_number FROM attachments a
               JOIN comments c ON c.id = a.comment_id WHERE a.blob_id = ?""",
            blob_id,
        )
        if row is None:
            return None
        meta = Attachment(row["filename"], row["content_type"], int(row["size"]), blob_id)
        return meta, bytes(row["data"]), int(row["ticket_number"])

    # --- timers -----------------------------------------------------------------

    async def claim_timers(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[DueTimer]:
        """Take up to `limit` due timers, oldest first, holding them until `lease_until`.

        Several processes claim concurrently without waiting on each other (`SKIP
        LOCKED`); the claims of a process that died lapse with its lease.
        """
        skip = " FOR UPDATE SKIP LOCKED" if self.sql.dialect == "postgresql" else ""
        rows = await self.sql.fetch(
            """UPDATE timers SET claimed_until = ? WHERE ticket_number IN (
                   SELECT ticket_number FROM timers
                   WHERE due_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
                   ORDER BY due_at, ticket_number LIMIT ?"""
            + skip
            + """)
               RETURNING ticket_number, event, due_at""",
            lease_until,
            now,
            now,
            limit,
        )
        timers = [
            DueTimer(int(r["ticket_number"]), TimerEvent(r["event"]), as_time(r["due_at"]))
            for r in rows
        ]
        return sorted(timers, key=lambda t: (t.at, t.ticket_number))

    async def next_timer_at(self) -> datetime | None:
        value = await self.sql.fetchval("SELECT MIN(due_at) FROM timers")
        return as_optional_time(value)

    async def open_ticket_count(self) -> int:
        return int(await self.sql.fetchval("SELECT COUNT(*) FROM tickets WHERE status = 'open'"))

    # --- escalations --------------------------------------------------------------

    async def record_escalation(
        self, number: int, vendor_id: str, at: datetime, reason: str
    ) -> None:
        await self.sql.execute(
            "INSERT INTO escalations (ticket_number, vendor_id, at, reason) VALUES (?, ?, ?, ?)",
            number,
            vendor_id,
            at,
            reason,
        )

    async def escalations(self, vendor_id: str | None = None) -> list[Escalation]:
        rows = await self.sql.fetch(
            """SELECT e.*, v.abusing FROM escalations e JOIN vendors v ON v.id = e.vendor_id
               WHERE CAST(? AS TEXT) IS NULL OR e.vendor_id = ? ORDER BY e.at, e.id""",
            vendor_id,
            vendor_id,
        )
        return [
            Escalation(
                id=int(r["id"]),
                ticket_number=int(r["ticket_number"]),
                vendor_id=r["vendor_id"],
                at=as_time(r["at"]),
                reason=r["reason"],
                vendor_abusing=bool(r["abusing"]),
            )
            for r in rows
        ]

    # --- outbox -------------------------------------------------------------------

    async def enqueue(self, items: Iterable[OutboxItem]) -> None:
        await self.sql.executemany(
            """INSERT INTO outbox (ticket_number, kind, party, to_address, to_name, message_id,
                   thread_root, payload, status, attempts, next_attempt_at, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)""",
            [
                (
                    i.ticket_number,
                    i.kind,
                    i.party,
                    i.to_address,
                    i.to_name,
                    i.message_id,
                    i.thread_root,
                    json.dumps(dict(i.payload)),
                    i.created_at,
                    i.created_at,
                )
                for i in items
            ],
        )

    async def outbox(self, status: str | None = None, limit: int = 200) -> list[QueuedMail]:
        rows = await self.sql.fetch(
            """SELECT * FROM outbox WHERE CAST(? AS TEXT) IS NULL OR status = ?
               ORDER BY id DESC LIMIT ?""",
            status,
            status,
            limit,
        )
        return [_queued(r) for r in rows]

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.sql.fetch("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    async def claim_outbox(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[QueuedMail]:
        """Take up to `limit` deliveries that are due, holding them until `lease_until`."""
        skip = " FOR UPDATE SKIP LOCKED" if self.sql.dialect == "postgresql" else ""
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
        marks = ", ".join("?" for _ in ids)
        claimed = await self.sql.fetch(
            f"SELECT * FROM outbox WHERE id IN ({marks}) ORDER BY id", *ids
        )
        return [_queued(r) for r in claimed]

    async def release_outbox(self, outbox_id: int) -> None:
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

    async def sent_message(self, message_id: str) -> tuple[int, str] | None:
        """The ticket and party a notification with this Message-ID was sent to."""
        row = await self.sql.fetchrow(
            """SELECT ticket_number, party FROM outbox
               WHERE message_id = ? AND ticket_number IS NOT NULL""",
            message_id,
        )
        return (int(row["ticket_number"]), row["party"]) if row else None

    async def next_outbox_at(self) -> datetime | None:
        return as_optional_time(
            await self.sql.fetchval(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'retrying')"
            )
        )

    # --- inbound mail -----------------------------------------------------------------

    async def record_inbound(self, receipt: InboundReceipt) -> bool:
        """Keep a received message; False when this exact delivery was recorded before."""
        row_id = await self.sql.fetchval(
            """INSERT INTO inbound_messages (received_at, mail_from, rcpt_to, message_id,
                   body_hash, raw, status, detail, ticket_number, opened_ticket)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (message_id, rcpt_to, body_hash) DO NOTHING RETURNING id""",
            receipt.received_at,
            receipt.mail_from,
            receipt.rcpt_to,
            receipt.message_id,
            receipt.body_hash,
            receipt.raw,
            receipt.status,
            receipt.detail,
            receipt.ticket_number,
            receipt.opened_ticket,
        )
        return row_id is not None

    async def seen_inbound(self, message_id: str, rcpt_to: str, body_hash: str) -> bool:
        found = await self.sql.fetchval(
            """SELECT id FROM inbound_messages
               WHERE message_id = ? AND rcpt_to = ? AND body_hash = ?""",
            message_id,
            rcpt_to,
            body_hash,
        )
        return found is not None

    async def new_tickets_from(self, sender: str, since: datetime) -> int:
        return int(
            await self.sql.fetchval(
                """SELECT COUNT(*) FROM inbound_messages
                   WHERE mail_from = ? AND received_at >= ? AND opened_ticket = ?""",
                sender,
                since,
                True,
            )
        )

    async def replies_to(self, rcpt_to: str, since: datetime) -> int:
        """Messages that acted through one reply address since `since`."""
        return int(
            await self.sql.fetchval(
                """SELECT COUNT(*) FROM inbound_messages
                   WHERE rcpt_to = ? AND received_at >= ? AND status = 'acted'""",
                rcpt_to,
                since,
            )
        )

    async def inbound(self, status: str | None = None, limit: int = 100) -> list[Row]:
        return await self.sql.fetch(
            """SELECT id, received_at, mail_from, rcpt_to, message_id, status, detail,
                      ticket_number FROM inbound_messages
               WHERE CAST(? AS TEXT) IS NULL OR status = ? ORDER BY id DESC LIMIT ?""",
            status,
            status,
            limit,
        )

    async def inbound_raw(self, inbound_id: int) -> bytes | None:
        value = await self.sql.fetchval("SELECT raw FROM inbound_messages WHERE id = ?", inbound_id)
        return None if value is None else bytes(value)

    async def orders_by_references(
        self,
        references: Sequence[str],
        customer_email: str | None = None,
        vendor_id: str | None = None,
    ) -> list[str]:
        """Which of `references` are orders (of this customer, or of this vendor)."""
        if not references:
            return []
        marks = ", ".join("?" for _ in references)
        rows = await self.sql.fetch(
            f"""SELECT reference FROM orders WHERE reference IN ({marks})
                AND (CAST(? AS TEXT) IS NULL OR customer_email = ?)
                AND (CAST(? AS TEXT) IS NULL OR vendor_id = ?)""",
            *references,
            customer_email,
            customer_email,
            vendor_id,
            vendor_id,
        )
        return [r["reference"] for r in rows]

    async def mark_bouncing(self, address: str, since: datetime, detail: str) -> None:
        await self.sql.execute(
            """INSERT INTO bouncing_addresses (address, since, detail) VALUES (?, ?, ?)
               ON CONFLICT (address) DO UPDATE SET detail = excluded.detail""",
            address.lower(),
            since,
            detail,
        )

    async def is_bouncing(self, address: str) -> bool:
        found = await self.sql.fetchval(
            "SELECT address FROM bouncing_addresses WHERE address = ?", address.lower()
        )
        return found is not None

    async def outbox_message(self, message_id: str) -> QueuedMail | None:
        row = await self.sql.fetchrow("SELECT * FROM outbox WHERE message_id = ?", message_id)
        return _queued(row) if row else None

    # --- settings -------------------------------------------------------------------

    async def setting(self, key: str) -> str | None:
        value = await self.sql.fetchval("SELECT value FROM settings WHERE key = ?", key)
        return None if value is None else str(value)

    async def set_setting(self, key: str, value: str) -> None:
        await self.sql.execute(
            """INSERT INTO settings (key, value) VALUES (?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            key,
            value,
        )


def _vendor(row: Row) -> Vendor:
    return Vendor(
        id=row["id"],
        name=row["name"],
        account_email=row["account_email"],
        support_email=row["support_email"],
        agent_emails=tuple(json.loads(row["agent_emails"] or "[]")),
        timezone=row["timezone"],
        refund_policy=RefundPolicy(RefundCategory(row["policy_category"]), row["policy_days"]),
        api_key=row["api_key"],
        webhook_url=row["webhook_url"],
        abusing=bool(row["abusing"]),
    )


def _ticket_state(ticket: Ticket) -> tuple[object, ...]:
    return (
        ticket.type.value,
        ticket.status.value,
        ticket.opened_by.value,
        ticket.opened_at,
        ticket.last_activity_at,
        ticket.waiting_on.value,
        ticket.warnings_sent,
        ticket.awaiting_approval,
        ticket.vendor_saved_at,
        ticket.escalated_at,
        ticket.closed_at,
        ticket.close_reason.value if ticket.close_reason else None,
    )


def _ticket(row: Row, comments: list[Row], attachments: list[Row], events: list[Row]) -> Ticket:
    by_comment: dict[int, list[Attachment]] = {}
    for a in attachments:
        by_comment.setdefault(int(a["comment_id"]), []).append(
            Attachment(a["filename"], a["content_type"], int(a["size"]), a["blob_id"])
        )
    due = Timer(TimerEvent(row["due_event"]), as_time(row["due_at"])) if row["due_event"] else None
    return Ticket(
        number=int(row["number"]),
        vendor_id=row["vendor_id"],
        order_reference=row["order_reference"],
        customer_email=row["customer_email"],
        type=TicketType(row["type"]),
        status=TicketStatus(row["status"]),
        opened_by=Party(row["opened_by"]),
        opened_at=as_time(row["opened_at"]),
        last_activity_at=as_time(row["last_activity_at"]),
        waiting_on=Party(row["waiting_on"]),
        warnings_sent=int(row["warnings_sent"]),
        awaiting_approval=bool(row["awaiting_approval"]),
        vendor_saved_at=as_optional_time(row["vendor_saved_at"]),
        escalated_at=as_optional_time(row["escalated_at"]),
        closed_at=as_optional_time(row["closed_at"]),
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        due=due,
        comments=tuple(
            Comment(
                Party(c["author"]),
                c["text"],
                as_time(c["at"]),
                tuple(by_comment.get(int(c["id"]), ())),
            )
            for c in comments
        ),
        history=tuple(
            HistoryEntry(
                e["kind"], Party(e["by_party"]), as_time(e["at"]), json.loads(e["detail"] or "{}")
            )
            for e in events
        ),
    )


def _queued(row: Row) -> QueuedMail:
    return QueuedMail(
        id=int(row["id"]),
        item=OutboxItem(
            kind=row["kind"],
            party=row["party"],
            to_address=row["to_address"],
            to_name=row["to_name"],
            message_id=row["message_id"],
            thread_root=row["thread_root"],
            payload=json.loads(row["payload"] or "{}"),
            ticket_number=int(row["ticket_number"]) if row["ticket_number"] is not None else None,
            created_at=as_time(row["created_at"]),
        ),
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=as_time(row["next_attempt_at"]),
        last_error=row["last_error"],
    )
