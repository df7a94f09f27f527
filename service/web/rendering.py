"""Pages for people: one Jinja environment, strict security headers, and the error pages.

Every HTML page of the ticket pages, the self-service forms (and the desk
and console) is rendered here, so each carries the same headers, the CSRF
token for its forms, and the same styled error pages with words for the
person reading them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.outbound.filters import filesize, when
from service.outbound.render import default_templates_dir
from service.runtime import Runtime
from service.web import csrf, flash, sessions
from service.web.forms import UnreadableForm, read_form

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def is_secure(runtime: Runtime) -> bool:
    """Whether the site is served over https, so cookies may say `Secure`."""
    return runtime.settings.public_base_url.startswith("https://")


class _FormToken:
    """A page's CSRF token that notices whether the page wrote it into a form."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.used = False

    def __str__(self) -> str:
        self.used = True
        return self.value

    def __html__(self) -> str:
        self.used = True
        return self.value


class PageRenderer:
    """Renders `templates/web/*.html`, honouring `--templates` overrides; one per app."""

    def __init__(self) -> None:
        self._environments: dict[str | None, jinja2.Environment] = {}

    def render(
        self,
        request: Request,
        name: str,
        *,
        status_code: int = 200,
        session_id: str | None = None,
        flash_for: str | None = None,
        **context: Any,
    ) -> Response:
        """The page; the browser gets its CSRF cookie only when the page holds a form.

        A signed-in page (`session_id`) carries the session's own form token instead.
        With `flash_for` (the path `back_to` left a note for), the page shows that
        one-time note as `flash` and the response forgets it.
        """
        runtime = runtime_of(request)
        if flash_for is not None:
            context["flash"] = flash.take(request, runtime.settings.secret, flash_for)
        if session_id is not None:
            value, new_cookie = sessions.form_token(runtime.settings.secret, session_id), None
        else:
            value, new_cookie = csrf.token_for(request, runtime.settings.secret)
        token = _FormToken(value)
        page = (
            self._environment(runtime)
            .get_template(name)
            .render(csrf_field=csrf.FIELD_NAME, csrf_token=token, **context)
        )
        response = HTMLResponse(page, status_code=status_code, headers=dict(PAGE_HEADERS))
        if new_cookie is not None and token.used:
            csrf.set_cookie(response, new_cookie, secure=is_secure(runtime))
        if flash_for is not None:
            flash.clear(request, response, flash_for)
        return response

    def back_to(
        self, request: Request, location: str, note: flash.Flash, *, page: str | None = None
    ) -> Response:
        """After a form: 303 to `location` (so a reload never posts twice), with `note`
        to be shown once on `page` (the location's path when it has a query)."""
        runtime = runtime_of(request)
        response = RedirectResponse(location, status_code=303)
        path = page or location
        flash.attach(response, runtime.settings.secret, path, note, secure=is_secure(runtime))
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        return self.render(
            request, "web/error.html", status_code=status, title=title, message=message
        )

    def not_found(self, request: Request) -> Response:
        return self.error(
            request,
            404,
            "Page not found",
            "This link does not lead to a page here. If it came in an email, check that the "
            "whole link was copied; the newest email about your ticket has a working one.",
        )

    def forbidden(self, request: Request) -> Response:
        return self.error(
            request,
            403,
            "This form could not be accepted",
            "The form was too old or did not come from this site, so nothing was changed. "
            "Go back, reload the page and send it again.",
        )

    def too_many(self, request: Request, wait: timedelta) -> Response:
        minutes = max(1, -(-int(wait.total_seconds()) // 60))
        response = self.error(
            request,
            429,
            "Too many requests",
            f"This form was used too often for this address or from your network. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        )
        response.headers["Retry-After"] = str(max(1, int(wait.total_seconds())))
        return response

    async def posted_form(
        self, request: Request, *, session_id: str | None = None
    ) -> FormData | Response:
        """The posted form with a valid CSRF token, or the page that says why not.

        A signed-in page's form (`session_id`) must carry that session's token.
        The caller closes the form (its uploaded files) when done with it.
        """
        try:
            form = await read_form(request)
        except UnreadableForm as error:
            return self.error(request, 400, "The form could not be read", str(error))
        secret = runtime_of(request).settings.secret
        submitted = form.get(csrf.FIELD_NAME)
        valid = (
            sessions.token_is_valid(secret, session_id, submitted)
            if session_id is not None
            else csrf.is_valid(request, secret, submitted)
        )
        if not valid:
            await form.close()
            return self.forbidden(request)
        return form

    def too_large(self, request: Request, limit: int) -> Response:
        """The 413 page of a form over its route's limit."""
        return self.error(
            request,
            413,
            "Too much to send at once",
            f"A form may carry at most {filesize(limit)}. Go back and leave some files out.",
        )

    def _environment(self, runtime: Runtime) -> jinja2.Environment:
        override = runtime.settings.templates
        environment = self._environments.get(override)
        if environment is None:
            loaders: list[jinja2.BaseLoader] = []
            if override:
                loaders.append(jinja2.FileSystemLoader(Path(override)))
            loaders.append(jinja2.FileSystemLoader(default_templates_dir()))
            environment = jinja2.Environment(
                loader=jinja2.ChoiceLoader(loaders),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.filters.update({"when": when, "filesize": filesize})
            self._environments[override] = environment
        return environment
