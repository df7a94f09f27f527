"""The OpenAPI 3.1 document of the JSON API, served at /api/v1/openapi.json.

Written out by hand from the routes in `service.web.api`, with the shapes of
SPEC §8. A test checks that every route the app serves under /api/v1 is
described here, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.catalog import VENDOR_ID
from service.web.params import MAX_REFERENCE_LENGTH, MAX_TICKET_NUMBER

_ERROR = {"$ref": "#/components/schemas/Error"}
_TICKET = {"$ref": "#/components/schemas/Ticket"}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    described = {
        400: "Bad JSON, an unknown field, a wrong type, or a malformed path or query parameter",
        401: "No token, or an unknown one",
        403: "The token may not use this endpoint",
        404: "Not found (or another vendor's)",
        409: "Not possible in the current state",
        413: "The body is too large",
        422: "Refused by the business rules; `error` says why",
    }
    result: dict[str, Any] = {"200": ok}
    for code in (401, *errors):
        result[str(code)] = {
            "description": described[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
    return result


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                }
            }
        },
    }


_TEXT = {"type": "string"}
_TYPE = {"type": "string", "enum": ["refund", "cancelation", "support"]}
_NUMBER = [
    {
        "name": "number",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
        "description": f"a ticket number, 1 to {MAX_TICKET_NUMBER}, in ASCII digits",
    }
]
_VENDOR_ID = {"type": "string", "pattern": f"^{VENDOR_ID.pattern}$"}
_REFERENCE = {"type": "string", "minLength": 1, "maxLength": MAX_REFERENCE_LENGTH}
_SUBSCRIPTION = {"$ref": "#/components/schemas/Subscription"}
_IN_SUBSCRIPTION_PATH = [
    {
        "name": "subscription_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^S[0-9]{1,18}$"},
        "description": "a subscription id, S followed by digits",
    }
]
_TIME = {"type": "string", "format": "date-time", "description": "ISO-8601 with Z or an offset"}
_DECIMAL = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$", "description": "like 19.95"}
_IN_VENDOR_PATH = [{"name": "vendor_id", "in": "path", "required": True, "schema": _VENDOR_ID}]


def _report(summary: str, body: dict[str, Any], extra: list[Any] | None = None) -> dict[str, Any]:
    """A report of the vendor's platform on a subscription: the subscription as it is now."""
    return {
        "post": {
            "summary": summary,
            "parameters": _IN_SUBSCRIPTION_PATH + (extra or []),
            "requestBody": body,
            "responses": _responses(_json(_SUBSCRIPTION), 400, 404, 409, 422),
        }
    }


def _action(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": _NUMBER,
            "requestBody": body,
            "responses": _responses(_json(_TICKET), 400, 403, 404, 409, 422),
        }
    }


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "maildesk API",
        "version": "1",
        "description": "Bearer token: the admin token, or a vendor's api_key. A vendor "
        "sees and acts on its own tickets and orders only.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": _TEXT, "code": _TEXT},
                "required": ["error"],
            },
            "Ticket": {
                "type": "object",
                "required": [
                    "number",
                    "vendor",
                    "order",
                    "customer",
                    "type",
                    "status",
                    "opened_by",
                    "opened_at",
                    "closed_at",
                    "close_reason",
                    "due",
                    "comments",
                    "events",
                ],
            },
            "Subscription": {
                "type": "object",
                "description": "SPEC §8: pending_change is null or {unit_price, quantity, "
                "needs_consent, consent}; links.self_service for its vendor and the operator",
                "required": [
                    "id",
                    "order",
                    "status",
                    "cancel_reason",
                    "renewal",
                    "interval",
                    "next_billing_at",
                    "ends_at",
                    "payment_status",
                    "next_amount",
                    "items",
                    "events",
                ],
            },
            "Order": {
                "type": "object",
                "required": [
                    "reference",
                    "vendor",
                    "customer",
                    "items",
                    "payment_method",
                    "purchased_at",
                    "bills",
                    "refunded_amount",
                    "subscription_status",
                ],
            },
            "Vendor": {"type": "object", "required": ["id", "name", "api_key", "command_address"]},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/admin/import": {
            "post": {
                "summary": "Import vendors, products and orders (idempotent upsert)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": _responses(
                    _json(
                        {
                            "type": "object",
                            "properties": {
                                "vendors": {"type": "integer"},
                                "products": {"type": "integer"},
                                "orders": {"type": "integer"},
                            },
                        }
                    ),
                    400,
                    403,
                    413,
                    422,
                ),
            }
        },
        "/api/v1/admin/clock": {
            "post": {
                "summary": "Set or advance the fake clock; timers due by then run first",
                "requestBody": _body({"now": _TEXT, "advance": _TEXT}, []),
                "responses": _responses(
                    _json(
                        {
                            "type": "object",
                            "properties": {"now": _TEXT, "fired": {"type": "integer"}},
                        }
                    ),
                    400,
                    403,
                    409,
                ),
            }
        },
        "/api/v1/admin/vendors/{vendor_id}/abuse": {
            "post": {
                "summary": "Mark a vendor as abusing the save-the-sale window, or clear it",
                "parameters": _IN_VENDOR_PATH,
                "requestBody": _body({"abusing": {"type": "boolean"}}, ["abusing"]),
                "responses": _responses(
                    _json({"$ref": "#/components/schemas/Vendor"}), 400, 403, 404
                ),
            }
        },
        "/api/v1/admin/escalations": {
            "get": {
                "summary": "Escalations for the operator's review",
                "parameters": [{"name": "vendor", "in": "query", "schema": _VENDOR_ID}],
                "responses": _responses(
                    _json({"type": "object", "properties": {"escalations": {"type": "array"}}}),
                    400,
                    403,
                ),
            }
        },
        "/api/v1/vendors/{vendor_id}": {
            "get": {
                "summary": "A vendor, with its api_key and command address",
                "parameters": _IN_VENDOR_PATH,
                "responses": _responses(_json({"$ref": "#/components/schemas/Vendor"}), 400, 404),
            }
        },
        "/api/v1/tickets": {
            "get": {
                "summary": "Tickets, filtered by vendor, order and status",
                "parameters": [
                    {"name": "vendor", "in": "query", "schema": _VENDOR_ID},
                    {"name": "order", "in": "query", "schema": _REFERENCE},
                    {"name": "status", "in": "query", "schema": {"enum": ["open", "closed"]}},
                ],
                "responses": _responses(
                    _json(
                        {
                            "type": "object",
                            "properties": {"tickets": {"type": "array", "items": _TICKET}},
                        }
                    ),
                    400,
                ),
            },
            "post": {
                "summary": "Open a ticket on one of the vendor's orders",
                "requestBody": _body(
                    {"order": _TEXT, "type": _TYPE, "text": _TEXT}, ["order", "type"]
                ),
                "responses": {
                    **_responses(_json(_TICKET), 400, 403, 404, 422),
                    "201": _json(_TICKET, "Opened"),
                },
            },
        },
        "/api/v1/tickets/{number}": {
            "get": {
                "summary": "One ticket",
                "parameters": _NUMBER,
                "responses": _responses(_json(_TICKET), 400, 404),
            }
        },
        "/api/v1/tickets/{number}/reply": _action(
            "Reply as the vendor", _body({"text": _TEXT}, ["text"])
        ),
        "/api/v1/tickets/{number}/close": _action("Close", _body({"text": _TEXT}, [])),
        "/api/v1/tickets/{number}/change": _action(
            "Change the type", _body({"type": _TYPE, "text": _TEXT}, ["type"])
        ),
        "/api/v1/tickets/{number}/approve": _action(
            "Approve a refund waiting for approval", _body({"text": _TEXT}, [])
        ),
        "/api/v1/orders/{reference}": {
            "get": {
                "summary": "One order",
                "parameters": [
                    {"name": "reference", "in": "path", "required": True, "schema": _REFERENCE}
                ],
                "responses": _responses(_json({"$ref": "#/components/schemas/Order"}), 400, 404),
            }
        },
        "/api/v1/subscriptions/{subscription_id}": {
            "get": {
                "summary": "One subscription",
                "parameters": _IN_SUBSCRIPTION_PATH,
                "responses": _responses(_json(_SUBSCRIPTION), 400, 404),
            }
        },
        "/api/v1/subscriptions/{subscription_id}/bills": _report(
            "The platform charged a renewal: the billing date moves one interval on, the "
            "customer gets a renewal confirmation (409 duplicate_bill: already recorded; "
            "422 canceled)",
            _body({"billed_at": _TIME, "amount": _DECIMAL}, ["billed_at", "amount"]),
        ),
        "/api/v1/subscriptions/{subscription_id}/payment-failures": _report(
            "A charge was declined: the customer is told how to update the payment method",
            _body({"at": _TIME, "reason": _TEXT}, ["at"]),
        ),
        "/api/v1/subscriptions/{subscription_id}/items/{item}/change": _report(
            "A new unit price and/or quantity from the next billing; a rise needs the "
            "customer's consent",
            _body({"unit_price": _DECIMAL, "quantity": {"type": "integer", "minimum": 1}}, []),
            [
                {
                    "name": "item",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,3}$"},
                    "description": "the item's number, 1, 2, ... as the subscription lists them",
                }
            ],
        ),
        "/api/v1/admin/subscriptions/{subscription_id}/rotate": {
            "post": {
                "summary": "A new permanent secret: every earlier self-service link stops working",
                "parameters": _IN_SUBSCRIPTION_PATH,
                "responses": _responses(_json(_SUBSCRIPTION), 400, 403, 404),
            }
        },
    },
}


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)
