"""The outbox rows one event queues: an email per party the rules name, a webhook per rule.

Built inside the funnel's transaction from what the event left behind, so
each row holds a snapshot marker (how many comments and history entries, the
ticket's state, what the reader may do next) and the email shows the ticket
as it was at this event however late it is rendered.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from service.domain import policy, zones
from service.domain.actions import allowed_actions
from service.domain.effects import Notify
from service.domain.facts import Facts
from service.domain.records import Comment, Party, RecordKind, RecordRef, Ticket, Vendor
from service.domain.subscription.choices import allowed_choices
from service.domain.subscription.machine import SubscriptionFacts
from service.domain.subscription.records import Subscription
from service.representations import iso, subscription_json, ticket_state_json
from service.store import EmailItem, ThreadRoots, WebhookItem

LEGACY_THREAD_ROOT = re.compile(r"<t[0-9]+\.(?:customer|vendor)\.[0-9a-f]*@[^<>@\s]+>")
"""Any Message-ID of the `legacy_thread_root` shape."""


def legacy_thread_root(number: int, party: Party, token: str, domain: str) -> str:
    """The root shape of tickets opened before each party had its own (issue #13).

    Both parties' roots shared one token, so the customer could write the
    vendor's; a reply naming one of these proves nothing and is never matched.
    """
    return f"<t{number}.{party.value}.{token}@{domain}>"


def new_message_id(domain: str) -> str:
    """A random Message-ID in our domain: nothing about it can be guessed from another."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def new_thread_roots(domain: str) -> ThreadRoots:
    """Each party's own root for a new ticket, independent of the other's."""
    return ThreadRoots(customer=new_message_id(domain), vendor=new_message_id(domain))


def thread_root(threads: ThreadRoots, number: int, party: Party, domain: str) -> str:
    """The Message-ID that this party's copies of the ticket's emails answer."""
    root = threads.customer if party is Party.CUSTOMER else threads.vendor
    if root is not None:
        return root
    # A ticket from before per-party roots: its emails keep threading under the old
    # shared shape, which inbound threading no longer trusts.
    return legacy_thread_root(number, party, threads.legacy_token, domain)


def ticket_email(
    notify: Notify,
    ticket: Ticket | None,
    facts: Facts,
    threads: ThreadRoots,
    now: datetime,
    domain: str,
    *,
    new_comments: Sequence[Comment] = (),
    customer_utc_offset: int | None = None,
) -> EmailItem:
    """One party's email about one event on a ticket (or about a refused open).

    Besides the snapshot, the payload keeps the facts each reader's copy is
    written from: the zone its times are shown in (`zone`), why a pending
    processing time is what it is (`processing`), and the files of the
    comments this event added that the other party wrote (`files`: this
    reader gets them attached). `customer_utc_offset` is the customer's zone
    when there is no ticket to keep it (a refused opening).
    """
    order, vendor = facts.order, facts.vendor
    if notify.party is Party.VENDOR:
        to_address, to_name = vendor.notification_email, vendor.name
    else:
        to_address, to_name = order.customer_email, order.customer_name
    offset = ticket.customer_utc_offset if ticket is not None else customer_utc_offset
    payload: dict[str, object] = {
        "facts": dict(notify.facts),
        "order": order.reference,
        "vendor": vendor.id,
        "zone": zones.reader_zone(notify.party, vendor.timezone, offset),
    }
    files = [
        a.blob_id
        for comment in new_comments
        if comment.author is not notify.party
        for a in comment.attachments
        if a.blob_id
    ]
    if files:
        payload["files"] = files
    root: str | None = None
    message_id = new_message_id(domain)
    if ticket is not None:
        # A snapshot: the email shows the ticket as it was at this event, however
        # late it is rendered (comments and history by count, the rest by value).
        payload["comments"] = len(ticket.comments)
        payload["history"] = len(ticket.history)
        payload["state"] = ticket_state_json(ticket)
        payload["actions"] = [a.value for a in allowed_actions(ticket, notify.party, facts, now)]
        reason = policy.pending_processing_reason(ticket)
        if reason is not None:
            payload["processing"] = {"rule": reason.rule.value, "weekend": reason.weekend}
        root = thread_root(threads, ticket.number, notify.party, domain)
        if notify.kind == "ticket_opened":
            message_id = root
    return EmailItem(
        kind=notify.kind,
        party=notify.party.value,
        to_address=to_address,
        to_name=to_name,
        message_id=message_id,
        thread_root=root,
        payload=payload,
        record=RecordRef.ticket(ticket.number) if ticket is not None else None,
        created_at=now,
    )


def ticket_webhook(
    notify: Notify, ticket: Ticket | None, facts: Facts, now: datetime, domain: str
) -> WebhookItem:
    """A processed refund or cancelation, for the vendor's own systems."""
    assert ticket is not None  # the rules send webhooks for processed tickets only
    order, vendor = facts.order, facts.vendor
    payload = {
        "event": notify.kind,
        "ticket": ticket.number,
        "order": order.reference,
        "vendor": vendor.id,
        "customer": order.customer_email,
        "amount": notify.facts.get("amount"),
        "currency": order.currency,
        "at": iso(now),
    }
    return _webhook(notify, vendor, payload, RecordRef.ticket(ticket.number), now, domain)


def _webhook(
    notify: Notify,
    vendor: Vendor,
    payload: Mapping[str, object],
    record: RecordRef,
    now: datetime,
    domain: str,
) -> WebhookItem:
    """One webhook to `vendor`'s endpoint, with a delivery id that stays across retries."""
    return WebhookItem(
        event=notify.kind,
        url=vendor.webhook_url or "",
        vendor_id=vendor.id,
        delivery_id=new_message_id(domain).strip("<>"),
        payload=payload,
        record=record,
        created_at=now,
    )


def address_email(
    to_address: str,
    kind: str,
    facts: Mapping[str, str],
    order_reference: str | None,
    now: datetime,
    domain: str,
    *,
    orders: Sequence[str] = (),
    party: Party = Party.CUSTOMER,
    utc_offset: int | None = None,
) -> EmailItem:
    """Mail that belongs to no record: a lookup result, "no purchase found".

    The reader's zone is the offset of the email that asked, when it named
    one; otherwise the outbox falls back to the vendor's zone (or UTC).
    """
    payload: dict[str, object] = {"facts": dict(facts), "order": order_reference}
    if orders:
        payload["orders"] = list(orders)
    offset = zones.usable_utc_offset(utc_offset)
    if offset is not None:
        payload["zone"] = zones.offset_zone_name(offset)
    return EmailItem(
        kind=kind,
        party=party.value,
        to_address=to_address,
        to_name="",
        message_id=new_message_id(domain),
        thread_root=None,
        payload=payload,
        record=None,
        created_at=now,
    )


# --- subscriptions ---------------------------------------------------------------------------


def subscription_email(
    notify: Notify, subscription: Subscription, facts: SubscriptionFacts, now: datetime, domain: str
) -> EmailItem:
    """One party's email about one event on a subscription.

    The payload keeps the subscription as it was at this event (its JSON) and
    the choices then open to the customer, so a late render shows that moment.
    """
    order, vendor = facts.order, facts.vendor
    if notify.party is Party.VENDOR:
        to_address, to_name = vendor.notification_email, vendor.name
    else:
        to_address, to_name = order.customer_email, order.customer_name
    payload: dict[str, object] = {
        "facts": dict(notify.facts),
        "order": order.reference,
        "vendor": vendor.id,
        "zone": zones.reader_zone(notify.party, vendor.timezone, None),
        "subscription": subscription_json(subscription),
        "choices": [
            {"choice": offer.choice.value, "item": offer.item}
            for offer in allowed_choices(subscription)
        ],
    }
    return EmailItem(
        kind=notify.kind,
        party=notify.party.value,
        to_address=to_address,
        to_name=to_name,
        message_id=new_message_id(domain),
        thread_root=None,
        payload=payload,
        record=RecordRef(RecordKind.SUBSCRIPTION, subscription.id),
        created_at=now,
    )


def subscription_webhook(
    notify: Notify, subscription: Subscription, facts: SubscriptionFacts, now: datetime, domain: str
) -> WebhookItem:
    """`subscription.updated` (with the whole subscription) or `subscription.renewal_requested`."""
    vendor = facts.vendor
    payload = {
        "event": notify.kind,
        "subscription": subscription_json(subscription),
        "cause": notify.facts.get("entry"),
        "order": subscription.order_reference,
        "vendor": vendor.id,
        "at": iso(now),
    }
    record = RecordRef(RecordKind.SUBSCRIPTION, subscription.id)
    return _webhook(notify, vendor, payload, record, now, domain)
