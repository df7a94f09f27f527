"""A DNS server on loopback for the benchmark's sender-authentication run.

Every customer and vendor domain of the corpus publishes the same records:
SPF `v=spf1 ip4:127.0.0.1 -all` (the load comes from loopback, so SPF
passes and aligns) and DMARC `v=DMARC1; p=none`. So `maildesk serve
--sender-auth on` does the whole evaluation a real MX does (an SPF record,
a DMARC record, the alignment) against a server that answers at once; the
TTL is a day, so after the first message of each domain the answers come
from maildesk's cache, as they would for a desk's regular senders. Written
with dnspython (a dependency already), so the bench adds none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import dns.exception
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset

SPF = '"v=spf1 ip4:127.0.0.1 -all"'
DMARC = '"v=DMARC1; p=none"'
TTL = 86_400


class _Answers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's own datagram transport does not derive from DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        self.queries += 1
        response = dns.message.make_response(query)
        question = query.question[0] if query.question else None
        if question is not None and question.rdtype == dns.rdatatype.TXT:
            name = question.name.to_text().lower()
            value = DMARC if name.startswith("_dmarc.") else SPF
            response.answer.append(
                dns.rrset.from_text(question.name, TTL, dns.rdataclass.IN, dns.rdatatype.TXT, value)
            )
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@asynccontextmanager
async def corpus_dns(host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve the records while the context is open; yields `HOST:PORT` for MAILDESK_DNS."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Answers, local_addr=(host, 0))
    try:
        bound = transport.get_extra_info("sockname")
        yield f"{bound[0]}:{bound[1]}"
    finally:
        transport.close()
