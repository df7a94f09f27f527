"""The JSON shapes of SPEC §8: tickets, orders and vendors as clients and templates see them.

One place builds them, so the API, the ticket page and every notification
describe a ticket the same way. Times are ISO-8601 in UTC with a `Z`; money
is a decimal string. This is the stable contract for automated clients:
extend it, never break it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.domain.records import HistoryEntry, Order, Ticket, Vendor
from service.domain.subscription.records import Subscription, SubscriptionItem


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ticket_state_json(ticket: Ticket) -> dict[str, Any]:
    """The fields of a ticket that change in place (not its comments or history)."""
    return {
        "type": ticket.type.value,
        "status": ticket.status.value,
        "closed_at": iso(ticket.closed_at),
        "close_reason": ticket.close_reason.value if ticket.close_reason else None,
        "awaiting_approval": ticket.awaiting_approval,
        "escalated_at": iso(ticket.escalated_at),
        "due": {"event": ticket.due.event.value, "at": iso(ticket.due.at)} if ticket.due else None,
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "vendor": ticket.vendor_id,
        "order": ticket.order_reference,
        "customer": ticket.customer_email,
        "opened_by": ticket.opened_by.value,
        "opened_at": iso(ticket.opened_at),
        **ticket_state_json(ticket),
        "comments": [
            {
                "author": comment.author.value,
                "author_email": comment.author_email or None,
                "author_name": comment.author_name or None,
                "text": comment.text,
                "at": iso(comment.at),
                "attachments": [
                    {
                        "id": a.blob_id,
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                    }
                    for a in comment.attachments
                ],
            }
            for comment in ticket.comments
        ],
        "events": [_event_json(entry) for entry in ticket.history],
    }


def _event_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "by": entry.by.value,
        "at": iso(entry.at),
        **({"detail": dict(entry.detail)} if entry.detail else {}),
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "reference": order.reference,
        "vendor": order.vendor_id,
        "customer": {"email": order.customer_email, "name": order.customer_name},
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "kind": item.kind.value,
                "quantity": item.quantity,
                "unit_price": str(item.unit_price),
                "currency": item.currency,
            }
            for item in order.items
        ],
        "payment_method": order.payment_method,
        "purchased_at": iso(order.purchased_at),
        "license_key": order.license_key,
        "download_url": order.download_url,
        "bills": [
            {
                "billed_at": iso(bill.billed_at),
                "amount": str(bill.amount),
                "refunded_at": iso(bill.refunded_at),
            }
            for bill in order.bills
        ],
        "currency": order.currency,
        "refunded_amount": str(order.refunded_amount),
        "subscription_status": (
            order.subscription_status.value if order.subscription_status else None
        ),
    }


def vendor_json(vendor: Vendor, *, command_address: str) -> dict[str, Any]:
    return {
        "id": vendor.id,
        "name": vendor.name,
        "account_email": vendor.account_email,
        "support_email": vendor.support_email,
        "agent_emails": list(vendor.agent_emails),
        "timezone": vendor.timezone,
        "refund_policy": {
            "category": vendor.refund_policy.category.value,
            **(
                {"days": vendor.refund_policy.days} if vendor.refund_policy.days is not None else {}
            ),
        },
        "api_key": vendor.api_key,
        "webhook_url": vendor.webhook_url,
        "abusing": vendor.abusing,
        "command_address": command_address,
    }


def subscription_json(
    subscription: Subscription, *, links: dict[str, str] | None = None
) -> dict[str, Any]:
    """SPEC §8's subscription JSON; `links` only for its vendor and the operator."""
    return {
        "id": subscription.id,
        "order": subscription.order_reference,
        "vendor": subscription.vendor_id,
        "customer": subscription.customer_email,
        "status": subscription.status.value,
        "cancel_reason": subscription.cancel_reason.value if subscription.cancel_reason else None,
        "renewal": subscription.renewal.value,
        "interval": subscription.interval,
        "next_billing_at": iso(subscription.next_billing_at),
        "ends_at": iso(subscription.ends_at),
        "payment_method": subscription.payment_method,
        "payment_status": subscription.payment_status.value,
        "next_amount": str(subscription.next_amount),
        "currency": subscription.currency,
        "items": [
            _item_json(item, renews=item in subscription.renewing_items)
            for item in subscription.items
        ],
        **({"links": links} if links is not None else {}),
        "due": (
            {"event": subscription.due.event.value, "at": iso(subscription.due.at)}
            if subscription.due
            else None
        ),
        "events": [
            _event_json(entry)
            | {"item": int(entry.detail["item"]) if "item" in entry.detail else None}
            for entry in subscription.history
        ],
    }


def _item_json(item: SubscriptionItem, *, renews: bool) -> dict[str, Any]:
    change = item.change
    pending = None
    if change is not None:
        pending = {
            "unit_price": str(
                change.unit_price if change.unit_price is not None else item.unit_price
            ),
            "quantity": change.quantity if change.quantity is not None else item.quantity,
            "needs_consent": change.needs_consent,
            "consent": change.consent.value,
            "asked_at": iso(change.asked_at),
        }
    return {
        "number": item.number,
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": str(item.unit_price),
        "auto_renew": item.auto_renew,
        "renews": renews,
        "next_amount": str(item.next_amount),
        "pending_change": pending,
    }
