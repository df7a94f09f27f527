"""Tickets with their comments, attachments and history, their thread roots and escalations.

A ticket's pending timer lives in the timers table (`service.store.timers`),
shared by every kind of record; a ticket is read with it as its `due`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from service.domain.records import (
    Attachment,
    CloseReason,
    Comment,
    HistoryEntry,
    Order,
    Party,
    RecordKind,
    Ticket,
    TicketStatus,
    TicketType,
    Timer,
    TimerEvent,
    Vendor,
)
from service.store.base import (
    HISTORY_COLUMNS,
    Repository,
    Row,
    as_optional_time,
    as_time,
    history_entry,
    history_rows,
)
from service.store.orders import ORDER_FROM, OrderRepository, order_columns
from service.store.rows import Escalation, ThreadRoots, TicketParties
from service.store.vendors import vendor_from

_TICKET_FROM = (
    f"FROM tickets t LEFT JOIN timers tm ON tm.record_kind = '{RecordKind.TICKET.value}' "
    "AND tm.record_id = CAST(t.number AS TEXT)"
)
"""A ticket (`t`) with its pending timer (`tm`)."""


_COMMENTS = "c.id, c.author, c.text, c.at, c.author_email, c.author_name"
_COMMENTS_FROM = "FROM comments c WHERE c.ticket_number = {} ORDER BY c.seq"
_ATTACHMENTS = "a.comment_id, a.filename, a.content_type, a.size, a.blob_id"
_ATTACHMENTS_FROM = (
    "FROM attachments a JOIN comments c ON c.id = a.comment_id "
    "WHERE c.ticket_number = {} ORDER BY a.id"
)
_EVENTS = HISTORY_COLUMNS
_EVENTS_FROM = "FROM ticket_events WHERE ticket_number = {} ORDER BY seq"
_GET = {
    False: f"SELECT t.*, tm.event AS due_event, tm.due_at {_TICKET_FROM} WHERE t.number = ?",
    True: "SELECT t.*, tm.event AS due_event, tm.due_at, "
    f"ARRAY(SELECT ROW({_COMMENTS}) {_COMMENTS_FROM.format('t.number')}) AS comments, "
    f"ARRAY(SELECT ROW({_ATTACHMENTS}) {_ATTACHMENTS_FROM.format('t.number')}) AS attachments, "
    f"ARRAY(SELECT ROW({_EVENTS}) {_EVENTS_FROM.format('t.number')}) AS events "
    f"{_TICKET_FROM} WHERE t.number = ?",
}
"""A ticket with its timer; on PostgreSQL with its comments, attachments and history too."""
_COMMENTS_OF = f"SELECT {_COMMENTS} {_COMMENTS_FROM.format('?')}"
_ATTACHMENTS_OF = f"SELECT {_ATTACHMENTS} {_ATTACHMENTS_FROM.format('?')}"
_EVENTS_OF = f"SELECT {_EVENTS} {_EVENTS_FROM.format('?')}"
_INSERT_COMMENT = """INSERT INTO comments (ticket_number, seq, author, text, at, author_email,
                     author_name)
                 VALUES (?, ?, ?, ?, ?, ?, ?)"""
_INSERT_COMMENT_ID = f"{_INSERT_COMMENT} RETURNING id"
_OPEN_REQUEST = (
    "SELECT number FROM tickets WHERE order_reference = {} AND status = 'open' "
    "AND type <> 'support' AND number <> ? ORDER BY number LIMIT 1"
)
"""Another open refund or cancelation on an order (one request at a time), but ticket `?`."""
_FACTS = {
    postgresql: f"SELECT {order_columns(postgresql)}, "
    f"({_OPEN_REQUEST.format('o.reference')}) AS open_request, v.* {ORDER_FROM} "
    "LEFT JOIN vendors v ON v.id = o.vendor_id WHERE o.reference = ?"
    for postgresql in (False, True)
}


class TicketRepository(Repository):
    async def next_number_on(self, reference: str) -> int | None:
        """The number a new ticket on order `reference` takes, having locked the order so that
        requests on one order are taken one at a time.

        On PostgreSQL the lock (`FOR UPDATE`) and the number (the sequence) are one
        statement, one round trip, and None says there is no such order; SQLite's writes
        are serial already, and its number is the highest so far plus one (whether the
        order exists, reading it tells).
        """
        if self.postgresql:
            value = await self.sql.fetchval(
                "SELECT nextval('ticket_numbers') FROM orders WHERE reference = ? FOR UPDATE",
                reference,
            )
            return None if value is None else int(value)
        return int(await self.sql.fetchval("SELECT COALESCE(MAX(number), 0) + 1 FROM tickets"))

    async def get(
        self, number: int, *, vendor_id: str | None = None, for_update: bool = False
    ) -> Ticket | None:
        """The ticket; with `vendor_id`, only if it is that vendor's (one statement either way
        when it is not, as for a missing one: see `OrderRepository.get`)."""
        loaded = await self.load(number, vendor_id=vendor_id, for_update=for_update)
        return None if loaded is None else loaded[0]

    async def load(
        self, number: int, *, vendor_id: str | None = None, for_update: bool = False
    ) -> tuple[Ticket, ThreadRoots] | None:
        """`get`, with the ticket's thread roots, which its emails are threaded under.

        On PostgreSQL one statement reads the ticket with its timer, comments,
        attachments and history (arrays of records), after the lock when
        `for_update`; SQLite reads the children with a statement each.
        """
        if for_update and self.postgresql:
            # Lock in a statement of its own: a locking read that had to wait re-checks
            # only the locked row, and would pair the new ticket with its old timer.
            await self.sql.execute("SELECT 1 FROM tickets WHERE number = ? FOR UPDATE", number)
        mine, args = ("", ()) if vendor_id is None else (" AND t.vendor_id = ?", (vendor_id,))
        row = await self.sql.fetchrow(_GET[self.postgresql] + mine, number, *args)
        if row is None:
            return None
        if self.postgresql:
            comments, attachments, events = row["comments"], row["attachments"], row["events"]
        else:
            comments = await self.sql.fetch(_COMMENTS_OF, number)
            attachments = await self.sql.fetch(_ATTACHMENTS_OF, number)
            events = await self.sql.fetch(_EVENTS_OF, number)
        return _ticket(row, comments, attachments, events), _thread_roots(row)

    async def is_vendors(self, vendor_id: str, number: int) -> bool:
        """Whether ticket `number` is `vendor_id`'s: one statement, whoever's it is or isn't."""
        value = await self.sql.fetchval(
            "SELECT 1 FROM tickets WHERE number = ? AND vendor_id = ?", number, vendor_id
        )
        return value is not None

    async def parties(self, number: int) -> TicketParties | None:
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
        return TicketParties(row["ticket_customer_email"], vendor_from(row)) if row else None

    async def find(
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
        found = [await self.get(int(r["number"])) for r in numbers]
        return [t for t in found if t is not None]

    async def open_request_on(self, reference: str, *, excluding: int | None = None) -> int | None:
        """Another open refund or cancelation on the order: one request at a time."""
        value = await self.sql.fetchval(
            _OPEN_REQUEST.format("?"), reference, excluding if excluding is not None else -1
        )
        return None if value is None else int(value)

    async def facts(
        self, reference: str, *, excluding: int | None = None
    ) -> tuple[Order, Vendor | None, int | None] | None:
        """What a ticket on order `reference` is decided from: the order, its vendor (None
        only if the foreign key were broken) and `open_request_on` (not `excluding`).

        One statement, on PostgreSQL with the order's items and bills too: the
        funnel reads these for every event, and each statement is a round trip.
        """
        row = await self.sql.fetchrow(
            _FACTS[self.postgresql], excluding if excluding is not None else -1, reference
        )
        if row is None:
            return None
        order = await OrderRepository(self.sql).order_from(row)
        vendor = vendor_from(row) if row["id"] is not None else None
        open_request = row["open_request"]
        return order, vendor, None if open_request is None else int(open_request)

    async def open_count(self) -> int:
        return int(await self.sql.fetchval("SELECT COUNT(*) FROM tickets WHERE status = 'open'"))

    async def counts(self) -> dict[tuple[str, str], int]:
        """Tickets by (type, status), for `/metrics`."""
        rows = await self.sql.fetch(
            "SELECT type, status, COUNT(*) AS n FROM tickets GROUP BY type, status"
        )
        return {(str(r["type"]), str(r["status"])): int(r["n"]) for r in rows}

    async def insert(
        self, ticket: Ticket, threads: ThreadRoots, blobs: Mapping[str, bytes]
    ) -> None:
        """Store a new ticket, its first comment and history (its timer is the funnel's)."""
        await self.sql.execute(
            """INSERT INTO tickets (number, vendor_id, order_reference, customer_email, type,
                   status, opened_by, opened_at, last_activity_at, waiting_on, warnings_sent,
                   awaiting_approval, vendor_saved_at, escalated_at, closed_at, close_reason,
                   customer_utc_offset, thread_token, customer_thread_root, vendor_thread_root)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            ticket.number,
            ticket.vendor_id,
            ticket.order_reference,
            ticket.customer_email,
            *_ticket_state(ticket),
            threads.legacy_token,
            threads.customer,
            threads.vendor,
        )
        await self._append(ticket.number, ticket.comments, ticket.history, 0, 0, blobs)

    async def save(self, old: Ticket, new: Ticket, blobs: Mapping[str, bytes]) -> None:
        """Store the ticket's new state and its new comments and history."""
        await self.sql.execute(
            """UPDATE tickets SET type = ?, status = ?, opened_by = ?, opened_at = ?,
                   last_activity_at = ?, waiting_on = ?, warnings_sent = ?,
                   awaiting_approval = ?, vendor_saved_at = ?, escalated_at = ?,
                   closed_at = ?, close_reason = ?, customer_utc_offset = ?
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
            row = (
                number,
                comment_seq + offset,
                comment.author.value,
                comment.text,
                comment.at,
                comment.author_email,
                comment.author_name,
            )
            if not comment.attachments:  # nothing to read back: on PostgreSQL it may wait
                await self.sql.execute(_INSERT_COMMENT, *row)
                continue
            comment_id = await self.sql.fetchval(_INSERT_COMMENT_ID, *row)
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
                history_rows(number, history, history_seq),
            )

    async def attachment(self, blob_id: str) -> tuple[Attachment, bytes, int] | None:
        """An attachment's description, its bytes and the number of its ticket."""
        row = await self.sql.fetchrow(
            """SELECT a.*, c.ticket_number FROM attachments a
               JOIN comments c ON c.id = a.comment_id WHERE a.blob_id = ?""",
            blob_id,
        )
        if row is None:
            return None
        meta = Attachment(row["filename"], row["content_type"], int(row["size"]), blob_id)
        return meta, bytes(row["data"]), int(row["ticket_number"])

    # --- escalations ----------------------------------------------------------------------

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
        ticket.customer_utc_offset,
    )


def _thread_roots(row: Row) -> ThreadRoots:
    return ThreadRoots(
        customer=row["customer_thread_root"],
        vendor=row["vendor_thread_root"],
        legacy_token=str(row["thread_token"] or ""),
    )


def _ticket(
    row: Row,
    comments: Sequence[Sequence[Any]],
    attachments: Sequence[Sequence[Any]],
    events: Sequence[Sequence[Any]],
) -> Ticket:
    """A ticket from its row and the rows (or records) of `_COMMENTS`, `_ATTACHMENTS` and
    `_EVENTS` that belong to it, read by position."""
    by_comment: dict[int, list[Attachment]] = {}
    for comment_id, filename, content_type, size, blob_id in attachments:
        by_comment.setdefault(int(comment_id), []).append(
            Attachment(filename, content_type, int(size), blob_id)
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
        customer_utc_offset=(
            None if row["customer_utc_offset"] is None else int(row["customer_utc_offset"])
        ),
        comments=tuple(
            Comment(
                Party(author),
                text,
                as_time(at),
                tuple(by_comment.get(int(comment_id), ())),
                author_email or "",
                author_name or "",
            )
            for comment_id, author, text, at, author_email, author_name in comments
        ),
        history=tuple(history_entry(e) for e in events),
    )
