"""The JSON API under /api/v1 (SPEC §5, §8): for the operator and for vendors' own systems.

Two kinds of caller, told apart by the bearer token: the operator (the
admin token) sees and imports everything; a vendor (its `api_key`) reads and
acts on its own tickets and orders only, and is told "not found" for anyone
else's, so it cannot even learn they exist. Ticket actions go through the
funnel like every other source of change. Errors are JSON `{"error": …}`
with the status code that fits.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import isodate
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from service.catalog import ImportError_, import_catalog
from service.config import ConfigError, Settings, parse_time
from service.desk import (
    DeskError,
    OpenRequest,
    OrderNotFound,
    Outcome,
    TicketAction,
    TicketNotFound,
)
from service.domain.events import Approve, ChangeType, Close, Open, Reply, TicketEvent
from service.domain.records import Party, TicketType, Vendor
from service.http_body import NO_BODY, body_limit, too_large_message
from service.outbound.addresses import vendor_command_address
from service.representations import iso, order_json, ticket_json, vendor_json
from service.runtime import Runtime
from service.web import params
from service.web.json_input import InvalidJson, parse_object
from service.web.openapi import openapi


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


@dataclass(frozen=True)
class Caller:
    """Who is asking: the operator, or one vendor."""

    vendor: Vendor | None = None

    @property
    def is_admin(self) -> bool:
        return self.vendor is None

    @property
    def vendor_id(self) -> str | None:
        """The vendor whose data reads are limited to; None for the operator, who sees all."""
        return None if self.vendor is None else self.vendor.id

    def may_see(self, vendor_id: str) -> bool:
        return self.vendor is None or self.vendor.id == vendor_id


Handler = Callable[[Request, Runtime, Caller], Awaitable[Response]]


def endpoint(
    handler: Handler, *, admin_only: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            caller = await authenticate(request, runtime)
            if admin_only and not caller.is_admin:
                raise ApiError(403, "this endpoint needs the admin token")
            return await handler(request, runtime, caller)
        except ApiError as error:
            return JSONResponse({"error": str(error), **error.extra}, status_code=error.status)
        except (params.InvalidParameter, InvalidJson) as error:
            return JSONResponse({"error": str(error)}, status_code=400)

    return run


async def authenticate(request: Request, runtime: Runtime) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send `Authorization: Bearer <admin token or vendor api_key>`")
    token = token.strip()
    admin = runtime.settings.admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Caller()
    async with runtime.store.reading() as q:
        vendor = await q.vendors.by_api_key(token)
    if vendor is None or not hmac.compare_digest(vendor.api_key.encode(), token.encode()):
        raise ApiError(401, "unknown token")
    return Caller(vendor)


async def json_body(request: Request, *, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """The body as a checked JSON object; its size was bounded by the route's `BodyLimit`."""
    try:
        body = await request.body()
    except ClientDisconnect:  # gone, or cut off for sending too slowly: nobody reads this
        raise ApiError(400, "the connection closed before the whole body arrived") from None
    data = parse_object(body)
    if allowed is not None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ApiError(
                400, f"unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}"
            )
    return data


def text_field(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"field {name!r} must be a string")
    return value


def ticket_type(data: dict[str, Any]) -> TicketType:
    raw = text_field(data, "type")
    try:
        return TicketType({"cancel": "cancelation"}.get(raw, raw))
    except ValueError:
        raise ApiError(
            400, f"field 'type' must be refund, cancelation or support, not {raw!r}"
        ) from None


# --- admin ---------------------------------------------------------------------------


async def admin_import(request: Request, runtime: Runtime, caller: Caller) -> Response:
    data = await json_body(request)
    try:
        counts = await import_catalog(runtime.store, data, webhook_allow=runtime.webhook_allow)
    except ImportError_ as error:
        raise ApiError(422, str(error)) from None
    return JSONResponse(counts)


async def admin_clock(request: Request, runtime: Runtime, caller: Caller) -> Response:
    if runtime.fake_clock is None:
        raise ApiError(409, "the clock can only be moved when serving with --fake-clock")
    data = await json_body(request, allowed=frozenset({"now", "advance"}))
    try:
        to = parse_time("now", text_field(data, "now")) if "now" in data else None
        by = isodate.parse_duration(text_field(data, "advance")) if "advance" in data else None
    except (ConfigError, isodate.ISO8601Error) as error:
        raise ApiError(400, str(error)) from None
    except (ValueError, ArithmeticError):  # isodate's own limits: a year 99999, say
        raise ApiError(
            400, 'send {"advance": "PT24H"}: an ISO-8601 duration, days or less'
        ) from None
    if to is None and by is None:
        raise ApiError(400, 'send {"now": "<ISO-8601>"} or {"advance": "PT24H"}')
    if by is not None and not hasattr(by, "total_seconds"):
        raise ApiError(400, "advance by days, hours and minutes (e.g. P2DT3H), not months")
    try:
        now, fired = await runtime.move_clock(to=to, by=by)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    except OverflowError:
        raise ApiError(400, "that would move the clock past the year 9999") from None
    return JSONResponse({"now": iso(now), "fired": fired})


async def admin_abuse(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor_id = params.vendor_id(request.path_params["vendor_id"])
    data = await json_body(request, allowed=frozenset({"abusing"}))
    if not isinstance(data.get("abusing"), bool):
        raise ApiError(400, "field 'abusing' must be true or false")
    if await runtime.desk.set_vendor_abusing(vendor_id, data["abusing"]) is None:
        raise ApiError(404, f"there is no vendor {vendor_id!r}")
    return await get_vendor(request, runtime, caller)


async def admin_escalations(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor_id = _optional(request, "vendor", params.vendor_id)
    async with runtime.store.reading() as q:
        escalations = await q.tickets.escalations(vendor_id)
    return JSONResponse(
        {
            "escalations": [
                {
                    "id": e.id,
                    "ticket": e.ticket_number,
                    "vendor": e.vendor_id,
                    "at": iso(e.at),
                    "reason": e.reason,
                    "vendor_abusing": e.vendor_abusing,
                }
                for e in escalations
            ]
        }
    )


# --- reading ---------------------------------------------------------------------------


async def get_vendor(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor_id = params.vendor_id(request.path_params["vendor_id"])
    if not caller.may_see(vendor_id):  # before any read: another vendor or none, alike
        raise ApiError(404, f"there is no vendor {vendor_id!r}")
    async with runtime.store.reading() as q:
        vendor = await q.vendors.get(vendor_id)
    if vendor is None:
        raise ApiError(404, f"there is no vendor {vendor_id!r}")
    settings = runtime.settings
    address = vendor_command_address(settings.secret, settings.domain, vendor.id)
    return JSONResponse(vendor_json(vendor, command_address=address))


async def list_tickets(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor_id = _optional(request, "vendor", params.vendor_id)
    reference = _optional(request, "order", params.order_reference)
    status = _optional(request, "status", params.ticket_status)
    if caller.vendor is not None:
        if vendor_id not in (None, caller.vendor.id):
            return JSONResponse({"tickets": []})
        vendor_id = caller.vendor.id
    async with runtime.store.reading() as q:
        tickets = await q.tickets.find(
            vendor_id=vendor_id, order_reference=reference, status=status
        )
    return JSONResponse({"tickets": [ticket_json(t) for t in tickets]})


async def get_ticket(request: Request, runtime: Runtime, caller: Caller) -> Response:
    number = _number(request)
    async with runtime.store.reading() as q:
        ticket = await q.tickets.get(number, vendor_id=caller.vendor_id)
    if ticket is None:
        raise ApiError(404, f"there is no ticket #{number}")
    return JSONResponse(ticket_json(ticket))


async def get_order(request: Request, runtime: Runtime, caller: Caller) -> Response:
    reference = params.order_reference(request.path_params["reference"])
    async with runtime.store.reading() as q:
        order = await q.orders.get(reference, vendor_id=caller.vendor_id)
    if order is None:
        raise ApiError(404, f"there is no order {reference!r}")
    return JSONResponse(order_json(order))


# --- vendor actions ----------------------------------------------------------------------


async def open_ticket(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor = _vendor_only(caller)
    data = await json_body(request, allowed=frozenset({"order", "type", "text"}))
    reference = params.order_reference(text_field(data, "order"))
    kind = ticket_type(data)
    text = text_field(data, "text", required=False)
    async with runtime.store.reading() as q:
        mine = await q.orders.is_vendors(vendor.id, reference)
    if not mine:
        raise ApiError(404, f"there is no order {reference!r}")
    try:
        outcome = await runtime.desk.apply(
            OpenRequest(reference, Open(kind, Party.VENDOR, text)), answered_directly=True
        )
    except OrderNotFound:
        raise ApiError(404, f"there is no order {reference!r}") from None
    return _outcome(outcome, created=True)


def _action(build: Callable[[dict[str, Any]], TicketEvent], fields: frozenset[str]) -> Handler:
    async def act(request: Request, runtime: Runtime, caller: Caller) -> Response:
        vendor = _vendor_only(caller)
        number = _number(request)
        data = await json_body(request, allowed=fields)
        event = build(data)
        async with runtime.store.reading() as q:
            mine = await q.tickets.is_vendors(vendor.id, number)
        if not mine:
            raise ApiError(404, f"there is no ticket #{number}")
        try:
            outcome = await runtime.desk.apply(
                TicketAction(number, (event,)), answered_directly=True
            )
        except TicketNotFound:
            raise ApiError(404, f"there is no ticket #{number}") from None
        except DeskError as error:
            raise ApiError(409, str(error)) from None
        return _outcome(outcome)

    return act


def _outcome(outcome: Outcome, *, created: bool = False) -> Response:
    if outcome.refusals:
        refusal = outcome.refusals[0]
        raise ApiError(422, refusal.reason, code=refusal.code)
    assert outcome.ticket is not None
    return JSONResponse(ticket_json(outcome.ticket), status_code=201 if created else 200)


def _vendor_only(caller: Caller) -> Vendor:
    if caller.vendor is None:
        raise ApiError(403, "ticket actions need the vendor's api_key, not the admin token")
    return caller.vendor


def _number(request: Request) -> int:
    return params.ticket_number(request.path_params["number"])


def _optional(request: Request, name: str, read: Callable[[str], str]) -> str | None:
    """Query parameter `name` checked by `read`, or None when it is not given."""
    raw = request.query_params.get(name)
    return None if raw is None else read(raw)


def _reply(data: dict[str, Any]) -> TicketEvent:
    text = text_field(data, "text")
    if not text.strip():
        raise ApiError(400, "field 'text' must not be empty")
    return Reply(Party.VENDOR, text)


def _settings_limit(setting: Callable[[Settings], int]) -> Callable[[Scope], int]:
    """A body limit that is a setting of the running maildesk, read when a request comes."""

    def limit(scope: Scope) -> int:
        runtime: Runtime = scope["app"].state.runtime
        return setting(runtime.settings)

    return limit


def _too_large_import(request: Request, limit: int) -> Response:
    return JSONResponse(
        {
            "error": too_large_message(
                limit,
                "split the import into smaller ones (importing is idempotent), or raise "
                "MAILDESK_MAX_IMPORT_BODY",
            )
        },
        status_code=413,
    )


JSON_BODY = body_limit(_settings_limit(lambda settings: settings.max_api_body))
IMPORT_BODY = body_limit(
    _settings_limit(lambda settings: settings.max_import_body), _too_large_import
)


def api_routes() -> list[Route]:
    return [
        Route("/api/v1/openapi.json", openapi, methods=["GET"], middleware=NO_BODY),
        Route(
            "/api/v1/admin/import",
            endpoint(admin_import, admin_only=True),
            methods=["POST"],
            middleware=IMPORT_BODY,
        ),
        Route(
            "/api/v1/admin/clock",
            endpoint(admin_clock, admin_only=True),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/admin/vendors/{vendor_id}/abuse",
            endpoint(admin_abuse, admin_only=True),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/admin/escalations",
            endpoint(admin_escalations, admin_only=True),
            methods=["GET"],
            middleware=NO_BODY,
        ),
        Route(
            "/api/v1/vendors/{vendor_id}", endpoint(get_vendor), methods=["GET"], middleware=NO_BODY
        ),
        Route("/api/v1/tickets", endpoint(list_tickets), methods=["GET"], middleware=NO_BODY),
        Route("/api/v1/tickets", endpoint(open_ticket), methods=["POST"], middleware=JSON_BODY),
        Route(
            "/api/v1/tickets/{number}", endpoint(get_ticket), methods=["GET"], middleware=NO_BODY
        ),
        Route(
            "/api/v1/tickets/{number}/reply",
            endpoint(_action(_reply, frozenset({"text"}))),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/tickets/{number}/close",
            endpoint(
                _action(
                    lambda d: Close(Party.VENDOR, text_field(d, "text", required=False)),
                    frozenset({"text"}),
                )
            ),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/tickets/{number}/change",
            endpoint(
                _action(
                    lambda d: ChangeType(
                        Party.VENDOR, ticket_type(d), text_field(d, "text", required=False)
                    ),
                    frozenset({"type", "text"}),
                )
            ),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/tickets/{number}/approve",
            endpoint(
                _action(
                    lambda d: Approve(Party.VENDOR, text_field(d, "text", required=False)),
                    frozenset({"text"}),
                )
            ),
            methods=["POST"],
            middleware=JSON_BODY,
        ),
        Route(
            "/api/v1/orders/{reference}", endpoint(get_order), methods=["GET"], middleware=NO_BODY
        ),
    ]
