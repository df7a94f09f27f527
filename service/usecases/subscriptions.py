"""A subscription's use cases (SPEC §7): the customer's choices, the platform's events, a reply.

Every door that changes a subscription comes here: the self-service page
and a reply to a subscription email with the customer's choices, the API
with the vendor's platform's bills, declined payments and changes. Each
door has already checked who asks (a permanent link's secret, a reply
address and its `From`, an API key); the machine decides, and this answers
with a typed outcome the door turns into a page, an HTTP status or an SMTP
code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.desk import Desk, OpenRequest, OrderNotFound, SubscriptionAction
from service.desk.requests import Request, SubscriptionNotFound
from service.domain.events import Open
from service.domain.policy import Refusal
from service.domain.records import Attachment, Party, Sender, Ticket, TicketType
from service.domain.subscription.choices import Offer, event_for
from service.domain.subscription.events import SubscriptionEvent
from service.domain.subscription.records import Subscription
from service.store import InboundReceipt
from service.usecases.outcomes import Door


@dataclass(frozen=True)
class SubscriptionChanged:
    """The events were carried out; `subscription` is as it is now."""

    subscription: Subscription
    ticket: Ticket | None = None
    """The support ticket a reply's other text opened, if it did."""


@dataclass(frozen=True)
class SubscriptionRefused:
    """The rules said no; the first refusal is the one to show (its `code` maps to a status)."""

    refusals: tuple[Refusal, ...]
    subscription: Subscription

    @property
    def refusal(self) -> Refusal:
        return self.refusals[0]


@dataclass(frozen=True)
class SubscriptionMissing:
    """No such subscription, or not this caller's: the same answer either way."""

    subscription_id: str


SubscriptionOutcome = SubscriptionChanged | SubscriptionRefused | SubscriptionMissing


async def change_subscription(
    desk: Desk,
    *,
    subscription_id: str,
    events: Sequence[SubscriptionEvent],
    door: Door,
    vendor_id: str | None = None,
) -> SubscriptionOutcome:
    """Apply `events` in order in one transaction: a platform's bill, the customer's choice.

    With `vendor_id` (a vendor's API key) only that vendor's subscription is
    found. From the API a refusal is answered in the response alone; from a
    page it is shown, and the customer is told by email too.
    """
    try:
        outcome = await desk.apply(
            SubscriptionAction(subscription_id, tuple(events), vendor_id),
            answered_directly=door is Door.API,
        )
    except SubscriptionNotFound:
        return SubscriptionMissing(subscription_id)
    assert outcome.subscription is not None
    if outcome.refusals:
        return SubscriptionRefused(outcome.refusals, outcome.subscription)
    return SubscriptionChanged(outcome.subscription)


async def choose(
    desk: Desk, *, subscription_id: str, offers: Sequence[Offer], door: Door
) -> SubscriptionOutcome:
    """The customer's choices (`#renew off 2`, the page's "Accept" button), in order."""
    return await change_subscription(
        desk,
        subscription_id=subscription_id,
        events=[event_for(offer) for offer in offers],
        door=door,
    )


@dataclass(frozen=True)
class ReplyMessage:
    """What the customer wrote besides the commands, with its files."""

    text: str
    attachments: tuple[Attachment, ...] = ()
    blobs: Mapping[str, bytes] | None = None
    sender: Sender | None = None


async def reply_to_subscription(
    desk: Desk,
    *,
    subscription_id: str,
    order_reference: str,
    offers: Sequence[Offer],
    message: ReplyMessage,
    receipt: InboundReceipt,
) -> SubscriptionOutcome:
    """A reply to a subscription email: its commands, then its other text as a support ticket.

    SPEC §7: a reply of commands alone opens nothing; any other new text
    opens a support ticket on the order with that text as its first comment,
    after the commands are carried out. Both in one transaction with the
    kept email, so a crash can neither lose the question nor act twice.
    """
    requests: list[Request] = []
    if offers:
        events = tuple(event_for(offer) for offer in offers)
        requests.append(SubscriptionAction(subscription_id, events))
    if message.text or message.attachments:
        opening = Open(
            TicketType.SUPPORT, Party.CUSTOMER, message.text, message.attachments, message.sender
        )
        requests.append(OpenRequest(order_reference, opening, message.blobs or {}))
    if not requests:  # an empty reply: kept, and nothing to do
        await desk.keep(receipt)
        found = await desk.read_subscription(subscription_id)
        if found is None:
            return SubscriptionMissing(subscription_id)
        return SubscriptionChanged(found[0])
    try:
        outcomes = await desk.apply_together(requests, receipt=receipt)
    except (SubscriptionNotFound, OrderNotFound):
        return SubscriptionMissing(subscription_id)
    ticket = outcomes[-1].ticket if isinstance(requests[-1], OpenRequest) else None
    refusals = tuple(r for o in outcomes for r in o.refusals)
    changed = outcomes[0].subscription
    if changed is None:  # only a ticket was opened: read the subscription as it is
        found = await desk.read_subscription(subscription_id)
        if found is None:
            return SubscriptionMissing(subscription_id)
        changed = found[0]
    if refusals:
        return SubscriptionRefused(refusals, changed)
    return SubscriptionChanged(changed, ticket)
