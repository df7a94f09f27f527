"""The lists and counts of the vendor's desk and the operator's console (issue #17).

Every list is one indexed query with its count beside it (no query per row),
always scoped by the vendor in its first statement where a vendor asks, so
another vendor's records cost what missing ones cost. Rows are plain values
for pages; rules (what a party may do) are never worked out here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from service.domain.records import RecordKind
from service.store.base import Repository, Row, as_optional_time, as_time

PAGE_SIZE = 50


@dataclass(frozen=True)
class TicketQuery:
    """What a vendor's ticket list shows: filters, a search, an order, a page."""

    status: str | None = None
    """'open', 'closed' or None for both."""
    type: str | None = None
    waiting_on_me: bool = False
    due_before: datetime | None = None
    escalated: bool = False
    search: str = ""
    sort: str = "due"
    """'due' (what is due first, then the latest activity), 'activity' or 'newest'."""
    page: int = 1


@dataclass(frozen=True)
class TicketLine:
    """One row of a ticket list."""

    number: int
    vendor_id: str
    order_reference: str
    customer_email: str
    type: str
    status: str
    opened_by: str
    opened_at: datetime
    last_activity_at: datetime
    waiting_on: str
    awaiting_approval: bool
    escalated_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    due_event: str | None
    due_at: datetime | None


@dataclass(frozen=True)
class OrderLine:
    """One row of an order search."""

    reference: str
    customer_email: str
    customer_name: str
    purchased_at: datetime
    payment_method: str
    subscription_status: str | None
    total: Decimal


@dataclass(frozen=True)
class Dashboard:
    open_by_type: dict[str, int]
    due_today: int
    refunds_this_week: int
    saves_this_week: int
    escalations_this_week: int
    waiting_on_vendor: int


_SORTS = {
    "due": "CASE WHEN tm.due_at IS NULL THEN 1 ELSE 0 END, tm.due_at, "
    "t.last_activity_at DESC, t.number DESC",
    "activity": "t.last_activity_at DESC, t.number DESC",
    "newest": "t.number DESC",
}
_TIMER_JOIN = (
    f"LEFT JOIN timers tm ON tm.record_kind = '{RecordKind.TICKET.value}' "
    "AND tm.record_id = CAST(t.number AS TEXT)"
)


def like_pattern(text: str) -> str:
    """`%text%` for LIKE … ESCAPE '\\', with the text's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class DeskRepository(Repository):
    async def tickets(
        self, vendor_id: str | None, query: TicketQuery
    ) -> tuple[list[TicketLine], int]:
        """One page of tickets (of one vendor, or all for the operator) and how many match."""
        clauses: list[str] = []
        args: list[object] = []
        if vendor_id is not None:
            clauses.append("t.vendor_id = ?")
            args.append(vendor_id)
        if query.status in ("open", "closed"):
            clauses.append("t.status = ?")
            args.append(query.status)
        if query.type:
            clauses.append("t.type = ?")
            args.append(query.type)
        if query.waiting_on_me:
            clauses.append(
                "t.status = 'open' AND (t.waiting_on = 'vendor' OR t.awaiting_approval = ?)"
            )
            args.append(True)
        if query.due_before is not None:
            clauses.append("t.status = 'open' AND tm.due_at <= ?")
            args.append(query.due_before)
        if query.escalated:
            clauses.append("t.escalated_at IS NOT NULL")
        text = query.search.strip()
        if text:
            clauses.append(
                "(t.order_reference = ? OR t.customer_email = ? OR EXISTS ("
                "SELECT 1 FROM comments c WHERE c.ticket_number = t.number "
                "AND LOWER(c.text) LIKE ? ESCAPE '\\'))"
            )
            args += [text.upper(), text.lower(), like_pattern(text.lower())]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = _SORTS.get(query.sort, _SORTS["due"])
        offset = (max(1, query.page) - 1) * PAGE_SIZE
        rows = await self.sql.fetch(
            f"""SELECT t.number, t.vendor_id, t.order_reference, t.customer_email, t.type,
                       t.status, t.opened_by, t.opened_at, t.last_activity_at, t.waiting_on,
                       t.awaiting_approval, t.escalated_at, t.closed_at, t.close_reason,
                       tm.event AS due_event, tm.due_at
                FROM tickets t {_TIMER_JOIN} {where}
                ORDER BY {order} LIMIT {PAGE_SIZE} OFFSET {int(offset)}""",
            *args,
        )
        join = _TIMER_JOIN if query.due_before is not None else ""  # only a due filter needs it
        total = await self.sql.fetchval(f"SELECT COUNT(*) FROM tickets t {join} {where}", *args)
        return [_ticket_line(r) for r in rows], int(total)

    async def order_tickets(self, vendor_id: str, reference: str) -> list[TicketLine]:
        """The tickets of one of the vendor's orders, newest first."""
        rows = await self.sql.fetch(
            f"""SELECT t.number, t.vendor_id, t.order_reference, t.customer_email, t.type,
                       t.status, t.opened_by, t.opened_at, t.last_activity_at, t.waiting_on,
                       t.awaiting_approval, t.escalated_at, t.closed_at, t.close_reason,
                       tm.event AS due_event, tm.due_at
                FROM tickets t {_TIMER_JOIN}
                WHERE t.vendor_id = ? AND t.order_reference = ? ORDER BY t.number DESC""",
            vendor_id,
            reference,
        )
        return [_ticket_line(r) for r in rows]

    async def orders(self, vendor_id: str, text: str, *, limit: int = 50) -> list[OrderLine]:
        """The vendor's orders with this reference or customer email (or containing it)."""
        needle = text.strip()
        rows = await self.sql.fetch(
            """SELECT o.reference, o.customer_email, COALESCE(c.name, '') AS customer_name,
                      o.purchased_at, o.payment_method, o.subscription_status,
                      (SELECT COALESCE(SUM(b.amount), 0) FROM bills b
                        WHERE b.order_reference = o.reference) AS total
               FROM orders o
               LEFT JOIN customers c ON c.vendor_id = o.vendor_id AND c.email = o.customer_email
               WHERE o.vendor_id = ? AND (o.reference = ? OR LOWER(o.customer_email) = ?
                     OR o.reference LIKE ? ESCAPE '\\'
                     OR LOWER(o.customer_email) LIKE ? ESCAPE '\\')
               ORDER BY o.purchased_at DESC, o.reference LIMIT ?""",
            vendor_id,
            needle.upper(),
            needle.lower(),
            like_pattern(needle.upper()),
            like_pattern(needle.lower()),
            limit,
        )
        return [
            OrderLine(
                reference=r["reference"],
                customer_email=r["customer_email"],
                customer_name=r["customer_name"],
                purchased_at=as_time(r["purchased_at"]),
                payment_method=r["payment_method"],
                subscription_status=r["subscription_status"],
                total=Decimal(str(r["total"])),
            )
            for r in rows
        ]

    async def dashboard(
        self, vendor_id: str, now: datetime, day_ends: datetime, week_began: datetime
    ) -> Dashboard:
        """The desk's counts, in one statement."""
        row = await self.sql.fetchrow(
            f"""SELECT
                 (SELECT COUNT(*) FROM tickets t {_TIMER_JOIN} WHERE t.vendor_id = ?
                   AND t.status = 'open' AND tm.due_at <= ?) AS due_today,
                 (SELECT COUNT(*) FROM ticket_events e JOIN tickets t ON t.number = e.ticket_number
                   WHERE t.vendor_id = ? AND e.kind = 'refund_processed' AND e.at >= ?)
                   AS refunds,
                 (SELECT COUNT(*) FROM tickets t WHERE t.vendor_id = ?
                   AND t.close_reason = 'closed_by_customer' AND t.type <> 'support'
                   AND t.closed_at >= ?) AS saves,
                 (SELECT COUNT(*) FROM escalations e WHERE e.vendor_id = ? AND e.at >= ?)
                   AS escalations,
                 (SELECT COUNT(*) FROM tickets t WHERE t.vendor_id = ? AND t.status = 'open'
                   AND (t.waiting_on = 'vendor' OR t.awaiting_approval = ?)) AS waiting""",
            vendor_id,
            day_ends,
            vendor_id,
            week_began,
            vendor_id,
            week_began,
            vendor_id,
            week_began,
            vendor_id,
            True,
        )
        assert row is not None
        by_type = await self.sql.fetch(
            """SELECT type, COUNT(*) AS n FROM tickets WHERE vendor_id = ? AND status = 'open'
               GROUP BY type""",
            vendor_id,
        )
        return Dashboard(
            open_by_type={r["type"]: int(r["n"]) for r in by_type},
            due_today=int(row["due_today"]),
            refunds_this_week=int(row["refunds"]),
            saves_this_week=int(row["saves"]),
            escalations_this_week=int(row["escalations"]),
            waiting_on_vendor=int(row["waiting"]),
        )

    async def kept_mail(self, statuses: Sequence[str], limit: int = 100) -> list[Row]:
        """Received messages kept without acting (refused, failed), newest first."""
        among, args = self.one_of("status", statuses)
        return await self.sql.fetch(
            f"""SELECT id, received_at, mail_from, rcpt_to, message_id, status, detail,
                       ticket_number FROM inbound_messages WHERE {among}
                ORDER BY id DESC LIMIT ?""",
            *args,
            limit,
        )


def _ticket_line(r: Row) -> TicketLine:
    return TicketLine(
        number=int(r["number"]),
        vendor_id=r["vendor_id"],
        order_reference=r["order_reference"],
        customer_email=r["customer_email"],
        type=r["type"],
        status=r["status"],
        opened_by=r["opened_by"],
        opened_at=as_time(r["opened_at"]),
        last_activity_at=as_time(r["last_activity_at"]),
        waiting_on=r["waiting_on"],
        awaiting_approval=bool(r["awaiting_approval"]),
        escalated_at=as_optional_time(r["escalated_at"]),
        closed_at=as_optional_time(r["closed_at"]),
        close_reason=r["close_reason"],
        due_event=r["due_event"],
        due_at=as_optional_time(r["due_at"]),
    )
