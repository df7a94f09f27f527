"""The options of `maildesk serve` and `demo`, and the `Settings` they make.

Each flag has a `MAILDESK_*` variable (a flag wins over its variable, a
variable over the default); `settings_from` validates them once and settles
the secret and admin token, which a local installation makes once and keeps
in its database.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

import service
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
from service.outbound.webhook_target import AllowList
from service.store import Store

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
        operator_emails=tuple(e.lower() for e in parse_list(env("operator_emails"))),
        http_header_timeout=http.header_timeout,
        http_keep_alive_timeout=http.keep_alive_timeout,
        http_max_connections=http.max_connections,
        mode=mode,
    )
