"""Turning a queued outbox row into the bytes of one email.

The funnel queued the row with a snapshot marker (how many comments and
history entries the ticket had, and its state at that moment); here the
ticket, order and vendor are read back, cut to that snapshot, and handed to
the templates with this recipient's own reply address and ticket link, the
zone its times are shown in, and the files it carries: the other party's
files of the comment it reports, up to `ATTACHMENT_LIMIT` in all (the rest
are linked to the recipient's own ticket page). This module reads the
database; it never changes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from service.domain.records import RecordKind, Vendor
from service.outbound.addresses import reply_address, subscription_reply_address, ticket_url
from service.outbound.dkim_signing import DkimKey
from service.outbound.email_environment import SharedSections
from service.outbound.message import MailFile, build_message
from service.outbound.permanent_links import purchase_url, subscription_url
from service.outbound.render import Renderer
from service.representations import order_json, ticket_json
from service.store import EmailItem, Queries, Store
from service.tracing import traced

ATTACHMENT_LIMIT = 7 * 1024 * 1024
"""Bytes of files one notification carries, in all. Base64 makes 7 MB about 9.5 MB, so
the email stays under the 10 MB that many mail servers accept; files beyond it are linked."""


@dataclass(frozen=True)
class MailSettings:
    """What every outgoing email needs to know about this deployment."""

    secret: bytes
    domain: str
    base_url: str
    from_name: str = "maildesk support"
    attachment_limit: int = ATTACHMENT_LIMIT
    dkim: DkimKey | None = None
    """Signs every message when set (`--dkim-key`), so receivers can tie it to the domain."""

    @property
    def from_address(self) -> str:
        return f"support@{self.domain}"


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every party's copy of one event's notification shows alike: read-only once built."""

    ticket: dict[str, Any] | None
    order: dict[str, Any] | None
    vendor: dict[str, Any]
    purchases: list[dict[str, Any]] = field(default_factory=list)
    """A lookup's list of purchases, each order with its `vendor_name`."""
    sections: SharedSections = field(default_factory=dict)
    """The event's `{% shared %}` template sections, filled by the first party's render."""
    subscription: dict[str, Any] | None = None
    """A subscription email's subscription as it was at the event (the funnel's snapshot)."""
    self_service_url: str | None = None
    """The customer's permanent self-service page of that subscription (its secret as now)."""
    purchase_url: str | None = None
    """The customer's permanent purchase page of the order."""


_READERS_OWN = frozenset({"zone", "actions", "files", "choices"})
"""The payload keys the funnel (`service.desk.outgoing`) writes for one reader alone."""
_EVENT_JSON = json.JSONEncoder(sort_keys=True).encode


class Snapshots:
    """The party-independent context of each event, read from the database once per batch.

    The funnel queues one notification per party for an event, with the same
    snapshot marker, and the outbox claims them together; their ticket, order
    and vendor reads and JSON building were a fifth of composing, and the
    template sections that read the same for both (order, history) half of
    rendering. Kept for one batch only, so a later batch sees the order as it
    is then, as before. The vendors are kept likewise: a batch's events are
    mostly a few sellers', and each event read its vendor again.
    """

    def __init__(self) -> None:
        self._shared: dict[tuple[int | None, str], _Shared] = {}
        self._last: tuple[EmailItem, tuple[int | None, str]] | None = None
        self.vendors: dict[str, Vendor | None] = {}

    def _key(self, email: EmailItem) -> tuple[int | None, str]:
        """The event: its payload but for what each reader's copy has of its own.

        The funnel writes each party's own zone, commands, files and choices
        into its row, and they differ between the parties of most events (a
        vendor's zone, `#approve`); keyed by the whole payload, nine events in
        ten read everything twice. None of them is read here or seen by a
        `{% shared %}` section (whose key has the zone). The last key is kept:
        `get` and then `put` ask for the same email's.
        """
        if self._last is not None and self._last[0] is email:
            return self._last[1]
        event = {k: v for k, v in email.payload.items() if k not in _READERS_OWN}
        key = email.ticket_number, _EVENT_JSON(event)
        self._last = email, key
        return key

    def get(self, email: EmailItem) -> _Shared | None:
        return self._shared.get(self._key(email))

    def put(self, email: EmailItem, shared: _Shared) -> None:
        self._shared[self._key(email)] = shared


class Composer:
    """Builds the bytes of each queued email, reading what the funnel committed."""

    def __init__(self, store: Store, renderer: Renderer, settings: MailSettings) -> None:
        self.store = store
        self.renderer = renderer
        self.settings = settings

    @traced("Composer.compose (reads, render, MIME)")
    async def compose(self, item: EmailItem, snapshots: Snapshots | None = None) -> bytes:
        """The message for `item`; `snapshots` shares the reads of one event between parties."""
        shared = snapshots.get(item) if snapshots is not None else None
        if shared is None:
            async with self.store.reading() as q:
                shared = await self._shared(q, item, snapshots)
            if snapshots is not None:
                snapshots.put(item, shared)
        context = self._context(item, shared)
        files = await self._files(item, shared)
        context["attached"] = [file.id for file in files]
        rendered = self.renderer.render(item.kind, context, shared.sections)
        root = item.thread_root
        message = build_message(
            rendered,
            from_address=self.settings.from_address,
            from_name=self._from_name(context),
            to_address=item.to_address,
            to_name=item.to_name,
            reply_to=context["reply_address"],
            message_id=item.message_id,
            in_reply_to=root if root and root != item.message_id else None,
            references=[root] if root and root != item.message_id else [],
            date=item.created_at,
            files=files,
        )
        return self.settings.dkim.sign(message) if self.settings.dkim else message

    async def _files(self, item: EmailItem, shared: _Shared) -> list[MailFile]:
        """The files this email carries: those the funnel named, in order, while they fit.

        The funnel names the files of the comment the email reports that the
        other party wrote (`payload["files"]`); here they are taken in order
        while their total stays within the limit, the others only linked.
        """
        wanted = list(item.payload.get("files") or [])
        if not wanted or shared.ticket is None:
            return []
        sizes = {
            str(file.get("id")): int(file.get("size") or 0)
            for comment in shared.ticket.get("comments") or []
            for file in comment.get("attachments") or []
        }
        chosen, total = [], 0
        for blob_id in wanted:
            size = sizes.get(blob_id)
            if size is not None and total + size <= self.settings.attachment_limit:
                chosen.append(blob_id)
                total += size
        files: list[MailFile] = []
        async with self.store.reading() as q:
            for blob_id in chosen:
                found = await q.tickets.attachment(blob_id)
                if found is None or found[2] != item.ticket_number:
                    continue
                meta, data, _ = found
                files.append(MailFile(blob_id, meta.filename, meta.content_type, data))
        return files

    async def context(self, q: Queries, item: EmailItem) -> dict[str, Any]:
        """The render context of `item` (see `service.outbound.render`), read through `q`."""
        return self._context(item, await self._shared(q, item))

    async def _shared(
        self, q: Queries, item: EmailItem, snapshots: Snapshots | None = None
    ) -> _Shared:
        payload: Mapping[str, Any] = item.payload
        order = await q.orders.get(payload["order"]) if payload.get("order") else None
        purchases, vendor_ids = [], set()
        for reference in payload.get("orders") or []:
            bought = await q.orders.get(str(reference))
            seller = await _vendor(q, bought.vendor_id, snapshots) if bought else None
            if bought is not None and seller is not None:
                link = (
                    purchase_url(self.settings.base_url, bought.reference, bought.secret)
                    if bought.secret
                    else None
                )
                purchases.append(
                    order_json(bought) | {"vendor_name": seller.name, "purchase_url": link}
                )
                vendor_ids.add(seller.id)
        vendor_id = payload.get("vendor") or (order.vendor_id if order else None)
        if vendor_id is None and len(vendor_ids) == 1:
            vendor_id = vendor_ids.pop()  # one seller's purchases: its name and zone
        vendor = await _vendor(q, vendor_id, snapshots) if vendor_id else None
        links = await self._permanent_links(q, item, order.secret if order else None)
        ticket_data: dict[str, Any] | None = None
        number = item.ticket_number
        if number is not None and "comments" in payload:
            ticket = await q.tickets.get(number)
            if ticket is not None:
                ticket = replace(
                    ticket,
                    comments=ticket.comments[: payload["comments"]],
                    history=ticket.history[: payload["history"]],
                )
                ticket_data = ticket_json(ticket) | dict(payload.get("state") or {})
        return _Shared(
            ticket=ticket_data,
            order=order_json(order) if order else None,
            vendor=(
                {"id": vendor.id, "name": vendor.name, "timezone": vendor.timezone}
                if vendor
                else {"id": "", "name": "", "timezone": "UTC"}
            ),
            purchases=purchases,
            subscription=dict(payload["subscription"]) if payload.get("subscription") else None,
            self_service_url=links[0],
            purchase_url=links[1],
        )

    async def _permanent_links(
        self, q: Queries, item: EmailItem, order_secret: str | None
    ) -> tuple[str | None, str | None]:
        """The subscription's self-service page and the order's purchase page, when they exist.

        Read when the email is written, not when it was queued: a secret the
        operator rotated in between must not go out in a fresh email.
        """
        base = self.settings.base_url
        record = item.record
        self_service = None
        if record is not None and record.kind is RecordKind.SUBSCRIPTION:
            secret = await q.subscriptions.secret(record.id)
            self_service = subscription_url(base, record.id, secret) if secret else None
        reference = item.payload.get("order")
        purchase = purchase_url(base, str(reference), order_secret) if order_secret else None
        return self_service, purchase

    def _context(self, item: EmailItem, shared: _Shared) -> dict[str, Any]:
        """One party's context: the shared parts, and its own address, link and recipient."""
        link = address = None
        number = item.ticket_number
        if number is not None and shared.ticket is not None:
            secret, domain = self.settings.secret, self.settings.domain
            link = ticket_url(self.settings.base_url, secret, number, item.party)
            address = reply_address(secret, domain, number, item.party)
        subscription_links = {}
        if shared.subscription is not None:
            subscription_links = self._subscription_context(item, shared)
            address = subscription_links.pop("reply_address")
        return {
            "kind": item.kind,
            "party": item.party,
            "recipient": {"email": item.to_address, "name": item.to_name},
            "ticket": shared.ticket,
            "order": shared.order,
            "vendor": shared.vendor,
            "facts": dict(item.payload.get("facts") or {}),
            "ticket_url": link,
            "reply_address": address,
            "actions": list(item.payload.get("actions") or []),
            "zone": str(item.payload.get("zone") or shared.vendor["timezone"] or "UTC"),
            "processing": item.payload.get("processing"),
            "purchases": shared.purchases,
            "purchase_url": shared.purchase_url if item.party == "customer" else None,
        } | subscription_links

    def _subscription_context(self, item: EmailItem, shared: _Shared) -> dict[str, Any]:
        """What a subscription email adds: the customer's links, reply address and commands.

        The links and the reply address are the customer's alone (a vendor
        changes a subscription through its platform, never by email), so the
        vendor's copy has none and lists no commands.
        """
        assert shared.subscription is not None
        if item.party != "customer":
            return {
                "subscription": shared.subscription,
                "choices": [],
                "self_service_url": None,
                "purchase_url": None,
                "reply_address": None,
            }
        settings = self.settings
        return {
            "subscription": shared.subscription,
            "choices": list(item.payload.get("choices") or []),
            "self_service_url": shared.self_service_url,
            "purchase_url": shared.purchase_url,
            "reply_address": subscription_reply_address(
                settings.secret, settings.domain, str(shared.subscription["id"])
            ),
        }

    def _from_name(self, context: Mapping[str, Any]) -> str:
        vendor_name = context["vendor"]["name"]
        return f"{vendor_name} via maildesk" if vendor_name else self.settings.from_name


async def _vendor(q: Queries, vendor_id: str, snapshots: Snapshots | None) -> Vendor | None:
    """The vendor, read once per batch when there is one (`Snapshots.vendors`)."""
    if snapshots is None:
        return await q.vendors.get(vendor_id)
    if vendor_id not in snapshots.vendors:
        snapshots.vendors[vendor_id] = await q.vendors.get(vendor_id)
    return snapshots.vendors[vendor_id]
