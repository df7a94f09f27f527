"""Subscriptions with their items, pending changes and history (SPEC §7).

A subscription's pending timer lives in the timers table, like a ticket's,
and is read with it as its `due`. Its status is mirrored on its order
(`orders.subscription_status`, the order JSON's field) in the same write.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from service.domain.records import (
    HistoryEntry,
    RecordKind,
    SubscriptionStatus,
)
from service.domain.subscription.records import (
    Consent,
    EndReason,
    PaymentStatus,
    PendingChange,
    Renewal,
    Subscription,
    SubscriptionItem,
    SubscriptionTimer,
    SubscriptionTimerEvent,
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

FIRST_ID = 1001
"""Generated ids start at S1001 (imported ones may be any `S` + digits)."""
_ID_LOCK = 7_215_312  # pg_advisory_xact_lock key: "maildesk subscription ids"

_APPEND = """INSERT INTO subscription_events (subscription_id, seq, kind, by_party, at, detail)
    VALUES (?, ?, ?, ?, ?, ?)"""
_WITH_ORDER_AND_TIMER = (
    "SELECT s.*, o.customer_email, o.payment_method, tm.event AS due_event, "
    "tm.due_at FROM subscriptions s JOIN orders o ON o.reference = s.order_reference "
    f"LEFT JOIN timers tm ON tm.record_kind = '{RecordKind.SUBSCRIPTION.value}' "
    "AND tm.record_id = s.id"
)


class SubscriptionRepository(Repository):
    async def get(
        self, subscription_id: str, *, vendor_id: str | None = None, for_update: bool = False
    ) -> Subscription | None:
        """The subscription; with `vendor_id`, only if it is that vendor's (one statement
        either way when it is not, as for a missing one)."""
        if for_update and self.postgresql:
            await self.sql.execute(
                "SELECT 1 FROM subscriptions WHERE id = ? FOR UPDATE", subscription_id
            )
        mine, args = ("", ()) if vendor_id is None else (" AND s.vendor_id = ?", (vendor_id,))
        row = await self.sql.fetchrow(
            f"{_WITH_ORDER_AND_TIMER} WHERE s.id = ?" + mine, subscription_id, *args
        )
        if row is None:
            return None
        items = await self.sql.fetch(
            """SELECT i.*, p.name, p.currency FROM subscription_items i
               JOIN products p ON p.sku = i.sku
               WHERE i.subscription_id = ? ORDER BY i.number""",
            subscription_id,
        )
        events = await self.sql.fetch(
            f"SELECT {HISTORY_COLUMNS} FROM subscription_events WHERE subscription_id = ? "
            "ORDER BY seq",
            subscription_id,
        )
        return _subscription(row, items, events)

    async def owner(self, subscription_id: str) -> tuple[str, str] | None:
        """(order reference, customer email) of a subscription: who may write to its reply
        address, in one statement, without loading its items and history."""
        row = await self.sql.fetchrow(
            """SELECT s.order_reference, o.customer_email FROM subscriptions s
               JOIN orders o ON o.reference = s.order_reference WHERE s.id = ?""",
            subscription_id,
        )
        return None if row is None else (str(row["order_reference"]), str(row["customer_email"]))

    async def id_of_order(self, reference: str) -> str | None:
        value = await self.sql.fetchval(
            "SELECT id FROM subscriptions WHERE order_reference = ?", reference
        )
        return None if value is None else str(value)

    async def ids_of_orders(self, references: Sequence[str]) -> dict[str, str]:
        """The subscription id of each of `references` that has one (an import batch's
        orders): a statement per `IN_LIST` references, not one per order."""
        found: dict[str, str] = {}
        for among, args in self.one_of_each_slice("order_reference", references):
            rows = await self.sql.fetch(
                f"SELECT order_reference, id FROM subscriptions WHERE {among}", *args
            )
            found |= {str(r["order_reference"]): str(r["id"]) for r in rows}
        return found

    async def existing(self, subscription_ids: Sequence[str]) -> set[str]:
        """Which of `subscription_ids` are taken, a statement per `IN_LIST` ids."""
        taken: set[str] = set()
        for among, args in self.one_of_each_slice("id", subscription_ids):
            rows = await self.sql.fetch(f"SELECT id FROM subscriptions WHERE {among}", *args)
            taken |= {str(r["id"]) for r in rows}
        return taken

    async def secret(self, subscription_id: str) -> str | None:
        """The permanent secret of its self-service links (None: no such subscription)."""
        value = await self.sql.fetchval(
            "SELECT secret FROM subscriptions WHERE id = ?", subscription_id
        )
        return None if value is None else str(value)

    async def set_secret(self, subscription_id: str, secret: str) -> bool:
        """Replace the secret (the operator's rotation); False when there is no such id."""
        found = await self.sql.fetchval(
            "UPDATE subscriptions SET secret = ? WHERE id = ? RETURNING id",
            secret,
            subscription_id,
        )
        return found is not None

    async def take_turn(self) -> None:
        """Hold the subscription-creating turn until this transaction ends.

        PostgreSQL nodes creating subscriptions at once (two imports, two nodes
        starting) take turns, so they neither pick one id twice nor make two
        subscriptions for one order; SQLite's one writer already takes turns.
        """
        if self.postgresql:
            await self.sql.execute("SELECT pg_advisory_xact_lock(?)", _ID_LOCK)

    async def highest_number(self) -> int:
        """The highest number of any subscription id (S1005 -> 1005), 0 when there is none.

        A scan of the ids: call it once per import (`service.catalog.writing.IdNumbers`),
        and only after `take_turn`, so two concurrent imports never pick one number.
        """
        highest = await self.sql.fetchval(
            "SELECT MAX(CAST(SUBSTR(id, 2) AS BIGINT)) FROM subscriptions"
        )
        return int(highest or 0)

    async def insert_many(self, subscriptions: Sequence[Subscription]) -> None:
        """Store new subscriptions, their items and history (their timers are the funnel's).

        A statement of each kind for all of them (an import creates hundreds per batch):
        one round trip per kind, not one per subscription.
        """
        await self.sql.executemany(
            """INSERT INTO subscriptions (id, order_reference, vendor_id, secret, status,
                   cancel_reason, renewal, interval, next_billing_at, payment_status, ends_at,
                   reminded_for)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(s.id, s.order_reference, s.vendor_id, s.secret, *_state(s)) for s in subscriptions],
        )
        await self._write_items(subscriptions, replace_all=False)
        await self.sql.executemany(
            _APPEND, [row for s in subscriptions for row in history_rows(s.id, s.history, 0)]
        )
        await self._mirror_on_orders(subscriptions)

    async def save(self, old: Subscription, new: Subscription) -> None:
        """Store the new state, the items that changed and the new history."""
        if _state(old) != _state(new):
            await self.sql.execute(
                """UPDATE subscriptions SET status = ?, cancel_reason = ?, renewal = ?,
                       interval = ?, next_billing_at = ?, payment_status = ?, ends_at = ?,
                       reminded_for = ?
                   WHERE id = ?""",
                *_state(new),
                new.id,
            )
        if old.items != new.items:
            await self._write_items([new], replace_all=True)
        await self._append(new.id, new.history[len(old.history) :], len(old.history))
        if old.status is not new.status:
            await self._mirror_on_orders([new])

    async def _write_items(
        self, subscriptions: Sequence[Subscription], *, replace_all: bool
    ) -> None:
        if replace_all:
            await self.sql.executemany(
                "DELETE FROM subscription_items WHERE subscription_id = ?",
                [(s.id,) for s in subscriptions],
            )
        await self.sql.executemany(
            """INSERT INTO subscription_items (subscription_id, number, sku, quantity,
                   unit_price, auto_renew, change_unit_price, change_quantity,
                   change_needs_consent, change_consent, change_asked_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [_item_columns(s.id, item) for s in subscriptions for item in s.items],
        )

    async def _append(
        self, subscription_id: str, history: Sequence[HistoryEntry], seq: int
    ) -> None:
        if not history:
            return
        await self.sql.executemany(_APPEND, history_rows(subscription_id, history, seq))

    async def _mirror_on_orders(self, subscriptions: Sequence[Subscription]) -> None:
        """The orders' status is their subscriptions'. An imported order mostly has it
        already: those rows are left alone rather than rewritten with the same value."""
        await self.sql.executemany(
            """UPDATE orders SET subscription_status = ? WHERE reference = ?
                   AND (subscription_status IS NULL OR subscription_status <> ?)""",
            [(s.status.value, s.order_reference, s.status.value) for s in subscriptions],
        )

    async def orders_without_one(self, after: str = "", limit: int = 1000) -> list[str]:
        """Subscription orders with no subscription record yet (made before issue #16), in
        reference order from after `after`."""
        rows = await self.sql.fetch(
            f"""SELECT o.reference FROM orders o
                LEFT JOIN subscriptions s ON s.order_reference = o.reference
                WHERE o.subscription_status IS NOT NULL AND s.id IS NULL AND o.reference > ?
                ORDER BY o.reference LIMIT {int(limit)}""",
            after,
        )
        return [r["reference"] for r in rows]

    async def active_count(self) -> int:
        return int(
            await self.sql.fetchval("SELECT COUNT(*) FROM subscriptions WHERE status = 'active'")
        )


def _state(subscription: Subscription) -> tuple[object, ...]:
    return (
        subscription.status.value,
        subscription.cancel_reason.value if subscription.cancel_reason else None,
        subscription.renewal.value,
        subscription.interval,
        subscription.next_billing_at,
        subscription.payment_status.value,
        subscription.ends_at,
        subscription.reminded_for,
    )


def _item_columns(subscription_id: str, item: SubscriptionItem) -> tuple[object, ...]:
    change = item.change
    return (
        subscription_id,
        item.number,
        item.sku,
        item.quantity,
        item.unit_price,
        item.auto_renew,
        change.unit_price if change else None,
        change.quantity if change else None,
        change.needs_consent if change else False,
        change.consent.value if change else None,
        change.asked_at if change else None,
    )


def _subscription(row: Row, items: list[Row], events: Sequence[Any]) -> Subscription:
    due = (
        SubscriptionTimer(SubscriptionTimerEvent(row["due_event"]), as_time(row["due_at"]))
        if row["due_event"]
        else None
    )
    return Subscription(
        id=row["id"],
        order_reference=row["order_reference"],
        vendor_id=row["vendor_id"],
        customer_email=row["customer_email"],
        secret=row["secret"],
        renewal=Renewal(row["renewal"]),
        interval=row["interval"],
        next_billing_at=as_time(row["next_billing_at"]),
        payment_method=row["payment_method"],
        currency=items[0]["currency"] if items else "USD",
        items=tuple(_item(i) for i in items),
        status=SubscriptionStatus(row["status"]),
        payment_status=PaymentStatus(row["payment_status"]),
        ends_at=as_optional_time(row["ends_at"]),
        cancel_reason=EndReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        reminded_for=as_optional_time(row["reminded_for"]),
        due=due,
        history=tuple(history_entry(e) for e in events),
    )


def _item(row: Row) -> SubscriptionItem:
    change = None
    if row["change_consent"]:
        change = PendingChange(
            unit_price=(
                None if row["change_unit_price"] is None else Decimal(str(row["change_unit_price"]))
            ),
            quantity=None if row["change_quantity"] is None else int(row["change_quantity"]),
            needs_consent=bool(row["change_needs_consent"]),
            consent=Consent(row["change_consent"]),
            asked_at=as_time(row["change_asked_at"]),
        )
    return SubscriptionItem(
        number=int(row["number"]),
        sku=row["sku"],
        quantity=int(row["quantity"]),
        unit_price=Decimal(str(row["unit_price"])),
        auto_renew=bool(row["auto_renew"]),
        change=change,
        name=row["name"],
    )
