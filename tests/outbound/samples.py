"""Sample render contexts in the shape the outbox builds (see `service.outbound.render`)."""

from __future__ import annotations

from typing import Any

from service.outbound.addresses import reply_address, subscription_reply_address, ticket_url

SECRET = b"test-secret-not-for-production"
DOMAIN = "desk.example.test"
BASE_URL = "https://desk.example.test"

TICKET_KINDS = (
    "ticket_opened",
    "reply",
    "ticket_changed",
    "ticket_closed",
    "inactivity_warning",
    "refund_processed",
    "cancelation_processed",
    "escalation_received",
)
SUBSCRIPTION_KINDS = (
    "renewal_reminder",
    "renewal_confirmation",
    "payment_declined",
    "price_change",
    "subscription_choice",
    "renewal_requested",
    "subscription_ended",
    "price_change_lapsed",
    "subscription_refused",
)
NO_TICKET_KINDS = ("request_refused", "lookup_result", "signin", *SUBSCRIPTION_KINDS)
ALL_KINDS = TICKET_KINDS + NO_TICKET_KINDS
PARTIES = ("customer", "vendor")

_FACTS: dict[str, dict[str, str]] = {
    "ticket_changed": {"from": "refund", "to": "support"},
    "ticket_closed": {"reason": "closed_by_vendor"},
    "inactivity_warning": {"waiting_on": "vendor"},
    "refund_processed": {"amount": "19.95", "currency": "USD"},
    "signin": {"link": "https://desk.example.test/desk/signin/abc", "minutes": "15"},
    "request_refused": {
        "reason": "The refund period of this order ended on 1 Jan 2027.",
        "type": "refund",
    },
    # Subscription kinds: the history entry's detail (service.domain.subscription.machine).
    "renewal_reminder": {
        "billing_at": "2027-01-02T10:00:00Z",
        "amount": "19.95",
        "currency": "USD",
        "way": "manual",
    },
    "renewal_confirmation": {
        "amount": "19.95",
        "currency": "USD",
        "billed_at": "2026-12-02T10:00:00Z",
        "period_start": "2026-12-02T10:00:00Z",
        "period_end": "2027-01-02T10:00:00Z",
    },
    "payment_declined": {"reason": "card expired", "declined_at": "2026-12-02T10:00:00Z"},
    "price_change": {
        "item": "1",
        "old_unit_price": "19.95",
        "old_quantity": "1",
        "unit_price": "24.95",
        "quantity": "1",
        "old_amount": "19.95",
        "new_amount": "24.95",
        "currency": "USD",
        "needs_consent": "yes",
        "billing_at": "2027-01-02T10:00:00Z",
    },
    "subscription_choice": {"items": "1", "item": "1", "choice": "renew_off", "by": "customer"},
    "renewal_requested": {
        "amount": "19.95",
        "currency": "USD",
        "billing_at": "2027-01-02T10:00:00Z",
        "by": "customer",
    },
    "subscription_ended": {"reason": "not_renewed", "renewal": "manual"},
    "price_change_lapsed": {"items": "1", "item": "1", "billing_at": "2027-01-02T10:00:00Z"},
    "subscription_refused": {
        "reason": "No price change is waiting for your answer.",
        "code": "nothing_to_answer",
    },
}


def sample_subscription(kind: str = "renewal_reminder") -> dict[str, Any]:
    """SPEC §8's subscription JSON of the sample order, as it was at `kind`'s event."""
    ended = kind == "subscription_ended"
    pending = (
        {
            "unit_price": "24.95",
            "quantity": 1,
            "needs_consent": True,
            "consent": "pending",
            "asked_at": "2026-12-03T09:00:00Z",
        }
        if kind == "price_change"
        else None
    )
    return {
        "id": "S1001",
        "order": "Q7K2M9XA",
        "vendor": "acme",
        "customer": "jane@example.test",
        "status": "canceled" if ended else "active",
        "cancel_reason": "not_renewed" if ended else None,
        "renewal": "manual"
        if kind in ("renewal_reminder", "renewal_requested", "subscription_ended")
        else "auto",
        "interval": "P1M",
        "next_billing_at": "2027-01-02T10:00:00Z",
        "ends_at": "2027-01-02T10:00:00Z" if ended or kind == "subscription_choice" else None,
        "payment_method": "credit_card",
        "payment_status": "past_due" if kind == "payment_declined" else "ok",
        "next_amount": "0.00" if kind == "subscription_choice" else "19.95",
        "currency": "USD",
        "items": [
            {
                "number": 1,
                "sku": "ACME-PRO",
                "name": "Acme Pro",
                "quantity": 1,
                "unit_price": "19.95",
                "auto_renew": kind != "subscription_choice",
                "renews": kind != "subscription_choice",
                "next_amount": "19.95",
                "pending_change": pending,
            }
        ],
        "due": None,
        "events": [],
    }


_CHOICES: dict[str, list[dict[str, Any]]] = {
    "renewal_reminder": [{"choice": "renew_now", "item": None}],
    "price_change": [
        {"choice": "renew_off", "item": 1},
        {"choice": "accept", "item": 1},
        {"choice": "decline", "item": 1},
    ],
    "subscription_choice": [{"choice": "renew_on", "item": 1}],
}


def sample_order() -> dict[str, Any]:
    return {
        "reference": "Q7K2M9XA",
        "vendor": "acme",
        "customer": {"email": "jane@example.test", "name": "Jane Doe"},
        "items": [{"sku": "ACME-PRO", "quantity": 1, "unit_price": "19.95", "name": "Acme Pro"}],
        "payment_method": "credit_card",
        "purchased_at": "2026-11-02T10:00:00Z",
        "bills": [
            {"billed_at": "2026-11-02T10:00:00Z", "amount": "19.95"},
            {"billed_at": "2026-12-02T10:00:00Z", "amount": "19.95"},
        ],
        "refunded_amount": "0.00",
        "currency": "USD",
        "subscription_status": "active",
        "license_key": "AAAA-BBBB-CCCC",
        "download_url": "https://acme.test/dl/1",
    }


def sample_ticket(kind: str = "ticket_opened") -> dict[str, Any]:
    comments: list[dict[str, Any]] = [
        {
            "author": "customer",
            "text": "The app crashes at start.\nPlease refund me.",
            "at": "2026-12-03T09:00:00Z",
            "attachments": [{"filename": "crash.log", "content_type": "text/plain", "size": 2048}],
        },
        {
            "author": "vendor",
            "text": "Sorry about that! Version 2.1 fixes the crash.",
            "at": "2026-12-03T11:30:00Z",
            "attachments": [],
        },
    ]
    events: list[dict[str, Any]] = [
        {"kind": "opened", "by": "customer", "at": "2026-12-03T09:00:00Z"},
        {"kind": "replied", "by": "vendor", "at": "2026-12-03T11:30:00Z"},
    ]
    ticket: dict[str, Any] = {
        "number": 1234,
        "vendor": "acme",
        "order": "Q7K2M9XA",
        "customer": "jane@example.test",
        "type": "refund",
        "status": "open",
        "opened_by": "customer",
        "opened_at": "2026-12-03T09:00:00Z",
        "closed_at": None,
        "close_reason": None,
        "due": {"event": "process", "at": "2026-12-04T09:00:00Z"},
        "comments": comments,
        "events": events,
    }
    if kind == "ticket_opened":
        ticket["comments"] = comments[:1]
        ticket["events"] = events[:1]
    elif kind == "ticket_changed":
        ticket.update(
            type="support", due={"event": "inactivity_warning", "at": "2026-12-05T11:30:00Z"}
        )
        events.append({"kind": "changed", "by": "vendor", "at": "2026-12-03T11:30:00Z"})
    elif kind == "inactivity_warning":
        ticket.update(
            type="support", due={"event": "inactivity_warning", "at": "2026-12-07T09:00:00Z"}
        )
        ticket["comments"] = comments[:1]
        ticket["events"] = [
            *events[:1],
            {"kind": "inactivity_warning", "by": "system", "at": "2026-12-05T09:00:00Z"},
        ]
    elif kind in (
        "ticket_closed",
        "refund_processed",
        "cancelation_processed",
        "escalation_received",
    ):
        reason = {
            "ticket_closed": "closed_by_vendor",
            "refund_processed": "refunded",
            "cancelation_processed": "canceled",
            "escalation_received": "closed_by_vendor",
        }[kind]
        ticket.update(
            status="closed",
            closed_at="2026-12-04T09:00:00Z",
            close_reason=reason,
            due=None,
            type="cancelation" if kind == "cancelation_processed" else "refund",
        )
        by = "vendor" if reason == "closed_by_vendor" else "system"
        events.append({"kind": "closed", "by": by, "at": "2026-12-04T09:00:00Z"})
        if kind == "escalation_received":
            events.append({"kind": "escalated", "by": "customer", "at": "2026-12-05T09:00:00Z"})
    return ticket


_ACTIONS: dict[tuple[str, str], list[str]] = {
    # What `allowed_actions` answers for each sample ticket (see `sample_ticket`).
    ("refund", "customer"): ["reply", "close", "change-to-cancelation", "change-to-support"],
    ("refund", "vendor"): ["reply", "close", "change-to-support"],
    ("support", "customer"): ["reply", "close", "change-to-refund", "change-to-cancelation"],
    ("support", "vendor"): ["reply", "close", "change-to-refund", "change-to-cancelation"],
}


def sample_actions(ticket: dict[str, Any] | None, party: str) -> list[str]:
    if ticket is None:
        return []
    if ticket["status"] == "closed":
        saved = ticket["close_reason"] == "closed_by_vendor" and ticket["type"] != "support"
        escalated = any(e["kind"] == "escalated" for e in ticket["events"])
        return ["escalate"] if party == "customer" and saved and not escalated else []
    return list(_ACTIONS[(ticket["type"], party)])


def sample_context(kind: str, party: str) -> dict[str, Any]:
    has_ticket = kind not in NO_TICKET_KINDS
    recipient = (
        {"email": "jane@example.test", "name": "Jane Doe"}
        if party == "customer"
        else {"email": "help@acme.test", "name": "Acme Software"}
    )
    ticket = sample_ticket(kind) if has_ticket else None
    return {
        "kind": kind,
        "party": party,
        "recipient": recipient,
        "ticket": ticket,
        "order": sample_order(),
        "vendor": {"id": "acme", "name": "Acme Software", "timezone": "America/New_York"},
        "facts": dict(_FACTS.get(kind, {})),
        "ticket_url": ticket_url(BASE_URL, SECRET, 1234, party) if has_ticket else None,
        "reply_address": reply_address(SECRET, DOMAIN, 1234, party) if has_ticket else None,
        "actions": sample_actions(ticket, party),
        # The customer wrote from UTC+01:00 (its Date header); the vendor reads its own zone.
        "zone": "UTC+01:00" if party == "customer" else "America/New_York",
        "processing": (
            {"rule": "weekday_hours", "weekend": False}
            if ticket and ticket["due"] and ticket["due"]["event"] == "process"
            else None
        ),
    } | (_subscription_context(kind, party) if kind in SUBSCRIPTION_KINDS else {})


def _subscription_context(kind: str, party: str) -> dict[str, Any]:
    """What the composer adds to a subscription email: the customer's links and commands."""
    customer = party == "customer"
    return {
        "subscription": sample_subscription(kind),
        "choices": list(_CHOICES.get(kind, [])) if customer else [],
        "self_service_url": f"{BASE_URL}/s/S1001-AbCdEfGhIjKlMnOpQrSt" if customer else None,
        "purchase_url": f"{BASE_URL}/p/Q7K2M9XA-ZyXwVuTsRqPoNmLkJiHg" if customer else None,
        "reply_address": subscription_reply_address(SECRET, DOMAIN, "S1001") if customer else None,
    }
