"""The vendor's desk (issue #17): dashboard, tickets, orders, settings.

    GET  /desk                                   the dashboard (signed out: the sign-in page)
    GET  /desk/tickets                           the list: filters, search, sort, pages
    GET  /desk/tickets/{n}                       the ticket page inside the desk
    POST /desk/tickets/{n}/reply, …/action       a reply or a button, as by email
    GET  /desk/tickets/{n}/attachments/{blob}    one of its files
    GET  /desk/orders                            search by reference or customer email
    GET  /desk/orders/{reference}                an order, its tickets, open-a-ticket buttons
    POST /desk/orders/{reference}/open           open a refund, cancelation or support ticket
    GET  /desk/settings, POST /desk/settings     time zone, addresses, webhook
    POST /desk/settings/webhook-test             queue a test event
    POST /desk/settings/api-key                  a new API key

Every page first asks who is signed in (`vendor_viewer`). A ticket or order
of another vendor is the same 404 page as a missing one, found by the same
one-statement question. Actions go through the same use cases as email
(`act_on_ticket`, `open_request`); the buttons are the domain's answers
(`allowed_actions`, `requestable_types`), never worked out here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.domain.actions import request_refusal, requestable_types
from service.domain.calendar import BusinessCalendar
from service.domain.facts import Facts
from service.domain.records import Party, TicketType, Vendor
from service.outbound.addresses import vendor_command_address
from service.outbound.filters import payment
from service.outbound.render import TICKET_TYPE_LABELS
from service.representations import order_json
from service.store.desk import PAGE_SIZE, TicketLine, TicketQuery
from service.usecases.outcomes import Door, NoPurchaseFound, Opened
from service.usecases.requests import VendorNamed, open_request
from service.usecases.vendor_settings import (
    SettingsForm,
    SettingsRefused,
    rotate_api_key,
    save_settings,
    send_test_webhook,
)
from service.web import flash
from service.web.desk_frame import desk_nav, vendor_viewer
from service.web.forms import storable, text
from service.web.moments import absolute, relative
from service.web.rendering import PageRenderer, runtime_of
from service.web.signed_in import Viewer, signed_in
from service.web.signin_pages import SigninPages
from service.web.ticket_page import TicketLink, TicketPages

_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_SEARCH = 200
MAX_PAGE = 100_000
ZONES = tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))
CLOSE_REASONS = {
    "closed_by_customer": "closed by the customer",
    "closed_by_vendor": "closed by you",
    "refunded": "refunded",
    "canceled": "canceled",
    "inactivity": "closed for inactivity",
}
DUE_WORDS = {
    "process": "processed",
    "inactivity_warning": "reminder",
    "inactivity_close": "closes for inactivity",
}


class DeskPages:
    def __init__(self, pages: PageRenderer, tickets: TicketPages, signin: SigninPages) -> None:
        self.pages = pages
        self.tickets = tickets
        self.signin = signin

    # --- dashboard ----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        viewer = await signed_in(request)
        if viewer is None:
            return self.signin.signin_form(request, "desk")
        if viewer.is_operator:
            return RedirectResponse("/console", status_code=303)
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        runtime = runtime_of(request)
        now = runtime.clock.now()
        local = BusinessCalendar(vendor.timezone).local(now)
        midnight = day_ends(now, vendor.timezone)
        week_began = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=local.weekday()
        )
        async with runtime.store.reading() as q:
            counts = await q.desk.dashboard(vendor.id, now, midnight, week_began)
        return self._page(
            request,
            viewer,
            vendor,
            "/desk",
            "web/desk/dashboard.html",
            counts=counts,
            labels=TICKET_TYPE_LABELS,
            flash_for="/desk",
        )

    # --- tickets ------------------------------------------------------------------------

    async def ticket_list(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        runtime = runtime_of(request)
        now = runtime.clock.now()
        query, chosen = ticket_query(request, now, vendor.timezone)
        async with runtime.store.reading() as q:
            lines, total = await q.desk.tickets(vendor.id, query)
        return self._page(
            request,
            viewer,
            vendor,
            "/desk/tickets",
            "web/desk/tickets.html",
            rows=[ticket_row(line, now, vendor.timezone) for line in lines],
            **list_paging(query, chosen, total),
        )

    async def ticket(self, request: Request) -> Response:
        owned = await self._own_ticket(request)
        if isinstance(owned, Response):
            return owned
        viewer, vendor, number = owned
        return await self.tickets.render_ticket(
            request,
            number,
            Party.VENDOR,
            f"/desk/tickets/{number}",
            session_id=viewer.session_id,
            nav=desk_nav(viewer, vendor, "/desk/tickets"),
        )

    async def ticket_reply(self, request: Request) -> Response:
        return await self._ticket_post(request, button=False)

    async def ticket_action(self, request: Request) -> Response:
        return await self._ticket_post(request, button=True)

    async def ticket_attachment(self, request: Request) -> Response:
        owned = await self._own_ticket(request)
        if isinstance(owned, Response):
            return owned
        _, _, number = owned
        link = TicketLink(number, Party.VENDOR, f"/desk/tickets/{number}")
        return await self.tickets.send_attachment(request, link)

    async def _ticket_post(self, request: Request, *, button: bool) -> Response:
        owned = await self._own_ticket(request)
        if isinstance(owned, Response):
            return owned
        viewer, _, number = owned
        link = TicketLink(number, Party.VENDOR, f"/desk/tickets/{number}")
        return await self.tickets.post_ticket(
            request, link, button=button, session_id=viewer.session_id
        )

    async def _own_ticket(self, request: Request) -> tuple[Viewer, Vendor, int] | Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        raw = str(request.path_params["number"])
        if not _NUMBER.fullmatch(raw):
            return self.pages.not_found(request)
        number = int(raw)
        async with runtime_of(request).store.reading() as q:
            mine = await q.tickets.is_vendors(vendor.id, number)
        if not mine:
            return self.pages.not_found(request)
        return viewer, vendor, number

    # --- orders -------------------------------------------------------------------------

    async def order_search(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        wanted = request.query_params.get("q", "").strip()[:MAX_SEARCH]
        rows = []
        if wanted:
            async with runtime_of(request).store.reading() as q:
                rows = await q.desk.orders(vendor.id, wanted)
        return self._page(
            request,
            viewer,
            vendor,
            "/desk/orders",
            "web/desk/orders.html",
            wanted=wanted,
            rows=rows,
            zone=vendor.timezone,
            at=absolute,
            payment=payment,
        )

    async def order(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        runtime = runtime_of(request)
        reference = str(request.path_params["reference"])
        if not _REFERENCE.fullmatch(reference):
            return self.pages.not_found(request)
        now = runtime.clock.now()
        async with runtime.store.reading() as q:
            order = await q.orders.get(reference, vendor_id=vendor.id)
            if order is None:
                return self.pages.not_found(request)
            tickets = await q.desk.order_tickets(vendor.id, reference)
            open_request_number = await q.tickets.open_request_on(reference)
            subscription_id = await q.subscriptions.id_of_order(reference)
            subscription = (
                await q.subscriptions.get(subscription_id, vendor_id=vendor.id)
                if subscription_id
                else None
            )
        facts = Facts(vendor, order, open_request_number)
        allowed = requestable_types(Party.VENDOR, facts, now)
        refused = {
            t.value: refusal.reason
            for t in TicketType
            if t not in allowed
            and (refusal := request_refusal(t, Party.VENDOR, facts, now)) is not None
        }
        path = f"/desk/orders/{order.reference}"
        return self._page(
            request,
            viewer,
            vendor,
            "/desk/orders",
            "web/desk/order.html",
            order=order_json(order),
            customer_name=order.customer_name,
            subscription=subscription,
            tickets=[ticket_row(line, now, vendor.timezone) for line in tickets],
            allowed=[(t.value, TICKET_TYPE_LABELS[t.value]) for t in allowed],
            refused=[(TICKET_TYPE_LABELS[k], reason) for k, reason in refused.items()],
            zone=vendor.timezone,
            at=absolute,
            payment=payment,
            flash_for=path,
            path=path,
        )

    async def open_ticket(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        runtime = runtime_of(request)
        reference = str(request.path_params["reference"])
        if not _REFERENCE.fullmatch(reference):
            return self.pages.not_found(request)
        async with runtime.store.reading() as q:
            mine = await q.orders.is_vendors(vendor.id, reference)
        if not mine:
            return self.pages.not_found(request)
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        try:
            chosen = text(form, "type")
            typed = storable(text(form, "text")).strip()
        finally:
            await form.close()
        try:
            kind = TicketType(chosen)
        except ValueError:
            return self.pages.error(
                request, 400, "Unknown ticket type", "Go back to the order and use a button."
            )
        outcome = await open_request(
            runtime.desk,
            requester=VendorNamed(vendor.id),
            kind=kind,
            words=[reference],
            text=typed,
            door=Door.WEB,
        )
        if isinstance(outcome, NoPurchaseFound):
            return self.pages.not_found(request)
        if isinstance(outcome, Opened):
            path = f"/desk/tickets/{outcome.ticket.number}"
            label = TICKET_TYPE_LABELS[kind.value]
            note = flash.Flash("done", f"Ticket #{outcome.ticket.number} ({label}) is open.")
            return self.pages.back_to(request, path, note)
        note = flash.Flash("refused", outcome.refusal.reason)
        return self.pages.back_to(request, f"/desk/orders/{reference}", note)

    # --- settings -----------------------------------------------------------------------

    async def settings(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        return await self._settings_page(request, viewer, vendor)

    async def save_settings(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        runtime = runtime_of(request)
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        try:
            typed = SettingsForm(
                timezone=text(form, "timezone"),
                support_email=text(form, "support_email"),
                agent_emails=text(form, "agent_emails"),
                webhook_url=text(form, "webhook_url"),
            )
        finally:
            await form.close()
        outcome = await save_settings(
            runtime.desk, vendor, typed, webhook_allow=runtime.webhook_allow
        )
        if isinstance(outcome, SettingsRefused):
            return await self._settings_page(
                request, viewer, vendor, errors=outcome.errors, typed=typed, status_code=400
            )
        return self.pages.back_to(
            request, "/desk/settings", flash.Flash("done", "Your settings are saved.")
        )

    async def webhook_test(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        await form.close()
        sent = await send_test_webhook(runtime_of(request).desk, vendor)
        note = (
            flash.Flash("done", "A test event is on its way; its delivery is listed below.")
            if sent
            else flash.Flash("refused", "Set a webhook URL first, then send a test event.")
        )
        return self.pages.back_to(request, "/desk/settings", note)

    async def rotate_key(self, request: Request) -> Response:
        found = await vendor_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        viewer, vendor = found
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        await form.close()
        key = await rotate_api_key(runtime_of(request).desk, vendor)
        note = flash.Flash(
            "done",
            f"Your new API key is {key} — the old one no longer works. Update your systems now.",
        )
        return self.pages.back_to(request, "/desk/settings", note)

    async def _settings_page(
        self,
        request: Request,
        viewer: Viewer,
        vendor: Vendor,
        *,
        errors: dict[str, str] | None = None,
        typed: SettingsForm | None = None,
        status_code: int = 200,
    ) -> Response:
        runtime = runtime_of(request)
        settings = runtime.settings
        async with runtime.store.reading() as q:
            deliveries = await q.outbox.webhooks_of(vendor.id)
        values = (
            {
                "timezone": typed.timezone,
                "support_email": typed.support_email,
                "agent_emails": typed.agent_emails,
                "webhook_url": typed.webhook_url,
            }
            if typed is not None
            else {
                "timezone": vendor.timezone,
                "support_email": vendor.support_email or "",
                "agent_emails": "\n".join(vendor.agent_emails),
                "webhook_url": vendor.webhook_url or "",
            }
        )
        return self._page(
            request,
            viewer,
            vendor,
            "/desk/settings",
            "web/desk/settings.html",
            status_code=status_code,
            vendor=vendor,
            values=values,
            errors=errors or {},
            zones=ZONES,
            command_address=vendor_command_address(settings.secret, settings.domain, vendor.id),
            deliveries=deliveries,
            zone=vendor.timezone,
            at=absolute,
            key_start=vendor.api_key[:8],
            flash_for="/desk/settings",
        )

    # --- the frame ----------------------------------------------------------------------

    def _page(
        self,
        request: Request,
        viewer: Viewer,
        me: Vendor,
        current: str,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        context.setdefault("flash", None)
        return self.pages.render(
            request,
            template,
            status_code=status_code,
            session_id=viewer.session_id,
            nav=desk_nav(viewer, me, current),
            wide=True,
            vendor_name=me.name,
            **context,
        )


def day_ends(now: datetime, zone: str) -> datetime:
    """The next midnight in `zone`: where "today" ends for a reader there."""
    local = BusinessCalendar(zone).local(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def ticket_query(
    request: Request, now: datetime, zone: str = "UTC"
) -> tuple[TicketQuery, dict[str, str]]:
    """The list's filters from the query string; odd values fall back to the defaults.

    `due` is "1" (within 24 hours) or "today" (before midnight in `zone`).
    """
    params = request.query_params
    status = params.get("status", "open")
    status = status if status in ("open", "closed", "all") else "open"
    kind = params.get("type", "")
    kind = kind if kind in {t.value for t in TicketType} else ""
    sort = params.get("sort", "due")
    sort = sort if sort in ("due", "activity", "newest") else "due"
    page_raw = params.get("page", "1")
    page = int(page_raw) if page_raw.isascii() and page_raw.isdigit() else 1
    page = min(max(page, 1), MAX_PAGE)
    search = params.get("q", "").strip()[:MAX_SEARCH]
    flags = {name: params.get(name) == "1" for name in ("mine", "due", "escalated")}
    chosen = {"status": status, "type": kind, "sort": sort, "q": search}
    chosen.update({name: "1" for name, on in flags.items() if on})
    due_before = now + timedelta(hours=24) if flags["due"] else None
    if params.get("due") == "today":
        chosen["due"], due_before = "today", day_ends(now, zone)
    query = TicketQuery(
        status=None if status == "all" else status,
        type=kind or None,
        waiting_on_me=flags["mine"],
        due_before=due_before,
        escalated=flags["escalated"],
        search=search,
        sort=sort,
        page=page,
    )
    return query, chosen


def list_paging(query: TicketQuery, chosen: dict[str, str], total: int) -> dict[str, Any]:
    """What `web/_ticket_list.html` shows around the rows of one page, the desk's list and
    the console's alike: the count, the page among how many, the filters as chosen, the
    links to the pages before and after, and the ticket types to filter by."""
    pages = max(1, -(-total // PAGE_SIZE))

    def at(page: int) -> dict[str, str]:
        return {**chosen, "page": str(page)}

    return {
        "total": total,
        "page": query.page,
        "pages": pages,
        "chosen": chosen,
        "prev_query": at(query.page - 1) if query.page > 1 else None,
        "next_query": at(query.page + 1) if query.page < pages else None,
        "types": [(t.value, TICKET_TYPE_LABELS[t.value]) for t in TicketType],
    }


def ticket_row(
    line: TicketLine, now: datetime, zone: str, *, for_vendor: bool = True
) -> dict[str, Any]:
    """A list's row; `for_vendor` words it for the vendor ("you"), else for the operator."""
    you, your = ("you", "your") if for_vendor else ("the vendor", "the vendor's")
    if line.status == "open":
        if line.awaiting_approval:
            state = f"Waiting for {your} approval"
        elif line.waiting_on == "vendor":
            state = f"Waiting for {you}"
        else:
            state = "Waiting for the customer"
    else:
        reasons = {**CLOSE_REASONS, "closed_by_vendor": f"closed by {you}"}
        state = f"Closed ({reasons.get(line.close_reason or '', 'closed')})"
    due = None
    if line.status == "open" and line.due_at is not None:
        due = {
            "what": DUE_WORDS.get(line.due_event or "", "next step"),
            "relative": relative(line.due_at, now),
            "absolute": absolute(line.due_at, zone),
            "late": line.due_at <= now,
        }
    return {
        "number": line.number,
        "type": TICKET_TYPE_LABELS.get(line.type, line.type),
        "state": state,
        "customer": line.customer_email,
        "order": line.order_reference,
        "due": due,
        "activity": relative(line.last_activity_at, now),
        "activity_absolute": absolute(line.last_activity_at, zone),
        "escalated": line.escalated_at is not None,
    }
