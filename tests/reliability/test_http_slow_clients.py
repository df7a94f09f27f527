"""Slow and idle HTTP clients, and floods of connections, against a real `maildesk serve`.

Penetration-test report #13, item 9: connections sending a header line every
5 s stayed open indefinitely, and nothing capped how many were open. Here raw
sockets speak to the web server with the limits set short through the
settings (`MAILDESK_HTTP_HEADER_TIMEOUT`, `..._KEEP_ALIVE_TIMEOUT`,
`..._MAX_CONNECTIONS`): a head that trickles in is cut off after the header
timeout with 408, an idle keep-alive connection is closed, and at the cap the
least recently active idle connection makes room for a newcomer, while busy
ones are kept and a newcomer is told 503 only when all are busy.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from service.store import Store
from tests.cli.test_serve_process import free_port, wait_for_health
from tests.e2e.conftest import DEMO, Served, serving

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
ACME = "acme-demo-key"
SHORT = {"http_header_timeout": 1.0, "http_keep_alive_timeout": 1.0}


@asynccontextmanager
async def short_limits(store: Store, **limits: float) -> AsyncIterator[Served]:
    async with serving(store, **{**SHORT, **limits}) as served:
        yield served


async def connect(served: Served) -> SocketStream:
    return await anyio.connect_tcp("127.0.0.1", served.runtime.settings.http_port)


async def until_closed(stream: SocketStream, within: float) -> tuple[bytes, float]:
    """What the server says until it closes the connection, and how long that took."""
    started = time.monotonic()
    said = bytearray()
    with anyio.fail_after(within):
        try:
            while True:
                said += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            pass
    return bytes(said), time.monotonic() - started


async def is_open(stream: SocketStream) -> bool:
    """Whether the server still holds the connection (no EOF within a moment)."""
    with anyio.move_on_after(0.05):
        try:
            await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            return False
    return True


async def test_a_head_trickling_in_a_line_a_second_is_told_408_and_closed(
    store: Store,
) -> None:
    async with short_limits(store) as served:
        stream = await connect(served)
        started = time.monotonic()
        lines = [b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n"]
        lines += [f"X-Slow-{n}: yes\r\n".encode() for n in range(10)]

        async def trickle() -> None:
            for line in lines:
                await stream.send(line)
                await anyio.sleep(0.4)

        async with anyio.create_task_group() as group:
            group.start_soon(trickle)
            said, _ = await until_closed(stream, within=5)
            group.cancel_scope.cancel()
        took = time.monotonic() - started
        await stream.aclose()
    assert said.startswith(b"HTTP/1.1 408"), said
    assert b"took too long" in said
    assert 0.9 < took < 2.5, f"cut off after {took:.1f} s with a 1 s header timeout"


async def test_a_connection_that_says_nothing_is_closed_after_the_header_timeout(
    store: Store,
) -> None:
    async with short_limits(store, http_keep_alive_timeout=30) as served:
        stream = await connect(served)
        said, took = await until_closed(stream, within=5)
        await stream.aclose()
    assert said == b"" and 0.9 < took < 2.5, (said, took)


async def test_an_idle_keep_alive_connection_is_closed_and_the_next_head_has_a_deadline(
    store: Store,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with short_limits(store, http_header_timeout=30) as served:
        stream = await connect(served)
        await stream.send(request)
        said, took = await until_closed(stream, within=5)
        await stream.aclose()
        assert said.startswith(b"HTTP/1.1 200") and 0.9 < took < 2.5, (said[:40], took)
    async with short_limits(store, http_keep_alive_timeout=30) as served:
        stream = await connect(served)
        await stream.send(request)
        await anyio.sleep(0.5)
        for line in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n"):
            await stream.send(line)  # the second request's head, too slowly
            await anyio.sleep(0.4)
        said, took = await until_closed(stream, within=5)
        await stream.aclose()
    first, _, second = said.partition(b"HTTP/1.1 408")
    assert first.startswith(b"HTTP/1.1 200") and second, said


async def test_a_client_within_the_deadlines_is_served_on_one_connection(store: Store) -> None:
    async with short_limits(store) as served:
        async with httpx.AsyncClient(base_url=str(served.http.base_url)) as http:
            for _ in range(3):
                assert (await http.get("/healthz")).status_code == 200
                await anyio.sleep(0.5)  # within the keep-alive timeout: the connection stays


async def test_at_the_cap_idle_connections_make_room_and_busy_ones_are_kept(
    store: Store,
) -> None:
    """Newcomers take the place of the least recently active idle connection; the busy stay."""
    async with short_limits(store, http_header_timeout=30, http_max_connections=10) as served:
        async with AsyncExitStack() as stack:
            busy = []
            for _ in range(4):  # each in the middle of a request: its body is still coming
                stream = await connect(served)
                stack.push_async_callback(stream.aclose)
                await stream.send(
                    b"POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {ACME}\r\nContent-Length: 100\r\n\r\n".encode()
                    + b'{"order": '
                )
                busy.append(stream)
            await anyio.sleep(0.2)
            idle = []
            for _ in range(200):
                stream = await connect(served)
                stack.push_async_callback(stream.aclose)
                idle.append(stream)
            await anyio.sleep(0.3)
            still_open = [s for s in idle if await is_open(s)]
            assert len(still_open) <= 6, f"{len(still_open)} idle connections kept past the cap"
            assert all([await is_open(s) for s in busy]), "a busy connection was dropped"
            async with httpx.AsyncClient(base_url=str(served.http.base_url)) as http:
                assert (await http.get("/healthz")).status_code == 200

            for _ in range(6):  # fill the cap with busy connections
                stream = await connect(served)
                stack.push_async_callback(stream.aclose)
                await stream.send(
                    b"POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {ACME}\r\nContent-Length: 100\r\n\r\n".encode()
                )
            await anyio.sleep(0.2)
            newcomer = await connect(served)
            stack.push_async_callback(newcomer.aclose)
            said, _ = await until_closed(newcomer, within=5)
            assert said.startswith(b"HTTP/1.1 503") and b"busy" in said, said


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_five_thousand_idle_connections_cost_bounded_memory_and_requests_still_get_through(
    tmp_path: Path,
) -> None:
    """A real `maildesk serve` process, so that its memory and descriptors are its own."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 6_000:
        pytest.skip(f"5,000 connections need 6,000 file descriptors; the limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    http = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        PYTHONPATH=str(ROOT),
        MAILDESK_DB=str(tmp_path / "maildesk.db"),
        MAILDESK_SECRET="flood-secret-0123456789",
        MAILDESK_ADMIN_TOKEN="flood-admin",
        MAILDESK_SMTP_PORT=str(free_port()),
        MAILDESK_HTTP_PORT=str(http),
        MAILDESK_HTTP_MAX_CONNECTIONS="500",
        MAILDESK_HTTP_HEADER_TIMEOUT="60",
    )
    run = [sys.executable, "-m", "service.cli"]
    subprocess.run([*run, "import", str(DEMO)], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [*run, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    flood: list[socket.socket] = []
    try:
        wait_for_health(http, server)
        before = _rss_mb(server.pid)
        for _ in range(5_000):
            conn = socket.create_connection(("127.0.0.1", http))
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never ends
            flood.append(conn)
        time.sleep(1)
        during = _rss_mb(server.pid)
        server_fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        started = time.monotonic()
        health = httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=10)
        served_in = time.monotonic() - started
    finally:
        for conn in flood:
            conn.close()
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\n5,000 slow-head connections: server RSS {before:.0f} MB -> {during:.0f} MB, "
        f"{server_fds} fds open, a request served in {served_in * 1000:.0f} ms"
    )
    assert health.status_code == 200
    assert server_fds < 500 + 100, "connections beyond the cap are still open"
    assert during - before < 40, "memory grows with connections beyond the cap"


async def test_a_body_that_stalls_or_trickles_is_told_408_and_one_that_flows_is_served(
    store: Store,
) -> None:
    head = (
        b"POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {ACME}\r\nContent-Length: 1000\r\n\r\n".encode()
    )
    async with short_limits(store) as served:
        stalled = await connect(served)
        await stalled.send(head + b'{"order": ')
        said, took = await until_closed(stalled, within=5)
        await stalled.aclose()
        assert said.startswith(b"HTTP/1.1 408") and b"body" in said and took < 2.5, said

        trickling = await connect(served)
        await trickling.send(head)

        async def trickle() -> None:
            for _ in range(40):
                await trickling.send(b" ")
                await anyio.sleep(0.2)  # 5 bytes a second: far below 500

        async with anyio.create_task_group() as group:
            group.start_soon(trickle)
            said, took = await until_closed(trickling, within=6)
            group.cancel_scope.cancel()
        await trickling.aclose()
        assert said.startswith(b"HTTP/1.1 408") and took < 2.5, (said, took)

        async def flowing() -> AsyncIterator[bytes]:  # 60 KB/s for 2 s, pauses under 1 s
            yield b'{"order": "B00K4JNE", "type": "support", "text": "'
            for _ in range(10):
                yield b"a" * 12_000
                await anyio.sleep(0.2)
            yield b'"}'

        async with httpx.AsyncClient(base_url=str(served.http.base_url)) as http:
            opened = await http.post(
                "/api/v1/tickets", content=flowing(), headers={"Authorization": f"Bearer {ACME}"}
            )
        assert opened.status_code == 201, opened.text
