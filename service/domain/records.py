"""The records of SPEC §1: vendors, customers, products, orders, bills, tickets.

Plain frozen data classes. They hold facts and the few questions that are
answered from those facts alone (an order's latest bill, who a vendor's mail
goes to). They never touch storage, the clock or the network: the state
machine works on them as values and returns new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class RefundCategory(StrEnum):
    """How a vendor limits its customers' refunds (SPEC §1)."""

    NO_RESTRICTIONS = "no_restrictions"
    WITHIN_DAYS = "within_days"
    APPROVAL_REQUIRED = "approval_required"


@dataclass(frozen=True)
class RefundPolicy:
    """A vendor's refund policy; `days` only for `within_days`."""

    category: RefundCategory = RefundCategory.NO_RESTRICTIONS
    days: int | None = None


@dataclass(frozen=True)
class Vendor:
    """A merchant selling through the platform, and how its support is reached."""

    id: str
    name: str
    account_email: str
    api_key: str
    timezone: str = "UTC"
    support_email: str | None = None
    agent_emails: tuple[str, ...] = ()
    refund_policy: RefundPolicy = RefundPolicy()
    webhook_url: str | None = None
    abusing: bool = False
    renewal_reminder_days: int = 7
    """Days before a billing date that its payment reminder goes out (SPEC §7)."""
    remind_auto_renewals: bool = False
    """Remind automatic renewals paid online too (they are charged without the customer)."""
    payment_update_url: str | None = None
    """The vendor's page for changing a payment method; `{subscription}` becomes the id."""

    @property
    def notification_email(self) -> str:
        """Ticket mail goes to the support address so it stays apart from account mail."""
        return self.support_email or self.account_email

    def speaks_for(self, address: str) -> bool:
        """Whether mail from `address` may act for this vendor."""
        wanted = address.strip().lower()
        own = {self.account_email, self.support_email or "", *self.agent_emails}
        return wanted in {a.lower() for a in own if a}


@dataclass(frozen=True)
class Customer:
    """A buyer, known by email address, once per vendor."""

    vendor_id: str
    email: str
    name: str = ""


class ProductKind(StrEnum):
    """What is sold: a download, a shipped thing, or a subscription."""

    DIGITAL = "digital"
    PHYSICAL = "physical"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Product:
    """A product of one vendor; its price is the default unit price of an order item."""

    sku: str
    vendor_id: str
    name: str
    kind: ProductKind
    price: Decimal
    currency: str
    interval: str | None = None


@dataclass(frozen=True)
class OrderItem:
    """One line of an order, with what the order needs to know of its product."""

    sku: str
    quantity: int
    unit_price: Decimal
    name: str = ""
    kind: ProductKind = ProductKind.DIGITAL
    currency: str = "USD"


@dataclass(frozen=True)
class Bill:
    """One charge of an order: the sale, or one billing period of a subscription."""

    billed_at: datetime
    amount: Decimal
    refunded_at: datetime | None = None

    @property
    def refunded(self) -> bool:
        return self.refunded_at is not None


class SubscriptionStatus(StrEnum):
    """Whether a subscription order still renews."""

    ACTIVE = "active"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Order:
    """A purchase: its items, its bills, and the subscription's state when it has one."""

    reference: str
    vendor_id: str
    customer_email: str
    items: tuple[OrderItem, ...]
    payment_method: str
    purchased_at: datetime
    bills: tuple[Bill, ...]
    customer_name: str = ""
    license_key: str | None = None
    download_url: str | None = None
    subscription_status: SubscriptionStatus | None = None
    secret: str = ""
    """The permanent secret of the purchase's link `/p/<reference>-<secret>` (seed 004)."""

    @property
    def latest_bill(self) -> Bill | None:
        """The bill a refund acts on: the newest charge (the sale itself for one-off orders)."""
        return max(self.bills, key=lambda bill: bill.billed_at, default=None)

    @property
    def refunded_amount(self) -> Decimal:
        return sum((bill.amount for bill in self.bills if bill.refunded), Decimal("0"))

    @property
    def is_subscription(self) -> bool:
        return self.subscription_status is not None

    @property
    def is_physical(self) -> bool:
        return any(item.kind is ProductKind.PHYSICAL for item in self.items)

    @property
    def currency(self) -> str:
        return self.items[0].currency if self.items else "USD"


class TicketType(StrEnum):
    """What a ticket asks for."""

    REFUND = "refund"
    CANCELATION = "cancelation"
    SUPPORT = "support"

    @property
    def is_request(self) -> bool:
        """Refunds and cancelations act on the order; support tickets only talk."""
        return self is not TicketType.SUPPORT


class TicketStatus(StrEnum):
    """Whether a ticket still takes replies and actions."""

    OPEN = "open"
    CLOSED = "closed"


class Party(StrEnum):
    """Who acts or is told: the ticket's customer, its vendor, the operator, or a timer."""

    CUSTOMER = "customer"
    VENDOR = "vendor"
    OPERATOR = "operator"
    SYSTEM = "system"


class CloseReason(StrEnum):
    """Why a ticket closed, as the ticket JSON reports it."""

    CLOSED_BY_CUSTOMER = "closed_by_customer"
    CLOSED_BY_VENDOR = "closed_by_vendor"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    INACTIVITY = "inactivity"


class TimerEvent(StrEnum):
    """What a ticket's pending timer does when it falls due."""

    PROCESS = "process"
    INACTIVITY_WARNING = "inactivity_warning"
    INACTIVITY_CLOSE = "inactivity_close"


@dataclass(frozen=True)
class Timer:
    """The one pending timed event of a ticket; a ticket has at most one at a time."""

    event: TimerEvent
    at: datetime


@dataclass(frozen=True)
class Attachment:
    """A file sent with a comment; its bytes are kept in the store under `blob_id`."""

    filename: str
    content_type: str
    size: int
    blob_id: str = ""


@dataclass(frozen=True)
class Sender:
    """Who wrote the email that caused an event, as its headers say.

    `email` and `name` are the `From` mailbox (the address the door already
    checked may act for the party); `utc_offset` is the offset of its `Date`
    header in minutes east of UTC, None when the header names no zone. Web
    forms and the API have no sender: their events carry None.
    """

    email: str = ""
    name: str = ""
    utc_offset: int | None = None


@dataclass(frozen=True)
class Comment:
    """What a party wrote. `author_email`/`author_name` say which person wrote it, when known.

    For the vendor that is one of its addresses (an agent); the customer's
    copies never show it, the vendor's do.
    """

    author: Party
    text: str
    at: datetime
    attachments: tuple[Attachment, ...] = ()
    author_email: str = ""
    author_name: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a ticket; the notification rules read these."""

    kind: str
    by: Party
    at: datetime
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ticket:
    """A ticket and everything the state machine needs to decide its next step.

    `last_activity_at` and `warnings_sent` drive the inactivity ladder, which
    always counts from the last activity; `vendor_saved_at` records a vendor's
    close or change of a refund/cancelation (the save the customer may
    escalate); `awaiting_approval` marks a refund parked for the vendor.
    `customer_utc_offset` is the zone of the customer's last email (minutes
    east of UTC, from its `Date` header): the customer reads times in it.
    """

    number: int
    vendor_id: str
    order_reference: str
    customer_email: str
    type: TicketType
    status: TicketStatus
    opened_by: Party
    opened_at: datetime
    last_activity_at: datetime
    waiting_on: Party = Party.VENDOR
    warnings_sent: int = 0
    awaiting_approval: bool = False
    vendor_saved_at: datetime | None = None
    escalated_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    due: Timer | None = None
    customer_utc_offset: int | None = None
    comments: tuple[Comment, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status is TicketStatus.OPEN


class RecordKind(StrEnum):
    """The records that have a history, timers and notifications of their own."""

    TICKET = "ticket"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True, order=True)
class RecordRef:
    """Which record a timer or a notification belongs to: a ticket today, a subscription next."""

    kind: RecordKind
    id: str

    @classmethod
    def ticket(cls, number: int) -> RecordRef:
        return cls(RecordKind.TICKET, str(number))

    @property
    def ticket_number(self) -> int | None:
        """The ticket's number when this is a ticket, else None."""
        return int(self.id) if self.kind is RecordKind.TICKET else None

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id}"


DAY = timedelta(days=1)
