"""`maildesk serve`, `demo`, `catcher` and `send`: the long-running commands.

`serve` runs the SMTP listener, the web server, the scheduler and the outbox
worker in one anyio task group, so a part that fails brings the process down
loudly instead of dying alone. SIGINT or SIGTERM stops it in order: the web
server, scheduler and outbox stop; the SMTP listener stops accepting, lets
messages already in DATA finish and commit; then the database closes.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

import service
from service.banner import banner
from service.catcher.app import run_catcher
from service.clock import SharedTime
from service.config import (
    DEFAULT_DB,
    DEFAULT_DOMAIN,
    DEFAULT_MAX_API_BODY,
    DEFAULT_MAX_IMPORT_BODY,
    DEFAULT_SMTP_PROCESSES,
    Settings,
    env,
    http_limits_from_env,
    parse_count,
    parse_list,
    parse_port,
    parse_relay,
    parse_time,
    resolve_secret,
)
from service.http_server import listening_socket, serve_http
from service.listeners import helper_listeners, serve_listener
from service.outbound.webhook_target import AllowList
from service.runtime import Runtime, build_runtime
from service.store import Store, open_store
from service.web.app import build_app

log = logging.getLogger("maildesk")

SECRET_KEY = "local_secret"
ADMIN_TOKEN_KEY = "local_admin_token"
DEMO_START = "2026-11-23T14:00:00Z"  # a Monday afternoon; fixtures/demo.json is dated around it
DEMO_DB = "maildesk-demo.db"
WEBHOOK_ALLOW_HOSTS_HELP = (
    "internal webhook targets to allow, comma-separated host names, addresses or networks "
    "(e.g. hooks.internal,10.0.0.0/8); by default webhooks go to public addresses only"
)


def bundled(name: str) -> Path:
    """A top-level folder shipped with the package (templates/, fixtures/), wherever installed."""
    package = Path(service.__file__).parent
    installed = package / name
    return installed if installed.exists() else package.parent / name


def add_serve_options(parser: argparse.ArgumentParser, db_default: str = DEFAULT_DB) -> None:
    def option(flag: str, help_text: str, default: str | None = None) -> None:
        name = flag.removeprefix("--").replace("-", "_")
        parser.add_argument(
            flag, default=env(name, default), help=f"{help_text} (MAILDESK_{name.upper()})"
        )

    option("--db", "SQLite file or postgresql://… URL", db_default)
    option("--domain", "the support domain maildesk receives mail for", DEFAULT_DOMAIN)
    option("--smtp-host", "SMTP listen address", "127.0.0.1")
    option("--smtp-port", "SMTP listen port", "2525")
    option("--http-host", "web/API listen address", "127.0.0.1")
    option("--http-port", "web/API listen port", "8025")
    option("--relay", "HOST:PORT of the SMTP relay for outgoing mail; none: the built-in catcher")
    option(
        "--base-url",
        "public URL of the web server, used in links in emails; none: http://HTTP-HOST:HTTP-PORT",
    )
    option("--templates", "a folder of templates that overrides the built-in ones")
    option("--webhook-allow-hosts", WEBHOOK_ALLOW_HOSTS_HELP)
    option(
        "--smtp-processes",
        "processes accepting SMTP on the one port, and with --relay delivering from the "
        "outbox; one a core uses every core",
        str(DEFAULT_SMTP_PROCESSES),
    )
    parser.add_argument(
        "--fake-clock",
        nargs="?",
        const="resume",
        default=env("fake_clock"),
        metavar="ISO-8601",
        help="run on a fake clock that only the admin API moves, from ISO-8601 or, with no "
        "value, from where it stood (MAILDESK_FAKE_CLOCK)",
    )


async def settings_from(args: argparse.Namespace, store: Store, *, mode: str) -> Settings:
    """Validate the flags, and settle the secret and admin token (persisted in local mode)."""
    relay = parse_relay(args.relay)
    local = relay is None
    secret_value = env("secret")
    admin_token = env("admin_token") or ""
    async with store.transaction() as q:
        if not secret_value and local:
            secret_value = await q.settings.get(SECRET_KEY)
            if not secret_value:
                secret_value = secrets.token_urlsafe(32)
                await q.settings.set(SECRET_KEY, secret_value)
        if not admin_token and local:
            admin_token = await q.settings.get(ADMIN_TOKEN_KEY) or ""
            if not admin_token:
                admin_token = secrets.token_urlsafe(24)
                await q.settings.set(ADMIN_TOKEN_KEY, admin_token)
    secret = resolve_secret(secret_value, mode)
    start = None
    if args.fake_clock and args.fake_clock != "resume":
        start = parse_time("fake-clock", args.fake_clock)
    http = http_limits_from_env()
    return Settings(
        db=args.db,
        domain=args.domain.lower(),
        smtp_host=args.smtp_host,
        smtp_port=parse_port("smtp-port", args.smtp_port),
        http_host=args.http_host,
        http_port=parse_port("http-port", args.http_port),
        relay=relay,
        base_url=args.base_url or "",
        fake_clock=bool(args.fake_clock),
        fake_clock_start=start,
        secret=secret,
        admin_token=admin_token,
        templates=args.templates,
        new_tickets_per_hour=int(env("new_tickets_per_hour", "20") or 20),
        max_message_size=int(env("max_message_size", str(10 * 1024 * 1024)) or 0),
        max_api_body=parse_count(
            "MAILDESK_MAX_API_BODY", env("max_api_body") or DEFAULT_MAX_API_BODY, flag=False
        ),
        max_import_body=parse_count(
            "MAILDESK_MAX_IMPORT_BODY",
            env("max_import_body") or DEFAULT_MAX_IMPORT_BODY,
            flag=False,
        ),
        smtp_idle_timeout=float(env("smtp_idle_timeout", "60") or 60),
        smtp_max_connections=int(env("smtp_max_connections", "1000") or 1000),
        smtp_processes=parse_count("smtp-processes", args.smtp_processes),
        trusted_authserv_ids=parse_list(env("trusted_authserv_ids")),
        webhook_allow_hosts=AllowList.parse(args.webhook_allow_hosts).entries(),
        http_header_timeout=http.header_timeout,
        http_keep_alive_timeout=http.keep_alive_timeout,
        http_max_connections=http.max_connections,
        mode=mode,
    )


async def serve(
    settings: Settings,
    *,
    store: Store | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
    task_status: TaskStatus[Runtime] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run everything until cancelled or signalled."""
    runtime = await build_runtime(settings, store=store)
    try:
        with (
            listening_socket(
                settings.smtp_host,
                settings.smtp_port,
                reuse_port=settings.smtp_processes > 1,
                setting="--smtp-port (MAILDESK_SMTP_PORT)",
            ) as smtp_socket,
            listening_socket(
                settings.http_host,
                settings.http_port,
                setting="--http-port (MAILDESK_HTTP_PORT)",
            ) as http_socket,
            _shared_fake_clock(runtime) as shared_time,
        ):
            runtime.settings = settings = replace(
                settings,
                smtp_port=smtp_socket.getsockname()[1],
                http_port=http_socket.getsockname()[1],
            )
            async with (
                serve_listener(runtime, smtp_socket),
                helper_listeners(settings, shared_time),
                anyio.create_task_group() as group,
            ):
                group.start_soon(_stop_on_signal, group.cancel_scope)
                group.start_soon(runtime.scheduler.run_forever)
                group.start_soon(runtime.outbox.run_forever)
                app = build_app(runtime)
                group.start_soon(serve_http, app, http_socket, settings.http_limits)
                group.start_soon(app.state.catcher_live.stop_when_cancelled)
                if on_ready:
                    on_ready(runtime)
                task_status.started(runtime)
    finally:
        with anyio.CancelScope(shield=True):
            await runtime.close()


@contextmanager
def _shared_fake_clock(runtime: Runtime) -> Iterator[SharedTime | None]:
    """With a fake clock and helper processes, the memory through which they follow it.

    Closed when serving ends, after the helpers (inside this context) have stopped.
    """
    clock = runtime.fake_clock
    if clock is None or runtime.settings.smtp_processes < 2:
        yield None
        return
    shared = SharedTime.create()
    clock.share(shared)
    try:
        yield shared
    finally:
        clock.share(None)
        shared.close()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for received in signals:
                print(
                    f"maildesk: {signal.Signals(received).name}: stopping after the mail in flight",
                    file=sys.stderr,
                    flush=True,
                )
                scope.cancel()
                return
    except (NotImplementedError, ValueError):  # not the main thread: the caller stops us
        await anyio.sleep_forever()


async def cmd_serve(args: argparse.Namespace) -> int:
    store = await open_store(args.db)
    try:
        settings = await settings_from(args, store, mode="production")
    except BaseException:
        await store.close()
        raise
    await serve(settings, store=store, on_ready=lambda runtime: print(banner(runtime), flush=True))
    return 0


async def cmd_catcher(args: argparse.Namespace) -> int:
    await run_catcher(
        args.smtp_host,
        parse_port("smtp-port", args.smtp_port),
        args.http_host,
        parse_port("http-port", args.http_port),
        http_limits=http_limits_from_env(),
        allow_remote=args.allow_remote,
    )
    return 0
