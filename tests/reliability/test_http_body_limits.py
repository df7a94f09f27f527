"""Request bodies over a route's limit are cut off as they arrive, never read whole.

Penetration-test report #13, item 4: the API read the whole body before
checking its size; a vendor key and a 300 MB body took the process from 54 MB
to 519 MB before the 413. Here bodies go to a real `maildesk serve` over raw
sockets: a chunked body is answered 413 once it passes the limit, and the
server's memory (this process's: the server runs in it) never grows by the
body's size; a `Content-Length` over the limit is answered 413 at once,
without waiting for a byte of the body.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketStream
from starlette.routing import Route

from service.catcher import Mailbox, build_catcher_app
from service.store import Store
from service.web.app import build_app
from service.web.http_body import BodyLimit
from tests.e2e.conftest import ADMIN, Served, serving
from tests.web.support import JANE, open_by_email, page_link

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ACME = "acme-demo-key"
MB = 1024 * 1024
CHUNK = b"x" * (64 * 1024)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@asynccontextmanager
async def connection(served: Served) -> AsyncIterator[SocketStream]:
    async with await anyio.connect_tcp("127.0.0.1", served.runtime.settings.http_port) as stream:
        yield stream


def head(path: str, *lines: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *lines, "", ""]).encode()


def complete(response: bytes | bytearray) -> bool:
    """Whether `response` holds a whole HTTP response (head and Content-Length body)."""
    head_, found, body = bytes(response).partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head_.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


async def read_response(stream: SocketStream, into: bytearray) -> None:
    """Read until `into` holds a whole response, or the server hangs up."""
    try:
        while not complete(into):
            into += await stream.receive(65536)
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError, OSError):
        pass


async def stream_chunked(
    served: Served, path: str, total: int, *headers: str, prefix: bytes = b""
) -> tuple[bytes, int, float]:
    """Send up to `total` bytes chunked, reading meanwhile as a browser does.

    Returns the response, how much had been sent when it came, and how much
    the RSS peak rose meanwhile.
    """
    before = peak = rss_mb()
    response = bytearray()
    answered = anyio.Event()
    sent = 0

    async def read() -> None:
        await read_response(stream, response)
        answered.set()

    async with connection(served) as stream, anyio.create_task_group() as group:
        group.start_soon(read)
        await stream.send(head(path, "Transfer-Encoding: chunked", *headers))
        if prefix:
            await stream.send(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        try:
            while sent < total and not answered.is_set():
                await stream.send(frame)
                sent += len(CHUNK)
                if sent % MB == 0:
                    peak = max(peak, rss_mb())
            if sent >= total:
                await stream.send(b"0\r\n\r\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError, OSError):
            pass  # the server hung up on us: what it said is in `response`
        with anyio.fail_after(30):
            await answered.wait()
    return bytes(response), sent, max(peak, rss_mb()) - before


async def test_a_chunked_body_past_the_api_limit_is_cut_off_without_the_memory_growing(
    served: Served,
) -> None:
    response, sent, grew = await stream_chunked(
        served, "/api/v1/tickets", 64 * MB, f"Authorization: Bearer {ACME}"
    )
    assert sent < 32 * MB, f"the 413 came only after {sent / MB:.0f} MB had gone in"
    assert grew < 24, f"the server's memory grew by {grew:.0f} MB for a body it refused"
    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"error"' in response and b"1 MB" in response


async def test_a_declared_length_over_the_limit_is_answered_at_once_without_reading(
    served: Served,
) -> None:
    """The client says 300 MB are coming and sends 10 bytes: no waiting for the rest."""
    async with connection(served) as stream:
        await stream.send(
            head("/api/v1/tickets", f"Authorization: Bearer {ACME}", "Content-Length: 300000000")
            + b'{"order": '
        )
        response = bytearray()
        with anyio.fail_after(5):
            await read_response(stream, response)
    assert response.startswith(b"HTTP/1.1 413"), bytes(response[:300])
    assert b"the request body is larger than this endpoint takes" in response


async def test_the_import_limit_is_its_own_and_a_form_past_its_limit_gets_a_413_page(
    store: Store,
) -> None:
    async with serving(store, max_import_body=2 * MB, max_message_size=MB) as served:
        small_import = await served.http.post(
            "/api/v1/admin/import",
            content=b'{"vendors": []}' + b" " * (MB + 10),
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert small_import.status_code == 200, small_import.text  # over 1 MB, within 2
        response, _, _ = await stream_chunked(
            served, "/api/v1/admin/import", 8 * MB, f"Authorization: Bearer {ADMIN}"
        )
        assert response.startswith(b"HTTP/1.1 413") and b"2 MB" in response, response[:300]

        number = await open_by_email(served, JANE, "support", "B00K4JNE help", "Hello")
        page = await page_link(served, JANE, number)
        response, _, _ = await stream_chunked(
            served,
            f"{page}/reply",
            8 * MB,
            "Content-Type: multipart/form-data; boundary=xyz",
            prefix=b'--xyz\r\nContent-Disposition: form-data; name="attachments"; '
            b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
        )
        assert response.startswith(b"HTTP/1.1 413"), response[:300]
        assert b"text/html" in response and b"Too much to send at once" in response
        async with connection(served) as stream:
            await stream.send(head("/lookup", f"Content-Length: {200 * MB}") + b"email=")
            declared = bytearray()
            with anyio.fail_after(5):
                await read_response(stream, declared)
        assert declared.startswith(b"HTTP/1.1 413") and b"Too much to send" in declared


async def test_a_body_sent_where_none_is_taken_is_refused(served: Served) -> None:
    for method, path in [
        ("GET", "/api/v1/tickets"),
        ("GET", "/healthz"),
        ("GET", "/mail"),
        ("DELETE", "/api/messages"),
        ("GET", "/"),
    ]:
        response = await served.http.request(
            method, path, content=b"x" * 1000, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert response.status_code == 413, (method, path, response.text[:200])
    assert (await served.http.get("/healthz")).status_code == 200


async def test_every_route_declares_its_body_limit(served: Served) -> None:
    """A route without one would read whatever it is sent: none may be left out."""
    for app in (build_app(served.runtime), build_catcher_app(Mailbox())):
        for route in app.routes:
            assert isinstance(route, Route), route
            layer = route.app
            while not isinstance(layer, BodyLimit) and hasattr(layer, "app"):
                layer = layer.app
            assert isinstance(layer, BodyLimit), f"{route.path} has no body limit"


async def test_what_follows_a_413_is_dropped_and_a_client_that_keeps_sending_is_cut_off(
    store: Store,
) -> None:
    """After the 413 the rest of the body is read and dropped for at most the header timeout."""
    async with serving(store, http_header_timeout=1.0) as served:
        before = rss_mb()
        async with connection(served) as stream:
            await stream.send(
                head("/api/v1/tickets", f"Authorization: Bearer {ACME}", "Content-Length: 2000000")
            )
            response = bytearray()
            await read_response(stream, response)
            assert response.startswith(b"HTTP/1.1 413"), bytes(response[:200])
            started = time.monotonic()
            with anyio.fail_after(10):
                try:
                    while True:
                        await stream.send(CHUNK)
                except (anyio.BrokenResourceError, ConnectionError, OSError):
                    pass
            took = time.monotonic() - started
        assert took < 3, f"the server kept reading for {took:.1f} s after the 413"
        assert rss_mb() - before < 24
