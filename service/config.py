"""Settings from flags and `MAILDESK_*` environment variables, validated once at start.

A flag wins over its variable, a variable over the default. The defaults run
maildesk on one machine with nothing else installed: SQLite in
`maildesk.db`, everything listening on 127.0.0.1, outgoing mail caught by the
built-in catcher. What cannot be defaulted safely (the secret that signs
reply addresses and links) is an error outside demo and test modes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.clock import parse_instant

DEFAULT_DB = "maildesk.db"
DEFAULT_DOMAIN = "support.maildesk.test"
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_API_BODY = 1024 * 1024
DEFAULT_MAX_IMPORT_BODY = 50 * 1024 * 1024
DEFAULT_NEW_TICKETS_PER_HOUR = 20
DEFAULT_SMTP_IDLE_TIMEOUT = 60.0
DEFAULT_SMTP_MAX_CONNECTIONS = 1000
DEFAULT_SMTP_PROCESSES = 1
DEFAULT_HTTP_HEADER_TIMEOUT = 10.0
DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT = 5.0
DEFAULT_HTTP_MAX_CONNECTIONS = 1000


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the flag, the variable and a fix."""


STARTTLS_CHOICES = ("auto", "required", "off")


@dataclass(frozen=True)
class Relay:
    """Where outgoing mail goes when it leaves the machine, and how it is protected on the way.

    `--relay smtp://HOST:PORT` (or plain `HOST:PORT`) talks SMTP and upgrades
    with STARTTLS whenever the relay offers it; a failed upgrade is an error,
    never a quiet fallback to plain text. `--relay-starttls required` refuses
    a relay that does not offer it, `off` never upgrades (a relay on the same
    machine or network that has no certificate). `smtps://HOST:PORT` is TLS
    from the first byte (port 465). Certificates are always verified, against
    the system's authorities or `MAILDESK_RELAY_CA_FILE`. The credentials
    come from `MAILDESK_RELAY_USER` and `MAILDESK_RELAY_PASSWORD` only, so
    they never show in a process list or a shell's history.
    """

    host: str
    port: int
    implicit_tls: bool = False
    starttls: str = "auto"
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def url(self) -> str:
        """The relay as the operator would write it, without credentials (for banners, logs)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP client may hold of the web server (`service.adapters.uvicorn`)."""

    header_timeout: float = DEFAULT_HTTP_HEADER_TIMEOUT
    """Seconds a request's head may take, from the connection or from the previous response."""
    keep_alive_timeout: float = DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT
    """Seconds an idle connection is kept open between requests."""
    max_connections: int = DEFAULT_HTTP_MAX_CONNECTIONS
    """Connections open at once; past it the least recently active idle one is closed."""


@dataclass(frozen=True)
class Settings:
    """Everything one maildesk process runs with, validated once at start."""

    db: str = DEFAULT_DB
    domain: str = DEFAULT_DOMAIN
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    http_host: str = "127.0.0.1"
    http_port: int = 8025
    relay: Relay | None = None
    base_url: str = ""
    fake_clock: bool = False
    fake_clock_start: datetime | None = None
    secret: bytes = b""
    admin_token: str = ""
    templates: str | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_api_body: int = DEFAULT_MAX_API_BODY  # bytes of JSON an API request may send
    max_import_body: int = DEFAULT_MAX_IMPORT_BODY  # bytes of POST /api/v1/admin/import
    new_tickets_per_hour: int = DEFAULT_NEW_TICKETS_PER_HOUR
    smtp_idle_timeout: float = DEFAULT_SMTP_IDLE_TIMEOUT  # seconds a command may take to arrive
    smtp_max_connections: int = DEFAULT_SMTP_MAX_CONNECTIONS
    smtp_processes: int = DEFAULT_SMTP_PROCESSES  # processes listening on the SMTP port
    trusted_authserv_ids: tuple[str, ...] = ()
    """Receiving servers whose Authentication-Results maildesk believes (the operator's own)."""
    webhook_allow_hosts: tuple[str, ...] = ()  # internal webhook targets the operator admits
    operator_emails: tuple[str, ...] = ()
    """Addresses that may sign in to the operator's console by emailed link (lower case)."""
    http_header_timeout: float = DEFAULT_HTTP_HEADER_TIMEOUT
    http_keep_alive_timeout: float = DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT
    http_max_connections: int = DEFAULT_HTTP_MAX_CONNECTIONS
    mode: str = "production"
    hostname: str = ""
    sender_auth: bool = False
    """SPF, DKIM and DMARC judged here (`--sender-auth`; on by default with `--relay`)."""
    dns: tuple[str, ...] = ()  # the resolvers to ask (`MAILDESK_DNS`); none: the system's
    dns_timeout: float = 5.0  # seconds one lookup may take before the message gets a 451
    keep_raw_mail_days: int = 0  # days received mail is kept whole; 0: for good
    log_format: str = "human"  # or "json": one object a line (`--log-format`)
    tls_cert: str | None = None  # the listener's certificate chain (PEM), for STARTTLS
    tls_key: str | None = None
    smtp_require_tls: bool = False  # refuse mail sent without STARTTLS
    dkim_key: str | None = None  # the file of the key that signs every notification
    dkim_selector: str | None = None
    """This server's own name: its EHLO to the relay, its SMTP greeting, its authserv-id."""

    @property
    def host_name(self) -> str:
        return self.hostname or default_hostname(self.domain)

    @property
    def public_base_url(self) -> str:
        return (self.base_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def http_limits(self) -> HttpLimits:
        return HttpLimits(
            self.http_header_timeout, self.http_keep_alive_timeout, self.http_max_connections
        )

    @property
    def from_address(self) -> str:
        return f"support@{self.domain}"

    def to_json(self) -> str:
        """Everything, the secret included: for a child process's stdin, never for a log."""
        data: dict[str, Any] = dataclasses.asdict(self)
        data["secret"] = base64.b64encode(self.secret).decode("ascii")
        if self.fake_clock_start is not None:
            data["fake_clock_start"] = self.fake_clock_start.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data: dict[str, Any] = json.loads(text)
        data["secret"] = base64.b64decode(data["secret"])
        data["trusted_authserv_ids"] = tuple(data.get("trusted_authserv_ids", ()))
        data["webhook_allow_hosts"] = tuple(data.get("webhook_allow_hosts", ()))
        data["dns"] = tuple(data.get("dns", ()))
        data["operator_emails"] = tuple(data.get("operator_emails", ()))
        if data["relay"] is not None:
            data["relay"] = Relay(**data["relay"])
        if data["fake_clock_start"] is not None:
            data["fake_clock_start"] = datetime.fromisoformat(data["fake_clock_start"])
        return cls(**data)


def default_hostname(domain: str) -> str:
    """The machine's fully qualified name, or the support domain when it has none.

    A relay or a receiving MX judges a client partly by its EHLO name, and
    `localhost` (what a machine without a DNS name calls itself) marks it as
    misconfigured; `MAILDESK_HOSTNAME` sets the name outright.
    """
    name = socket.getfqdn().lower()
    if "." not in name or name.startswith("localhost") or name.endswith(".localdomain"):
        return domain
    return name


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MAILDESK_{name.upper()}", default)


def parse_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting as its non-empty items, e.g. `mx1.example.com, mx2`."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def parse_relay(
    value: str | None,
    *,
    starttls: str | None = None,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
) -> Relay | None:
    """`--relay` (`smtp://HOST:PORT`, `smtps://HOST:PORT` or `HOST:PORT`) and its TLS and login.

    Credentials in the URL are refused: a command line is visible to every
    local user (`ps`), so they come from `MAILDESK_RELAY_USER` and
    `MAILDESK_RELAY_PASSWORD` instead.
    """
    if not value:
        return None
    example = "e.g. smtp://smtp.example.com:587 or smtps://smtp.example.com:465"
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "smtp", value
    scheme = scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"--relay {value!r}: expected smtp:// or smtps://, {example}")
    if "@" in rest:
        raise ConfigError(
            f"--relay {value!r}: no credentials on the command line; set MAILDESK_RELAY_USER "
            "and MAILDESK_RELAY_PASSWORD instead"
        )
    rest = rest.rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--relay {value!r}: expected a host and a port, {example}")
    mode = (starttls or "auto").lower()
    if mode not in STARTTLS_CHOICES:
        raise ConfigError(
            f"--relay-starttls {starttls!r}: expected one of {', '.join(STARTTLS_CHOICES)}"
        )
    if scheme == "smtps" and mode == "off":
        raise ConfigError(
            "--relay-starttls off does not apply to smtps://, which is TLS from the start; "
            "use smtp://HOST:PORT for a relay without TLS"
        )
    if bool(username) != bool(password):
        raise ConfigError(
            "set both MAILDESK_RELAY_USER and MAILDESK_RELAY_PASSWORD for a relay that asks "
            "for a login, or neither"
        )
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"MAILDESK_RELAY_CA_FILE {ca_file!r}: no such file")
    return Relay(
        host.strip("[]"),
        int(port),
        implicit_tls=scheme == "smtps",
        starttls=mode,
        username=username or None,
        password=password or None,
        ca_file=ca_file or None,
    )


def parse_switch(name: str, value: str | None, default: bool) -> bool:
    """`on`/`off` (also yes/no, true/false, 1/0); `default` when not given."""
    if value is None or value == "":
        return default
    word = value.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ConfigError(f"--{name} {value!r}: expected on or off")


def parse_port(name: str, value: str | int) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: expected a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--{name} {port}: a port is between 0 and 65535")
    return port


def parse_count(name: str, value: str | int, *, least: int = 1, flag: bool = True) -> int:
    """A whole number of at least `least`; `name` is a flag (`--name`) or, with
    `flag=False`, a variable named as is in the error."""
    shown = f"--{name}" if flag else name
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(f"{shown} {value!r}: expected a whole number") from None
    if count < least:
        raise ConfigError(f"{shown} {count}: must be at least {least}")
    return count


def parse_seconds(variable: str, value: str | float) -> float:
    """A positive number of seconds, named by its `MAILDESK_*` variable in the error."""
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{variable} {value!r}: expected a number of seconds, like 10") from None
    if not 0 < seconds < 86_400:
        raise ConfigError(f"{variable} {value!r}: give a number of seconds above 0, like 10")
    return seconds


def http_limits_from_env() -> HttpLimits:
    """The `MAILDESK_HTTP_*` limits, for `serve` and the stand-alone catcher alike."""
    return HttpLimits(
        header_timeout=parse_seconds(
            "MAILDESK_HTTP_HEADER_TIMEOUT",
            env("http_header_timeout") or DEFAULT_HTTP_HEADER_TIMEOUT,
        ),
        keep_alive_timeout=parse_seconds(
            "MAILDESK_HTTP_KEEP_ALIVE_TIMEOUT",
            env("http_keep_alive_timeout") or DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT,
        ),
        max_connections=parse_count(
            "MAILDESK_HTTP_MAX_CONNECTIONS",
            env("http_max_connections") or DEFAULT_HTTP_MAX_CONNECTIONS,
            flag=False,
        ),
    )


def parse_time(name: str, value: str) -> datetime:
    try:
        return parse_instant(value)
    except ValueError as e:
        raise ConfigError(f"--{name}: {e}") from None


def resolve_secret(value: str | None, mode: str) -> bytes:
    """The signing secret; demo and test modes make a throwaway one when none is set."""
    if value:
        if len(value) < 16:
            raise ConfigError(
                "MAILDESK_SECRET is shorter than 16 characters; use a long random value, "
                "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value.encode()
    if mode in ("demo", "test"):
        return secrets.token_bytes(32)
    raise ConfigError(
        "MAILDESK_SECRET is not set; it signs reply addresses and ticket links. Make one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'` and export it, "
        "or run `maildesk demo` to try maildesk with a throwaway secret"
    )
