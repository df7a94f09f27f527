"""Where a webhook may go: the one rule for vendors' webhook URLs, at save time and at send time.

A vendor's `webhook_url` comes from outside, yet maildesk posts to it from
inside the operator's network. Unchecked, it reaches what only that network
should reach (the cloud metadata service at 169.254.169.254, an admin port on
127.0.0.1, a database on 10.0.0.0/8): server-side request forgery. The rule:

1. the URL is `https://` or `http://`, names a host, and has no
   `user:password@` part (webhooks are signed with the vendor's api_key);
2. every address maildesk connects to is public: not loopback, private
   (RFC 1918, ULA fc00::/7), link-local, carrier-grade NAT (100.64.0.0/10),
   a cloud metadata address, unspecified, multicast or reserved; an IPv6
   address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by
   that IPv4 address;
3. unless the operator admits the host name, the address or its network in
   `MAILDESK_WEBHOOK_ALLOW_HOSTS` (`AllowList`).

`check_url` applies 1, and 2-3 to an address written in the URL itself, when
a vendor is imported, so a bad URL is refused naming the vendor before
anything is queued; host names are not looked up then (an import must not
depend on DNS, and what a name resolves to can change afterwards).
`admitted_addresses` looks the name up when the webhook is sent and applies
2-3 to every address it stands for; the sender connects to one of those
addresses and never looks the name up again, so a DNS answer that changes
between check and connection (DNS rebinding) changes nothing.

This module judges; it never connects.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from service.config import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_HOSTS_SETTING = "MAILDESK_WEBHOOK_ALLOW_HOSTS"
SCHEMES = {"https": 443, "http": 80}

_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_-]+)*\.?")

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud Classic
    )
)
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")  # RFC 6890: not for hosts
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits


class RefusedTarget(ValueError):
    """maildesk must not post to this URL; the message says why and how to admit it if meant."""


@dataclass(frozen=True)
class AllowList:
    """The operator's exceptions to rule 2: host names, addresses and networks it trusts.

    A host name matches exactly (case and a final dot aside), not its
    subdomains, and admits whatever it resolves to; an address or network
    admits those addresses whatever name led to them.
    """

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str] | None) -> AllowList:
        """Read `MAILDESK_WEBHOOK_ALLOW_HOSTS` (comma-separated) or entries already split."""
        if entries is None:
            return cls()
        if isinstance(entries, str):
            entries = entries.split(",")
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if not _HOST_NAME.fullmatch(name):
                raise ConfigError(
                    f"{ALLOW_HOSTS_SETTING} (--webhook-allow-hosts): {entry!r} is not a host "
                    "name, an address or a network; list them separated by commas, e.g. "
                    "hooks.internal,10.0.0.5,10.0.0.0/8"
                )
            names.add(name)
        return cls(frozenset(names), tuple(networks))

    def entries(self) -> tuple[str, ...]:
        """The list in a canonical form, as `Settings` keeps it."""
        return (*sorted(self.names), *(_shown_network(n) for n in self.networks))

    def admits_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


NO_EXCEPTIONS = AllowList()


def _shown_network(network: IPNetwork) -> str:
    """A single address as itself (127.0.0.1), a wider network with its prefix (10.0.0.0/8)."""
    full = 32 if network.version == 4 else 128
    return str(network.network_address) if network.prefixlen == full else str(network)


METADATA_REASON = "a cloud metadata address"
UNSPECIFIED_REASON = "the unspecified address"
MULTICAST_REASON = "a multicast address"
NEVER_AN_ENDPOINT = frozenset({METADATA_REASON, UNSPECIFIED_REASON, MULTICAST_REASON})
"""Reasons for which the refusal does not suggest the allow-list: no webhook lives there."""


def not_public(address: IPAddress) -> str | None:
    """Why `address` is not a public one ("a loopback address"), or None when it is."""
    if address in METADATA:
        return METADATA_REASON
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return UNSPECIFIED_REASON
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return MULTICAST_REASON
    if address in CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address in PROTOCOL_ASSIGNMENTS:
        return "not a public address"
    return None


def judged_as(address: IPAddress) -> IPAddress:
    """The address that decides: the IPv4 address inside an IPv6 one that carries it, else itself.

    `::ffff:127.0.0.1` reaches 127.0.0.1, and so does `64:ff9b::7f00:1`
    through a NAT64 gateway and `2002:7f00:1::` through 6to4.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


@dataclass(frozen=True)
class Refusal:
    """One address maildesk must not connect to, and why."""

    address: IPAddress
    judged: IPAddress
    reason: str

    def __str__(self) -> str:
        if self.judged == self.address:
            return f"{self.address}, {self.reason}"
        shown = (
            f"::ffff:{self.judged}"
            if isinstance(self.address, ipaddress.IPv6Address) and self.address.ipv4_mapped
            else str(self.address)
        )
        return f"{shown} (that is {self.judged}), {self.reason}"


def refusal(address: IPAddress, host: str, allow: AllowList) -> Refusal | None:
    """Why maildesk must not connect to `address` for a URL naming `host`; None when it may."""
    judged = judged_as(address)
    if allow.admits_name(host) or allow.admits_address(address) or allow.admits_address(judged):
        return None
    reason = not_public(judged)
    return None if reason is None else Refusal(address, judged, reason)


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL that passed `check_url`, and how to send it to one checked address."""

    text: str
    """The URL as the vendor gave it, for messages."""
    url: httpx.URL
    host: str
    """As the certificate must name it: lower case, internationalised names in IDNA form."""
    port: int
    literal: tuple[IPAddress, ...]
    """The addresses the URL names itself (`http://10.0.0.5/`, `http://2130706433/`), else ()."""

    @property
    def host_header(self) -> str:
        """`Host` as it would be sent to the URL itself (a non-default port included)."""
        return self.url.netloc.decode("ascii")

    def url_at(self, address: IPAddress) -> httpx.URL:
        """The same URL with the checked address in place of the host name."""
        return self.url.copy_with(host=str(address))

    def extensions(self) -> dict[str, Any]:
        """For https to a host name: TLS names (SNI) and verifies that name, not the address."""
        if self.url.scheme == "https" and not self.literal:
            return {"sni_hostname": self.host}
        return {}

    def refused(self, refusals: Sequence[Refusal]) -> RefusedTarget:
        where = (
            f"{self.text!r} points at"
            if self.literal
            else f"{self.text!r}: {self.host} resolves to"
        )
        fix = "give the vendor's public https:// URL"
        admissible = [r for r in refusals if r.reason not in NEVER_AN_ENDPOINT]
        if admissible:
            fix += (
                " or, if this internal endpoint is meant, admit it with "
                f"{ALLOW_HOSTS_SETTING}={admissible[0].judged}"
            )
        return RefusedTarget(
            f"{where} {' and '.join(map(str, refusals))}; maildesk posts webhooks only to "
            f"public addresses: {fix}"
        )


def check_url(text: str, allow: AllowList = NO_EXCEPTIONS) -> WebhookTarget:
    """Rule 1, and rules 2-3 for an address written in the URL: at import and before each send."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise RefusedTarget(
            f"{text!r} is not a URL ({error}); give the vendor's endpoint, "
            "e.g. https://hooks.example.com/maildesk"
        ) from None
    shown = str(url.copy_with(userinfo=b"***")) if url.userinfo else text
    if url.scheme not in SCHEMES:
        raise RefusedTarget(
            f"{shown!r} is not an https:// or http:// URL; maildesk posts webhooks over HTTP "
            "only. Give the vendor's endpoint, e.g. https://hooks.example.com/maildesk"
        )
    if url.userinfo:
        raise RefusedTarget(
            f"{shown!r} carries a user name or password; remove the part before '@': "
            "maildesk signs every webhook with the vendor's api_key (X-Maildesk-Signature) "
            "and never sends credentials in a URL"
        )
    host = url.raw_host.decode("ascii").lower()
    if not host:
        raise RefusedTarget(
            f"{shown!r} names no host; give the vendor's endpoint, "
            "e.g. https://hooks.example.com/maildesk"
        )
    literal = _numeric_addresses(host)
    if not literal and not _HOST_NAME.fullmatch(host):
        raise RefusedTarget(f"{shown!r}: {host!r} is not a valid host name")
    target = WebhookTarget(text, url, host, url.port or SCHEMES[url.scheme], literal)
    refusals = [r for a in literal if (r := refusal(a, host, allow)) is not None]
    if refusals:
        raise target.refused(refusals)
    return target


async def admitted_addresses(target: WebhookTarget, allow: AllowList) -> list[IPAddress]:
    """The addresses of the target's host, now, that maildesk may connect to (resolver order).

    Raises `RefusedTarget` when there are none (the sender fails the
    webhook for good: another try finds the same), and `OSError` when the
    name cannot be looked up (the sender tries again later).
    """
    if target.literal:
        addresses: Sequence[IPAddress] = target.literal
    else:
        infos = await anyio.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        addresses = _unique(ipaddress.ip_address(str(info[4][0])) for info in infos)
        if not addresses:
            raise OSError(f"{target.host} has no address")
    verdicts = [(a, refusal(a, target.host, allow)) for a in addresses]
    admitted = [a for a, refused in verdicts if refused is None]
    if not admitted:
        raise target.refused([refused for _, refused in verdicts if refused is not None])
    return admitted


def _numeric_addresses(host: str) -> tuple[IPAddress, ...]:
    """The addresses a numeric host stands for, in any form the C library reads.

    `127.1`, `2130706433` and `0x7f.0.0.1` are all 127.0.0.1 to
    `getaddrinfo`; asking it with `AI_NUMERICHOST` reads them the way the
    connection would, without a DNS query. A host name gives ().
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return ()
    return tuple(_unique(ipaddress.ip_address(str(info[4][0])) for info in infos))


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))
