"""Writing a validated catalog: one transaction, all of it or none.

New subscriptions are created through the funnel's subscription code, so
their first timer is set exactly as an event would set it. `Desk.import_catalog`
runs this inside the funnel's transaction (its commit wakes the scheduler);
`import_catalog` is the same for a store alone (the command line, tests).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from service.catalog.fields import ImportError_
from service.catalog.parse import Catalog, parse_catalog
from service.catalog.subscriptions import SubscriptionSpec, build_subscription
from service.clock import Clock, SystemClock
from service.desk.subscriptions import SubscriptionChanges
from service.domain.records import ProductKind, SubscriptionStatus, Vendor
from service.domain.subscription.records import Renewal, Subscription
from service.outbound.permanent_links import new_secret, new_secrets
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList
from service.store import Queries, Store
from service.store.subscriptions import FIRST_ID


async def import_catalog(
    store: Store,
    data: object,
    *,
    clock: Clock | None = None,
    webhook_allow: AllowList = NO_EXCEPTIONS,
) -> dict[str, int]:
    """Validate `data`, then upsert all of it in one transaction; return what was imported.

    `clock` is the time new subscriptions' timers are set from (the system's
    when not given).
    """
    now = (clock or SystemClock()).now()
    async with store.transaction() as q:
        counts, _ = await write_catalog(q, data, now, webhook_allow=webhook_allow)
    return counts


async def write_catalog(
    q: Queries,
    data: object,
    now: datetime,
    *,
    webhook_allow: AllowList = NO_EXCEPTIONS,
    first_order_index: int = 0,
    numbers: IdNumbers | None = None,
) -> tuple[dict[str, int], bool]:
    """Validate and write `data` through `q`; also whether a new subscription set a timer.

    A streamed import (`service.catalog.stream`) writes a file a batch of
    orders at a time: `first_order_index` numbers the batch's orders in error
    paths as in the file, and one `numbers` makes up ids for all its batches.
    """
    numbers = numbers or IdNumbers()
    known = [v.id for v in await q.vendors.all()]
    skus = _skus(data)
    known_products = {
        sku: product for sku in skus if (product := await q.orders.product(sku)) is not None
    }
    catalog = parse_catalog(data, known, known_products, webhook_allow, first_order_index)
    for vendor in catalog.vendors:
        if not vendor.api_key:
            # A key is generated once and then kept: re-importing must not lock a vendor out.
            existing = await q.vendors.get(vendor.id)
            key = existing.api_key if existing else f"mdk_{secrets.token_urlsafe(24)}"
            vendor = replace(vendor, api_key=key)
        await q.vendors.upsert(vendor)
    for product in catalog.products:
        await q.orders.upsert_product(product)
    await q.orders.upsert_customers(catalog.customer_names)
    await q.orders.upsert(catalog.orders, new_secrets(len(catalog.orders)))
    timers = await _create_subscriptions(q, catalog, now, numbers)
    return catalog.counts(), timers


async def _create_subscriptions(
    q: Queries, catalog: Catalog, now: datetime, numbers: IdNumbers
) -> bool:
    """The subscriptions of the catalog's orders that have none yet; whether one set a timer.

    What each order needs is read a statement per kind for all of them (their existing
    subscriptions, the ids the file names that are taken, the latest bills) and the new
    ones written the same way: a batch of thousands of orders costs a handful of round
    trips, not a handful per subscription.
    """
    if not catalog.subscriptions:
        return False
    await q.subscriptions.take_turn()
    # Ids the file gives first, so an id maildesk makes up never takes one the file names later.
    specs = sorted(catalog.subscriptions, key=lambda spec: spec.id is None)
    having = await q.subscriptions.ids_of_orders(list({s.order_reference: s for s in specs}))
    new: list[SubscriptionSpec] = []
    for spec in specs:
        if spec.order_reference in having:
            continue  # maildesk's own from here on: changed by its events, not by imports
        having[spec.order_reference] = spec.id or ""  # an order named twice gets one
        new.append(spec)
    named = [spec.id for spec in new if spec.id is not None]
    numbers.reserve(named)
    taken = await q.subscriptions.existing(named)
    for spec in new:
        if spec.id in taken:
            raise ImportError_(
                f"orders ({spec.order_reference}).subscription.id: {spec.id} is already the "
                "subscription of another order"
            )
    bought = {order.reference: order for order in catalog.orders}  # the last one is stored
    billed = await q.orders.latest_billed([spec.order_reference for spec in new])
    sellers: dict[str, Vendor] = {}
    created: list[tuple[Subscription, Vendor]] = []
    for spec, secret in zip(new, new_secrets(len(new)), strict=True):
        order = bought[spec.order_reference]
        seller = sellers.get(order.vendor_id) or await q.vendors.get(order.vendor_id)
        assert seller is not None
        sellers[seller.id] = seller
        subscription = build_subscription(
            spec,
            order,
            billed[spec.order_reference],
            seller,
            spec.id or await numbers.take(q),
            spec.secret or secret,
        )
        created.append((subscription, seller))
    return await SubscriptionChanges(domain="").create(q, created, now)


def _skus(data: object) -> set[str]:
    """Every SKU an import's orders name, to look up those not in the file itself."""
    skus: set[str] = set()
    if isinstance(data, Mapping):
        for order in data.get("orders") or []:
            if isinstance(order, Mapping):
                for item in order.get("items") or []:
                    if isinstance(item, Mapping) and isinstance(item.get("sku"), str):
                        skus.add(item["sku"])
    return skus


@dataclass
class IdNumbers:
    """The subscription ids one import makes up: S1001 first, then above every id in the
    database (read once, under `take_turn`) and every id the file names (`reserved`)."""

    reserved: int = 0
    _next: int | None = None

    def reserve(self, ids: Iterable[str | None]) -> None:
        """Keep the numbers of these ids (S1005 -> 1005) for the file's own subscriptions:
        all a streamed file names, or a batch's, written before any id is made up."""
        numbers = [int(i[1:]) for i in ids if isinstance(i, str) and i[1:].isdigit()]
        self.reserved = max(self.reserved, *numbers, 0)

    async def take(self, q: Queries) -> str:
        if self._next is None:
            await q.subscriptions.take_turn()
            highest = await q.subscriptions.highest_number()
            self._next = max(highest, self.reserved, FIRST_ID - 1) + 1
        number, self._next = self._next, self._next + 1
        return f"S{number}"


async def create_missing_subscriptions(q: Queries, now: datetime) -> int:
    """Give each subscription order from before issue #16 its subscription record.

    Such an order knew only whether it was active; it gets what an import
    without a `subscription` object gives: automatic renewal, every item on,
    the next billing date one interval after its latest bill. Runs at start;
    returns how many were made (none once they all have one).
    """
    made = 0
    numbers = IdNumbers()
    subscriptions = SubscriptionChanges(domain="")
    await q.subscriptions.take_turn()
    last = ""
    while references := await q.subscriptions.orders_without_one(after=last):
        last = references[-1]
        for reference in references:
            order = await q.orders.get(reference)
            assert order is not None
            vendor = await q.vendors.get(order.vendor_id)
            assert vendor is not None
            intervals = [
                product.interval
                for item in order.items
                if (product := await q.orders.product(item.sku)) is not None
            ]
            interval = next((i for i in intervals if i), None)
            if interval is None:  # a validated import always has one
                continue
            spec = SubscriptionSpec(
                order_reference=reference,
                interval=interval,
                renewal=Renewal.AUTO,
                status=order.subscription_status or SubscriptionStatus.ACTIVE,
                items=tuple(
                    (item, None) for item in order.items if item.kind is ProductKind.SUBSCRIPTION
                ),
            )
            last_billed = order.latest_bill
            assert last_billed is not None  # every imported order has a bill
            subscription = build_subscription(
                spec, order, last_billed.billed_at, vendor, await numbers.take(q), new_secret()
            )
            await subscriptions.create(q, [(subscription, vendor)], now)
            made += 1
    return made
