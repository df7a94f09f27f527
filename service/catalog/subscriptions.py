"""An order's subscription in the import (SPEC §8): read once, then maildesk's to keep.

The platform may describe the subscription (`"subscription": {"id",
"renewal", "next_billing_at", "status", "secret"}`, items' `auto_renew`);
what it leaves out maildesk fills in: an id, a secret, automatic renewal,
the next billing date one interval after the latest bill. Once created, a
subscription changes only through its events (bills, choices, timers):
importing the order again keeps it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from service.catalog.fields import Field, ImportError_
from service.domain.records import Order, OrderItem, ProductKind, SubscriptionStatus, Vendor
from service.domain.subscription.records import (
    EndReason,
    Renewal,
    Subscription,
    SubscriptionItem,
)
from service.domain.subscription.schedule import next_billing_after
from service.outbound.permanent_links import SECRET, SUBSCRIPTION_ID

_FIELDS = frozenset({"id", "renewal", "next_billing_at", "status", "secret"})
STATUSES = tuple(v.value for v in SubscriptionStatus)
_RENEWALS = tuple(v.value for v in Renewal)


@dataclass(frozen=True)
class SubscriptionSpec:
    """What one order's import says of its subscription; None where maildesk decides."""

    order_reference: str
    interval: str
    renewal: Renewal
    status: SubscriptionStatus
    items: tuple[tuple[OrderItem, bool | None], ...]
    """The order's subscription items, each with the `auto_renew` the import gave (or None)."""
    id: str | None = None
    secret: str | None = None
    next_billing_at: datetime | None = None


def subscription_spec(
    f: Field,
    reference: str,
    items: Sequence[tuple[OrderItem, bool | None]],
    intervals: Sequence[str | None],
    legacy_status: str | None,
) -> SubscriptionSpec | None:
    """The subscription of order `f` (None when it sells no subscription product)."""
    renewing = [(item, flag) for item, flag in items if item.kind is ProductKind.SUBSCRIPTION]
    if not renewing:
        if "subscription" in f.data:
            raise ImportError_(
                f"{f.path}.subscription: the order has no subscription product to renew"
            )
        return None
    distinct = {interval for interval in intervals if interval}
    if len(distinct) != 1:
        raise ImportError_(
            f"{f.path}.items: the subscription products of one order must share one interval "
            f"(found {', '.join(sorted(distinct)) or 'none'}); sell the others in their own order"
        )
    s = f.child("subscription") if "subscription" in f.data else Field("subscription", {}, parent=f)
    for key in s.data:
        if key not in _FIELDS:
            raise ImportError_(
                f"{s.path}.{key}: unknown field; expected {', '.join(sorted(_FIELDS))}"
            )
    status = s.choice("status", STATUSES, default=legacy_status or "active")
    if legacy_status is not None and status != legacy_status:
        raise ImportError_(
            f"{s.path}.status: {status!r} contradicts the order's subscription_status "
            f"{legacy_status!r}; give one of them"
        )
    subscription_id = s.text("id", required=False)
    if subscription_id is not None and not SUBSCRIPTION_ID.fullmatch(subscription_id):
        raise ImportError_(
            f"{s.path}.id: {subscription_id!r} must be S followed by digits, like S1001"
        )
    secret = s.text("secret", required=False)
    if secret is not None and not SECRET.fullmatch(secret):
        raise ImportError_(
            f"{s.path}.secret: must be 8 to 64 letters and digits (it goes into links); "
            "leave it out and maildesk makes one"
        )
    return SubscriptionSpec(
        order_reference=reference,
        interval=distinct.pop(),
        renewal=Renewal(s.choice("renewal", _RENEWALS, default="auto")),
        status=SubscriptionStatus(status),
        items=tuple(renewing),
        id=subscription_id,
        secret=secret,
        next_billing_at=s.time("next_billing_at") if "next_billing_at" in s.data else None,
    )


def build_subscription(
    spec: SubscriptionSpec,
    order: Order,
    last_billed: datetime,
    vendor: Vendor,
    subscription_id: str,
    secret: str,
) -> Subscription:
    """The new subscription record of `spec`, with what the import left to maildesk;
    `last_billed` is when the order's latest bill was charged (as stored: bills
    imported before stay on the order)."""
    next_billing_at = spec.next_billing_at or next_billing_after(
        last_billed, spec.interval, vendor.timezone
    )
    default_auto = spec.renewal is Renewal.AUTO
    canceled = spec.status is SubscriptionStatus.CANCELED
    return Subscription(
        id=subscription_id,
        order_reference=order.reference,
        vendor_id=order.vendor_id,
        customer_email=order.customer_email,
        secret=secret,
        renewal=spec.renewal,
        interval=spec.interval,
        next_billing_at=next_billing_at,
        payment_method=order.payment_method,
        currency=order.currency,
        items=tuple(
            SubscriptionItem(
                number=number,
                sku=item.sku,
                quantity=item.quantity,
                unit_price=item.unit_price,
                auto_renew=default_auto if flag is None else flag,
                name=item.name,
            )
            for number, (item, flag) in enumerate(spec.items, start=1)
        ),
        status=spec.status,
        cancel_reason=EndReason.CANCELED if canceled else None,
    )
