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

Each route declares its body limit (`service.web.http_body`). The pages live in
`ticket_page`, `self_service` and `permanent_pages`, rendered by `rendering`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from service.web.http_body import NO_BODY, body_limit
from service.web.permanent_pages import LEGACY_ITEM_LINKS, PermanentPages
from service.web.rendering import PageRenderer
from service.web.self_service import SMALL_FORM_LIMIT, SelfServicePages
from service.web.ticket_page import TicketPages, ticket_form_limit


def page_routes() -> list[BaseRoute]:
    """The pages' routes; each app gets its own pages (and so its own rate-limit memory)."""
    renderer = PageRenderer()
    forms = SelfServicePages(renderer)
    tickets = TicketPages(renderer)
    permanent = PermanentPages(renderer)
    small_form = body_limit(SMALL_FORM_LIMIT, renderer.too_large)
    ticket_form = body_limit(ticket_form_limit, renderer.too_large)
    return [
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
