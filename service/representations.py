"""The JSON shapes of SPEC §8: tickets, orders and vendors as clients and templates see them.

One place builds them, so the API, the ticket page and every notification
describe a ticket the same way. Times are ISO-8601 in UTC with a `Z`; money
is a decimal string. This is the stable contract for automated clients:
extend it, never break it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.domain.records import Order, Ticket, Vendor


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
        "events": [
            {
                "kind": entry.kind,
                "by": entry.by.value,
                "at": iso(entry.at),
                **({"detail": dict(entry.detail)} if entry.detail else {}),
            }
            for entry in ticket.history
        ],
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
