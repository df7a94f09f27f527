"""Who is signed in to the desk or the console in this request, if anyone.

Read once per request from the session cookie (`service.web.sessions`) and
the store (`service.usecases.signin.current_session`), and kept on the
request, so a page that asks twice reads once.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from service.store.access import WebSession
from service.usecases.signin import OPERATOR, VENDOR, current_session
from service.web.rendering import runtime_of
from service.web.sessions import session_id_of


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: the session id their browser holds, and the session."""

    session_id: str
    session: WebSession

    @property
    def vendor_id(self) -> str | None:
        return self.session.vendor_id if self.session.role == VENDOR else None

    @property
    def is_operator(self) -> bool:
        return self.session.role == OPERATOR

    @property
    def email(self) -> str:
        return self.session.email


_NOBODY = object()


async def signed_in(request: Request) -> Viewer | None:
    """The live session of this browser, or None (no cookie, a forged one, or ended)."""
    cached = request.scope.get("maildesk.viewer", _NOBODY)
    if cached is None or isinstance(cached, Viewer):
        return cached
    runtime = runtime_of(request)
    viewer: Viewer | None = None
    session_id = session_id_of(request, runtime.settings.secret)
    if session_id is not None:
        session = await current_session(runtime.desk, session_id)
        if session is not None:
            viewer = Viewer(session_id, session)
    request.scope["maildesk.viewer"] = viewer
    return viewer
