"""DATA read in chunks (`service.inbound.smtp_data`) answers and keeps exactly what aiosmtpd does.

Each case is one SMTP conversation, the same bytes in the same chunks, sent
over loopback to aiosmtpd's own `SMTP` protocol and to maildesk's
`GuardedSession` (`service.adapters.aiosmtpd`, through `serve_smtp`, as the
listener and the catcher run it). The two
transcripts (every reply, until the server closes after `QUIT`) and the
message contents the handlers received must be equal. Hypothesis builds the
content from the pieces that matter: bare CR and LF, dots at line starts,
`\\n.\\n` smuggling, lines around the 1,001-byte limit, content around the
size limit, and chunk boundaries anywhere, CRLF and end-of-data included.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.inbound.smtp_data import DataError, DataSection
from service.inbound.smtp_server import serve_smtp

SIZE_LIMIT = 2500
LINE_LIMIT = SMTP.line_length_limit  # 1001, CRLF included


class Keeper:
    """A DATA handler that keeps what it was given and answers `reply`."""

    def __init__(self, reply: str = "250 kept") -> None:
        self.reply = reply
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.contents.append(bytes(envelope.original_content or b""))
        return self.reply


@asynccontextmanager
async def stock_aiosmtpd(handler: object, **options: Any) -> AsyncIterator[int]:
    """aiosmtpd's own `SMTP` protocol on a loopback port, with `options` for it; yields the port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler, hostname="test", ident="test", enable_SMTPUTF8=True, loop=loop, **options
        ),
        "127.0.0.1",
        0,
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def maildesk_session(handler: object, **options: Any) -> AsyncIterator[int]:
    """maildesk's `GuardedSession` through `serve_smtp`, with `options` for it; yields the port."""
    async with serve_smtp(handler, hostname="test", ident="test", grace=0, **options) as (_, port):
        yield port


async def transcript(port: int, chunks: list[bytes]) -> bytes:
    """Everything the server said, from greeting to close, for `chunks` sent after DATA."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n")
        await stream.send(b"DATA\r\n")
        for chunk in chunks:
            try:
                await stream.send(chunk)
            except anyio.BrokenResourceError:  # the server hung up (too many bad commands)
                break
            await anyio.sleep(0.001)  # most chunks arrive as reads of their own
        heard = bytearray()
        with anyio.fail_after(5):
            while True:
                try:
                    heard += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return bytes(heard)


async def both(chunks: list[bytes]) -> tuple[tuple[bytes, list[bytes]], tuple[bytes, list[bytes]]]:
    stock, ours = Keeper(), Keeper()
    async with (
        stock_aiosmtpd(stock, data_size_limit=SIZE_LIMIT) as stock_port,
        maildesk_session(ours, data_size_limit=SIZE_LIMIT) as our_port,
    ):
        stock_said = await transcript(stock_port, chunks)
        we_said = await transcript(our_port, chunks)
    return (stock_said, stock.contents), (we_said, ours.contents)


def _hostname_free(said: bytes) -> bytes:
    """aiosmtpd names itself and its version in the greeting and EHLO, and maildesk's session
    adds RFC 3463 enhanced codes to aiosmtpd's replies; nothing else differs."""
    lines = [line for line in said.split(b"\n") if b"test" not in line]
    return b"\n".join(re.sub(rb"^(\d{3}) \d\.\d{1,3}\.\d{1,3} ", rb"\1 ", line) for line in lines)


PIECES = st.one_of(
    st.sampled_from(
        [b"\r\n", b"\n", b"\r", b".", b"..", b"\r\n.", b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"x"]
    ),
    st.binary(min_size=1, max_size=40),
    st.integers(min_value=995, max_value=1010).map(lambda n: b"L" * n),
)


@st.composite
def conversations(draw: st.DrawFn) -> list[bytes]:
    content = b"".join(draw(st.lists(PIECES, max_size=30)))
    if draw(st.booleans()):
        content *= draw(st.integers(min_value=2, max_value=4))  # across the size limit
    at_line_start = not content or content.endswith(b"\r\n")
    end = draw(st.sampled_from([b"\r\n.\r\n", b".\r\n"])) if at_line_start else b"\r\n.\r\n"
    stream = content + end + b"NOOP\r\nQUIT\r\n"
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=len(stream) - 1), max_size=8)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_chunked_data_reads_like_aiosmtpd(chunks: list[bytes]) -> None:
    (stock_said, stock_kept), (we_said, we_kept) = anyio.run(both, chunks)
    assert _hostname_free(we_said) == _hostname_free(stock_said)
    assert we_kept == stock_kept


def _lines(total: int) -> bytes:
    """`total` bytes (at least 3 more than a multiple of 100) of lines of 100 with their CRLF."""
    full, rest = divmod(total, 100)
    assert rest == 0 or rest >= 3, "a last line needs room for a byte and its CRLF"
    last = b"z" * (rest - 2) + b"\r\n" if rest else b""
    return (b"y" * 98 + b"\r\n") * full + last


END = b".\r\nQUIT\r\n"
BOUNDARIES = {
    "exactly the size limit": [_lines(SIZE_LIMIT), END],
    "one byte over the size limit": [_lines(SIZE_LIMIT - 3) + b"abcd\r\n", END],
    **{
        f"a line of {n} bytes before its CRLF": [b"L" * n + b"\r\n", END]
        for n in (998, 999, 1000, 1001, 1002)
    },
    **{
        f"a line of {n} bytes before its CRLF crossing the size limit": [
            _lines(2000) + b"L" * n + b"\r\n",
            END,
        ]
        for n in (999, 1000, 1001, 1002)
    },
    "a first line of dots": [b"..first\r\n.second\r\n", END],
    "a first line that is one dot more than the end": [b"..\r\n", END],
    "a too-long line arriving in pieces, its last piece a dot": [
        b"L" * 1500 + b".",
        b"\r\n",
        END,
    ],
    "a too-long line arriving in pieces, its CRLF split": [b"L" * 1500 + b"\r", b"\n" + END],
}


@pytest.mark.parametrize("chunks", BOUNDARIES.values(), ids=BOUNDARIES.keys())
def test_limits_read_like_aiosmtpd(chunks: list[bytes]) -> None:
    (stock_said, stock_kept), (we_said, we_kept) = anyio.run(both, chunks)
    assert _hostname_free(we_said) == _hostname_free(stock_said)
    assert we_kept == stock_kept


def test_pipelined_messages_after_the_end_of_data_are_each_kept() -> None:
    one = b"Subject: one\r\n\r\n..dot\r\n"
    two = b"Subject: two\r\n\r\nbody\r\n"
    again = b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
    chunks = [one + b".\r\n" + again + two + b".\r\nQUIT\r\n"]
    (stock_said, stock_kept), (we_said, we_kept) = anyio.run(both, chunks)
    assert we_kept == stock_kept == [b"Subject: one\r\n\r\n.dot\r\n", two]
    assert _hostname_free(we_said) == _hostname_free(stock_said)


class TestDataSection:
    def section(self) -> DataSection:
        return DataSection(size_limit=SIZE_LIMIT, line_length_limit=LINE_LIMIT)

    def test_bytes_after_the_end_are_handed_back(self) -> None:
        section = self.section()
        assert section.feed(b"a\r\n.") is None
        assert section.feed(b"\r\nQUIT\r\n") == b"QUIT\r\n"
        assert section.content() == b"a\r\n"

    def test_smuggled_bare_lf_dot_does_not_end_it(self) -> None:
        section = self.section()
        assert section.feed(b"a\n.\nMAIL FROM:<x@y>\r\n") is None
        assert section.feed(b".\r\n") == b""
        assert section.content() == b"a\n.\nMAIL FROM:<x@y>\r\n"

    def test_the_end_of_a_too_long_line_is_never_the_end_of_data(self) -> None:
        section = self.section()
        assert section.feed(b"L" * 1500 + b".") is None
        assert section.feed(b"\r\n") is None  # the end of the long line, not a "." line
        assert section.feed(b".\r\n") == b""
        assert section.error is DataError.TOO_LONG

    def test_a_refused_section_keeps_nothing(self) -> None:
        section = self.section()
        for _ in range(100):
            assert section.feed(b"x" * 78 + b"\r\n") is None
        assert section.error is DataError.TOO_MUCH
        assert section.feed(b".\r\n") == b""
        assert section._lines == [] and section._whole is None
