"""Importing vendors, products and orders in the fixtures format of SPEC §8.

Validation happens before anything is written: a file with one bad field
imports nothing, and the error names the record and the field at fault
("orders[2] (Q7K2M9XA).bills[0].amount: 'abc' is not a decimal amount").
Importing is idempotent: vendors are upserted by `id`, products by `sku`,
orders by `reference`; refunds already recorded on an order's bills, a
canceled subscription, a vendor's generated API key and its abuse flag all
survive a re-import. A vendor's `webhook_url` must be one maildesk may post
to (`service/outbound/webhook_target.py`, with the operator's allow-list);
the outbox checks it again before every attempt.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate

from service.clock import parse_instant
from service.domain.mailbox import is_addr_spec
from service.domain.records import (
    Bill,
    Order,
    OrderItem,
    Product,
    ProductKind,
    RefundCategory,
    RefundPolicy,
    SubscriptionStatus,
    Vendor,
)
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList, RefusedTarget, check_url
from service.store import Store

VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class ImportError_(ValueError):
    """The import file is invalid; the message names the record and field and what to fix."""


@dataclass(frozen=True)
class Catalog:
    vendors: tuple[Vendor, ...]
    products: tuple[Product, ...]
    orders: tuple[Order, ...]
    customer_names: Mapping[tuple[str, str], str]

    def counts(self) -> dict[str, int]:
        return {
            "vendors": len(self.vendors),
            "products": len(self.products),
            "orders": len(self.orders),
        }


class _Field:
    """Reads one record's fields, naming the path in every error."""

    def __init__(self, path: str, data: object) -> None:
        if not isinstance(data, Mapping):
            raise ImportError_(f"{path}: expected an object, got {type(data).__name__}")
        self.path = path
        self.data: Mapping[str, Any] = data

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise ImportError_(f"{self.path}.{name}: missing; it is required")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise ImportError_(f"{self.path}.{name}: expected a non-empty string, got {value!r}")
        return value.strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def decimal(self, name: str, path: str | None = None) -> Decimal:
        raw = self.data.get(name)
        where = path or f"{self.path}.{name}"
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ImportError_(f'{where}: expected a decimal string like "19.95", got {raw!r}')
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ImportError_(f"{where}: {raw!r} is not a decimal amount") from None
        if not value.is_finite() or value < 0:
            raise ImportError_(f"{where}: {raw!r} must be a finite amount of zero or more")
        return value

    def time(self, name: str) -> datetime:
        try:
            return parse_instant(self.required(name))
        except ValueError as e:
            raise ImportError_(f"{self.path}.{name}: {e}") from None

    def email(self, name: str, *, required: bool = True) -> str | None:
        """An address maildesk can send to (one mailbox, nothing that breaks an envelope)."""
        value = self.text(name, required=required)
        if value is None or (not required and not value):
            return None
        return mailbox(f"{self.path}.{name}", value)

    def child(self, name: str, index: int | None = None) -> _Field:
        value = self.data.get(name)
        path = f"{self.path}.{name}" if index is None else f"{self.path}.{name}[{index}]"
        if index is not None:
            assert isinstance(value, list)
            value = value[index]
        return _Field(path, value)

    def items(self, name: str, *, required: bool = True) -> list[Any]:
        value = self.data.get(name, [] if not required else None)
        if not isinstance(value, list):
            raise ImportError_(f"{self.path}.{name}: expected a list, got {value!r}")
        return value


def parse_catalog(
    data: object,
    known_vendors: Sequence[str] = (),
    known_products: Mapping[str, Product] | None = None,
    webhook_allow: AllowList = NO_EXCEPTIONS,
) -> Catalog:
    """Validate an import document. `known_*` are records already in the database;
    `webhook_allow` the internal webhook targets the operator admits."""
    root = _Field("import", data)
    for key in root.data:
        if key not in ("vendors", "products", "orders"):
            raise ImportError_(f"import.{key}: unknown section; expected vendors, products, orders")
    vendors = tuple(
        _vendor(_Field(f"vendors[{i}]", raw), webhook_allow)
        for i, raw in enumerate(root.items("vendors", required=False))
    )
    vendor_ids = set(known_vendors) | {v.id for v in vendors}
    products = tuple(
        _product(_Field(f"products[{i}]", raw), vendor_ids)
        for i, raw in enumerate(root.items("products", required=False))
    )
    catalog_products = dict(known_products or {}) | {p.sku: p for p in products}
    names: dict[tuple[str, str], str] = {}
    orders = tuple(
        _order(_Field(f"orders[{i}]", raw), vendor_ids, catalog_products, names)
        for i, raw in enumerate(root.items("orders", required=False))
    )
    return Catalog(vendors, products, orders, names)


def mailbox(path: str, value: str) -> str:
    """`value` as the lower-cased address it is, or an error naming the field and the fix."""
    address = value.strip().lower()
    if not is_addr_spec(address) or "," in address:
        raise ImportError_(
            f"{path}: {value!r} is not one email address like name@example.com; maildesk "
            "sends notifications there, so it must be a single mailbox"
        )
    return address


def _vendor(f: _Field, webhook_allow: AllowList) -> Vendor:
    vendor_id = f.required("id")
    f.path = f"{f.path} ({vendor_id})"
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
    )


def _known_vendor(f: _Field, vendor_ids: set[str]) -> str:
    vendor = f.required("vendor")
    if vendor not in vendor_ids:
        raise ImportError_(f"{f.path}.vendor: unknown vendor {vendor!r}; import it first")
    return vendor


def _product(f: _Field, vendor_ids: set[str]) -> Product:
    sku = f.required("sku")
    f.path = f"{f.path} ({sku})"
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
    f: _Field,
    vendor_ids: set[str],
    products: Mapping[str, Product],
    names: dict[tuple[str, str], str],
) -> Order:
    reference = f.required("reference")
    f.path = f"{f.path} ({reference})"
    vendor = _known_vendor(f, vendor_ids)
    customer = f.child("customer")
    email = customer.email("email")
    assert email is not None
    names[(vendor, email)] = customer.text("name", required=False) or ""
    items = []
    for i in range(len(f.items("items"))):
        item = f.child("items", i)
        sku = item.required("sku")
        product = products.get(sku)
        if product is None:
            raise ImportError_(f"{item.path}.sku: unknown product {sku!r}; import it first")
        if product.vendor_id != vendor:
            raise ImportError_(f"{item.path}.sku: {sku!r} belongs to vendor {product.vendor_id}")
        quantity = item.data.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ImportError_(f"{item.path}.quantity: expected a whole number >= 1")
        unit_price = item.decimal("unit_price") if "unit_price" in item.data else product.price
        items.append(
            OrderItem(sku, quantity, unit_price, product.name, product.kind, product.currency)
        )
    if not items:
        raise ImportError_(f"{f.path}.items: an order needs at least one item")
    bills = []
    for i in range(len(f.items("bills"))):
        bill = f.child("bills", i)
        bills.append(Bill(bill.time("billed_at"), bill.decimal("amount")))
    if not bills:
        raise ImportError_(f"{f.path}.bills: an order needs at least one bill")
    is_subscription = any(i.kind is ProductKind.SUBSCRIPTION for i in items)
    status: SubscriptionStatus | None = None
    if is_subscription:
        raw_status = f.text("subscription_status", required=False) or "active"
        try:
            status = SubscriptionStatus(raw_status)
        except ValueError:
            raise ImportError_(
                f"{f.path}.subscription_status: {raw_status!r} is not active or canceled"
            ) from None
    return Order(
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
        subscription_status=status,
    )


async def import_catalog(
    store: Store, data: object, *, webhook_allow: AllowList = NO_EXCEPTIONS
) -> dict[str, int]:
    """Validate `data`, then upsert all of it in one transaction; return what was imported."""
    async with store.transaction() as q:
        known = [v.id for v in await q.vendors.all()]
        skus = _skus(data)
        known_products = {
            sku: product for sku in skus if (product := await q.orders.product(sku)) is not None
        }
        catalog = parse_catalog(data, known, known_products, webhook_allow)
        for vendor in catalog.vendors:
            if not vendor.api_key:
                # A key is generated once and then kept: re-importing must not lock a vendor out.
                existing = await q.vendors.get(vendor.id)
                key = existing.api_key if existing else f"mdk_{secrets.token_urlsafe(24)}"
                vendor = replace(vendor, api_key=key)
            await q.vendors.upsert(vendor)
        for product in catalog.products:
            await q.orders.upsert_product(product)
        for (vendor_id, email), name in catalog.customer_names.items():
            await q.orders.upsert_customer(vendor_id, email, name)
        for order in catalog.orders:
            await q.orders.upsert(order)
    return catalog.counts()


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
