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


@dataclass(frozen=True)
class Relay:
    """Where outgoing mail goes when it leaves the machine (`--relay HOST:PORT`)."""

    host: str
    port: int


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
        data["operator_emails"] = tuple(data.get("operator_emails", ()))
        if data["relay"] is not None:
            data["relay"] = Relay(**data["relay"])
        if data["fake_clock_start"] is not None:
            data["fake_clock_start"] = datetime.fromisoformat(data["fake_clock_start"])
        return cls(**data)


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MAILDESK_{name.upper()}", default)


def parse_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting as its non-empty items, e.g. `mx1.example.com, mx2`."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def parse_relay(value: str | None) -> Relay | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--relay {value!r}: expected HOST:PORT, e.g. smtp.example.com:587")
    return Relay(host.strip("[]"), int(port))


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
