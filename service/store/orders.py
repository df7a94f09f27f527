"""Orders with their items and bills, and the catalog they refer to: customers and products."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from service.domain.records import (
    Bill,
    Order,
    OrderItem,
    Product,
    ProductKind,
    SubscriptionStatus,
)
from service.store.base import Repository, Row, as_optional_time, as_time

_ORDER = (
    "o.reference, o.vendor_id, o.customer_email, o.payment_method, o.purchased_at, "
    "o.license_key, o.download_url, o.subscription_status, o.secret, "
    "c.name AS customer_name"
)
ORDER_FROM = (
    "FROM orders o "
    "LEFT JOIN customers c ON c.vendor_id = o.vendor_id AND c.email = o.customer_email"
)
"""The order's own row, with its customer's name: `order_from` reads it (alias `o`)."""
_ITEMS = "i.sku, i.quantity, i.unit_price, p.name, p.kind, p.currency"
_ITEMS_FROM = (
    "FROM order_items i JOIN products p ON p.sku = i.sku "
    "WHERE i.order_reference = {} ORDER BY i.line"
)
_BILLS = "b.billed_at, b.amount, b.refunded_at"
_BILLS_FROM = "FROM bills b WHERE b.order_reference = {} ORDER BY b.billed_at"


_ORDER_WITH_ARRAYS = (
    f"{_ORDER}, ARRAY(SELECT ROW({_ITEMS}) {_ITEMS_FROM.format('o.reference')}) AS order_items, "
    f"ARRAY(SELECT ROW({_BILLS}) {_BILLS_FROM.format('o.reference')}) AS order_bills"
)
_ITEMS_OF = f"SELECT {_ITEMS} {_ITEMS_FROM.format('?')}"
_BILLS_OF = f"SELECT {_BILLS} {_BILLS_FROM.format('?')}"


def order_columns(postgresql: bool) -> str:
    """What to select for an order (its row under alias `o`, `ORDER_FROM`): on PostgreSQL
    its items and bills too, as arrays of records in the same row, so that an order is one
    round trip; SQLite has no arrays and no round trips, and `order_from` reads them with a
    statement each (the same columns)."""
    return _ORDER_WITH_ARRAYS if postgresql else _ORDER


_GET = {
    postgresql: f"SELECT {order_columns(postgresql)} {ORDER_FROM} WHERE o.reference = ?"
    for postgresql in (False, True)
}


class OrderRepository(Repository):
    async def get(self, reference: str, *, vendor_id: str | None = None) -> Order | None:
        """The order; with `vendor_id`, only if it is that vendor's.

        The vendor is part of the first statement, so another vendor's order
        costs exactly what a missing one costs: one statement and nothing loaded.
        """
        mine, args = ("", ()) if vendor_id is None else (" AND o.vendor_id = ?", (vendor_id,))
        row = await self.sql.fetchrow(_GET[self.postgresql] + mine, reference, *args)
        return None if row is None else await self.order_from(row)

    async def order_from(self, row: Row) -> Order:
        """The order a row of `order_columns` describes (SQLite: with its items and bills read
        now, in the same transaction)."""
        if self.postgresql:
            items, bills = row["order_items"], row["order_bills"]
        else:
            reference = row["reference"]
            items = await self.sql.fetch(_ITEMS_OF, reference)
            bills = await self.sql.fetch(_BILLS_OF, reference)
        return Order(
            reference=row["reference"],
            vendor_id=row["vendor_id"],
            customer_email=row["customer_email"],
            customer_name=row["customer_name"] or "",
            items=tuple(
                OrderItem(
                    sku=sku,
                    quantity=int(quantity),
                    unit_price=Decimal(str(unit_price)),
                    name=name,
                    kind=ProductKind(kind),
                    currency=currency,
                )
                for sku, quantity, unit_price, name, kind, currency in items
            ),
            payment_method=row["payment_method"],
            purchased_at=as_time(row["purchased_at"]),
            bills=tuple(
                Bill(
                    billed_at=as_time(billed_at),
                    amount=Decimal(str(amount)),
                    refunded_at=as_optional_time(refunded_at),
                )
                for billed_at, amount, refunded_at in bills
            ),
            license_key=row["license_key"],
            download_url=row["download_url"],
            subscription_status=(
                SubscriptionStatus(row["subscription_status"])
                if row["subscription_status"]
                else None
            ),
            secret=row["secret"] or "",
        )

    async def upsert(self, orders: Sequence[Order], secrets: Sequence[str]) -> None:
        """Insert or update orders; refunds already recorded on their bills are kept.
        `secrets` are their purchase links' secrets, one per order: a new order takes its
        own, an existing one keeps the one it has.

        A statement of each kind for all of `orders` (an import writes thousands at a
        time): one round trip per kind, not one per order.
        """
        await self.sql.executemany(
            """INSERT INTO orders (reference, vendor_id, customer_email, payment_method,
                   purchased_at, license_key, download_url, subscription_status, secret)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (reference) DO UPDATE SET vendor_id = excluded.vendor_id,
                   customer_email = excluded.customer_email,
                   payment_method = excluded.payment_method,
                   purchased_at = excluded.purchased_at, license_key = excluded.license_key,
                   download_url = excluded.download_url,
                   subscription_status = COALESCE(orders.subscription_status,
                                                  excluded.subscription_status),
                   secret = COALESCE(orders.secret, excluded.secret)""",
            [
                (
                    order.reference,
                    order.vendor_id,
                    order.customer_email,
                    order.payment_method,
                    order.purchased_at,
                    order.license_key,
                    order.download_url,
                    order.subscription_status.value if order.subscription_status else None,
                    secret,
                )
                for order, secret in zip(orders, secrets, strict=True)
            ],
        )
        # An order named twice in one batch: its last items stand, as when the two are
        # batches apart (the rows above and the bills below apply in turn either way).
        last = {order.reference: order for order in orders}.values()
        await self.sql.executemany(
            "DELETE FROM order_items WHERE order_reference = ?",
            [(order.reference,) for order in last],
        )
        await self.sql.executemany(
            """INSERT INTO order_items (order_reference, line, sku, quantity, unit_price)
               VALUES (?, ?, ?, ?, ?)""",
            [
                (order.reference, line, item.sku, item.quantity, item.unit_price)
                for order in last
                for line, item in enumerate(order.items, start=1)
            ],
        )
        await self.sql.executemany(
            """INSERT INTO bills (order_reference, billed_at, amount) VALUES (?, ?, ?)
               ON CONFLICT (order_reference, billed_at) DO UPDATE SET amount = excluded.amount""",
            [
                (order.reference, bill.billed_at, bill.amount)
                for order in orders
                for bill in order.bills
            ],
        )

    async def latest_billed(self, references: Sequence[str]) -> dict[str, datetime]:
        """When each of `references` was last billed (an import batch's orders, for their
        new subscriptions' first billing dates): a statement per `IN_LIST` references."""
        latest: dict[str, datetime] = {}
        for among, args in self.one_of_each_slice("order_reference", references):
            rows = await self.sql.fetch(
                f"""SELECT order_reference, MAX(billed_at) AS billed_at FROM bills
                    WHERE {among} GROUP BY order_reference""",
                *args,
            )
            latest |= {str(r["order_reference"]): as_time(r["billed_at"]) for r in rows}
        return latest

    async def is_vendors(self, vendor_id: str, reference: str) -> bool:
        """Whether order `reference` is `vendor_id`'s: one statement, whoever's it is or isn't."""
        value = await self.sql.fetchval(
            "SELECT 1 FROM orders WHERE reference = ? AND vendor_id = ?", reference, vendor_id
        )
        return value is not None

    async def refund_bill(self, reference: str, billed_at: datetime, now: datetime) -> None:
        await self.sql.execute(
            """UPDATE bills SET refunded_at = ?
               WHERE order_reference = ? AND billed_at = ? AND refunded_at IS NULL""",
            now,
            reference,
            billed_at,
        )

    async def secret(self, reference: str) -> str | None:
        """The purchase link's secret (None: no such order, or none yet)."""
        value = await self.sql.fetchval("SELECT secret FROM orders WHERE reference = ?", reference)
        return None if value is None else str(value)

    async def set_secret(self, reference: str, secret: str) -> bool:
        """Replace the purchase link's secret (the operator's rotation); False if no such order."""
        found = await self.sql.fetchval(
            "UPDATE orders SET secret = ? WHERE reference = ? RETURNING reference",
            secret,
            reference,
        )
        return found is not None

    async def add_bill(self, reference: str, billed_at: datetime, amount: Decimal) -> None:
        """A renewal's charge, the order's newest bill (refund windows count from it)."""
        await self.sql.execute(
            "INSERT INTO bills (order_reference, billed_at, amount) VALUES (?, ?, ?)",
            reference,
            billed_at,
            amount,
        )

    async def cancel_subscription(self, reference: str) -> None:
        await self.sql.execute(
            "UPDATE orders SET subscription_status = ? WHERE reference = ?",
            SubscriptionStatus.CANCELED.value,
            reference,
        )

    async def among(
        self,
        references: Sequence[str],
        customer_email: str | None = None,
        vendor_id: str | None = None,
    ) -> list[str]:
        """Which of `references` are orders (of this customer, or of this vendor)."""
        if not references:
            return []
        among, args = self.one_of("reference", references)
        rows = await self.sql.fetch(
            f"""SELECT reference FROM orders WHERE {among}
                AND (CAST(? AS TEXT) IS NULL OR customer_email = ?)
                AND (CAST(? AS TEXT) IS NULL OR vendor_id = ?)""",
            *args,
            customer_email,
            customer_email,
            vendor_id,
            vendor_id,
        )
        return [r["reference"] for r in rows]

    async def of_customer(self, customer_email: str, *, limit: int = 50) -> list[str]:
        """The references of every order bought with this address, with any vendor, newest first."""
        rows = await self.sql.fetch(
            f"""SELECT reference FROM orders WHERE customer_email = ?
                ORDER BY purchased_at DESC, reference LIMIT {int(limit)}""",
            customer_email,
        )
        return [r["reference"] for r in rows]

    # --- the catalog an order refers to -------------------------------------------------

    async def upsert_customers(self, names: Mapping[tuple[str, str], str]) -> None:
        """Each customer's name by (vendor id, email), all in one statement's round trip."""
        await self.sql.executemany(
            """INSERT INTO customers (vendor_id, email, name) VALUES (?, ?, ?)
               ON CONFLICT (vendor_id, email) DO UPDATE SET name = excluded.name""",
            [(vendor_id, email, name) for (vendor_id, email), name in names.items()],
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
