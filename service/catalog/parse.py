"""Validating an import document (SPEC §8) before anything is written.

A file with one bad field imports nothing, and the error names the record and
the field at fault ("orders[2] (Q7K2M9XA).bills[0].amount: 'abc' is not a
decimal amount"). A vendor's `webhook_url` must be one maildesk may post to
(`service/outbound/webhook_target.py`, with the operator's allow-list).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate

from service.catalog.fields import Field, ImportError_, mailbox
from service.catalog.subscriptions import STATUSES, SubscriptionSpec, subscription_spec
from service.domain.records import (
    Bill,
    Order,
    OrderItem,
    Product,
    ProductKind,
    RefundCategory,
    RefundPolicy,
    Vendor,
)
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList, RefusedTarget, check_url

VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_QUANTITY = 1_000_000_000
"""The most of one item an order may hold: more is a typo, and a column's integer overflows."""


@dataclass(frozen=True)
class Catalog:
    vendors: tuple[Vendor, ...]
    products: tuple[Product, ...]
    orders: tuple[Order, ...]
    customer_names: Mapping[tuple[str, str], str]
    subscriptions: tuple[SubscriptionSpec, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "vendors": len(self.vendors),
            "products": len(self.products),
            "orders": len(self.orders),
        }


def parse_catalog(
    data: object,
    known_vendors: Sequence[str] = (),
    known_products: Mapping[str, Product] | None = None,
    webhook_allow: AllowList = NO_EXCEPTIONS,
    first_order_index: int = 0,
) -> Catalog:
    """Validate an import document. `known_*` are records already in the database;
    `webhook_allow` the internal webhook targets the operator admits; `first_order_index`
    where the document's orders start in a streamed file (for the paths in errors)."""
    root = Field("import", data)
    for key in root.data:
        if key not in ("vendors", "products", "orders"):
            raise ImportError_(f"import.{key}: unknown section; expected vendors, products, orders")
    vendors = tuple(
        _vendor(Field("vendors", raw, index=i), webhook_allow)
        for i, raw in enumerate(root.items("vendors", required=False))
    )
    vendor_ids = set(known_vendors) | {v.id for v in vendors}
    products = tuple(
        _product(Field("products", raw, index=i), vendor_ids)
        for i, raw in enumerate(root.items("products", required=False))
    )
    catalog_products = dict(known_products or {}) | {p.sku: p for p in products}
    names: dict[tuple[str, str], str] = {}
    parsed = [
        _order(Field("orders", raw, index=i), vendor_ids, catalog_products, names)
        for i, raw in enumerate(root.items("orders", required=False), start=first_order_index)
    ]
    specs = tuple(spec for _, spec in parsed if spec is not None)
    ids = [spec.id for spec in specs if spec.id is not None]
    if len(ids) != len(set(ids)):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ImportError_(f"import.orders: subscription ids {', '.join(twice)} appear twice")
    return Catalog(vendors, products, tuple(order for order, _ in parsed), names, specs)


def _vendor(f: Field, webhook_allow: AllowList) -> Vendor:
    vendor_id = f.required("id")
    f.name(vendor_id)
    if not VENDOR_ID.fullmatch(vendor_id):
        raise ImportError_(
            f"{f.path}.id: {vendor_id!r} must be a lower-case slug of letters, digits, '-' and "
            "'_' (at most 40 characters), because it appears in the vendor's command address"
        )
    timezone = f.text("timezone", required=False) or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportError_(
            f"{f.path}.timezone: {timezone!r} is not an IANA time zone like America/New_York"
        ) from None
    agents = f.items("agent_emails", required=False)
    if not all(isinstance(a, str) for a in agents):
        raise ImportError_(f"{f.path}.agent_emails: expected a list of email addresses")
    policy = RefundPolicy()
    if "refund_policy" in f.data:
        p = f.child("refund_policy")
        raw_category = p.required("category")
        try:
            category = RefundCategory(raw_category)
        except ValueError:
            allowed = ", ".join(c.value for c in RefundCategory)
            raise ImportError_(
                f"{p.path}.category: {raw_category!r} is not one of {allowed}"
            ) from None
        days = p.data.get("days")
        if category is RefundCategory.WITHIN_DAYS and (
            not isinstance(days, int) or isinstance(days, bool) or days < 0
        ):
            raise ImportError_(f"{p.path}.days: within_days needs a whole number of days >= 0")
        policy = RefundPolicy(category, days if category is RefundCategory.WITHIN_DAYS else None)
    account = f.email("account_email")
    assert account is not None
    webhook_url = f.text("webhook_url", required=False)
    if webhook_url:
        try:
            check_url(webhook_url, webhook_allow)
        except RefusedTarget as error:
            raise ImportError_(f"{f.path}.webhook_url: {error}") from None
    return Vendor(
        id=vendor_id,
        name=f.required("name"),
        account_email=account,
        support_email=f.email("support_email", required=False),
        agent_emails=tuple(mailbox(f"{f.path}.agent_emails[{i}]", a) for i, a in enumerate(agents)),
        timezone=timezone,
        refund_policy=policy,
        api_key=f.text("api_key", required=False) or "",
        webhook_url=webhook_url,
        renewal_reminder_days=f.integer("renewal_reminder_days", default=7),
        remind_auto_renewals=bool(f.boolean("remind_auto_renewals", default=False)),
        payment_update_url=_payment_update_url(f),
    )


def _payment_update_url(f: Field) -> str | None:
    """The vendor's page for a new payment method: an https (or http) URL, or none."""
    url = f.text("payment_update_url", required=False)
    if url and not url.startswith(("https://", "http://")):
        raise ImportError_(
            f"{f.path}.payment_update_url: {url!r} must be a web address starting with "
            "https:// (customers follow it from their self-service page)"
        )
    return url or None


def _known_vendor(f: Field, vendor_ids: set[str]) -> str:
    vendor = f.required("vendor")
    if vendor not in vendor_ids:
        raise ImportError_(f"{f.path}.vendor: unknown vendor {vendor!r}; import it first")
    return vendor


def _product(f: Field, vendor_ids: set[str]) -> Product:
    sku = f.required("sku")
    f.name(sku)
    vendor = _known_vendor(f, vendor_ids)
    raw_kind = f.required("kind")
    try:
        kind = ProductKind(raw_kind)
    except ValueError:
        raise ImportError_(
            f"{f.path}.kind: {raw_kind!r} is not digital, physical or subscription"
        ) from None
    interval = f.text("interval", required=kind is ProductKind.SUBSCRIPTION)
    if interval is not None:
        try:
            isodate.parse_duration(interval)
        except (isodate.ISO8601Error, ValueError):
            raise ImportError_(
                f"{f.path}.interval: {interval!r} is not an ISO-8601 duration like P1M"
            ) from None
    return Product(
        sku=sku,
        vendor_id=vendor,
        name=f.required("name"),
        kind=kind,
        price=f.decimal("price"),
        currency=f.required("currency").upper(),
        interval=interval,
    )


def _order(
    f: Field,
    vendor_ids: set[str],
    products: Mapping[str, Product],
    names: dict[tuple[str, str], str],
) -> tuple[Order, SubscriptionSpec | None]:
    reference = f.required("reference")
    f.name(reference)
    vendor = _known_vendor(f, vendor_ids)
    customer = f.child("customer")
    email = customer.email("email")
    assert email is not None
    names[(vendor, email)] = customer.text("name", required=False) or ""
    items, flags, intervals = [], [], []
    for i in range(len(f.items("items"))):
        item = f.child("items", i)
        sku = item.required("sku")
        product = products.get(sku)
        if product is None:
            raise ImportError_(f"{item.path}.sku: unknown product {sku!r}; import it first")
        if product.vendor_id != vendor:
            raise ImportError_(f"{item.path}.sku: {sku!r} belongs to vendor {product.vendor_id}")
        quantity = item.data.get("quantity", 1)
        if (
            not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or not 1 <= quantity <= MAX_QUANTITY
        ):
            raise ImportError_(
                f"{item.path}.quantity: expected a whole number from 1 to {MAX_QUANTITY:,}"
            )
        unit_price = item.decimal("unit_price") if "unit_price" in item.data else product.price
        items.append(
            OrderItem(sku, quantity, unit_price, product.name, product.kind, product.currency)
        )
        flags.append(item.boolean("auto_renew", default=None))
        intervals.append(product.interval)
    if not items:
        raise ImportError_(f"{f.path}.items: an order needs at least one item")
    bills = []
    for i in range(len(f.items("bills"))):
        bill = f.child("bills", i)
        bills.append(Bill(bill.time("billed_at"), bill.decimal("amount")))
    if not bills:
        raise ImportError_(f"{f.path}.bills: an order needs at least one bill")
    legacy = f.text("subscription_status", required=False)
    if legacy is not None and legacy not in STATUSES:
        raise ImportError_(f"{f.path}.subscription_status: {legacy!r} is not active or canceled")
    spec = subscription_spec(f, reference, list(zip(items, flags, strict=True)), intervals, legacy)
    order = Order(
        reference=reference,
        vendor_id=vendor,
        customer_email=email,
        customer_name=names[(vendor, email)],
        items=tuple(items),
        payment_method=f.required("payment_method"),
        purchased_at=f.time("purchased_at"),
        bills=tuple(bills),
        license_key=f.text("license_key", required=False),
        download_url=f.text("download_url", required=False),
        subscription_status=spec.status if spec is not None else None,
    )
    return order, spec
