"""The customer's permanent pages (SPEC §7, seed 004): a subscription's and a purchase's.

    GET  /s/{id}-{secret}            the subscription: items, next billing, bills, choices
    GET  /s/{id}-{secret}-{n}        the same, opened at item n
    POST /s/{id}-{secret}/choose     a choice: renew off/on (per item), accept, decline, renew now
    POST /s/{id}-{secret}/request    cancel or ask for a refund: opens the ticket (SPEC §2)
    GET  /s/{id}-{secret}/payment    on to the vendor's page for a new payment method
    GET  /csi/ /asi/ /rsi/ /crb/ /scp/{id}-{secret}[-n]   the seed's item links: to /s/
    GET  /p/{reference}-{secret}     the purchase: items, key, download, bills, tickets
    POST /p/{reference}-{secret}/refund   the refund request form for that order

The link is the key, as a ticket link is, but its secret is stored, so an
operator can rotate it. The buttons are the domain's `allowed_choices`; a
post goes through the same use case as a reply's `#command`, and a cancel or
refund through the same one as mail to cancel@ or refund@, as the order's
customer. After a post the page redirects (303) to itself with a one-time
message.

What this module must never do: tell a visitor whether an id exists (a
wrong secret and an unknown id are the same 404, after the same work: one
read of the stored secret and one constant-time comparison; the record is
loaded only behind a genuine secret), or act on a form without a valid CSRF
token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.domain.records import Order, Party, TicketType, Vendor
from service.domain.subscription.choices import Choice, Offer, allowed_choices
from service.domain.subscription.records import Subscription
from service.domain.zones import reader_zone
from service.outbound.addresses import ticket_url
from service.outbound.permanent_links import purchase_token, subscription_token
from service.representations import order_json, subscription_json
from service.usecases.outcomes import Door, Opened, Refused
from service.usecases.requests import CustomerAt, open_request
from service.usecases.subscriptions import (
    SubscriptionChanged,
    SubscriptionMissing,
    choose,
)
from service.web import flash
from service.web.forms import storable, text
from service.web.rendering import PageRenderer, runtime_of

LEGACY_ITEM_LINKS = ("csi", "asi", "rsi", "crb", "scp")
"""The seed's per-item links (cancel, activate, renew, change billing, change payment)."""

_NO_SECRET = "x" * 20
"""Compared against when no record has the id, so a miss costs what a wrong secret costs."""

_DONE: dict[Choice, str] = {
    Choice.RENEW_OFF: "Automatic renewal is off{which}. We emailed you a confirmation.",
    Choice.RENEW_ON: "Automatic renewal is on again{which}. We emailed you a confirmation.",
    Choice.ACCEPT: "You accepted the new price{which}. We emailed you a confirmation.",
    Choice.DECLINE: "You declined the new price{which}; the old price stays.",
    Choice.RENEW_NOW: "Your renewal request was sent to the seller, who bills you. You get a "
    "confirmation once the payment is recorded.",
}


@dataclass(frozen=True)
class SubscriptionPage:
    """A verified subscription link: the subscription and its facts, and its page path."""

    subscription: Subscription
    order: Order
    vendor: Vendor
    path: str


class PermanentPages:
    def __init__(self, pages: PageRenderer) -> None:
        self.pages = pages

    # --- the subscription ------------------------------------------------------------------

    async def subscription(self, request: Request) -> Response:
        found = await self._subscription(request)
        if found is None:
            return self.pages.not_found(request)
        token = subscription_token(str(request.path_params["token"]))
        if token is not None and token.item is not None:
            return RedirectResponse(f"{found.path}#item-{token.item}", status_code=303)
        subscription = found.subscription
        offers = allowed_choices(subscription)
        return self.pages.render(
            request,
            "web/subscription.html",
            subscription=subscription_json(subscription),
            order=order_json(found.order),
            vendor_name=found.vendor.name,
            zone=reader_zone(Party.CUSTOMER, found.vendor.timezone, None),
            item_choices={
                item.number: [o.choice.value for o in offers if o.item == item.number]
                for item in subscription.items
            },
            renew_now=any(o.choice is Choice.RENEW_NOW for o in offers),
            page_path=found.path,
            flash_for=found.path,
        )

    async def choose(self, request: Request) -> Response:
        posted = await self._posted(request, "choice", "item")
        if isinstance(posted, Response):
            return posted
        found, values = posted
        raw_item = values["item"]
        try:
            choice = Choice(values["choice"])
            item = int(raw_item) if raw_item.isdigit() and len(raw_item) <= 4 else None
        except ValueError:
            return self._use_a_button(request, "Unknown choice")
        runtime = runtime_of(request)
        outcome = await choose(
            runtime.desk,
            subscription_id=found.subscription.id,
            offers=[Offer(choice, item)],
            door=Door.WEB,
        )
        if isinstance(outcome, SubscriptionMissing):
            return self.pages.not_found(request)
        if isinstance(outcome, SubscriptionChanged):
            which = (
                f" for item {item}"
                if item is not None and len(outcome.subscription.items) > 1
                else ""
            )
            return self.pages.back_to(
                request, found.path, flash.Flash("done", _DONE[choice].format(which=which))
            )
        return self.pages.back_to(
            request, found.path, flash.Flash("refused", outcome.refusal.reason)
        )

    async def request_ticket(self, request: Request) -> Response:
        """Cancel or ask for a refund: the ticket mail to cancel@ or refund@ would open."""
        posted = await self._posted(request, "kind", "details")
        if isinstance(posted, Response):
            return posted
        found, values = posted
        kind_name, details = values["kind"], storable(values["details"]).strip()
        kinds = {"cancelation": TicketType.CANCELATION, "refund": TicketType.REFUND}
        if kind_name not in kinds:
            return self._use_a_button(request, "Unknown request")
        message = await _open(request, found.order, kinds[kind_name], details)
        return self.pages.back_to(request, found.path, message)

    async def payment(self, request: Request) -> Response:
        """On to the vendor's own page for a new payment method; maildesk never sees card data."""
        found = await self._subscription(request)
        if found is None:
            return self.pages.not_found(request)
        url = found.vendor.payment_update_url
        if url:
            target = url.replace("{subscription}", quote(found.subscription.id, safe=""))
            return RedirectResponse(target, status_code=303)
        contact = found.vendor.support_email or found.vendor.account_email
        return self.pages.render(
            request,
            "web/payment_contact.html",
            vendor_name=found.vendor.name,
            contact=contact,
            subscription_id=found.subscription.id,
            back=found.path,
        )

    async def legacy(self, request: Request) -> Response:
        """The seed's item links (`/csi/…`): the same subscription page, at that item."""
        token = str(request.path_params["token"])
        if subscription_token(token) is None:
            return self.pages.not_found(request)
        return RedirectResponse(f"/s/{token}", status_code=301)

    async def _posted(
        self, request: Request, *names: str
    ) -> tuple[SubscriptionPage, dict[str, str]] | Response:
        """A form posted to a genuine subscription link, with a valid CSRF token: its fields."""
        found = await self._subscription(request)
        if found is None:
            return self.pages.not_found(request)
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        try:
            return found, {name: text(form, name) for name in names}
        finally:
            await form.close()

    async def _subscription(self, request: Request) -> SubscriptionPage | None:
        token = subscription_token(str(request.path_params["token"]))
        runtime = runtime_of(request)
        async with runtime.store.reading() as q:
            stored = await q.subscriptions.secret(token.id) if token is not None else None
        if not _genuine(stored, token.secret if token is not None else None):
            return None
        assert token is not None
        loaded = await runtime.desk.read_subscription(token.id)
        if loaded is None:  # gone since: as if it never was
            return None
        subscription, facts = loaded
        path = f"/s/{subscription.id}-{subscription.secret}"
        return SubscriptionPage(subscription, facts.order, facts.vendor, path)

    # --- the purchase ----------------------------------------------------------------------

    async def purchase(self, request: Request) -> Response:
        found = await self._purchase(request)
        if found is None:
            return self.pages.not_found(request)
        order, vendor, path = found
        runtime = runtime_of(request)
        settings = runtime.settings
        async with runtime.store.reading() as q:
            tickets = await q.tickets.find(order_reference=order.reference)
            subscription_id = await q.subscriptions.id_of_order(order.reference)
            subscription = await q.subscriptions.get(subscription_id) if subscription_id else None
        return self.pages.render(
            request,
            "web/purchase.html",
            order=order_json(order),
            vendor_name=vendor.name,
            zone=reader_zone(Party.CUSTOMER, vendor.timezone, None),
            tickets=[
                {
                    "number": t.number,
                    "type": t.type.value,
                    "status": t.status.value,
                    "opened_at": t.opened_at.isoformat(),
                    "url": ticket_url(settings.base_url, settings.secret, t.number, "customer"),
                }
                for t in sorted(tickets, key=lambda t: t.number, reverse=True)
            ],
            subscription_url=(
                f"/s/{subscription.id}-{subscription.secret}" if subscription else None
            ),
            page_path=path,
            flash_for=path,
        )

    async def purchase_refund(self, request: Request) -> Response:
        found = await self._purchase(request)
        if found is None:
            return self.pages.not_found(request)
        order, _, path = found
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        try:
            details = storable(text(form, "details")).strip()
        finally:
            await form.close()
        if len(details) > 5000:
            return self.pages.back_to(
                request, path, flash.Flash("refused", "Keep the reason under 5,000 characters.")
            )
        return self.pages.back_to(
            request, path, await _open(request, order, TicketType.REFUND, details)
        )

    async def _purchase(self, request: Request) -> tuple[Order, Vendor, str] | None:
        token = purchase_token(str(request.path_params["token"]))
        runtime = runtime_of(request)
        async with runtime.store.reading() as q:
            stored = await q.orders.secret(token.id) if token is not None else None
            if not _genuine(stored, token.secret if token is not None else None):
                return None
            assert token is not None
            order = await q.orders.get(token.id)
            vendor = await q.vendors.get(order.vendor_id) if order else None
        if order is None or vendor is None:
            return None
        return order, vendor, f"/p/{quote(order.reference, safe='')}-{order.secret}"

    def _use_a_button(self, request: Request, title: str) -> Response:
        return self.pages.error(
            request, 400, title, "Go back to your subscription page and use a button."
        )


def _genuine(stored: str | None, offered: str | None) -> bool:
    """Whether the link's secret is the stored one; a missing record costs the same comparison.

    One read of the secret (or of nothing) came first in both cases, so a
    wrong secret and an unknown id take the same work up to here.
    """
    matches = hmac.compare_digest((stored or _NO_SECRET).encode(), (offered or "").encode())
    return stored is not None and offered is not None and matches


async def _open(request: Request, order: Order, kind: TicketType, details: str) -> flash.Flash:
    """Open `kind` on `order` as its customer, exactly as mail to cancel@ or refund@ would."""
    what = "refund request" if kind is TicketType.REFUND else "cancelation"
    outcome = await open_request(
        runtime_of(request).desk,
        requester=CustomerAt(order.customer_email),
        kind=kind,
        words=[order.reference],
        text=details
        or f"Sent from my {'purchase' if kind is TicketType.REFUND else 'subscription'} page.",
        door=Door.WEB,
    )
    if isinstance(outcome, Opened):
        return flash.Flash(
            "done",
            f"Your {what} is ticket #{outcome.ticket.number}. We emailed you the details and "
            "a link to follow it.",
        )
    if isinstance(outcome, Refused):
        return flash.Flash("refused", outcome.refusal.reason)
    return flash.Flash("refused", "This order could not be found any more.")
