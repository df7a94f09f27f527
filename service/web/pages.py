"""The web pages for people (SPEC §5): each party's ticket page and the self-service forms.

    GET  /                                   home: links to the forms
    GET  /t/{token}                          the ticket page of the party the signed link names
    POST /t/{token}/reply                    a reply (text and files) as that party
    POST /t/{token}/action                   close / change-to-… / approve / escalate
    GET  /t/{token}/attachments/{blob_id}    one attachment of that ticket, as a download
    GET  /lookup, POST /lookup               purchase lookup: email + order reference
    GET  /refund, POST /refund               refund request: email + reference + reason
    GET  /s/{id}-{secret}[-n], POST …/choose, …/request, GET …/payment
                                             a subscription's permanent page (SPEC §7)
    GET  /p/{reference}-{secret}, POST …/refund   a purchase's permanent page
    /desk…, /console…                        the vendor's desk and the operator's console
                                             (`desk_pages`, `console_pages`, `signin_pages`)

Each route declares its body limit (`service.web.http_body`). The pages live in
`ticket_page`, `self_service` and `permanent_pages`, rendered by `rendering`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.web.console_pages import console_routes
from service.web.desk_pages import DeskPages
from service.web.http_body import NO_BODY, body_limit
from service.web.permanent_pages import LEGACY_ITEM_LINKS, PermanentPages
from service.web.rendering import PageRenderer
from service.web.self_service import SMALL_FORM_LIMIT, SelfServicePages
from service.web.signin_pages import SigninPages
from service.web.ticket_page import TicketPages, ticket_form_limit

Endpoint = Callable[[Request], Awaitable[Response]]


def page_routes() -> list[BaseRoute]:
    """The pages' routes; each app gets its own pages (and so its own rate-limit memory)."""
    renderer = PageRenderer()
    forms = SelfServicePages(renderer)
    tickets = TicketPages(renderer)
    permanent = PermanentPages(renderer)
    signin = SigninPages(renderer)
    desk = DeskPages(renderer, tickets, signin)
    small_form = body_limit(SMALL_FORM_LIMIT, renderer.too_large)
    ticket_form = body_limit(ticket_form_limit, renderer.too_large)

    def get(path: str, endpoint: Endpoint) -> Route:
        return Route(path, endpoint, methods=["GET"], middleware=NO_BODY)

    def post(path: str, endpoint: Endpoint) -> Route:
        return Route(path, endpoint, methods=["POST"], middleware=small_form)

    return [
        get("/desk", desk.home),
        post("/desk/signin", signin.request_link),
        get("/desk/signin/{token}", signin.confirm),
        post("/desk/signin/{token}", signin.redeem),
        post("/desk/signout", signin.sign_out),
        get("/desk/tickets", desk.ticket_list),
        get("/desk/tickets/{number}", desk.ticket),
        Route(
            "/desk/tickets/{number}/reply",
            desk.ticket_reply,
            methods=["POST"],
            middleware=ticket_form,
        ),
        Route(
            "/desk/tickets/{number}/action",
            desk.ticket_action,
            methods=["POST"],
            middleware=ticket_form,
        ),
        get("/desk/tickets/{number}/attachments/{blob_id}", desk.ticket_attachment),
        get("/desk/orders", desk.order_search),
        get("/desk/orders/{reference}", desk.order),
        post("/desk/orders/{reference}/open", desk.open_ticket),
        get("/desk/settings", desk.settings),
        post("/desk/settings", desk.save_settings),
        post("/desk/settings/webhook-test", desk.webhook_test),
        post("/desk/settings/api-key", desk.rotate_key),
        post("/console/signin", signin.admin_token),
        *console_routes(renderer, signin, get, post),
        Route("/", forms.home, methods=["GET"], name="home", middleware=NO_BODY),
        Route("/lookup", forms.lookup_form, methods=["GET"], name="lookup", middleware=NO_BODY),
        Route("/lookup", forms.lookup, methods=["POST"], middleware=small_form),
        Route("/refund", forms.refund_form, methods=["GET"], name="refund", middleware=NO_BODY),
        Route("/refund", forms.refund, methods=["POST"], middleware=small_form),
        Route("/t/{token}", tickets.show, methods=["GET"], name="ticket", middleware=NO_BODY),
        Route("/t/{token}/reply", tickets.reply, methods=["POST"], middleware=ticket_form),
        Route("/t/{token}/action", tickets.action, methods=["POST"], middleware=ticket_form),
        Route(
            "/t/{token}/attachments/{blob_id}",
            tickets.attachment,
            methods=["GET"],
            middleware=NO_BODY,
        ),
        Route("/s/{token}", permanent.subscription, methods=["GET"], middleware=NO_BODY),
        Route("/s/{token}/choose", permanent.choose, methods=["POST"], middleware=small_form),
        Route(
            "/s/{token}/request", permanent.request_ticket, methods=["POST"], middleware=small_form
        ),
        Route("/s/{token}/payment", permanent.payment, methods=["GET"], middleware=NO_BODY),
        *(
            Route(f"/{prefix}/{{token}}", permanent.legacy, methods=["GET"], middleware=NO_BODY)
            for prefix in LEGACY_ITEM_LINKS
        ),
        Route("/p/{token}", permanent.purchase, methods=["GET"], middleware=NO_BODY),
        Route(
            "/p/{token}/refund", permanent.purchase_refund, methods=["POST"], middleware=small_form
        ),
    ]
