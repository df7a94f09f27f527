"""The JSON API under /api/v1 (SPEC §5, §8): for the operator and for vendors' own systems.

    api_core.py      callers, bodies, errors (what every endpoint shares)
    api_tickets.py   tickets, orders and vendors: reads, and the vendor's actions
    api_subscriptions.py  subscriptions: reads, and the vendor's platform's reports
    api_admin.py     the operator's: import, the fake clock, the abuse mark, escalations

Each route declares its body limit (`service.web.http_body`).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import Route

from service.web.api_admin import admin_abuse, admin_clock, admin_escalations, admin_import
from service.web.api_core import IMPORT_BODY, JSON_BODY, Handler, endpoint
from service.web.api_docs import api_docs
from service.web.api_subscriptions import (
    admin_rotate,
    get_subscription,
    post_bill,
    post_item_change,
    post_payment_failure,
)
from service.web.api_tickets import (
    ACTIONS,
    get_order,
    get_ticket,
    get_vendor,
    list_tickets,
    open_ticket,
    ticket_action,
)
from service.web.http_body import NO_BODY
from service.web.openapi import openapi
from service.web.rendering import PageRenderer

_ADMIN = True
_ANYONE = False

ENDPOINTS: tuple[tuple[str, str, Handler, Sequence[Middleware], bool], ...] = (
    ("POST", "/api/v1/admin/import", admin_import, IMPORT_BODY, _ADMIN),
    ("POST", "/api/v1/admin/clock", admin_clock, JSON_BODY, _ADMIN),
    ("POST", "/api/v1/admin/vendors/{vendor_id}/abuse", admin_abuse, JSON_BODY, _ADMIN),
    ("GET", "/api/v1/admin/escalations", admin_escalations, NO_BODY, _ADMIN),
    ("GET", "/api/v1/vendors/{vendor_id}", get_vendor, NO_BODY, _ANYONE),
    ("GET", "/api/v1/tickets", list_tickets, NO_BODY, _ANYONE),
    ("POST", "/api/v1/tickets", open_ticket, JSON_BODY, _ANYONE),
    ("GET", "/api/v1/tickets/{number}", get_ticket, NO_BODY, _ANYONE),
    *(
        ("POST", f"/api/v1/tickets/{{number}}/{verb}", ticket_action(verb), JSON_BODY, _ANYONE)
        for verb in ACTIONS
    ),
    ("GET", "/api/v1/orders/{reference}", get_order, NO_BODY, _ANYONE),
    ("GET", "/api/v1/subscriptions/{subscription_id}", get_subscription, NO_BODY, _ANYONE),
    ("POST", "/api/v1/subscriptions/{subscription_id}/bills", post_bill, JSON_BODY, _ANYONE),
    (
        "POST",
        "/api/v1/subscriptions/{subscription_id}/payment-failures",
        post_payment_failure,
        JSON_BODY,
        _ANYONE,
    ),
    (
        "POST",
        "/api/v1/subscriptions/{subscription_id}/items/{item}/change",
        post_item_change,
        JSON_BODY,
        _ANYONE,
    ),
    (
        "POST",
        "/api/v1/admin/subscriptions/{subscription_id}/rotate",
        admin_rotate,
        JSON_BODY,
        _ADMIN,
    ),
)
"""Every endpoint: method, path, handler, body limit, and whether it needs the admin token."""


def api_routes() -> list[Route]:
    return [
        Route("/api/v1/openapi.json", openapi, methods=["GET"], middleware=NO_BODY),
        Route("/api/v1/docs", api_docs(PageRenderer()), methods=["GET"], middleware=NO_BODY),
        *(
            Route(path, endpoint(handler, admin_only=admin), methods=[method], middleware=limit)
            for method, path, handler, limit, admin in ENDPOINTS
        ),
    ]
