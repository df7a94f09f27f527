"""What every JSON API endpoint shares: who is calling, reading the body, and errors as JSON.

Two kinds of caller, told apart by the bearer token: the operator (the admin
token) and a vendor (its `api_key`). Errors are JSON `{"error": …}` with the
status code that fits; a parameter or body that cannot be valid is a 400
that shows a valid one.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from service.config import Settings
from service.domain.records import TicketType, Vendor
from service.runtime import Runtime
from service.web import params
from service.web.http_body import body_limit, too_large_message
from service.web.json_input import InvalidJson, parse_object


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


def optional_param(request: Request, name: str, read: Callable[[str], str]) -> str | None:
    """Query parameter `name` checked by `read`, or None when it is not given."""
    raw = request.query_params.get(name)
    return None if raw is None else read(raw)


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
