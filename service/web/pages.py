"""The web pages for people (SPEC §5): each party's ticket page and the self-service forms.

    GET  /                                   home: links to the forms
    GET  /t/{token}                          the ticket page of the party the signed link names
    POST /t/{token}/reply                    a reply (text and files) as that party
    POST /t/{token}/action                   close / change-to-… / approve / escalate
    GET  /t/{token}/attachments/{blob_id}    one attachment of that ticket, as a download
    GET  /lookup, POST /lookup               purchase lookup: email + order reference
    GET  /refund, POST /refund               refund request: email + reference + reason

The signed link is the only key to a ticket page, as the reply address is to
email: the party comes from the link, never from the form. Every change goes
through the funnel (`desk.apply`) exactly like an email command, so the same
rules apply and a refusal is both shown on the page and emailed. After a post
the page redirects (303) to itself with a one-time message.

The self-service forms follow the email rules of SPEC §3: an order is found
only by its reference together with the customer's own email address; a
lookup result goes only to the order's address; anything else gets "no
purchase found" at the address typed, and nobody else hears of it.

What this module must never do: tell a visitor whether an order, an email
address or a ticket exists (a bad link is a plain 404, a form always answers
the same sentence); act on a form without a valid CSRF token; serve an
attachment through another ticket's link; let uploaded files render as pages.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from service.desk import DeskError, OpenRequest, OrderNotFound, TicketAction, TicketNotFound
from service.domain.actions import Action, allowed_actions, event_for
from service.domain.events import Open, Reply, TicketEvent
from service.domain.notifications import LOOKUP_RESULT, REQUEST_REFUSED
from service.domain.records import Attachment, Party, Ticket, TicketType
from service.http_body import NO_BODY, body_limit
from service.outbound.addresses import parse_ticket_link_token, ticket_link_token
from service.outbound.render import TICKET_TYPE_LABELS, default_templates_dir, filesize, when
from service.representations import order_json, ticket_json
from service.runtime import Runtime
from service.web import csrf, flash
from service.web.ratelimit import FormLimiter
from service.web.ticket_view import BUTTON_ACTIONS, buttons, summary, timeline

NEUTRAL_ANSWER = "If this matches a purchase, we have emailed the address on the order."
"""The one answer of both self-service forms, whatever was found."""

REFUND_REASONS: tuple[str, ...] = (
    "Duplicate order",
    "Wrong product ordered",
    "Product does not work",
    "Did not receive the product",
    "Other",
)

MAX_FILES = 10
MAX_TEXT_FIELD = 1024 * 1024
FORM_OVERHEAD = 64 * 1024
SMALL_FORM_LIMIT = 64 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}

_EMAIL = re.compile(
    r"[^@\s<>\"',;\x00-\x1f\x7f]+@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;\x00-\x1f\x7f]+"
)
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_BLOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f\"\\/]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no database keeps in text (PostgreSQL refuses NUL): shown as U+FFFD, as mail is."""

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Link:
    """A verified ticket link: which ticket, which party, and its canonical page path."""

    number: int
    party: Party
    path: str


def page_routes() -> list[BaseRoute]:
    """The pages' routes; each app gets its own pages (and so its own rate-limit memory)."""
    pages = _Pages()
    small_form = body_limit(SMALL_FORM_LIMIT, pages.too_large)
    ticket_form = body_limit(_ticket_form_limit, pages.too_large)
    return [
        Route("/", pages.home, methods=["GET"], name="home", middleware=NO_BODY),
        Route("/lookup", pages.lookup_form, methods=["GET"], name="lookup", middleware=NO_BODY),
        Route("/lookup", pages.lookup, methods=["POST"], middleware=small_form),
        Route("/refund", pages.refund_form, methods=["GET"], name="refund", middleware=NO_BODY),
        Route("/refund", pages.refund, methods=["POST"], middleware=small_form),
        Route("/t/{token}", pages.ticket, methods=["GET"], name="ticket", middleware=NO_BODY),
        Route("/t/{token}/reply", pages.reply, methods=["POST"], middleware=ticket_form),
        Route("/t/{token}/action", pages.action, methods=["POST"], middleware=ticket_form),
        Route(
            "/t/{token}/attachments/{blob_id}",
            pages.attachment,
            methods=["GET"],
            middleware=NO_BODY,
        ),
    ]


def _ticket_form_limit(scope: Scope) -> int:
    """A reply with files: as much as a message may carry, plus the form around it."""
    runtime: Runtime = scope["app"].state.runtime
    return runtime.settings.max_message_size + FORM_OVERHEAD


class _Pages:
    def __init__(self) -> None:
        self.limiter = FormLimiter()
        self._environments: dict[str | None, jinja2.Environment] = {}

    # --- home and self-service forms -------------------------------------------------

    async def home(self, request: Request) -> Response:
        return self._render(request, "web/home.html", domain=_runtime(request).settings.domain)

    async def lookup_form(self, request: Request) -> Response:
        return self._render(request, "web/lookup.html", values={}, errors={})

    async def refund_form(self, request: Request) -> Response:
        return self._render(
            request, "web/refund.html", values={}, errors={}, reasons=REFUND_REASONS
        )

    async def lookup(self, request: Request) -> Response:
        return await self._self_service(request, "lookup")

    async def refund(self, request: Request) -> Response:
        return await self._self_service(request, "refund")

    async def _self_service(self, request: Request, form_name: str) -> Response:
        runtime = _runtime(request)
        parsed = await self._form(request)
        if isinstance(parsed, Response):
            return parsed
        try:
            if not csrf.is_valid(request, runtime.settings.secret, parsed.get(csrf.FIELD_NAME)):
                return self._forbidden(request)
            values = {name: _text(parsed, name).strip() for name in _FIELDS[form_name]}
        finally:
            await parsed.close()
        errors = _form_errors(form_name, values)
        template = f"web/{form_name}.html"
        if errors:
            return self._render(
                request,
                template,
                status_code=400,
                values=values,
                errors=errors,
                reasons=REFUND_REASONS,
            )
        email = values["email"].lower()
        wait = self.limiter.attempt(_client(request), email, runtime.clock.now())
        if wait is not None:
            return self._too_many(request, wait)
        reference = await _order_of(runtime, values["reference"], email)
        if form_name == "lookup":
            await _send_lookup(runtime, email, reference)
        else:
            details = _storable(values["details"])
            await _open_refund(runtime, email, reference, values["reason"], details)
        return self._render(request, "web/done.html", form_name=form_name, answer=NEUTRAL_ANSWER)

    # --- the ticket page -------------------------------------------------------------

    async def ticket(self, request: Request) -> Response:
        runtime = _runtime(request)
        link = _link(request)
        if link is None:
            return self._not_found(request)
        loaded = await runtime.desk.read_ticket(link.number)
        if loaded is None:
            return self._not_found(request)
        ticket, facts = loaded
        order, vendor = facts.order, facts.vendor
        secret = runtime.settings.secret
        message = flash.take(request, secret, link.path)
        ticket_data = ticket_json(ticket)
        order_data = order_json(order)
        names = {
            "customer": order.customer_name or ticket.customer_email,
            "vendor": vendor.name,
            "system": "maildesk",
            "operator": "The maildesk operator",
        }
        response = self._render(
            request,
            "web/ticket.html",
            ticket=ticket_data,
            party=link.party.value,
            names=names,
            type_label=TICKET_TYPE_LABELS.get(ticket.type.value, "ticket"),
            summary=summary(ticket_data, order_data, link.party),
            timeline=timeline(ticket_data, names, link.party),
            buttons=buttons(
                link.party,
                ticket_data,
                allowed_actions(ticket, link.party, facts, runtime.clock.now()),
            ),
            flash=message,
            page_path=link.path,
            max_upload=filesize(runtime.settings.max_message_size),
        )
        flash.clear(request, response, link.path)
        return response

    async def reply(self, request: Request) -> Response:
        return await self._ticket_post(request, action=None)

    async def action(self, request: Request) -> Response:
        return await self._ticket_post(request, action="")

    async def _ticket_post(self, request: Request, *, action: str | None) -> Response:
        """A reply (`action` None) or a button: the form's text and files go with either."""
        runtime = _runtime(request)
        link = _link(request)
        if link is None:
            return self._not_found(request)
        limit = runtime.settings.max_message_size
        parsed = await self._form(request)
        if isinstance(parsed, Response):
            return parsed
        try:
            if not csrf.is_valid(request, runtime.settings.secret, parsed.get(csrf.FIELD_NAME)):
                return self._forbidden(request)
            text = _storable(_text(parsed, "text"))
            files = await _attachments(parsed)
            chosen = _text(parsed, "action") if action is not None else None
        finally:
            await parsed.close()
        attachments, blobs = files
        if sum(a.size for a in attachments) > limit:
            return self._error(
                request,
                413,
                "Those files are too large",
                f"Attachments may add up to {filesize(limit)}. Go back and leave some out.",
            )
        event: TicketEvent | None
        if chosen is None:
            if not text.strip() and not attachments:
                return self._back(
                    request, link, flash.Flash("refused", "Write a reply before sending it.")
                )
            event = Reply(link.party, text, attachments)
        else:
            if chosen not in BUTTON_ACTIONS:
                return self._error(
                    request, 400, "Unknown action", "Go back to the ticket page and use a button."
                )
            event = event_for(Action(chosen), link.party, text, attachments)
        try:
            outcome = await runtime.desk.apply(TicketAction(link.number, (event,), blobs))
        except TicketNotFound:
            return self._not_found(request)
        except DeskError as error:
            return self._back(request, link, flash.Flash("refused", str(error)))
        if outcome.refusals:
            reasons = " ".join(refusal.reason for refusal in outcome.refusals)
            return self._back(request, link, flash.Flash("refused", reasons))
        return self._back(request, link, flash.Flash("done", _done_text(chosen, outcome.ticket)))

    async def attachment(self, request: Request) -> Response:
        runtime = _runtime(request)
        link = _link(request)
        blob_id = str(request.path_params["blob_id"])
        if link is None:
            return self._not_found(request)
        if not _BLOB_ID.fullmatch(blob_id):
            return self._error(
                request,
                400,
                "This is not an attachment link",
                "Attachment links end in up to 64 letters, digits, '-' or '_'. Open the ticket "
                "page and use the link beside the file.",
            )
        async with runtime.store.reading() as q:
            found = await q.tickets.attachment(blob_id)
        if found is None or found[2] != link.number:
            return self._not_found(request)
        meta, data, _ = found
        headers = {
            "Content-Disposition": _content_disposition(meta.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        }
        return Response(data, media_type=_media_type(meta.content_type), headers=headers)

    # --- responses ----------------------------------------------------------------------

    def _back(self, request: Request, link: _Link, message: flash.Flash) -> Response:
        runtime = _runtime(request)
        response = RedirectResponse(link.path, status_code=303)
        flash.attach(response, runtime.settings.secret, link.path, message, secure=_secure(runtime))
        return response

    def _not_found(self, request: Request) -> Response:
        return self._error(
            request,
            404,
            "Page not found",
            "This link does not lead to a page here. If it came in an email, check that the "
            "whole link was copied; the newest email about your ticket has a working one.",
        )

    def _forbidden(self, request: Request) -> Response:
        return self._error(
            request,
            403,
            "This form could not be accepted",
            "The form was too old or did not come from this site, so nothing was changed. "
            "Go back, reload the page and send it again.",
        )

    def _too_many(self, request: Request, wait: timedelta) -> Response:
        minutes = max(1, -(-int(wait.total_seconds()) // 60))
        response = self._error(
            request,
            429,
            "Too many requests",
            f"This form was used too often for this address or from your network. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        )
        response.headers["Retry-After"] = str(max(1, int(wait.total_seconds())))
        return response

    def _error(self, request: Request, status: int, title: str, message: str) -> Response:
        return self._render(
            request, "web/error.html", status_code=status, title=title, message=message
        )

    def _render(
        self, request: Request, name: str, *, status_code: int = 200, **context: Any
    ) -> Response:
        runtime = _runtime(request)
        token, new_cookie = csrf.token_for(request, runtime.settings.secret)
        page = (
            self._environment(runtime)
            .get_template(name)
            .render(csrf_field=csrf.FIELD_NAME, csrf_token=token, **context)
        )
        response = HTMLResponse(page, status_code=status_code, headers=dict(PAGE_HEADERS))
        if new_cookie is not None:
            csrf.set_cookie(response, new_cookie, secure=_secure(runtime))
        return response

    def _environment(self, runtime: Runtime) -> jinja2.Environment:
        override = runtime.settings.templates
        environment = self._environments.get(override)
        if environment is None:
            loaders: list[jinja2.BaseLoader] = []
            if override:
                loaders.append(jinja2.FileSystemLoader(Path(override)))
            loaders.append(jinja2.FileSystemLoader(default_templates_dir()))
            environment = jinja2.Environment(
                loader=jinja2.ChoiceLoader(loaders),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.filters.update({"when": when, "filesize": filesize})
            self._environments[override] = environment
        return environment

    # --- reading requests -------------------------------------------------------------

    async def _form(self, request: Request) -> FormData | Response:
        """The posted form (its size bounded by the route's `BodyLimit`), or why not."""
        try:
            return await request.form(
                max_files=MAX_FILES, max_fields=50, max_part_size=MAX_TEXT_FIELD
            )
        except HTTPException as error:  # malformed multipart, too many files or fields
            return self._error(request, 400, "The form could not be read", str(error.detail))
        except ClientDisconnect:  # gone, or cut off for sending too slowly: nobody reads this
            return self._error(request, 400, "The form did not arrive", "Send it again.")

    def too_large(self, request: Request, limit: int) -> Response:
        """The 413 page of a form over its route's limit."""
        return self._error(
            request,
            413,
            "Too much to send at once",
            f"A form may carry at most {filesize(limit)}. Go back and leave some files out.",
        )


# --- self-service rules ---------------------------------------------------------------------

_FIELDS: Mapping[str, tuple[str, ...]] = {
    "lookup": ("email", "reference"),
    "refund": ("email", "reference", "reason", "details"),
}


def _form_errors(form_name: str, values: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    email = values.get("email", "")
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        errors["email"] = "Enter the email address you bought with, like name@example.com."
    if not _REFERENCE.fullmatch(values.get("reference", "")):
        errors["reference"] = "Enter the order reference from your receipt, like Q7K2M9XA."
    if form_name == "refund":
        if values.get("reason") not in REFUND_REASONS:
            errors["reason"] = "Choose a reason."
        elif values["reason"] == "Other" and not values.get("details"):
            errors["details"] = "Tell the seller in a few words why you want a refund."
        if len(values.get("details", "")) > 5000:
            errors["details"] = "Keep it under 5,000 characters."
    return errors


async def _order_of(runtime: Runtime, reference: str, email: str) -> str | None:
    """The reference of the order with this reference and this customer email, else None."""
    candidates = list(dict.fromkeys([reference, reference.upper()]))
    async with runtime.store.reading() as q:
        found = await q.orders.among(candidates, customer_email=email)
    return next((c for c in candidates if c in found), None)


async def _send_lookup(runtime: Runtime, email: str, reference: str | None) -> None:
    if reference is None:  # answered as a lookup that found nothing, like lookup@ does
        await runtime.desk.notify_address(email, LOOKUP_RESULT, {})
        return
    await runtime.desk.notify_address(
        email, LOOKUP_RESULT, {"reference": reference}, order_reference=reference
    )


async def _open_refund(
    runtime: Runtime, email: str, reference: str | None, reason: str, details: str
) -> None:
    """Open a customer refund on the order: the funnel decides, and emails a refusal itself."""
    if reference is None:
        await _no_purchase_found(runtime, email, "refund request")
        return
    text = f"Reason: {reason}" + (f"\n\n{details}" if details else "")
    try:
        await runtime.desk.apply(
            OpenRequest(reference, Open(TicketType.REFUND, Party.CUSTOMER, text))
        )
    except OrderNotFound:  # removed since it was found: as if it never was
        await _no_purchase_found(runtime, email, "refund request")
        return


async def _no_purchase_found(runtime: Runtime, email: str, form: str) -> None:
    reason = (
        f"We found no purchase for {email} with the order reference entered on the {form} "
        "form. Use the email address you bought with and the order reference from your "
        "receipt, then try again."
    )
    await runtime.desk.notify_address(
        email, REQUEST_REFUSED, {"reason": reason, "code": "no_purchase_found"}
    )


# --- small helpers ----------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _link(request: Request) -> _Link | None:
    runtime = _runtime(request)
    parsed = parse_ticket_link_token(runtime.settings.secret, str(request.path_params["token"]))
    if parsed is None:
        return None
    number, party = parsed
    token = ticket_link_token(runtime.settings.secret, number, party)
    return _Link(number, Party(party), f"/t/{token}")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(runtime: Runtime) -> bool:
    return runtime.settings.public_base_url.startswith("https://")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _storable(text: str) -> str:
    """Free text a person typed, with what no database keeps replaced (as inbound mail is)."""
    return _UNSTORABLE.sub("\ufffd", text)


async def _attachments(form: FormData) -> tuple[tuple[Attachment, ...], dict[str, bytes]]:
    """The files chosen in the form (an empty file input sends a nameless part: skipped)."""
    attachments: list[Attachment] = []
    blobs: dict[str, bytes] = {}
    for value in form.getlist("attachments"):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        data = await value.read()
        blob_id = uuid.uuid4().hex
        blobs[blob_id] = data
        name = _UNSAFE_FILENAME.sub("_", value.filename.rsplit("/", 1)[-1]).strip() or "file"
        attachments.append(
            Attachment(name[:200], _media_type(value.content_type), len(data), blob_id)
        )
    return tuple(attachments), blobs


def _media_type(value: str | None) -> str:
    """A plain `type/subtype` (parameters dropped), or octet-stream when it is anything else."""
    media = (value or "").split(";", 1)[0].strip().lower()
    return media if _MEDIA_TYPE.fullmatch(media) else "application/octet-stream"


def _content_disposition(filename: str) -> str:
    """`attachment`, with an ASCII fallback name and the real one in RFC 5987 form."""
    cleaned = _UNSAFE_FILENAME.sub("_", filename).strip() or "attachment"
    fallback = cleaned.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def _done_text(action: str | None, ticket: Ticket | None) -> str:
    if action is None:
        return "Your reply was added to the ticket and sent by email."
    if action == "close":
        return "The ticket is closed."
    if action == "approve":
        return "The refund is approved." + (
            " It has been carried out." if ticket is not None and not ticket.is_open else ""
        )
    if action == "escalate":
        return "The ticket was escalated; the maildesk operator will review it."
    label = TICKET_TYPE_LABELS.get(ticket.type.value if ticket else "", "ticket")
    return f"The ticket is now a {label}."
