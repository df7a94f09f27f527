"""Subscriptions over the API (SPEC §7, §8): read one, and the vendor's platform's reports.

The vendor's platform moves the money and tells maildesk what happened: a
bill, a declined payment, a new price or quantity. Each is one event through
the same use case as the customer's choices; a refusal is answered here with
the rules' `code` and reason and mailed to nobody. A vendor sees and reports
on its own subscriptions only; another vendor's is "not found", as one that
does not exist. The operator (admin token) may do everything, and rotate a
subscription's permanent secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.catalog.fields import Field, ImportError_
from service.config import Settings
from service.domain.subscription.events import Billed, ItemChanged, PaymentDeclined
from service.domain.subscription.records import Subscription
from service.outbound.permanent_links import subscription_url
from service.representations import subscription_json
from service.runtime import Runtime
from service.store import Queries
from service.usecases.outcomes import Door
from service.usecases.subscriptions import (
    SubscriptionMissing,
    SubscriptionOutcome,
    SubscriptionRefused,
    change_subscription,
)
from service.web import params
from service.web.api_core import ApiError, Caller, json_body

REFUSAL_STATUS: Mapping[str, int] = {
    "no_such_item": 404,
    "duplicate_bill": 409,
    "invalid_amount": 400,
    "invalid_quantity": 400,
    "empty_change": 400,
}
"""The HTTP status of each refusal code; any other (`canceled`, `unchanged`) is a 422."""

E = TypeVar("E")


async def get_subscription(request: Request, runtime: Runtime, caller: Caller) -> Response:
    subscription_id = params.subscription_id(request.path_params["subscription_id"])
    found = await runtime.desk.read_subscription(subscription_id, vendor_id=caller.vendor_id)
    if found is None:
        raise _missing(subscription_id)
    return await _answer(runtime, found[0])


async def post_bill(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """`{"billed_at", "amount"}`: the platform charged a renewal."""
    data = _fields(await json_body(request, allowed=frozenset({"billed_at", "amount"})))
    event = _read(lambda: Billed(data.time("billed_at"), data.decimal("amount")))
    return await _report(request, runtime, caller, event)


async def post_payment_failure(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """`{"at", "reason"}`: a charge was declined; the customer is told how to fix it."""
    data = _fields(await json_body(request, allowed=frozenset({"at", "reason"})))
    event = _read(
        lambda: PaymentDeclined(data.time("at"), data.text("reason", required=False) or "")
    )
    return await _report(request, runtime, caller, event)


async def post_item_change(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """`{"unit_price"?, "quantity"?}` for item n, from the next billing (a rise needs consent)."""
    item = params.item_number(request.path_params["item"])
    data = _fields(await json_body(request, allowed=frozenset({"unit_price", "quantity"})))

    def change() -> ItemChanged:
        price = data.decimal("unit_price") if "unit_price" in data.data else None
        quantity = (
            data.integer("quantity", default=1, minimum=1) if "quantity" in data.data else None
        )
        return ItemChanged(item, price, quantity)

    return await _report(request, runtime, caller, _read(change))


async def admin_rotate(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """A new permanent secret: every earlier `/s/` link of this subscription stops working."""
    subscription_id = params.subscription_id(request.path_params["subscription_id"])
    rotated = await runtime.desk.rotate_subscription_secret(subscription_id)
    if rotated is None:
        raise _missing(subscription_id)
    return await _answer(runtime, rotated)


async def _report(
    request: Request,
    runtime: Runtime,
    caller: Caller,
    event: Billed | PaymentDeclined | ItemChanged,
) -> Response:
    subscription_id = params.subscription_id(request.path_params["subscription_id"])
    outcome: SubscriptionOutcome = await change_subscription(
        runtime.desk,
        subscription_id=subscription_id,
        events=(event,),
        door=Door.API,
        vendor_id=caller.vendor_id,
    )
    if isinstance(outcome, SubscriptionMissing):
        raise _missing(subscription_id)
    if isinstance(outcome, SubscriptionRefused):
        refusal = outcome.refusal
        raise ApiError(REFUSAL_STATUS.get(refusal.code, 422), refusal.reason, code=refusal.code)
    return await _answer(runtime, outcome.subscription)


async def _answer(runtime: Runtime, subscription: Subscription) -> Response:
    async with runtime.store.reading() as q:
        data = await subscription_with_links(q, runtime.settings, subscription)
    return JSONResponse(data)


async def subscription_with_links(
    q: Queries, settings: Settings, subscription: Subscription
) -> dict[str, Any]:
    """SPEC §8's subscription JSON with its self-service link (for its vendor and the operator)."""
    secret = await q.subscriptions.secret(subscription.id)
    links = (
        {"self_service": subscription_url(settings.base_url, subscription.id, secret)}
        if secret
        else {}
    )
    return subscription_json(subscription, links=links)


def _fields(data: dict[str, Any]) -> Field:
    return Field("body", data)


def _read(make: Callable[[], E]) -> E:
    """Build an event from the body's fields; a field that cannot be valid is a 400."""
    try:
        return make()
    except ImportError_ as error:
        raise ApiError(400, str(error).removeprefix("body.")) from None


def _missing(subscription_id: str) -> ApiError:
    return ApiError(404, f"there is no subscription {subscription_id}")
