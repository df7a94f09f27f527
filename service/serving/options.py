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
    ConfigError,
    Settings,
    env,
    http_limits_from_env,
    parse_count,
    parse_list,
    parse_port,
    parse_relay,
    parse_seconds,
    parse_switch,
    parse_time,
    resolve_secret,
)
from service.inbound.tls import ListenerTls
from service.logs import FORMATS
from service.outbound.dkim_signing import DkimKey
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


def parse_log_format(value: str | None) -> str:
    word = (value or "human").strip().lower()
    if word not in FORMATS:
        raise ConfigError(f"--log-format {value!r}: expected one of {', '.join(FORMATS)}")
    return word


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
    option(
        "--relay",
        "the SMTP relay for outgoing mail: smtp://HOST:PORT (STARTTLS when offered), "
        "smtps://HOST:PORT (TLS from the start) or HOST:PORT; login from MAILDESK_RELAY_USER "
        "and MAILDESK_RELAY_PASSWORD; none: the built-in catcher",
    )
    option(
        "--relay-starttls",
        "auto: upgrade whenever the relay offers STARTTLS (a failed upgrade is an error); "
        "required: refuse a relay that does not offer it; off: never (a local relay without "
        "a certificate)",
        "auto",
    )
    option(
        "--base-url",
        "public URL of the web server, used in links in emails; none: http://HTTP-HOST:HTTP-PORT",
    )
    option(
        "--dkim-key",
        "the key that DKIM-signs every notification (`maildesk dkim keygen` makes one); "
        "none: unsigned",
    )
    option("--dkim-selector", "the DKIM selector the key is published under")
    option(
        "--sender-auth",
        "on: judge SPF, DKIM and DMARC of every message here, as the MX (needs DNS); "
        "off: only believe MAILDESK_TRUSTED_AUTHSERV_IDS; none: on with --relay, off without",
    )
    option(
        "--tls-cert",
        "the SMTP listener's certificate chain (PEM) for STARTTLS, reloaded on SIGHUP; "
        "none: no STARTTLS",
    )
    option("--tls-key", "the private key (PEM) of --tls-cert")
    option(
        "--smtp-require-tls",
        "on: refuse mail from a client that did not start TLS first (needs --tls-cert)",
        "off",
    )
    option(
        "--log-format",
        "human: one readable line per event on stderr; json: one JSON object a line",
        "human",
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
    relay = parse_relay(
        args.relay,
        starttls=args.relay_starttls,
        username=env("relay_user"),
        password=env("relay_password"),
        ca_file=env("relay_ca_file"),
    )
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
    if bool(args.dkim_key) != bool(args.dkim_selector):
        raise ConfigError(
            "--dkim-key and --dkim-selector go together: the key file, and the selector its "
            "public half is published under (`maildesk dkim keygen` prints both)"
        )
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together: the certificate and its key")
    require_tls = parse_switch("smtp-require-tls", args.smtp_require_tls, default=False)
    if require_tls and not args.tls_cert:
        raise ConfigError(
            "--smtp-require-tls on needs a certificate: give --tls-cert and --tls-key"
        )
    if args.tls_cert:
        ListenerTls(args.tls_cert, args.tls_key)  # fail at start, with the fix
    if args.dkim_key:
        DkimKey.load(args.dkim_key, args.dkim_selector, args.domain.lower())  # fail at start
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
        hostname=(env("hostname") or "").lower(),
        sender_auth=parse_switch(
            "sender-auth", args.sender_auth, default=relay is not None and mode != "demo"
        ),
        dns=parse_list(env("dns")),
        dns_timeout=parse_seconds("MAILDESK_DNS_TIMEOUT", env("dns_timeout") or 5.0),
        log_format=parse_log_format(args.log_format),
        keep_raw_mail_days=parse_count(
            "MAILDESK_KEEP_RAW_MAIL_DAYS", env("keep_raw_mail_days") or 0, least=0, flag=False
        ),
        tls_cert=args.tls_cert or None,
        tls_key=args.tls_key or None,
        smtp_require_tls=require_tls,
        dkim_key=args.dkim_key or None,
        dkim_selector=args.dkim_selector or None,
    )
