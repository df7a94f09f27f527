"""The values the store hands out and takes in that are not domain records.

Neutral on purpose: the funnel, the doors, the outbox worker and the
repositories all use them, and none of them owns them. Domain records
(tickets, orders, vendors) live in `service.domain.records`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from service.domain.effects import Channel
from service.domain.records import RecordRef, Vendor


@dataclass(frozen=True)
class EmailItem:
    """An email queued for delivery: enough to render it later, exactly as it was."""

    channel: ClassVar[Channel] = Channel.EMAIL

    kind: str
    party: str
    to_address: str
    to_name: str
    message_id: str
    thread_root: str | None
    payload: Mapping[str, Any]
    record: RecordRef | None
    created_at: datetime

    @property
    def ticket_number(self) -> int | None:
        return self.record.ticket_number if self.record is not None else None


@dataclass(frozen=True)
class WebhookItem:
    """A webhook queued for a vendor's own systems: the event and its JSON, signed when sent."""

    channel: ClassVar[Channel] = Channel.WEBHOOK

    event: str
    url: str
    vendor_id: str
    delivery_id: str
    """Stable across retries (`X-Maildesk-Delivery`), so the receiver can drop a repeat."""
    payload: Mapping[str, Any]
    record: RecordRef | None
    created_at: datetime


OutboxItem = EmailItem | WebhookItem


ItemT = TypeVar("ItemT", EmailItem, WebhookItem)


@dataclass(frozen=True)
class Queued(Generic[ItemT]):
    """An outbox row: one delivery and how far it got."""

    id: int
    item: ItemT
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


QueuedEmail = Queued[EmailItem]
QueuedWebhook = Queued[WebhookItem]
QueuedDelivery = QueuedEmail | QueuedWebhook


@dataclass(frozen=True)
class InboundReceipt:
    """One received message for one of our recipients, kept with what was made of it."""

    received_at: datetime
    mail_from: str
    rcpt_to: str
    message_id: str
    body_hash: str
    raw: bytes
    status: str = "acted"
    detail: str = ""
    ticket_number: int | None = None
    opened_ticket: bool = False
    sender: str = ""
    """The `From` address the message speaks as ("" when unreadable); limits count by it."""
    new_request: bool = False
    """Mail to a new-request mailbox (refund@, lookup@, …), whatever came of it."""


@dataclass(frozen=True)
class DueTimer:
    """A timer that fell due: which record, which of its events, and when it was due."""

    record: RecordRef
    event: str
    at: datetime


@dataclass(frozen=True)
class Escalation:
    """A customer's escalation, for the operator's review list."""

    id: int
    ticket_number: int
    vendor_id: str
    at: datetime
    reason: str
    vendor_abusing: bool


@dataclass(frozen=True)
class TicketParties:
    """Who may act on a ticket: its customer's address and its vendor."""

    customer_email: str
    vendor: Vendor


@dataclass(frozen=True)
class ThreadRoots:
    """The Message-ID under which each party's mail client threads a ticket's emails.

    Two independent random values: one party's copy of a notification reveals
    nothing of the other's root, so a reply naming a root proves that its
    writer read that party's mail (issue #13). Tickets opened before roots were
    kept per party have neither (None) and only the old shared `legacy_token`.
    """

    customer: str | None
    vendor: str | None
    legacy_token: str = ""
