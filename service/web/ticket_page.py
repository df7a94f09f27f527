"""Each party's ticket page behind its signed link: history, files, a reply form, its buttons.

The signed link is the only key to a ticket page, as the reply address is to
email: the party comes from the link, never from the form. The buttons are
the domain's `allowed_actions` for that party now; a post goes through the
same use case as an email command, so the same rules apply, and a refusal
is both shown on the page and emailed. After a post the page redirects
(303) to itself with a one-time message.

What this module must never do: tell a visitor whether a ticket exists (a
bad link is a plain 404); act on a form without a valid CSRF token; serve an
attachment through another ticket's link; let uploaded files render as pages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from service.domain.actions import Action, allowed_actions, event_for
from service.domain.events import Reply, TicketEvent
from service.domain.policy import pending_processing_reason
from service.domain.records import Party, Ticket
from service.domain.zones import reader_zone
from service.outbound.addresses import parse_ticket_link_token, ticket_link_token
from service.outbound.filters import filesize
from service.outbound.render import TICKET_TYPE_LABELS
from service.representations import order_json, ticket_json
from service.runtime import Runtime
from service.usecases.commands import act_on_ticket
from service.usecases.outcomes import Done, Door, TicketMissing
from service.web import flash
from service.web.forms import attachments, content_disposition, media_type, storable, text
from service.web.rendering import PageRenderer, runtime_of
from service.web.signed_in import signed_in
from service.web.ticket_view import BUTTON_ACTIONS, buttons, summary, timeline

FORM_OVERHEAD = 64 * 1024
_BLOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class TicketLink:
    """A verified ticket link: which ticket, which party, and its canonical page path."""

    number: int
    party: Party
    path: str


def ticket_form_limit(scope: Scope) -> int:
    """A reply with files: as much as a message may carry, plus the form around it."""
    runtime: Runtime = scope["app"].state.runtime
    return runtime.settings.max_message_size + FORM_OVERHEAD


class TicketPages:
    def __init__(self, pages: PageRenderer) -> None:
        self.pages = pages

    async def show(self, request: Request) -> Response:
        link = _link(request)
        if link is None:
            return self.pages.not_found(request)
        return await self.render_ticket(request, link.number, link.party, link.path)

    async def render_ticket(
        self,
        request: Request,
        number: int,
        party: Party,
        path: str,
        *,
        session_id: str | None = None,
        nav: Mapping[str, Any] | None = None,
    ) -> Response:
        """One party's page of ticket `number`, at `path`; the desk's (`session_id`, `nav`)
        inside the desk's frame, any other vendor page sent there when its vendor is signed in."""
        runtime = runtime_of(request)
        loaded = await runtime.desk.read_ticket(number)
        if loaded is None:
            return self.pages.not_found(request)
        ticket, facts = loaded
        order, vendor = facts.order, facts.vendor
        if session_id is None and party is Party.VENDOR:
            viewer = await signed_in(request)
            if viewer is not None and viewer.vendor_id == vendor.id:
                return RedirectResponse(f"/desk/tickets/{number}", status_code=303)
        link = TicketLink(number, party, path)
        ticket_data = ticket_json(ticket)
        order_data = order_json(order)
        names = {
            "customer": order.customer_name or ticket.customer_email,
            "vendor": vendor.name,
            "system": "maildesk",
            "operator": "The maildesk operator",
        }
        zone = reader_zone(link.party, vendor.timezone, ticket.customer_utc_offset)
        addresses = {"customer": ticket.customer_email, "vendor": vendor.notification_email}
        async with runtime.store.reading() as q:
            bouncing = await q.inbound.bouncing(list(addresses.values()))
        undeliverable = {
            party: {"since": bouncing[address.lower()][0], "why": bouncing[address.lower()][1]}
            for party, address in addresses.items()
            if address.lower() in bouncing
        }
        reason = pending_processing_reason(ticket)
        return self.pages.render(
            request,
            "web/ticket.html",
            ticket=ticket_data,
            party=link.party.value,
            names=names,
            zone=zone,
            vendor_zone=vendor.timezone,
            processing=({"rule": reason.rule.value, "weekend": reason.weekend} if reason else None),
            type_label=TICKET_TYPE_LABELS.get(ticket.type.value, "ticket"),
            summary=summary(ticket_data, order_data, link.party, zone),
            timeline=timeline(ticket_data, names, link.party),
            buttons=buttons(
                link.party,
                ticket_data,
                allowed_actions(ticket, link.party, facts, runtime.clock.now()),
            ),
            flash_for=link.path,
            undeliverable=undeliverable,
            page_path=link.path,
            max_upload=filesize(runtime.settings.max_message_size),
            session_id=session_id,
            nav=nav,
        )

    async def reply(self, request: Request) -> Response:
        return await self._post(request, button=False)

    async def action(self, request: Request) -> Response:
        return await self._post(request, button=True)

    async def _post(self, request: Request, *, button: bool) -> Response:
        link = _link(request)
        if link is None:
            return self.pages.not_found(request)
        return await self.post_ticket(request, link, button=button)

    async def post_ticket(
        self, request: Request, link: TicketLink, *, button: bool, session_id: str | None = None
    ) -> Response:
        """A reply or a button: the form's text and files go with either."""
        runtime = runtime_of(request)
        limit = runtime.settings.max_message_size
        form = await self.pages.posted_form(request, session_id=session_id)
        if isinstance(form, Response):
            return form
        try:
            typed = storable(text(form, "text"))
            files, blobs = await attachments(form)
            chosen = text(form, "action") if button else None
        finally:
            await form.close()
        if sum(a.size for a in files) > limit:
            return self.pages.error(
                request,
                413,
                "Those files are too large",
                f"Attachments may add up to {filesize(limit)}. Go back and leave some out.",
            )
        event: TicketEvent
        if chosen is None:
            if not typed.strip() and not files:
                return self.pages.back_to(
                    request, link.path, flash.Flash("refused", "Write a reply before sending it.")
                )
            event = Reply(link.party, typed, files)
        elif chosen in BUTTON_ACTIONS:
            event = event_for(Action(chosen), link.party, typed, files)
        else:
            return self.pages.error(
                request, 400, "Unknown action", "Go back to the ticket page and use a button."
            )
        outcome = await act_on_ticket(
            runtime.desk, number=link.number, events=(event,), door=Door.WEB, blobs=blobs
        )
        if isinstance(outcome, TicketMissing):
            return self.pages.not_found(request)
        if isinstance(outcome, Done):
            return self.pages.back_to(
                request, link.path, flash.Flash("done", _done_text(chosen, outcome.ticket))
            )
        reasons = " ".join(refusal.reason for refusal in outcome.refusals)
        return self.pages.back_to(request, link.path, flash.Flash("refused", reasons))

    async def attachment(self, request: Request) -> Response:
        link = _link(request)
        if link is None:
            return self.pages.not_found(request)
        return await self.send_attachment(request, link)

    async def send_attachment(self, request: Request, link: TicketLink) -> Response:
        """One file of ticket `link.number`, as a download; any other ticket's file is a 404."""
        runtime = runtime_of(request)
        blob_id = str(request.path_params["blob_id"])
        if not _BLOB_ID.fullmatch(blob_id):
            return self.pages.error(
                request,
                400,
                "This is not an attachment link",
                "Attachment links end in up to 64 letters, digits, '-' or '_'. Open the ticket "
                "page and use the link beside the file.",
            )
        async with runtime.store.reading() as q:
            found = await q.tickets.attachment(blob_id)
        if found is None or found[2] != link.number:
            return self.pages.not_found(request)
        meta, data, _ = found
        headers = {
            "Content-Disposition": content_disposition(meta.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        }
        return Response(data, media_type=media_type(meta.content_type), headers=headers)


def _link(request: Request) -> TicketLink | None:
    runtime = runtime_of(request)
    parsed = parse_ticket_link_token(runtime.settings.secret, str(request.path_params["token"]))
    if parsed is None:
        return None
    number, party = parsed
    token = ticket_link_token(runtime.settings.secret, number, party)
    return TicketLink(number, Party(party), f"/t/{token}")


def _done_text(action: str | None, ticket: Ticket) -> str:
    if action is None:
        return "Your reply was added to the ticket and sent by email."
    if action == "close":
        return "The ticket is closed."
    if action == "approve":
        return "The refund is approved." + ("" if ticket.is_open else " It has been carried out.")
    if action == "escalate":
        return "The ticket was escalated; the maildesk operator will review it."
    return f"The ticket is now a {TICKET_TYPE_LABELS.get(ticket.type.value, 'ticket')}."
