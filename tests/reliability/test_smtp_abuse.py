"""SMTP abuse against the listener: slow clients, recipient and connection floods, smuggling.

Each test speaks SMTP the way an abusive client would, with raw bytes on a
socket where a client library would tidy them up, and checks the listener's
answer and what it did: a clear reply in bounded time, memory that stays
bounded, and no message split in two, joined, or acted on twice.
"""

from __future__ import annotations

import os
import resource
import selectors
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from service.outbound.addresses import reply_address
from service.store import Store
from service.store.sqlite import SqliteStore
from tests.cli.test_serve_process import free_port, wait_for_health
from tests.conftest import DOMAIN
from tests.e2e.conftest import DEMO, SECRET, Served, serving
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = f"support@{DOMAIN}"
JANE = "jane@example.test"


class Wire:
    """A raw SMTP client: the bytes go out exactly as written, replies come back as read."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)

    @classmethod
    @asynccontextmanager
    async def open(cls, port: int) -> AsyncIterator[Wire]:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            yield cls(stream)

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def reply(self) -> tuple[int, str]:
        """One reply, all its lines (`250-…` continues, `250 …` ends it); 15 s at most."""
        lines: list[str] = []
        with anyio.fail_after(15):
            while True:
                line = await self.reader.receive_until(b"\r\n", 1 << 16)
                lines.append(line.decode("utf-8", "replace"))
                if line[3:4] != b"-":
                    return int(lines[-1][:3]), "\n".join(lines)

    async def command(self, line: bytes) -> tuple[int, str]:
        await self.send(line + b"\r\n")
        return await self.reply()

    async def closed_by_server(self) -> bool:
        """Whether the server closed the connection (EOF) with nothing more to say."""
        with anyio.fail_after(5):
            try:
                extra = await self.reader.receive(1 << 16)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                return True
            except OSError:  # a reset after our unread bytes: closed all the same
                return True
        raise AssertionError(f"more after the last reply: {extra!r}")

    async def greet(self) -> None:
        code, text = await self.reply()
        assert code == 220, text
        code, text = await self.command(b"EHLO client.example.test")
        assert code == 250, text


def message(sender: str, subject: str, body: str, *, message_id: str | None = None) -> bytes:
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}@client.test>'}\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Store]:
    """For what the SMTP layer does alone: the store behind it makes no difference."""
    store = await SqliteStore.open(tmp_path / "maildesk.db")
    yield store
    await store.close()


@asynccontextmanager
async def listener(store: Store, **overrides: Any) -> AsyncIterator[Served]:
    """A running `serve` on `store` with the limits changed; no per-sender limit in the way."""
    async with serving(store, **{"new_tickets_per_hour": 10_000, **overrides}) as served:
        yield served


async def inbound_with(served: Served, message_id: str) -> list[Any]:
    return [row for row in await served.inbound() if row["message_id"] == message_id]


# --- slow clients ------------------------------------------------------------------------


async def trickle(wire: Wire, data: bytes, interval: float = 1.0) -> None:
    """Send `data` one byte a second until done or until the server hangs up."""
    for byte in data:
        try:
            await wire.send(bytes([byte]))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
        await anyio.sleep(interval)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["command", "message", "stalled message"])
async def test_a_client_sending_one_byte_a_second_is_told_421_and_cut_off_in_bounded_time(
    sqlite: Store, phase: str
) -> None:
    """One byte a second in a command or in a message, or a megabyte and then nothing."""
    async with listener(sqlite, smtp_idle_timeout=2.0) as served:
        async with Wire.open(served.smtp_port) as wire:
            if phase == "command":
                code, _ = await wire.reply()
                assert code == 220
                slow = b"EHLO a-client-that-takes-its-time.example.test\r\n"
            else:
                await wire.greet()
                for line in (f"MAIL FROM:<{JANE}>".encode(), f"RCPT TO:<{SUPPORT}>".encode()):
                    code, text = await wire.command(line)
                    assert code == 250, text
                code, text = await wire.command(b"DATA")
                assert code == 354, text
                slow = message(JANE, "B00K4JNE slowly", "One byte at a time.") + b".\r\n"
            if phase == "stalled message":  # sent fast, then silence: the credit does not last
                await wire.send(message(JANE, "B00K4JNE", "x" * 900 + "\r\n") * 1100)
                slow = b""
            started = anyio.current_time()
            async with anyio.create_task_group() as group:
                group.start_soon(trickle, wire, slow)
                code, text = await wire.reply()
                elapsed = anyio.current_time() - started
                assert await wire.closed_by_server()
                group.cancel_scope.cancel()

        assert (code, text.split()[1]) == (421, "4.4.2"), text
        assert 1.5 <= elapsed <= 4.0, f"ended after {elapsed:.1f} s with a 2 s timeout"
        assert await served.tickets() == [] and await served.inbound() == []
        stopping = anyio.current_time()
    # The abandoned transaction is not one a graceful stop waits 30 s for.
    assert anyio.current_time() - stopping < 5
    print(f"\n{phase}: a one-byte-a-second client was ended after {elapsed:.2f} s ({text!r})")


@pytest.mark.slow
async def test_a_large_message_sent_at_a_steady_pace_outlasts_the_idle_timeout(
    sqlite: Store,
) -> None:
    """aiosmtpd counted the whole DATA phase against one timeout; a slow link is not abuse."""
    body = ("A long explanation of what went wrong with B00K4JNE. " * 15 + "\r\n") * 3800
    raw = message(JANE, "B00K4JNE long story", body) + b".\r\n"  # 3 MB in about 3 s
    async with listener(sqlite, smtp_idle_timeout=2.0) as served:
        async with Wire.open(served.smtp_port) as wire:
            await wire.greet()
            for line in (f"MAIL FROM:<{JANE}>".encode(), f"RCPT TO:<{SUPPORT}>".encode()):
                code, text = await wire.command(line)
                assert code == 250, text
            code, text = await wire.command(b"DATA")
            assert code == 354, text
            started = anyio.current_time()
            for offset in range(0, len(raw), 100_000):
                await wire.send(raw[offset : offset + 100_000])
                await anyio.sleep(0.1)
            code, text = await wire.reply()
            elapsed = anyio.current_time() - started

        assert code == 250, text
        assert elapsed > 2.5
        (ticket,) = await served.tickets()
        assert ticket["order"] == "B00K4JNE"


@pytest.mark.slow
async def test_the_time_taken_to_act_on_a_message_is_not_counted_against_the_client(
    sqlite: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with listener(sqlite, smtp_idle_timeout=1.0) as served:
        intake = served.runtime.listener.intake
        receive = intake.receive

        async def slow_receive(raw: bytes, mail_from: str, rcpt_tos: Any, client: Any) -> Any:
            await anyio.sleep(2.5)  # a slow disk, a busy database
            return await receive(raw, mail_from, rcpt_tos, client)

        monkeypatch.setattr(intake, "receive", slow_receive)
        code, text = await served.send(JANE, SUPPORT, "B00K4JNE slow commit", "Hello")

        assert code == 250, text
        assert [t["order"] for t in await served.tickets()] == ["B00K4JNE"]


# --- recipients -----------------------------------------------------------------------------


async def test_a_thousand_recipients_get_452_past_fifty_and_the_fifty_get_the_message_once(
    store: Store,
) -> None:
    """One reply to fifty tickets at once, then 950 more reply addresses (valid signatures,
    tickets that do not exist): only the first fifty are taken, each acts exactly once."""
    async with listener(store) as served:
        for i in range(50):
            code, text = await served.send(JANE, SUPPORT, f"B00K4JNE question {i}", "Hello")
            assert code == 250, text
        numbers = sorted(t["number"] for t in await served.tickets())
        assert len(numbers) == 50
        recipients = [reply_address(SECRET, DOMAIN, n, "customer") for n in numbers]
        recipients += [
            reply_address(SECRET, DOMAIN, 100_000 + i, "customer") for i in range(1000 - 50)
        ]
        raw = message(JANE, "Re: all of them", "One answer for every ticket.", message_id="<m@c>")

        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=served.smtp_port) as client:
            refused, reply = await client.sendmail(JANE, recipients, raw)

        assert reply.startswith("2.0.0"), reply
        assert sorted(refused) == sorted(recipients[50:])
        assert {(r.code, r.message.split()[0]) for r in refused.values()} == {(452, "4.5.3")}
        rows = await inbound_with(served, "<m@c>")
        assert sorted(row["rcpt_to"] for row in rows) == sorted(recipients[:50])
        assert {row["status"] for row in rows} == {"acted"}
        for number in numbers:
            texts = [c["text"] for c in (await served.ticket(number))["comments"]]
            assert texts.count("One answer for every ticket.") == 1, (number, texts)
        assert len(await served.tickets()) == 50


# --- connections ----------------------------------------------------------------------------


async def test_past_the_connection_cap_an_idle_session_makes_room_and_busy_ones_are_kept(
    sqlite: Store,
) -> None:
    async with listener(sqlite, smtp_max_connections=5) as served, AsyncExitStack() as stack:
        port = served.smtp_port
        busy = [await stack.enter_async_context(Wire.open(port)) for _ in range(5)]
        for wire in busy:
            await wire.greet()
            code, text = await wire.command(f"MAIL FROM:<{JANE}>".encode())
            assert code == 250, text

        # Every session holds a transaction: the newcomer is told so and closed.
        async with Wire.open(port) as refused:
            code, text = await refused.reply()
            assert (code, text.split()[1]) == (421, "4.7.0"), text
            assert await refused.closed_by_server()

        # One finishes its message and is idle from then on; the next newcomer takes its place.
        first = busy.pop(0)
        await deliver(first, "B00K4JNE first", rcpt_and_data=True)
        async with Wire.open(port) as newcomer:
            await newcomer.greet()
            code, text = await first.reply()
            assert (code, text.split()[1]) == (421, "4.7.0"), text
            assert await first.closed_by_server()
            code, _ = await newcomer.command(f"MAIL FROM:<{JANE}>".encode())
            assert code == 250
            await deliver(newcomer, "B00K4JNE newcomer", rcpt_and_data=True)

        for i, wire in enumerate(busy):  # the sessions inside a transaction were never dropped
            await deliver(wire, f"B00K4JNE busy {i}", rcpt_and_data=True)
        assert len(await served.tickets()) == 6


async def deliver(wire: Wire, subject: str, *, rcpt_and_data: bool) -> None:
    """RCPT, DATA and the message on a session that has given MAIL; expects 250."""
    if rcpt_and_data:
        for line in (f"RCPT TO:<{SUPPORT}>".encode(), b"DATA"):
            code, text = await wire.command(line)
            assert code in (250, 354), text
    await wire.send(message(JANE, subject, "Hello") + b".\r\n")
    code, text = await wire.reply()
    assert code == 250, text


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _open_idle(port: int, count: int, batch: int = 500) -> list[socket.socket]:
    """`count` connections in bursts of `batch`, each waited for until it is greeted."""
    opened: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        for _ in range(0, count, batch):
            waiting = set()
            for _ in range(batch):
                conn = socket.socket()
                conn.setblocking(False)
                conn.connect_ex(("127.0.0.1", port))
                selector.register(conn, selectors.EVENT_READ, conn)
                waiting.add(conn)
                opened.append(conn)
            deadline = time.monotonic() + 20
            while waiting and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=1):
                    greeting = key.data.recv(256)
                    assert greeting.startswith(b"220 "), greeting
                    selector.unregister(key.data)
                    waiting.discard(key.data)
            assert not waiting, f"{len(waiting)} of a burst of {batch} were never greeted"
    return opened


def _pending(conn: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := conn.recv(4096):
            received += chunk
    except (BlockingIOError, ConnectionResetError):
        pass
    return received


@pytest.mark.slow
def test_ten_thousand_idle_connections_cost_bounded_memory_and_mail_still_gets_through(
    tmp_path: Path,
) -> None:
    """A real `maildesk serve` process, so that its memory and file descriptors are its own.

    Without a cap, 10,000 idle sessions took the server from 48 MB to 155 MB and 10,000
    file descriptors (its limit, often 1,024, is where accepting would stop), and bursts
    of 500 connections left some never greeted (asyncio's listen backlog of 100).
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 10_500:
        if os.environ.get("CI"):
            pytest.fail(f"10,000 connections need 10,500 file descriptors; the limit is {hard}")
        pytest.skip(f"10,000 connections need 10,500 file descriptors; the limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    db, smtp, http, admin = tmp_path / "maildesk.db", free_port(), free_port(), "flood-admin"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(
        PYTHONPATH=str(ROOT),
        MAILDESK_DB=str(db),
        MAILDESK_SECRET="flood-secret-0123456789",
        MAILDESK_ADMIN_TOKEN=admin,
        MAILDESK_SMTP_PORT=str(smtp),
        MAILDESK_HTTP_PORT=str(http),
    )
    run = [sys.executable, "-m", "service.cli"]
    subprocess.run([*run, "import", str(DEMO)], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [*run, "serve", "--fake-clock", "2026-11-23T14:00:00Z"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    flood: list[socket.socket] = []
    try:
        wait_for_health(http, server)
        with smtplib.SMTP("127.0.0.1", smtp, timeout=10) as client:  # warm up before measuring
            client.sendmail(JANE, [SUPPORT], message(JANE, "Q7K2M9XA first", "Hello"))
        before = _rss_mb(server.pid)

        flood = _open_idle(smtp, 10_000)
        during = _rss_mb(server.pid)
        server_fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", smtp, timeout=10) as client:
            refused = client.sendmail(JANE, [SUPPORT], message(JANE, "B00K4JNE flood", "Hi"))
        served_in = time.monotonic() - started
        tickets = httpx.get(
            f"http://127.0.0.1:{http}/api/v1/tickets",
            headers={"Authorization": f"Bearer {admin}"},
        ).json()["tickets"]
        dropped = sum(b"421 4.7.0" in _pending(conn) for conn in flood)
    finally:
        for conn in flood:
            conn.close()
        server.terminate()
        server.wait(timeout=30)

    print(
        f"\n10,000 idle connections: server RSS {before:.0f} MB -> {during:.0f} MB, "
        f"{server_fds} fds open, {dropped} idle sessions told 421, "
        f"a normal message served in {served_in * 1000:.0f} ms"
    )
    assert refused == {}
    assert sorted(t["order"] for t in tickets) == ["B00K4JNE", "Q7K2M9XA"]
    assert during - before < 48, "memory grows with idle connections beyond the cap"
    assert server_fds < 1000 + 100
    assert dropped >= 10_000 - 1000


# --- pipelining and smuggling -------------------------------------------------------------


async def test_pipelined_commands_are_answered_in_order_and_never_join_two_messages(
    served: Served,
) -> None:
    async with Wire.open(served.smtp_port) as wire:
        code, _ = await wire.reply()
        code, text = await wire.command(b"EHLO pipeliner.example.test")
        assert code == 250 and "250-PIPELINING" in text.split("\n"), text
        group = f"MAIL FROM:<{JANE}>\r\nRCPT TO:<{SUPPORT}>\r\nDATA\r\n".encode()

        await wire.send(group)  # one packet
        assert [(await wire.reply())[0] for _ in range(3)] == [250, 250, 354]
        # The end of one message and the next transaction, in one packet (RFC 2920 §3.1).
        await wire.send(message(JANE, "B00K4JNE first", "One") + b".\r\n" + group)
        assert [(await wire.reply())[0] for _ in range(4)] == [250, 250, 250, 354]
        await wire.send(message(JANE, "Q7K2M9XA second", "Two") + b".\r\nQUIT\r\n")
        assert [(await wire.reply())[0] for _ in range(2)] == [250, 221]

    tickets = await served.tickets()
    assert sorted(t["order"] for t in tickets) == ["B00K4JNE", "Q7K2M9XA"]
    assert sorted(t["comments"][0]["text"] for t in tickets) == ["One", "Two"]


SMUGGLED = (
    f"MAIL FROM:<bob@example.test>\r\nRCPT TO:<refund@{DOMAIN}>\r\nDATA\r\n"
    f"From: bob@example.test\r\nTo: refund@{DOMAIN}\r\nSubject: MUG2B0BX refund now\r\n"
    "Message-ID: <smuggled@evil.test>\r\n\r\nRefund me.\r\n"
).encode()
FAKE_ENDS = {
    "LF.LF": b"\n.\n",
    "LF.CRLF": b"\n.\r\n",
    "CR.LF": b"\r.\n",
    "CR.CR": b"\r.\r",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CRLF.CR": b"\r\n.\r",
    "bare-LF message": b"\n.\n",
}


@pytest.mark.parametrize("trick", FAKE_ENDS)
async def test_a_smuggled_end_of_data_never_splits_one_message_in_two(
    served: Served, trick: str
) -> None:
    """Only CRLF.CRLF ends the data (aiosmtpd >= 1.4.5): a fake end followed by a second
    transaction inside the message stays text of the one message (see aiosmtpd's own
    test_smtpsmuggling.py); the smuggled refund for Bob's order never acts."""
    head = message(JANE, "B00K4JNE smuggling", "Testing", message_id="<carrier@client.test>")
    if trick == "bare-LF message":
        head = head.replace(b"\r\n", b"\n")
    data = head.rstrip(b"\r\n") + FAKE_ENDS[trick] + SMUGGLED + b"\r\n.\r\n"
    async with Wire.open(served.smtp_port) as wire:
        await wire.greet()
        await wire.send(f"MAIL FROM:<{JANE}>\r\nRCPT TO:<{SUPPORT}>\r\nDATA\r\n".encode())
        assert [(await wire.reply())[0] for _ in range(3)] == [250, 250, 354]
        await wire.send(data + b"QUIT\r\n")
        replies = [await wire.reply(), await wire.reply()]

    assert [code for code, _ in replies] == [250, 221], replies  # one message, then goodbye
    assert [row["message_id"] for row in await served.inbound()] == ["<carrier@client.test>"]
    (ticket,) = await served.tickets()
    assert ticket["order"] == "B00K4JNE"
    assert "MAIL FROM:<bob@example.test>" in ticket["comments"][0]["text"]  # it was only text
