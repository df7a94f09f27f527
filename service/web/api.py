"""The JSON API under /api/v1 (SPEC §5, §8): for the operator and for vendors' own systems.

    api_core.py      callers, bodies, errors (what every endpoint shares)
    api_tickets.py   tickets, orders and vendors: reads, and the vendor's actions
    api_admin.py     the operator's: import, the fake clock, the abuse mark, escalations

Each route declares its body limit (`service.http_body`).
"""

from __future__ import annotations

from starlette.routing import Route

from service.http_body import NO_BODY
from service.web.api_admin import admin_abuse, admin_clock, admin_escalations, admin_import
from service.web.api_core import IMPORT_BODY, JSON_BODY, endpoint
from service.web.api_tickets import (
    ACTIONS,
    get_order,
    get_ticket,
    get_vendor,
    list_tickets,
    open_ticket,
    ticket_action,
)
from service.web.openapi import openapi


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
        *(
            Route(
                f"/api/v1/tickets/{{number}}/{verb}",
                endpoint(ticket_action(verb)),
                methods=["POST"],
                middleware=JSON_BODY,
            )
            for verb in ACTIONS
        ),
        Route(
            "/api/v1/orders/{reference}", endpoint(get_order), methods=["GET"], middleware=NO_BODY
        ),
    ]
