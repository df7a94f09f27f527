"""A DNS server of the tests' own, on loopback: TXT records for SPF, DKIM and DMARC.

dnslib answers real UDP queries from a dict the test fills; a name in
`silent` gets no answer at all, so the resolver times out as it would when
a domain's servers are down. `queries` counts what was asked, so a test can
see the resolver's cache at work.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import DNSHandler, DNSServer


class Zone:
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.silent: set[str] = set()
        self.ttl = 300
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add_txt(self, name: str, value: str) -> None:
        with self._lock:
            self.txt.setdefault(name.lower().rstrip("."), []).append(value)

    def set_txt(self, name: str, value: str) -> None:
        with self._lock:
            self.txt[name.lower().rstrip(".")] = [value]

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord | None:
        name = str(request.q.qname).lower().rstrip(".")
        with self._lock:
            self.queries[name] += 1
            if name in self.silent:
                return None
            records = list(self.txt.get(name, []))
        reply = request.reply()
        if request.q.qtype == QTYPE.TXT and records:
            for value in records:
                chunks = [value[i : i + 255].encode() for i in range(0, len(value), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=self.ttl, rdata=TXT(chunks)))
        elif not records and not any(known.endswith("." + name) for known in self.txt):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _QuietHandler(DNSHandler):
    """dnslib's handler, sending nothing for a silent name (the resolver then times out)."""

    def get_reply(self, data: bytes) -> bytes | None:  # type: ignore[override]
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        return None if reply is None else bytes(reply.pack())

    def handle(self) -> None:
        if self.server.socket_type.name == "SOCK_DGRAM":  # type: ignore[attr-defined]
            data, connection = self.request
            reply = self.get_reply(data)
            if reply is not None:
                connection.sendto(reply, self.client_address)


class _NoLog:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@contextmanager
def dns_server(zone: Zone) -> Iterator[str]:
    """Serve `zone` on a loopback UDP port; yields `127.0.0.1:PORT` for `MAILDESK_DNS`."""
    server = DNSServer(zone, address="127.0.0.1", port=0, handler=_QuietHandler, logger=_NoLog())
    server.start_thread()
    try:
        host, port = server.server.server_address
        yield f"{host}:{port}"
    finally:
        server.stop()
        server.server.server_close()
