"""`maildesk serve`, `demo`, `catcher` and `send`: the long-running commands.

`serve` runs the SMTP listener, the web server, the scheduler and the outbox
worker in one anyio task group, so a part that fails brings the process down
loudly instead of dying alone. SIGINT or SIGTERM stops it in order: the web
server, scheduler and outbox stop; the SMTP listener stops accepting, lets
messages already in DATA finish and commit; then the database closes.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiosmtplib
import anyio
from anyio.abc import TaskStatus

import service
from service.catalog import import_catalog
from service.catcher.app import DEFAULT_HTTP_PORT, DEFAULT_SMTP_PORT, run_catcher
from service.clock import SharedTime
from service.config import (
    DEFAULT_DB,
    DEFAULT_DOMAIN,
    DEFAULT_MAX_API_BODY,
    DEFAULT_MAX_IMPORT_BODY,
    DEFAULT_SMTP_PROCESSES,
    ConfigError,
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
from service.http_hosts import LOOPBACK_NAMES, allowed_hosts, is_loopback_host
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
    option("--relay", "HOST:PORT of the SMTP relay for outgoing mail; default: built-in catcher")
    option("--base-url", "public URL of the web server, used in links in emails")
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
        help="run on a fake clock that only the admin API moves; optional start time "
        "(MAILDESK_FAKE_CLOCK)",
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
                settings.smtp_host, settings.smtp_port, reuse_port=settings.smtp_processes > 1
            ) as smtp_socket,
            listening_socket(settings.http_host, settings.http_port) as http_socket,
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


def _banner(runtime: Runtime) -> None:
    s = runtime.settings
    web = f"http://{s.http_host}:{s.http_port}"
    mail = f"relay {s.relay.host}:{s.relay.port}" if s.relay else f"{web}/mail (built-in catcher)"
    clock = f"fake, now {runtime.clock.now().isoformat()}" if runtime.fake_clock else "system"
    lines = [
        f"maildesk serving {s.domain} on {s.db}",
        f"  SMTP     {s.smtp_host}:{s.smtp_port}  (refund@, cancel@, support@, lookup@{s.domain})"
        + (f", {s.smtp_processes} processes" if s.smtp_processes > 1 else ""),
        f"  web/API  {web}   health {web}/healthz",
        f"  mail     {mail}",
        f"  clock    {clock}",
    ]
    if s.relay is None:
        lines.append(f"  admin    Authorization: Bearer {s.admin_token}")
    lines += _exposure_warnings(s)
    print("\n".join(lines), flush=True)


def _exposure_warnings(s: Settings) -> list[str]:
    """What a web server listening beyond this machine shows, and to whom: said, never silent."""
    if is_loopback_host(s.http_host):
        return []
    warnings = []
    if s.relay is None:
        warnings.append(
            f"  note     --http-host {s.http_host} reaches other machines: the built-in "
            "catcher's pages (/mail, /api/messages) show them nothing without the admin "
            "token; in a browser sign in with any user name and the admin token as password, "
            "from scripts send the Authorization line above"
        )
    names = allowed_hosts(s.public_base_url, s.http_host)
    if names == LOOPBACK_NAMES:  # bound to every address, and no --base-url names one
        warnings.append(
            f"  note     without --base-url the web server answers only to "
            f"{', '.join(sorted(names))}; set --base-url (MAILDESK_BASE_URL) to the address "
            "other machines use, which also goes into the links in emails"
        )
    return warnings


async def cmd_serve(args: argparse.Namespace) -> int:
    store = await open_store(args.db)
    try:
        settings = await settings_from(args, store, mode="production")
    except BaseException:
        await store.close()
        raise
    await serve(settings, store=store, on_ready=_banner)
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    if not args.fake_clock:
        args.fake_clock = DEMO_START
    store = await open_store(args.db)
    try:
        settings = await settings_from(args, store, mode="demo")
        data = json.loads((bundled("fixtures") / "demo.json").read_text("utf-8"))
        counts = await import_catalog(
            store, data, webhook_allow=AllowList.parse(settings.webhook_allow_hosts)
        )
    except BaseException:
        await store.close()
        raise

    def ready(runtime: Runtime) -> None:
        _banner(runtime)
        s = runtime.settings
        web = f"http://{s.http_host}:{s.http_port}"
        token = s.admin_token
        sample = bundled("fixtures") / "mail" / "refund-request.eml"
        print(
            f"\nImported {counts['vendors']} vendors, {counts['products']} products and "
            f"{counts['orders']} orders from fixtures/demo.json. Try:\n"
            f"  maildesk send {sample} --smtp-port {s.smtp_port}\n"
            f"      Jane asks for a refund of order Q7K2M9XA; both emails appear at {web}/mail\n"
            f"  curl -s -H 'Authorization: Bearer {token}' {web}/api/v1/tickets\n"
            f"  curl -s -H 'Authorization: Bearer {token}' -d '{{\"advance\": \"P1D\"}}' "
            f"{web}/api/v1/admin/clock\n"
            f"      a weekday later the refund is processed and confirmed to both parties\n"
            f"  curl -s -H 'Authorization: Bearer {token}' {web}/api/v1/vendors/acme\n"
            f"      the vendor's API key and command address\n",
            flush=True,
        )

    await serve(settings, store=store, on_ready=ready)
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


async def cmd_send(args: argparse.Namespace) -> int:
    """Send an .eml file to a listener, as a mail server would."""
    path = anyio.Path(args.file)
    if not await path.exists():
        raise ConfigError(f"{path}: no such file")
    raw = await path.read_bytes()
    from email.parser import BytesParser
    from email.utils import getaddresses

    headers = BytesParser().parsebytes(raw, headersonly=True)
    sender = args.sender or (getaddresses([headers.get("From", "")])[0][1])
    recipients = args.to or [a for _, a in getaddresses(headers.get_all("To", []))]
    if not sender or not recipients:
        raise ConfigError(f"{path}: give --from and --to; the file's headers name none")
    try:
        _, reply = await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=recipients,
            hostname=args.smtp_host,
            port=parse_port("smtp-port", args.smtp_port),
            start_tls=False,
        )
    except aiosmtplib.SMTPException as error:
        print(f"maildesk send: {error}", file=sys.stderr)
        return 1
    print(f"sent {path.name} from {sender} to {', '.join(recipients)}: {reply}")
    return 0


def add_run_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("serve", help="run the listener, web server, scheduler and outbox")
    add_serve_options(p)
    p.set_defaults(run=cmd_serve)

    p = commands.add_parser("demo", help="import the demo data and serve it on a fake clock")
    add_serve_options(p, db_default=DEMO_DB)
    p.set_defaults(run=cmd_demo)

    p = commands.add_parser("catcher", help="a stand-alone mail catcher: SMTP + web page + API")
    p.add_argument("--smtp-host", default="127.0.0.1")
    p.add_argument("--smtp-port", default=str(DEFAULT_SMTP_PORT))
    p.add_argument("--http-host", default="127.0.0.1")
    p.add_argument("--http-port", default=str(DEFAULT_HTTP_PORT))
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --http-host be an address other machines reach; the catcher has no password, "
        "so anyone who can reach it reads and deletes every caught message",
    )
    p.set_defaults(run=cmd_catcher)

    p = commands.add_parser("send", help="send an .eml file to maildesk's SMTP listener")
    p.add_argument("file")
    p.add_argument("--smtp-host", default=env("smtp_host", "127.0.0.1"))
    p.add_argument("--smtp-port", default=env("smtp_port", "2525"))
    p.add_argument("--from", dest="sender", help="envelope sender (default: the From header)")
    p.add_argument("--to", action="append", help="envelope recipient (default: the To header)")
    p.set_defaults(run=cmd_send)
