"""SPF, DKIM and DMARC, evaluated by maildesk itself when it is the MX (issue #18).

When maildesk receives mail straight from the internet, no server before it
writes `Authentication-Results`, and the `From` of a message proves nothing.
`SenderAuthenticator.check` judges each message the way a receiving MX
does, and `Verdict.header` is the `Authentication-Results` header that is
put on top of the kept raw message; the rules in `guard` read it exactly as
they read one from a trusted upstream server (a DMARC failure acts on
nothing; a pass lets `From` prove who wrote it).

- SPF (RFC 7208): pyspf, for the connecting address and `MAIL FROM` (the
  HELO name for the null sender).
- DKIM (RFC 6376, RFC 8463): dkimpy, every signature; the same verifier
  `tests/outbound/test_dkim.py` runs on our own notifications.
- DMARC (RFC 7489): the policy record of the `From` domain, else of its
  organizational domain (the public suffix list, publicsuffix2), and
  relaxed or strict alignment of the SPF or DKIM domain that passed. It is a
  few dozen lines here rather than authheaders' `check_dmarc`, which turns
  any exception, a DNS timeout included, into a quiet result.

DNS goes through one dnspython resolver (`MAILDESK_DNS` points it at a
server of the operator's or the tests' choosing) whose cache keeps each
answer for its TTL. A lookup that times out or fails at the server is
`DnsUnavailable`: the listener answers `451` and the sender tries again,
never a silent pass. pyspf asks dnspython's default resolver, so
`SenderAuthenticator` installs its resolver as that default: one per
process, like the settings it comes from.

Nothing here stores, routes or decides what a result allows.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

import dkim
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf
from publicsuffix2 import PublicSuffixList

from service.config import ConfigError

__all__ = ["Client", "DnsUnavailable", "Resolver", "SenderAuthenticator", "Verdict"]

_PSL = PublicSuffixList()
# pyspf calls dnspython's deprecated `query`; the warning is pyspf's to fix, not the operator's.
warnings.filterwarnings("ignore", "please use dns.resolver.resolve", DeprecationWarning)
_HEADER_NAME = re.compile(rb"^authentication-results\s*:", re.IGNORECASE)


MAX_SIGNATURES = 5
"""DKIM signatures checked per message: each costs a DNS lookup and an RSA operation, and a
message with a thousand of them must not buy a thousand of each (mailing lists add one or two)."""


class DnsUnavailable(Exception):
    """A DNS lookup timed out or the server failed: the message is deferred (451), not judged."""


@dataclass(frozen=True)
class Client:
    """The sending server as the SMTP session saw it."""

    ip: str
    helo: str = ""


class Resolver:
    """dnspython, with answers cached for their TTLs, at `MAILDESK_DNS` or the system's servers."""

    def __init__(self, nameservers: Sequence[str] = (), *, timeout: float = 5.0) -> None:
        try:
            resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:
            raise ConfigError(
                "no DNS resolver is configured on this machine (/etc/resolv.conf); set "
                "MAILDESK_DNS to one, e.g. 127.0.0.1:53, or --sender-auth off"
            ) from None
        if nameservers:
            addresses, ports = zip(*(_host_port(server) for server in nameservers), strict=True)
            resolver.nameservers = list(addresses)
            resolver.port = ports[0]
        resolver.timeout = timeout
        resolver.lifetime = timeout
        resolver.cache = dns.resolver.LRUCache(50_000)
        self.dnspython = resolver

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record at `name`, its strings joined; none when the name or record is absent."""
        try:
            answer = self.dnspython.resolve(name, dns.rdatatype.TXT, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise DnsUnavailable(f"TXT {name}: {type(error).__name__}") from error
        except dns.exception.DNSException as error:  # a name DNS cannot even carry
            raise DnsUnavailable(f"TXT {name}: {error}") from error
        return [b"".join(record.strings) for record in answer]


def _host_port(server: str) -> tuple[str, int]:
    """`127.0.0.1:5353`, `[::1]:53` or a bare address (port 53)."""
    if server.startswith("["):
        host, _, port = server[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 53


@dataclass(frozen=True)
class DkimResult:
    result: str  # pass | fail | permerror
    domain: str  # the signature's d=
    selector: str


@dataclass(frozen=True)
class Verdict:
    """What SPF, DKIM and DMARC said about one message."""

    spf: str  # pass | fail | softfail | neutral | none | permerror
    spf_domain: str  # the MAIL FROM (or HELO) domain SPF judged
    dkim: tuple[DkimResult, ...]
    dmarc: str  # pass | fail | none
    from_domain: str
    policy: str = ""  # the published p= (or sp=) when a DMARC record was found
    reason: str = field(default="", compare=False)

    def header(self, authserv_id: str) -> str:
        """The `Authentication-Results` field value (RFC 8601) for this verdict."""
        parts = [authserv_id, f"spf={self.spf} smtp.mailfrom={self.spf_domain or 'unknown'}"]
        parts += [
            f"dkim={signature.result} header.d={signature.domain} header.s={signature.selector}"
            for signature in self.dkim
        ] or ["dkim=none"]
        policy = f" (p={self.policy})" if self.policy else ""
        parts.append(f"dmarc={self.dmarc}{policy} header.from={self.from_domain or 'unknown'}")
        return "; ".join(parts)


class SenderAuthenticator:
    """Judges messages as the MX, writing its results under `authserv_id` (our host name)."""

    def __init__(self, authserv_id: str, resolver: Resolver | None = None) -> None:
        self.authserv_id = authserv_id.lower()
        self.resolver = resolver or Resolver()
        dns.resolver.default_resolver = self.resolver.dnspython  # what pyspf asks

    def check(self, raw: bytes, client: Client, mail_from: str) -> Verdict:
        """Judge one message (blocking: DNS and RSA; run it in a worker thread)."""
        from_domain = _from_domain(raw)
        spf_result, spf_domain = self._spf(client, mail_from)
        signatures = self._dkim(raw)
        dmarc, policy = self._dmarc(from_domain, spf_result, spf_domain, signatures)
        return Verdict(spf_result, spf_domain, signatures, dmarc, from_domain, policy)

    def stamped(self, raw: bytes, verdict: Verdict) -> bytes:
        """`raw` with our header on top, any header claiming to be ours removed (RFC 8601 §5)."""
        header = f"Authentication-Results: {verdict.header(self.authserv_id)}\r\n".encode()
        return header + self.unstamped(raw)

    def unstamped(self, raw: bytes) -> bytes:
        """`raw` without any `Authentication-Results` header that claims our authserv-id."""
        return _without_our_headers(raw, self.authserv_id)

    def _spf(self, client: Client, mail_from: str) -> tuple[str, str]:
        sender = mail_from.strip().strip("<>")
        helo = client.helo.strip().strip("[]")
        if not sender:
            sender = f"postmaster@{helo}"
        domain = sender.rpartition("@")[2].lower()
        try:
            result, _, _ = spf.query(
                i=client.ip, s=sender, h=helo or domain, timeout=self.resolver.dnspython.lifetime
            ).check()
        except Exception:  # pyspf failing on odd input (a broken address) is its permerror
            return "permerror", domain
        if result == "temperror":
            raise DnsUnavailable(f"SPF for {domain}: a DNS lookup failed")
        return str(result), domain

    def _dkim(self, raw: bytes) -> tuple[DkimResult, ...]:
        try:
            verifier = dkim.DKIM(raw)
            count = len([line for line in verifier.headers if line[0].lower() == b"dkim-signature"])
        except dkim.MessageFormatError:
            return ()
        results = []
        for index in range(min(count, MAX_SIGNATURES)):
            try:
                ok = verifier.verify(idx=index, dnsfunc=self._dkim_txt)
            except dkim.DKIMException:  # a body hash that differs, a broken tag: not verified
                ok = False
            fields = verifier.signature_fields or {}
            results.append(
                DkimResult(
                    "pass" if ok else "fail" if ok is False else "permerror",
                    fields.get(b"d", b"").decode("ascii", "replace").lower(),
                    fields.get(b"s", b"").decode("ascii", "replace"),
                )
            )
        return tuple(results)

    def _dkim_txt(self, name: bytes, timeout: float = 5.0) -> bytes | None:
        records = self.resolver.txt(name.decode("ascii", "replace").rstrip("."))
        return records[0] if records else None

    def _dmarc(
        self,
        from_domain: str,
        spf_result: str,
        spf_domain: str,
        signatures: Sequence[DkimResult],
    ) -> tuple[str, str]:
        if not from_domain:
            return "none", ""
        record = self._dmarc_record(from_domain)
        organizational = org_domain(from_domain)
        policy_key = "p"
        if record is None and organizational != from_domain:
            record = self._dmarc_record(organizational)
            policy_key = "sp"
        if record is None:
            return "none", ""
        policy = record.get(policy_key) or record.get("p", "none")

        def aligned(domain: str, mode: str) -> bool:
            if mode == "s":
                return domain == from_domain
            return bool(domain) and org_domain(domain) == organizational

        passed = (spf_result == "pass" and aligned(spf_domain, record.get("aspf", "r"))) or any(
            signature.result == "pass" and aligned(signature.domain, record.get("adkim", "r"))
            for signature in signatures
        )
        return ("pass" if passed else "fail"), policy

    def _dmarc_record(self, domain: str) -> dict[str, str] | None:
        """The one `v=DMARC1` record at `_dmarc.domain`; two or more count as none (RFC 7489)."""
        records = [
            record
            for record in self.resolver.txt(f"_dmarc.{domain}")
            if record.strip().lower().startswith(b"v=dmarc1")
        ]
        if len(records) != 1:
            return None
        tags: dict[str, str] = {}
        for part in records[0].decode("ascii", "replace").split(";"):
            name, sep, value = part.partition("=")
            if sep:
                tags[name.strip().lower()] = value.strip().lower()
        if tags.get("p") not in ("none", "quarantine", "reject"):
            return None
        return tags


def org_domain(domain: str) -> str:
    """The organizational domain: one label below the public suffix (`mail.example.co.uk` →
    `example.co.uk`)."""
    found = _PSL.get_sld(domain.lower().rstrip("."), wildcard=True)
    return str(found or domain).lower()


def authentication_results(raw: bytes) -> list[str]:
    """The `Authentication-Results` values in the head of `raw`, top first."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [str(value) for value in headers.get_all("Authentication-Results") or []]


def _from_domain(raw: bytes) -> str:
    """The domain of the single `From` address; "" when there is none or more than one."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = headers.get_all("From") or []
    addresses = [address for _, address in getaddresses([str(v) for v in values]) if address]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return ""
    return addresses[0].rpartition("@")[2].strip().lower().rstrip(".")


def _without_our_headers(raw: bytes, authserv_id: str) -> bytes:
    """Drop each `Authentication-Results` header in the head of `raw` that names `authserv_id`."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    if end < 0:
        return raw
    head, body = raw[:end], raw[end:]
    lines = head.splitlines(keepends=True)
    kept: list[bytes] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = False
        if _HEADER_NAME.match(line):
            value = line.split(b":", 1)[1].lstrip()
            claimed = re.split(rb"[\s;]", value, maxsplit=1)[0].decode("ascii", "replace").lower()
            if claimed == authserv_id:
                dropping = True
                continue
        kept.append(line)
    return b"".join(kept) + body


__all__ += ["DkimResult", "authentication_results", "org_domain"]
