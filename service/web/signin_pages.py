"""Signing in to the desk and the console, and signing out (issue #17).

    GET  /desk                      the desk's sign-in page when signed out
    POST /desk/signin               email me a link (always the same answer)
    GET  /desk/signin/{token}       "Sign in as …": a button, so a mail scanner that
                                    opens links never spends one
    POST /desk/signin/{token}       spend the link: a new session, its cookie, the desk
    POST /desk/signout              end the session everywhere it is used
    GET  /console                   the console's sign-in page when signed out
    POST /console/signin            the admin token, for the operator

The email form is limited per address and per client (`FormLimiter`), like
the self-service forms, and answers the same whether or not the address may
sign in. A link that is unknown, spent or expired gets one page that says
so. This module never sets a session cookie it did not just make.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.usecases import signin
from service.web import flash, sessions
from service.web.desk_frame import safe_next
from service.web.forms import text
from service.web.ratelimit import FormLimiter
from service.web.rendering import PageRenderer, is_secure, runtime_of
from service.web.signed_in import signed_in

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_EMAIL = re.compile(r"[^@\s<>\"',;\x00-\x1f\x7f]{1,64}@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;]+")


class SigninPages:
    def __init__(self, pages: PageRenderer) -> None:
        self.pages = pages
        self.limiter = FormLimiter()

    def signin_form(
        self,
        request: Request,
        place: str,
        *,
        status_code: int = 200,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        then: str | None = None,
    ) -> Response:
        return self.pages.render(
            request,
            "web/desk/signin.html",
            status_code=status_code,
            place=place,
            then=safe_next(request.query_params.get("next", ""), place) if then is None else then,
            flash_for=f"/{place}",
            values=values or {},
            errors=errors or {},
        )

    async def request_link(self, request: Request) -> Response:
        runtime = runtime_of(request)
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        try:
            email = text(form, "email").strip()
            place = "console" if text(form, "place") == "console" else "desk"
            then = safe_next(text(form, "next"))
        finally:
            await form.close()
        if len(email) > 254 or not _EMAIL.fullmatch(email):
            return self.signin_form(
                request,
                place,
                status_code=400,
                values={"email": email},
                errors={"email": "Enter your email address, like name@example.com."},
                then=then,
            )
        wait = self.limiter.attempt(_client(request), email, runtime.clock.now())
        if wait is not None:
            return self.pages.too_many(request, wait)
        await signin.send_signin_links(
            runtime.desk,
            email=email,
            base_url=runtime.settings.public_base_url,
            operator_emails=runtime.settings.operator_emails,
            then=then,
        )
        return self.pages.render(request, "web/desk/signin_sent.html", email=email, place=place)

    async def confirm(self, request: Request) -> Response:
        runtime = runtime_of(request)
        token = str(request.path_params["token"])
        if not _TOKEN.fullmatch(token) or not await signin.link_is_live(runtime.desk, token):
            return self._link_gone(request)
        then = safe_next(request.query_params.get("next", ""))
        return self.pages.render(
            request, "web/desk/signin_confirm.html", token=token, then=quote(then, safe="/")
        )

    async def redeem(self, request: Request) -> Response:
        runtime = runtime_of(request)
        token = str(request.path_params["token"])
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        await form.close()
        if not _TOKEN.fullmatch(token):
            return self._link_gone(request)
        previous = sessions.session_id_of(request, runtime.settings.secret)
        signed = await signin.redeem_link(runtime.desk, token)
        if signed is None:
            return self._link_gone(request)
        if previous is not None:  # whoever was signed in here before is signed out
            await signin.sign_out(runtime.desk, previous)
        place = "/console" if signed.grant.role == signin.OPERATOR else "/desk"
        then = safe_next(request.query_params.get("next", ""), place.strip("/"))
        return self._signed_in(request, signed, then or place)

    async def admin_token(self, request: Request) -> Response:
        runtime = runtime_of(request)
        form = await self.pages.posted_form(request)
        if isinstance(form, Response):
            return form
        try:
            typed = text(form, "token").strip()
            then = safe_next(text(form, "next"), "console")
        finally:
            await form.close()
        client = _client(request)  # per client only: nobody can lock the operator out
        wait = self.limiter.attempt(client, f"admin-token from {client}", runtime.clock.now())
        if wait is not None:
            return self.pages.too_many(request, wait)
        expected = runtime.settings.admin_token
        if not expected or not hmac.compare_digest(typed.encode(), expected.encode()):
            return self.signin_form(
                request,
                "console",
                status_code=400,
                values={},
                errors={
                    "token": "That is not the admin token. Copy it again from where "
                    "maildesk printed it, or sign in with an emailed link."
                },
                then=then,
            )
        previous = sessions.session_id_of(request, runtime.settings.secret)
        if previous is not None:
            await signin.sign_out(runtime.desk, previous)
        signed = await signin.sign_in_with_admin_token(runtime.desk)
        return self._signed_in(request, signed, then or "/console")

    async def sign_out(self, request: Request) -> Response:
        runtime = runtime_of(request)
        viewer = await signed_in(request)
        if viewer is None:
            return RedirectResponse("/desk", status_code=303)
        form = await self.pages.posted_form(request, session_id=viewer.session_id)
        if isinstance(form, Response):
            return form
        await form.close()
        await signin.sign_out(runtime.desk, viewer.session_id)
        place = "/console" if viewer.is_operator else "/desk"
        response = RedirectResponse(place, status_code=303)
        secure = is_secure(runtime)
        sessions.clear_cookie(response, secure=secure)
        flash.attach(
            response,
            runtime.settings.secret,
            place,
            flash.Flash("done", "You are signed out, in every tab and window of this browser."),
            secure=secure,
        )
        return response

    def _signed_in(self, request: Request, signed: signin.SignedIn, place: str) -> Response:
        runtime = runtime_of(request)
        response = RedirectResponse(place, status_code=303)
        sessions.set_cookie(
            response, runtime.settings.secret, signed.session_id, secure=is_secure(runtime)
        )
        return response

    def _link_gone(self, request: Request) -> Response:
        return self.pages.error(
            request,
            410,
            "This sign-in link no longer works",
            "Sign-in links work once, for 15 minutes. Ask for a new one on the sign-in page "
            "(/desk), and open the newest email.",
        )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
