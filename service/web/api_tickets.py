"""Tickets, orders and vendors over the API: reads for the operator and each vendor, and
the vendor's actions (open, reply, close, change, approve).

A vendor sees and acts on its own records only, and is told "not found" for
anyone else's, at the same cost (one statement, nothing loaded), so it
cannot even learn they exist. Opening and acting go through the same use
cases as email and the pages; a refusal is answered in the response (422,
with the rules' `code` and reason) and mailed to nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.desk import DeskError
from service.domain.actions import Action, change_to, event_for
from service.domain.records import Party, Vendor
from service.outbound.addresses import vendor_command_address
from service.outbound.permanent_links import purchase_url
from service.representations import order_json, ticket_json, vendor_json
from service.runtime import Runtime
from service.usecases.commands import act_on_ticket
from service.usecases.outcomes import Door, NoPurchaseFound, Opened, Refused, TicketMissing
from service.usecases.requests import OperatorOnBehalf, VendorNamed, open_request
from service.web import params
from service.web.api_core import (
    ApiError,
    Caller,
    Handler,
    json_body,
    optional_param,
    text_field,
    ticket_type,
)
from service.web.api_subscriptions import subscription_with_links

T = TypeVar("T")

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
    vendor_id = optional_param(request, "vendor", params.vendor_id)
    reference = optional_param(request, "order", params.order_reference)
    status = optional_param(request, "status", params.ticket_status)
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
    number = params.ticket_number(request.path_params["number"])
    async with runtime.store.reading() as q:
        ticket = await q.tickets.get(number, vendor_id=caller.vendor_id)
    return JSONResponse(ticket_json(_found(ticket, f"there is no ticket #{number}")))


async def get_order(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """SPEC §8's order, with its subscription and its permanent purchase page (SPEC §7)."""
    reference = params.order_reference(request.path_params["reference"])
    async with runtime.store.reading() as q:
        order = _found(
            await q.orders.get(reference, vendor_id=caller.vendor_id),
            f"there is no order {reference!r}",
        )
        subscription_id = await q.subscriptions.id_of_order(order.reference)
        subscription = await q.subscriptions.get(subscription_id) if subscription_id else None
        data = order_json(order) | {
            "subscription": (
                await subscription_with_links(q, runtime.settings, subscription)
                if subscription
                else None
            ),
            "links": (
                {"purchase": purchase_url(runtime.settings.base_url, order.reference, order.secret)}
                if order.secret
                else {}
            ),
        }
    return JSONResponse(data)


def _found(thing: T | None, missing: str) -> T:
    """404 for what the caller may not see as for what does not exist (equal work, see
    docs/security.md)."""
    if thing is None:
        raise ApiError(404, missing)
    return thing


# --- opening and acting ------------------------------------------------------------------


async def open_ticket(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """A vendor's request on its order, or the operator's on the customer's behalf."""
    data = await json_body(request, allowed=frozenset({"order", "type", "text"}))
    reference = params.order_reference(text_field(data, "order"))
    kind = ticket_type(data)
    text = text_field(data, "text", required=False)
    requester = VendorNamed(caller.vendor.id) if caller.vendor else OperatorOnBehalf()
    outcome = await open_request(
        runtime.desk,
        requester=requester,
        kind=kind,
        words=[reference],
        text=text,
        door=Door.API,
    )
    if isinstance(outcome, NoPurchaseFound):
        raise ApiError(404, f"there is no order {reference!r}")
    if isinstance(outcome, Refused):
        raise ApiError(422, outcome.refusal.reason, code=outcome.refusal.code)
    assert isinstance(outcome, Opened)
    return JSONResponse(ticket_json(outcome.ticket), status_code=201)


ActionOf = Callable[[dict[str, object]], Action]

ACTIONS: dict[str, tuple[ActionOf, frozenset[str]]] = {
    "reply": (lambda data: Action.REPLY, frozenset({"text"})),
    "close": (lambda data: Action.CLOSE, frozenset({"text"})),
    "change": (lambda data: change_to(ticket_type(data)), frozenset({"type", "text"})),
    "approve": (lambda data: Action.APPROVE, frozenset({"text"})),
}
"""The vendor's ticket actions by route (`/api/v1/tickets/{n}/<verb>`): the action, the fields."""


def ticket_action(verb: str) -> Handler:
    action_of, fields = ACTIONS[verb]

    async def act(request: Request, runtime: Runtime, caller: Caller) -> Response:
        vendor = _vendor_only(caller)
        number = params.ticket_number(request.path_params["number"])
        data = await json_body(request, allowed=fields)
        action = action_of(data)
        text = text_field(data, "text", required=action is Action.REPLY)
        if action is Action.REPLY and not text.strip():
            raise ApiError(400, "field 'text' must not be empty")
        async with runtime.store.reading() as q:
            mine = await q.tickets.is_vendors(vendor.id, number)
        if not mine:
            raise ApiError(404, f"there is no ticket #{number}")
        try:
            outcome = await act_on_ticket(
                runtime.desk,
                number=number,
                events=(event_for(action, Party.VENDOR, text),),
                door=Door.API,
            )
        except DeskError as error:
            raise ApiError(409, str(error)) from None
        if isinstance(outcome, TicketMissing):
            raise ApiError(404, f"there is no ticket #{number}")
        if isinstance(outcome, Refused):
            raise ApiError(422, outcome.refusal.reason, code=outcome.refusal.code)
        return JSONResponse(ticket_json(outcome.ticket))

    return act


def _vendor_only(caller: Caller) -> Vendor:
    if caller.vendor is None:
        raise ApiError(403, "ticket actions need the vendor's api_key, not the admin token")
    return caller.vendor
