"""`maildesk catcher`: the mail catcher on its own, SMTP and web in one process.

`build_catcher_app()` is the stand-alone web app (the catcher's routes plus
`/healthz`); `run_catcher()` serves it with uvicorn beside the SMTP listener,
both on the current event loop, until it is cancelled.

Signals belong to whoever runs the event loop, not to this module: uvicorn's
own SIGINT/SIGTERM capture is turned off, so inside `maildesk serve` it cannot
steal the process's Ctrl-C. Stand-alone, `anyio.run(run_catcher, ...)` stops on
Ctrl-C because the asyncio runner cancels the main task, and cancellation shuts
both servers down in order; the list page's pending live updates are answered
first, so an open browser tab does not hold the shutdown up.

What this module must never do: keep a port open after `run_catcher` returns,
or exit the process itself (uvicorn's `sys.exit` paths are avoided by binding
the HTTP socket here, where a busy port is an ordinary `OSError`).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from service.catcher.live import LiveUpdates
from service.catcher.mailbox import Mailbox
from service.catcher.smtp import serve_catcher_smtp
from service.catcher.web import catcher_routes
from service.config import ConfigError, HttpLimits
from service.web.http_body import NO_BODY
from service.web.http_hosts import HostCheck, allowed_hosts, is_loopback_host
from service.web.http_server import listening_socket, serve_http

DEFAULT_SMTP_PORT = 1025
DEFAULT_HTTP_PORT = 1080
"""MailCatcher's ports: clear of `maildesk serve` (SMTP 2525, HTTP 8025), so both can run."""


@dataclass(frozen=True)
class CatcherAddresses:
    """Where a running catcher listens (the real ports when 0 was asked for)."""

    smtp_host: str
    smtp_port: int
    http_host: str
    http_port: int

    @property
    def web_url(self) -> str:
        return f"http://{_host_in_url(self.http_host)}:{self.http_port}/mail"


def build_catcher_app(
    mailbox: Mailbox, http_host: str = "127.0.0.1", *, live: LiveUpdates | None = None
) -> Starlette:
    """The stand-alone catcher web app over `mailbox`: its pages, its API and `/healthz`.

    It answers to the loopback names, and to `http_host` when that is a concrete
    address (see `service.web.http_hosts`): a web page elsewhere that points its own
    name at this machine (DNS rebinding) is refused. `live` answers the list
    page's long polls (`service.catcher.live`).
    """

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "messages": len(mailbox)})

    async def home(request: Request) -> Response:
        return RedirectResponse(request.url_for("catcher_list").path)

    routes = [
        Route("/", home, methods=["GET"], middleware=NO_BODY),
        Route("/healthz", healthz, methods=["GET"], name="healthz", middleware=NO_BODY),
        *catcher_routes(mailbox, live=live),
    ]
    host_check = Middleware(
        HostCheck,
        allowed=allowed_hosts(http_host),
        fix="to reach the catcher from elsewhere, start it with --http-host set to the address "
        "you use (and --allow-remote)",
    )
    return Starlette(routes=routes, middleware=[host_check])


async def run_catcher(
    smtp_host: str = "127.0.0.1",
    smtp_port: int = DEFAULT_SMTP_PORT,
    http_host: str = "127.0.0.1",
    http_port: int = DEFAULT_HTTP_PORT,
    *,
    mailbox: Mailbox | None = None,
    http_limits: HttpLimits | None = None,
    allow_remote: bool = False,
    task_status: TaskStatus[CatcherAddresses] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Catch mail on SMTP and show it over HTTP until cancelled.

    Prints where it listens. With `await task_group.start(run_catcher, ...)`
    the caller gets the `CatcherAddresses` once both servers accept
    connections. A busy port raises `OSError` before anything is served.

    The catcher has no password, and what it shows lets its reader act on
    every ticket in the mail, so a web side listening beyond this machine is
    a `ConfigError` unless `allow_remote` says that is meant.
    """
    if not allow_remote and not is_loopback_host(http_host):
        raise ConfigError(
            f"--http-host {http_host} would show every caught message to anyone who can reach "
            "it, and the catcher has no password; use 127.0.0.1, or add --allow-remote if that "
            "is what you want"
        )
    mailbox = mailbox if mailbox is not None else Mailbox()
    live = LiveUpdates(mailbox)
    app = build_catcher_app(mailbox, http_host, live=live)
    async with serve_catcher_smtp(mailbox, smtp_host, smtp_port) as (bound_smtp_host, bound_smtp):
        with listening_socket(http_host, http_port, setting="--http-port") as http_socket:
            bound_http_host, bound_http = http_socket.getsockname()[:2]
            addresses = CatcherAddresses(bound_smtp_host, bound_smtp, bound_http_host, bound_http)
            print(
                f"maildesk catcher: SMTP on {_host_in_url(bound_smtp_host)}:{bound_smtp}, "
                f"web on {addresses.web_url}, JSON at /api/messages",
                flush=True,
            )
            if not is_loopback_host(http_host):
                print(
                    "maildesk catcher: --allow-remote: anyone who can reach "
                    f"{_host_in_url(bound_http_host)}:{bound_http} can read and delete every "
                    "caught message",
                    flush=True,
                )
            task_status.started(addresses)
            async with anyio.create_task_group() as group:
                group.start_soon(live.stop_when_cancelled)
                await serve_http(app, http_socket, http_limits)
                group.cancel_scope.cancel()


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
