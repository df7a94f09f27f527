"""The self-service forms (SPEC §5): purchase lookup and refund request, by email and reference.

They follow the email rules of SPEC §3 through the same use cases: an order
is found only by its reference together with the customer's own email
address; a lookup result goes only to the order's address; anything else
gets "no purchase found" at the address typed, and nobody else hears of it.
A form always answers the same sentence, so it never tells a visitor
whether an order or an address exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from service.domain.records import TicketType
from service.usecases.lookup import look_up_purchase
from service.usecases.outcomes import Door
from service.usecases.requests import CustomerAt, open_request
from service.web.forms import storable, text
from service.web.ratelimit import FormLimiter
from service.web.rendering import PageRenderer, runtime_of

NEUTRAL_ANSWER = "If this matches a purchase, we have emailed the address on the order."
"""The one answer of both self-service forms, whatever was found."""

REFUND_REASONS: tuple[str, ...] = (
    "Duplicate order",
    "Wrong product ordered",
    "Product does not work",
    "Did not receive the product",
    "Other",
)

SMALL_FORM_LIMIT = 64 * 1024

_FIELDS: Mapping[str, tuple[str, ...]] = {
    "lookup": ("email", "reference"),
    "refund": ("email", "reference", "reason", "details"),
}
_EMAIL = re.compile(
    r"[^@\s<>\"',;\x00-\x1f\x7f]+@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;\x00-\x1f\x7f]+"
)
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class SelfServicePages:
    def __init__(self, pages: PageRenderer) -> None:
        self.pages = pages
        self.limiter = FormLimiter()

    async def home(self, request: Request) -> Response:
        return self.pages.render(
            request, "web/home.html", domain=runtime_of(request).settings.domain
        )

    async def lookup_form(self, request: Request) -> Response:
        return self.pages.render(request, "web/lookup.html", values={}, errors={})

    async def refund_form(self, request: Request) -> Response:
        return self.pages.render(
            request, "web/refund.html", values={}, errors={}, reasons=REFUND_REASONS
        )

    async def lookup(self, request: Request) -> Response:
        return await self._post(request, "lookup")

    async def refund(self, request: Request) -> Response:
        return await self._post(request, "refund")

    async def _post(self, request: Request, form_name: str) -> Response:
        runtime = runtime_of(request)
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        try:
            values = {name: text(form, name).strip() for name in _FIELDS[form_name]}
        finally:
            await form.close()
        errors = _form_errors(form_name, values)
        if errors:
            return self.pages.render(
                request,
                f"web/{form_name}.html",
                status_code=400,
                values=values,
                errors=errors,
                reasons=REFUND_REASONS,
            )
        email = values["email"].lower()
        wait = self.limiter.attempt(_client(request), email, runtime.clock.now())
        if wait is not None:
            return self.pages.too_many(request, wait)
        words = [values["reference"]]
        if form_name == "lookup":
            await look_up_purchase(runtime.desk, email=email, words=words, door=Door.WEB)
        else:
            details = storable(values["details"])
            await open_request(
                runtime.desk,
                requester=CustomerAt(email),
                kind=TicketType.REFUND,
                words=words,
                text=f"Reason: {values['reason']}" + (f"\n\n{details}" if details else ""),
                door=Door.WEB,
            )
        return self.pages.render(
            request, "web/done.html", form_name=form_name, answer=NEUTRAL_ANSWER
        )


def _form_errors(form_name: str, values: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    email = values.get("email", "")
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        errors["email"] = "Enter the email address you bought with, like name@example.com."
    if not _REFERENCE.fullmatch(values.get("reference", "")):
        errors["reference"] = "Enter the order reference from your receipt, like Q7K2M9XA."
    if form_name == "refund":
        if values.get("reason") not in REFUND_REASONS:
            errors["reason"] = "Choose a reason."
        elif values["reason"] == "Other" and not values.get("details"):
            errors["details"] = "Tell the seller in a few words why you want a refund."
        if len(values.get("details", "")) > 5000:
            errors["details"] = "Keep it under 5,000 characters."
    return errors


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
