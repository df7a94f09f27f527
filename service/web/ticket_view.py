"""What one party sees on a ticket page: the buttons they may press and the history as a timeline.

Built from the SPEC §8 JSON shapes (`ticket_json`, `order_json`), so the page
describes a ticket exactly as the API and the emails do. The buttons are
exactly the domain's `allowed_actions`, the same answer the command list in
each email comes from; the machine still decides when a button is pressed
(the ticket may have changed since the page was drawn), and a refusal is
shown with its reason.

This module must never change anything or read the database: it turns
values into other values for the templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.domain.actions import Action
from service.domain.records import Party
from service.outbound.filters import payment, when
from service.outbound.render import TICKET_TYPE_LABELS, writer_label

BUTTON_ACTIONS: frozenset[str] = frozenset(a.value for a in Action if a is not Action.REPLY)
"""The values an action button may post (a reply has its own form)."""
_REQUESTS = ("refund", "cancelation")


@dataclass(frozen=True)
class Button:
    """One action button on a ticket page, with words for the party who sees it."""

    value: str
    label: str
    help: str
    warning: bool = False


@dataclass(frozen=True)
class TimelineItem:
    """One line of the history: a comment (with its attachments) or an event."""

    at: str
    who: str
    author: str
    text: str
    attachments: tuple[Mapping[str, Any], ...] = ()
    is_comment: bool = False


def buttons(party: Party, ticket: Mapping[str, Any], allowed: Sequence[Action]) -> list[Button]:
    """The action buttons for what `party` may do on `ticket` now (`allowed_actions`)."""
    return [_button(a.value, party, ticket) for a in allowed if a.value in BUTTON_ACTIONS]


def _button(action: str, party: Party, ticket: Mapping[str, Any]) -> Button:
    kind = str(ticket.get("type") or "")
    request = kind in _REQUESTS
    customer = party is Party.CUSTOMER
    if action == "close":
        if customer:
            return Button(
                action,
                f"Withdraw my {TICKET_TYPE_LABELS[kind]}" if request else "Close the ticket",
                "Close the ticket: you need nothing more.",
                warning=request,
            )
        return Button(
            action,
            "Close the ticket",
            "Only with the customer's consent: the customer may escalate it."
            if request
            else "Close the ticket: the question is answered.",
            warning=request,
        )
    if action == "change-to-refund":
        return Button(
            action,
            "Turn into a refund request",
            "Ask for your money back instead." if customer else "Refund the order (5 minutes).",
        )
    if action == "change-to-cancelation":
        return Button(
            action,
            "Turn into a cancelation",
            "Cancel the subscription instead."
            if customer
            else "Cancel the subscription (5 minutes).",
        )
    if action == "change-to-support":
        return Button(
            action,
            "Turn into a support question",
            "Withdraw your request but keep the ticket open for help."
            if customer
            else "Only with the customer's consent: the customer may escalate it.",
            warning=not customer,
        )
    if action == "approve":
        return Button(action, "Approve the refund", "The refund is carried out at once.")
    return Button(
        action,
        "Escalate to the operator",
        "Ask the maildesk operator to review how the seller closed or changed your request.",
    )


def timeline(
    ticket: Mapping[str, Any], names: Mapping[str, str], viewer: Party
) -> list[TimelineItem]:
    """Comments and events, oldest first; replies appear once, as their comment.

    On the vendor's page a vendor comment names who wrote it when an email
    said so (one of the vendor's agents); the customer's page never does.
    """
    items: list[tuple[str, int, TimelineItem]] = []
    for comment in ticket.get("comments") or []:
        author = str(comment.get("author") or "system")
        writer = writer_label(comment) if viewer is Party.VENDOR and author == "vendor" else ""
        items.append(
            (
                str(comment.get("at") or ""),
                1,
                TimelineItem(
                    at=str(comment.get("at") or ""),
                    who=writer or _who(author, names, viewer),
                    author=author,
                    text=str(comment.get("text") or ""),
                    attachments=tuple(comment.get("attachments") or ()),
                    is_comment=True,
                ),
            )
        )
    for event in ticket.get("events") or []:
        line = _event_line(event, names, viewer)
        if line is None:
            continue
        author = str(event.get("by") or "system")
        at = str(event.get("at") or "")
        items.append(
            (at, 0, TimelineItem(at=at, who=_who(author, names, viewer), author=author, text=line))
        )
    items.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in items]


def _who(author: str, names: Mapping[str, str], viewer: Party) -> str:
    if author == viewer.value:
        return "You"
    return names.get(author, author)


def _event_line(event: Mapping[str, Any], names: Mapping[str, str], viewer: Party) -> str | None:
    kind = event.get("kind")
    by = _who(str(event.get("by") or "system"), names, viewer)
    detail: Mapping[str, Any] = event.get("detail") or {}
    if kind == "opened":
        label = TICKET_TYPE_LABELS.get(str(detail.get("type")), "ticket")
        return f"{by} opened this {label}."
    if kind == "changed":
        old = TICKET_TYPE_LABELS.get(str(detail.get("from")), "ticket")
        new = TICKET_TYPE_LABELS.get(str(detail.get("to")), "ticket")
        return f"{by} changed it from a {old} to a {new}."
    if kind == "closed":
        if detail.get("reason") == "inactivity":
            return "Closed after a long time without an answer."
        return f"{by} closed the ticket."
    if kind == "approved":
        return f"{by} approved the refund."
    if kind == "refund_processed":
        amount = " ".join(str(detail[k]) for k in ("amount", "currency") if detail.get(k))
        return f"Refund of {amount} carried out." if amount else "Refund carried out."
    if kind == "cancelation_processed":
        return "The subscription was canceled."
    if kind == "escalated":
        return f"{by} escalated the ticket to the maildesk operator."
    if kind == "inactivity_warning":
        return "Reminder sent: the ticket is waiting for an answer."
    return None  # "replied" is shown as its comment


def summary(
    ticket: Mapping[str, Any], order: Mapping[str, Any] | None, viewer: Party, zone: str
) -> list[tuple[str, str]]:
    """The ticket and order details as (label, value) rows, times in the viewer's `zone`."""
    rows: list[tuple[str, str]] = [
        ("Type", TICKET_TYPE_LABELS.get(str(ticket.get("type")), "ticket").capitalize()),
        ("Status", _status(ticket, zone, viewer)),
        ("Opened", when(ticket.get("opened_at"), zone)),
    ]
    due = ticket.get("due")
    if ticket.get("status") == "open" and isinstance(due, Mapping):
        label = _due_label(str(due.get("event")), str(ticket.get("type")))
        rows.append((label, when(due.get("at"), zone)))
    if ticket.get("awaiting_approval"):
        mine = viewer is Party.VENDOR
        rows.append(("Next step", f"Waiting for {'your' if mine else 'the seller’s'} approval"))
    if order is not None:
        rows.append(("Order", str(order.get("reference") or "")))
        rows.append(("Bought", _items(order.get("items") or [])))
        rows.append(("Purchased", when(order.get("purchased_at"), zone)))
        rows.append(("Paid with", payment(order.get("payment_method"))))
        if order.get("subscription_status"):
            rows.append(("Subscription", str(order["subscription_status"])))
        if order.get("refunded_amount") not in (None, "0", "0.00"):
            rows.append(("Refunded", f"{order['refunded_amount']} {order.get('currency', '')}"))
        if viewer is Party.VENDOR:
            customer = order.get("customer") or {}
            rows.append(("Customer", _person(customer)))
    return rows


def _status(ticket: Mapping[str, Any], zone: str, viewer: Party) -> str:
    if ticket.get("status") == "open":
        return "Open"
    reasons = {
        "closed_by_customer": "closed by the customer",
        "closed_by_vendor": "closed by the seller",
        "refunded": "refunded",
        "canceled": "subscription canceled",
        "inactivity": "closed for inactivity",
    }
    reasons["closed_by_vendor" if viewer is Party.VENDOR else "closed_by_customer"] = (
        "closed by you"
    )
    reason = reasons.get(str(ticket.get("close_reason")), "closed")
    return f"Closed ({reason}) {when(ticket.get('closed_at'), zone)}".strip()


def _due_label(event: str, ticket_type: str) -> str:
    """What the pending timer will do, as a label for a time still to come."""
    if event == "process":
        return (
            "Cancelation scheduled for" if ticket_type == "cancelation" else "Refund scheduled for"
        )
    return {
        "inactivity_warning": "Reminder scheduled for",
        "inactivity_close": "Closes for inactivity on",
    }.get(event, "Next step on")


def _items(items: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for item in items:
        name = str(item.get("name") or item.get("sku") or "")
        quantity = int(item.get("quantity") or 1)
        price = f"{item.get('unit_price')} {item.get('currency') or ''}".strip()
        parts.append(f"{quantity} × {name} ({price})" if quantity != 1 else f"{name} ({price})")
    return ", ".join(parts)


def _person(customer: Mapping[str, Any]) -> str:
    name, email = customer.get("name"), customer.get("email")
    return f"{name} <{email}>" if name else str(email or "")
