"""The operator's console (issue #17): what the CLI and the admin API do, in pages.

    GET  /console                              vendors (signed out: the sign-in page)
    POST /console/import                       import vendors, products, orders (a JSON file)
    POST /console/clock                        advance the fake clock (`--fake-clock` only)
    GET  /console/tickets                      every vendor's tickets, with the desk's filters
    GET  /console/tickets/{number}             any ticket, read-only
    GET  /console/vendors/{id}                 one vendor: settings, tickets, abuse mark history
    POST /console/vendors/{id}/abuse           mark or clear abusing (`abusing` = 1 or 0)
    GET  /console/escalations                  escalations to review, with mark and clear
    GET  /console/outbox                       queued, retrying and failed deliveries
    POST /console/outbox/{id}/retry, /give-up  try again now, or stop trying
    GET  /console/inbound                      mail kept but not acted on
    GET  /console/inbound/{id}/raw             its raw bytes, as text
    POST /console/inbound/{id}/replay          act on it again, through the intake and funnel
    GET  /console/bouncing                     addresses marked as bouncing
    POST /console/bouncing/clear               clear one mark
    GET  /console/subscriptions?id=S1001       one subscription: its state, history, link
    POST /console/subscriptions/{id}/rotate    a new permanent secret (the old link stops)

Only a signed-in operator sees any of it; a vendor's session gets the 404
page. Every change goes through the desk (the funnel) or the intake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import isodate
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.catalog import ImportError_
from service.outbound.addresses import vendor_command_address
from service.outbound.permanent_links import SUBSCRIPTION_ID
from service.outbound.render import TICKET_TYPE_LABELS
from service.representations import ticket_json
from service.store.base import as_time
from service.store.desk import TicketQuery
from service.web import flash
from service.web.api_subscriptions import subscription_with_links
from service.web.desk_frame import console_nav, operator_viewer
from service.web.desk_pages import list_paging, ticket_query, ticket_row
from service.web.forms import text
from service.web.http_body import body_limit
from service.web.moments import absolute
from service.web.rendering import PageRenderer, runtime_of
from service.web.signed_in import Viewer, signed_in
from service.web.signin_pages import SigninPages

Endpoint = Callable[[Request], Awaitable[Response]]
_ID = re.compile(r"[1-9][0-9]{0,17}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
OUTBOX_VIEWS = {
    "attention": ("pending", "retrying", "failed"),
    "failed": ("failed",),
    "retrying": ("retrying",),
    "pending": ("pending",),
    "sent": ("sent",),
}
KEPT_STATUSES = ("refused", "ignored", "error")


class ConsolePages:
    def __init__(self, pages: PageRenderer, signin: SigninPages) -> None:
        self.pages = pages
        self.signin = signin

    async def home(self, request: Request) -> Response:
        viewer = await signed_in(request)
        if viewer is None:
            return self.signin.signin_form(request, "console")
        found = await operator_viewer(request, self.pages)
        if isinstance(found, Response):
            return found
        wanted = request.query_params.get("q", "").strip()[:100]
        async with runtime_of(request).store.reading() as q:
            vendors = await q.vendors.search(wanted)
        return self._page(
            request,
            found,
            "/console",
            "web/console/vendors.html",
            vendors=vendors,
            wanted=wanted,
            fake_clock=runtime_of(request).fake_clock is not None,
            now=absolute(runtime_of(request).clock.now(), "UTC"),
        )

    async def import_catalog(self, request: Request) -> Response:
        """The import file (SPEC §8), as `maildesk import` and the admin API take it."""
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        try:
            upload = form.get("catalog")
            data = await upload.read() if isinstance(upload, UploadFile) else b""
        finally:
            await form.close()
        runtime = runtime_of(request)
        try:
            catalog = json.loads(data)
        except (ValueError, RecursionError):
            note = flash.Flash(
                "refused", "Nothing was imported: choose a JSON file in the import format."
            )
            return self.pages.back_to(request, "/console", note)
        try:
            counts = await runtime.desk.import_catalog(catalog, webhook_allow=runtime.webhook_allow)
        except ImportError_ as error:
            return self.pages.back_to(
                request, "/console", flash.Flash("refused", f"Nothing was imported: {error}")
            )
        summary = ", ".join(f"{n} {name[:-1] if n == 1 else name}" for name, n in counts.items())
        return self.pages.back_to(request, "/console", flash.Flash("done", f"Imported {summary}."))

    async def move_clock(self, request: Request) -> Response:
        """The fake clock, moved as the admin API moves it (`--fake-clock` only)."""
        posted = await self._posted(request, "advance")
        if isinstance(posted, Response):
            return posted
        typed = posted[1]["advance"].strip().upper()
        runtime = runtime_of(request)
        if runtime.fake_clock is None:
            return self.pages.not_found(request)
        try:
            by = isodate.parse_duration(typed)
        except (ValueError, ArithmeticError):
            by = None
        if not isinstance(by, timedelta) or by <= timedelta(0):
            note = flash.Flash(
                "refused",
                f"{typed!r} is not a duration to advance by: write one like PT2H (two hours) "
                "or P1D (a day).",
            )
            return self.pages.back_to(request, "/console", note)
        try:
            now, fired = await runtime.move_clock(by=by)
        except (ValueError, OverflowError) as error:
            return self.pages.back_to(request, "/console", flash.Flash("refused", str(error)))
        note = flash.Flash(
            "done", f"The clock now reads {absolute(now, 'UTC')}; {fired} timers fired."
        )
        return self.pages.back_to(request, "/console", note)

    async def tickets(self, request: Request) -> Response:
        """Every vendor's tickets (or one vendor's), with the desk's filters."""
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        runtime = runtime_of(request)
        now = runtime.clock.now()
        query, chosen = ticket_query(request, now)
        wanted = request.query_params.get("vendor", "")
        async with runtime.store.reading() as q:
            vendors = await q.vendors.all()
            known = {v.id: v for v in vendors}
            vendor_id = wanted if wanted in known else None
            lines, total = await q.desk.tickets(vendor_id, query)
        if vendor_id:
            chosen["vendor"] = vendor_id
        rows = [
            ticket_row(line, now, known[line.vendor_id].timezone, for_vendor=False)
            | {"vendor": known[line.vendor_id].name}
            for line in lines
            if line.vendor_id in known
        ]
        return self._page(
            request,
            viewer,
            "/console/tickets",
            "web/console/tickets.html",
            rows=rows,
            vendors=vendors,
            **list_paging(query, chosen, total),
        )

    async def ticket(self, request: Request) -> Response:
        """Any ticket, read-only, for the operator's review (an escalation, a vendor's list)."""
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        raw = str(request.path_params["number"])
        if not _ID.fullmatch(raw):
            return self.pages.not_found(request)
        async with runtime_of(request).store.reading() as q:
            ticket = await q.tickets.get(int(raw))
            vendor = await q.vendors.get(ticket.vendor_id) if ticket else None
        if ticket is None or vendor is None:
            return self.pages.not_found(request)
        return self._page(
            request,
            viewer,
            "/console",
            "web/console/ticket.html",
            ticket=ticket_json(ticket),
            vendor=vendor,
            zone=vendor.timezone,
        )

    async def vendor(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        vendor_id = str(request.path_params["vendor_id"])
        if not _SLUG.fullmatch(vendor_id):
            return self.pages.not_found(request)
        runtime = runtime_of(request)
        now = runtime.clock.now()
        async with runtime.store.reading() as q:
            vendor = await q.vendors.get(vendor_id)
            if vendor is None:
                return self.pages.not_found(request)
            lines, total = await q.desk.tickets(vendor_id, TicketQuery(status="open"))
            marks = await q.vendors.abuse_marks(vendor_id)
            escalations = await q.tickets.escalations(vendor_id)
        settings = runtime.settings
        return self._page(
            request,
            viewer,
            "/console",
            "web/console/vendor.html",
            vendor=vendor,
            command_address=vendor_command_address(settings.secret, settings.domain, vendor.id),
            rows=[ticket_row(line, now, vendor.timezone, for_vendor=False) for line in lines],
            total=total,
            marks=marks,
            escalations=escalations,
            zone=vendor.timezone,
            path=f"/console/vendors/{vendor.id}",
        )

    async def set_abuse(self, request: Request) -> Response:
        vendor_id = str(request.path_params["vendor_id"])
        posted = await self._posted(request, "abusing", "back")
        if isinstance(posted, Response):
            return posted
        viewer, fields = posted
        abusing, back = fields["abusing"] == "1", fields["back"]
        if not _SLUG.fullmatch(vendor_id):
            return self.pages.not_found(request)
        vendor = await runtime_of(request).desk.set_vendor_abusing(
            vendor_id, abusing, by=f"console ({viewer.email})"
        )
        if vendor is None:
            return self.pages.not_found(request)
        note = (
            f"{vendor.name} is marked as abusing the save-the-sale window: its customers' "
            "requests are processed at once."
            if abusing
            else f"{vendor.name} is no longer marked as abusing."
        )
        target = (
            "/console/escalations" if back == "escalations" else f"/console/vendors/{vendor_id}"
        )
        return self.pages.back_to(request, target, flash.Flash("done", note))

    async def escalations(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        async with runtime_of(request).store.reading() as q:
            found = await q.tickets.escalations()
            names = {v.id: v.name for v in await q.vendors.all()}
        return self._page(
            request,
            viewer,
            "/console/escalations",
            "web/console/escalations.html",
            escalations=list(reversed(found)),
            names=names,
        )

    async def outbox(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        view = request.query_params.get("show", "attention")
        view = view if view in OUTBOX_VIEWS else "attention"
        async with runtime_of(request).store.reading() as q:
            rows = await q.outbox.find(list(OUTBOX_VIEWS[view]), limit=200)
            counts = await q.outbox.counts()
        return self._page(
            request,
            viewer,
            "/console/outbox",
            "web/console/outbox.html",
            rows=rows,
            counts=counts,
            view=view,
            views=list(OUTBOX_VIEWS),
        )

    async def outbox_retry(self, request: Request) -> Response:
        return await self._outbox_change(request, retry=True)

    async def outbox_give_up(self, request: Request) -> Response:
        return await self._outbox_change(request, retry=False)

    async def _outbox_change(self, request: Request, *, retry: bool) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        raw = str(request.path_params["id"])
        if not _ID.fullmatch(raw):
            return self.pages.not_found(request)
        desk = runtime_of(request).desk
        outbox_id = int(raw)
        changed = (
            await desk.retry_delivery(outbox_id)
            if retry
            else await desk.give_up_delivery(outbox_id)
        )
        if changed:
            note = flash.Flash(
                "done",
                f"Delivery {outbox_id} will be tried again now."
                if retry
                else f"Delivery {outbox_id} is given up: it will not be tried again.",
            )
        else:
            note = flash.Flash(
                "refused",
                f"Delivery {outbox_id} was not changed: it was sent, or it is not "
                + ("failed or retrying." if retry else "waiting to be tried."),
            )
        return self.pages.back_to(request, "/console/outbox", note)

    async def inbound(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        async with runtime_of(request).store.reading() as q:
            found = await q.desk.kept_mail(KEPT_STATUSES)
        rows = [{**r, "received_at": as_time(r["received_at"])} for r in found]
        return self._page(
            request, viewer, "/console/inbound", "web/console/inbound.html", rows=rows
        )

    async def inbound_raw(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        raw_id = str(request.path_params["id"])
        if not _ID.fullmatch(raw_id):
            return self.pages.not_found(request)
        async with runtime_of(request).store.reading() as q:
            raw = await q.inbound.raw(int(raw_id))
        if raw is None:
            return self.pages.not_found(request)
        return Response(
            raw.decode("utf-8", "replace"),
            media_type="text/plain; charset=utf-8",
            headers={
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def inbound_replay(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        raw_id = str(request.path_params["id"])
        if not _ID.fullmatch(raw_id):
            return self.pages.not_found(request)
        runtime = runtime_of(request)
        released = await runtime.desk.release_for_replay(int(raw_id))
        if released is None:
            note = flash.Flash(
                "refused", f"Message {raw_id} was not replayed: it was acted on or replayed."
            )
            return self.pages.back_to(request, "/console/inbound", note)
        raw, mail_from, rcpt_to = released
        reply = await runtime.intake.receive(raw, mail_from, [rcpt_to])
        note = flash.Flash(
            "done" if reply.accepted else "refused",
            f"Message {raw_id} was replayed to {rcpt_to}; maildesk answered "
            f"{reply.code} {reply.text}",
        )
        return self.pages.back_to(request, "/console/inbound", note)

    async def bouncing(self, request: Request) -> Response:
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        async with runtime_of(request).store.reading() as q:
            found = await q.inbound.bouncing_addresses()
        rows = [{**r, "since": as_time(r["since"])} for r in found]
        return self._page(
            request, viewer, "/console/bouncing", "web/console/bouncing.html", rows=rows
        )

    async def clear_bouncing(self, request: Request) -> Response:
        posted = await self._posted(request, "address")
        if isinstance(posted, Response):
            return posted
        address = posted[1]["address"].strip()[:320]
        cleared = await runtime_of(request).desk.clear_bouncing(address)
        note = (
            flash.Flash("done", f"{address} is no longer marked as bouncing.")
            if cleared
            else flash.Flash("refused", f"{address} was not marked as bouncing.")
        )
        return self.pages.back_to(request, "/console/bouncing", note)

    async def subscription(self, request: Request) -> Response:
        """Find a subscription by id (`?id=S1001`) or by its order (`?id=Q7K2M9XA`)."""
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        runtime = runtime_of(request)
        asked = request.query_params.get("id", "").strip()[:128]
        found = None
        if asked:
            async with runtime.store.reading() as q:
                subscription_id = (
                    asked
                    if SUBSCRIPTION_ID.fullmatch(asked)
                    else await q.subscriptions.id_of_order(asked)
                )
                subscription = (
                    await q.subscriptions.get(subscription_id) if subscription_id else None
                )
                if subscription is not None:
                    found = await subscription_with_links(q, runtime.settings, subscription)
        return self._page(
            request,
            viewer,
            "/console/subscriptions",
            "web/console/subscription.html",
            asked=asked,
            subscription=found,
        )

    async def rotate_subscription(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        subscription_id = str(request.path_params["subscription_id"])
        if not SUBSCRIPTION_ID.fullmatch(subscription_id):
            return self.pages.not_found(request)
        rotated = await runtime_of(request).desk.rotate_subscription_secret(subscription_id)
        note = (
            flash.Flash(
                "done",
                f"Subscription {subscription_id} has a new secret: its old self-service link "
                "no longer works. The customer's next email carries the new one.",
            )
            if rotated is not None
            else flash.Flash("refused", f"There is no subscription {subscription_id}.")
        )
        return self.pages.back_to(
            request,
            f"/console/subscriptions?id={subscription_id}",
            note,
            page="/console/subscriptions",
        )

    async def _posted(
        self, request: Request, *names: str
    ) -> tuple[Viewer, dict[str, str]] | Response:
        """A form the signed-in operator posted with its session's token: its fields by name;
        else the answer to give (the sign-in page, the 404 of a vendor's session, a 403)."""
        viewer = await operator_viewer(request, self.pages)
        if isinstance(viewer, Response):
            return viewer
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        try:
            return viewer, {name: text(form, name) for name in names}
        finally:
            await form.close()

    def _page(
        self, request: Request, viewer: Viewer, current: str, template: str, **context: Any
    ) -> Response:
        return self.pages.render(
            request,
            template,
            session_id=viewer.session_id,
            flash_for=request.url.path,
            nav=console_nav(viewer, current),
            wide=True,
            at=absolute,
            labels=TICKET_TYPE_LABELS,
            **context,
        )


def console_routes(
    renderer: PageRenderer,
    signin: SigninPages,
    get: Callable[[str, Endpoint], Route],
    post: Callable[[str, Endpoint], Route],
) -> list[BaseRoute]:
    console = ConsolePages(renderer, signin)
    import_form = body_limit(
        lambda scope: scope["app"].state.runtime.settings.max_import_body + 64 * 1024,
        renderer.too_large,
    )
    return [
        get("/console", console.home),
        post("/console/clock", console.move_clock),
        get("/console/tickets", console.tickets),
        get("/console/tickets/{number}", console.ticket),
        Route("/console/import", console.import_catalog, methods=["POST"], middleware=import_form),
        get("/console/vendors/{vendor_id}", console.vendor),
        post("/console/vendors/{vendor_id}/abuse", console.set_abuse),
        get("/console/escalations", console.escalations),
        get("/console/outbox", console.outbox),
        post("/console/outbox/{id}/retry", console.outbox_retry),
        post("/console/outbox/{id}/give-up", console.outbox_give_up),
        get("/console/inbound", console.inbound),
        get("/console/inbound/{id}/raw", console.inbound_raw),
        post("/console/inbound/{id}/replay", console.inbound_replay),
        get("/console/bouncing", console.bouncing),
        post("/console/bouncing/clear", console.clear_bouncing),
        get("/console/subscriptions", console.subscription),
        post("/console/subscriptions/{subscription_id}/rotate", console.rotate_subscription),
    ]
