"""The operator's API (admin token): import, the fake clock, the abuse mark, escalations."""

from __future__ import annotations

import tempfile

import isodate
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from service.catalog import ImportError_
from service.catalog.stream import UnreadableImport
from service.config import ConfigError, parse_time
from service.representations import iso
from service.runtime import Runtime
from service.web import params
from service.web.api_core import ApiError, Caller, json_body, optional_param, text_field
from service.web.api_tickets import get_vendor
from service.web.json_input import parse_object

PARSED_WHOLE = 8 * 1024 * 1024
"""Import bodies up to this size are parsed whole, with every check of an API body
(`service.web.json_input`); larger ones are read as a stream, as `maildesk import` reads a
file, so memory stays bounded whatever the size (up to `MAILDESK_MAX_IMPORT_BODY`)."""


async def admin_import(request: Request, runtime: Runtime, caller: Caller) -> Response:
    """The import format (SPEC §8): one transaction, all of it or nothing."""
    desk, allow = runtime.desk, runtime.webhook_allow
    with tempfile.SpooledTemporaryFile(max_size=PARSED_WHOLE) as spool:
        try:
            async for chunk in request.stream():
                spool.write(chunk)
        except ClientDisconnect:
            raise ApiError(400, "the connection closed before the whole body arrived") from None
        try:
            if spool.tell() <= PARSED_WHOLE:
                spool.seek(0)
                data = parse_object(spool.read())
                counts = await desk.import_catalog(data, webhook_allow=allow)
            else:
                counts = await desk.import_stream(spool, webhook_allow=allow)
        except UnreadableImport as error:
            raise ApiError(400, str(error)) from None
        except ImportError_ as error:
            raise ApiError(422, str(error)) from None
    return JSONResponse(counts)


async def admin_clock(request: Request, runtime: Runtime, caller: Caller) -> Response:
    if runtime.fake_clock is None:
        raise ApiError(409, "the clock can only be moved when serving with --fake-clock")
    data = await json_body(request, allowed=frozenset({"now", "advance"}))
    try:
        to = parse_time("now", text_field(data, "now")) if "now" in data else None
    except ConfigError as error:
        raise ApiError(400, str(error)) from None
    advance = text_field(data, "advance") if "advance" in data else None
    try:
        by = isodate.parse_duration(advance) if advance is not None else None
    except (ValueError, ArithmeticError):  # isodate's ISO8601Error is a ValueError
        raise ApiError(
            400,
            "advance is an ISO-8601 duration like P1D (a day), PT2H (two hours) or P1DT12H "
            f"(a day and a half); got {advance!r}",
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
    if await runtime.desk.set_vendor_abusing(vendor_id, data["abusing"], by="admin API") is None:
        raise ApiError(404, f"there is no vendor {vendor_id!r}")
    return await get_vendor(request, runtime, caller)


async def admin_escalations(request: Request, runtime: Runtime, caller: Caller) -> Response:
    vendor_id = optional_param(request, "vendor", params.vendor_id)
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
