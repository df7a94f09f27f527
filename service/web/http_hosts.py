"""Which names a web server answers to, and which clients are on this machine.

`HostCheck` is a pure ASGI middleware in front of every route of `maildesk
serve` and of the stand-alone catcher. It answers 400 to a request whose
`Host` header names anything but the server's own names: the host of the
public base URL, the address it was bound to when that is a concrete one,
and the loopback names. That stops DNS rebinding: a page on `evil.test` that
points its name at 127.0.0.1 reaches the port, but its requests still say
`Host: evil.test`. Host names are compared, never ports (a proxy or a
forwarded port may change the port; the name is what rebinding cannot).

Why not Starlette's `TrustedHostMiddleware`: it splits the header at the first
colon (so `[::1]:8025` is never allowed), and its answer, "Invalid host
header", does not tell an operator what to change.

What this module must never do: trust a header to say where a client is
(`is_loopback_client` reads the connection's address, which uvicorn only
replaces from `X-Forwarded-For` when the connection itself comes from
127.0.0.1), or allow a wildcard address as a name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "*"})


def host_name(value: str) -> str | None:
    """The host name of a `Host` header or a host setting, normalised; None when malformed.

    Lower-cased, without port, brackets or a trailing dot; IP addresses in
    their short form (`0:0:0:0:0:0:0:1` is `::1`).
    """
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
    elif value.count(":") > 1:  # a bare IPv6 address (a setting, never a valid header)
        name = value
    else:
        name, colon, port = value.partition(":")
        if colon and not port.isdigit():
            return None
    name = name.rstrip(".")
    if not name:
        return None
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name if ":" not in name else None


def allowed_hosts(*names: str | None) -> frozenset[str]:
    """The loopback names, plus each of `names` that is a concrete host (not 0.0.0.0 or ::).

    `names` may be host settings (`--http-host`) or URLs (`--base-url`).
    """
    allowed = set(LOOPBACK_NAMES)
    for raw in names:
        if not raw:
            continue
        name = host_name(urlsplit(raw).hostname or "") if "://" in raw else host_name(raw)
        if name and name not in WILDCARD_ADDRESSES and not _is_wildcard(name):
            allowed.add(name)
    return frozenset(allowed)


def is_loopback_host(host: str) -> bool:
    """Whether listening on `host` keeps a server to this machine."""
    name = host_name(host)
    return name is not None and (name == "localhost" or _is_loopback_address(name))


def is_loopback_client(scope: Scope) -> bool:
    """Whether the request's connection comes from this machine."""
    client = scope.get("client")
    return client is not None and _is_loopback_address(str(client[0]))


class HostCheck:
    """Pure ASGI middleware: 400 for a `Host` not in `allowed`; `fix` says what to change."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str], fix: str) -> None:
        self.app = app
        self.allowed = frozenset(allowed)
        self.fix = fix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"host"), None)
        name = host_name(header.decode("latin-1")) if header is not None else None
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        named = "a request without a Host header"
        if header is not None:
            named = f"the name {header.decode('latin-1')[:60]!r} (the request's Host header)"
        response = PlainTextResponse(
            f"This server does not answer to {named}. Use the address in its links; {self.fix}.",
            status_code=400,
        )
        await response(scope, receive, send)


def _is_loopback_address(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_wildcard(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False
