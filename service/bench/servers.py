"""The servers under load, each its own process, and how the benchmark drives them.

Run as `python -m service.bench.servers KIND`, this module serves SMTP on an
ephemeral loopback port with the very listener `maildesk serve` uses
(`service.inbound.smtp_server.serve_smtp`, aiosmtpd's `SMTP` on the process's anyio
event loop) and one of these handlers:

    noop            answers 250 at once: the listener's own ceiling
    parse           parses each message with mail-parser (`parse_from_bytes`), then 250
    parse-maildesk  runs maildesk's own `service.inbound.parse.parse_mail`, then 250
    catcher         keeps each message in a `service.catcher` Mailbox (the outbound sink)

and one more, not on that listener:

    sink            `service.bench.sink`: accepts and counts, at a fraction of aiosmtpd's
                    CPU (the end-to-end run's relay, which shares maildesk's cores)

The stock stack (`stock-parse`, aiosmtpd's own `SMTP` class with its own DATA
reading, then mail-parser) is not served from here: `stock.py` runs by file
path, so that no package of maildesk's is imported before it, and speaks the
same command channel.

It prints `{"port": …, "pid": …}` on one line, then answers commands on
stdin, one JSON line each: `stats` (messages received, first and last
arrival on the system-wide monotonic clock, CPU seconds, VmHWM), `reset`,
`dump PATH` (the catcher's messages as JSON lines), and stops at end of
input.

The parent side is `ServerProcess` for these and `Maildesk` for a real
`python -m service.cli serve` subprocess (its own log file, ephemeral ports
read from its banner, stopped with SIGTERM).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import anyio
from aiosmtpd.smtp import SMTP, Envelope, Session
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

import service
from service.bench.sink import SinkProtocol
from service.catcher.mailbox import Mailbox
from service.catcher.smtp import CatcherHandler

KINDS = ("noop", "parse", "parse-maildesk", "catcher", "sink")
STOCK = "stock-parse"
"""The stock stack's kind: `stock.py` run by file path, not one of `KINDS`."""
HOST = "127.0.0.1"
SECRET = "bench-secret-0123456789abcdefghij"
ADMIN_TOKEN = "bench-admin-token"
NEW_TICKETS_PER_HOUR = 1_000_000_000
"""The benchmark's maildesk allows this many new tickets per sender and hour (default 20)."""


# --- /proc -------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """The `Vm*` lines of /proc/PID/status, in kB (empty when the process is gone)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name.startswith("Vm") and value.strip().endswith("kB"):
                    found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the whole process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def stolen_cpu_seconds() -> float:
    """CPU time the hypervisor gave to other guests, all cores, since boot (/proc/stat `steal`).

    A virtual machine whose host is busy loses whole slices of time; a phase
    that lost seconds of it measured the neighbours as much as maildesk.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return 0.0
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def mb(kilobytes: int | None) -> float:
    return round((kilobytes or 0) / 1024, 1)


# --- the child: handlers ------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def reset(self) -> None:
        self.count, self.first, self.last = 0, 0.0, 0.0

    def arrived(self) -> None:
        now = time.monotonic()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now

    def to_json(self) -> dict[str, Any]:
        times = os.times()
        status = proc_status(os.getpid())
        return {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "cpu_s": times.user + times.system,
            "vm_hwm_kb": status.get("VmHWM", 0),
            "vm_rss_kb": status.get("VmRSS", 0),
        }


def _raw(envelope: Envelope) -> bytes:
    raw: Any = envelope.original_content or envelope.content or b""
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)


class NoopHandler:
    def __init__(self, stats: _Stats) -> None:
        self.stats = stats

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.stats.arrived()
        return "250 OK"


class ParseHandler:
    """mail-parser on every message, on the event loop: the chosen stack's inbound ceiling."""

    def __init__(self, stats: _Stats) -> None:
        import mailparser

        self.stats = stats
        self._parse = mailparser.parse_from_bytes

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._parse(_raw(envelope))
        self.stats.arrived()
        return "250 OK"


class MaildeskParseHandler:
    """maildesk's own parser on every message, on the event loop."""

    def __init__(self, stats: _Stats) -> None:
        from service.inbound.parse import parse_mail

        self.stats = stats
        self._parse = parse_mail

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._parse(_raw(envelope))
        self.stats.arrived()
        return "250 OK"


class CountingCatcher(CatcherHandler):
    """maildesk's catcher handler, counting arrivals."""

    def __init__(self, mailbox: Mailbox, stats: _Stats) -> None:
        super().__init__(mailbox)
        self.stats = stats

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        self.stats.arrived()
        return reply


def _dump(mailbox: Mailbox, path: str) -> int:
    messages = mailbox.messages()
    with open(path, "w", encoding="ascii") as out:
        for message in messages:
            record = {"rcpt": list(message.rcpt_tos), "raw": base64.b64encode(message.raw).decode()}
            out.write(json.dumps(record) + "\n")
    return len(messages)


async def _serve(kind: str) -> None:
    stats = _Stats()
    mailbox = Mailbox(max_messages=1_000_000)
    handler: object
    if kind == "noop":
        handler = NoopHandler(stats)
    elif kind == "parse":
        handler = ParseHandler(stats)
    elif kind == "parse-maildesk":
        handler = MaildeskParseHandler(stats)
    else:
        handler = CountingCatcher(mailbox, stats)
    async with _listening(kind, handler, stats) as port:
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        stdin = anyio.wrap_file(sys.stdin)
        async for line in stdin:
            command, _, argument = line.strip().partition(" ")
            answer: dict[str, Any]
            if command == "stats":
                answer = stats.to_json()
            elif command == "reset":
                stats.reset()
                answer = {"cleared": mailbox.clear()}
            elif command == "dump":
                answer = {"dumped": await anyio.to_thread.run_sync(_dump, mailbox, argument)}
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)


@asynccontextmanager
async def _listening(kind: str, handler: object, stats: _Stats) -> AsyncIterator[int]:
    """The port `kind` serves on: maildesk's SMTP listener, or the sink's own protocol."""
    if kind != "sink":
        from service.inbound.smtp_server import serve_smtp

        async with serve_smtp(handler, HOST, 0, hostname="bench.test", ident=kind) as (_, port):
            yield port
        return
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(stats.arrived), HOST, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in KINDS:
        print(f"usage: python -m service.bench.servers {{{','.join(KINDS)}}}", file=sys.stderr)
        return 2
    anyio.run(_serve, args[0])
    return 0


# --- the parent: driving them ---------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on: the relay of a maildesk whose outbox must pause."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    root = str(Path(service.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, environment.get("PYTHONPATH", "")) if p
    )
    environment.update(extra or {})
    return environment


class ServerProcess:
    """A `python -m service.bench.servers KIND` child and its command channel."""

    def __init__(
        self, kind: str, process: Process, port: int, lines: BufferedByteReceiveStream
    ) -> None:
        self.kind = kind
        self.process = process
        self.port = port
        self.pid = process.pid
        self._lines = lines
        self._asking = anyio.Lock()  # one question at a time: the answers come back in order

    @classmethod
    async def start(cls, kind: str) -> ServerProcess:
        """Start a `KINDS` server, or `STOCK` (the stock stack, by file path: see `stock.py`)."""
        if kind == STOCK:
            # By path, not `-m service.bench.…`: importing it as a module would import maildesk's
            # packages first. -I keeps the script's folder (service/bench) and PYTHONPATH off
            # sys.path; its `stats` list any maildesk module that got loaded all the same.
            command = [sys.executable, "-I", str(Path(__file__).with_name("stock.py"))]
        else:
            command = [sys.executable, "-m", "service.bench.servers", kind]
        process = await anyio.open_process(command, env=_child_env(), stderr=None)
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        with anyio.fail_after(60):
            ready = json.loads(await lines.receive_until(b"\n", 1 << 20))
        return cls(kind, process, int(ready["port"]), lines)

    async def command(self, line: str) -> dict[str, Any]:
        """Ask the child; safe from several tasks at once (the end-to-end run samples the
        relay's count while it waits for the last notification). Shielded: a question
        cancelled after it was sent would leave its answer to be read as the next one's."""
        with anyio.CancelScope(shield=True):
            answer = await self._ask(line)
        return answer

    async def _ask(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        async with self._asking:
            await self.process.stdin.send(f"{line}\n".encode())
            with anyio.fail_after(120):
                answer: dict[str, Any] = json.loads(await self._lines.receive_until(b"\n", 1 << 20))
        return answer

    async def stop(self) -> None:
        """End of input stops the child; SIGKILL after 10 s. Runs even when cancelled."""
        await stop_process(self.process, None, grace=10)


async def stop_process(process: Process, ask: signal.Signals | None, grace: float) -> int | None:
    """Ask `process` to stop (send `ask`, or with `None` close its input), SIGKILL it after
    `grace` seconds, and return its exit code. Shielded, so a cancelled benchmark still leaves
    no child running behind it."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            if ask is not None:
                process.send_signal(ask)
            elif process.stdin is not None:
                await process.stdin.aclose()
            with anyio.move_on_after(grace):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await process.aclose()
    return process.returncode


_BANNER_SMTP = re.compile(r"^\s*SMTP\s+(\S+):(\d+)", re.MULTILINE)
_BANNER_WEB = re.compile(r"^\s*web/API\s+http://(\S+):(\d+)", re.MULTILINE)


def _open_log(path: Path) -> IO[bytes]:
    return open(path, "ab")  # the child writes to it; closed in `Maildesk.stop`


def _read_text(path: Path) -> str:
    return path.read_text("utf-8", "replace") if path.exists() else ""


class Maildesk:
    """A real `maildesk serve` subprocess on a SQLite file or a PostgreSQL URL, with a fake
    clock."""

    def __init__(self, process: Process, log_path: Path, log: IO[bytes]) -> None:
        self.process = process
        self.pid = process.pid
        self.log_path = log_path
        self._log = log
        self.smtp_port = 0
        self.http_port = 0
        self.trace_path: Path | None = None

    @classmethod
    async def start(
        cls,
        db: Path | str,
        *,
        log_path: Path,
        relay: str,
        clock: str,
        extra_env: Mapping[str, str] | None = None,
        trace: Path | None = None,
        smtp_processes: int = 1,
        sender_auth: bool = False,
    ) -> Maildesk:
        """Start serving `db` (a SQLite path or a PostgreSQL URL); `relay` is HOST:PORT of
        where notifications go. It runs in the folder of `log_path`.

        `smtp_processes` is `serve --smtp-processes`: the CPU and memory read
        below are then those of the main process and its helpers together.

        With `trace`, maildesk runs under `service.bench.trace`, which writes its
        counts to that file on `trace_phase()`.
        """
        log = _open_log(log_path)
        # `maildesk serve`, or with `trace` the same serve under the trace hooks (not through
        # service.cli: the bench command lives there, and bench must not import it back).
        runner = ["service.bench.trace", str(trace), "--"] if trace else ["service.cli", "serve"]
        command = [
            sys.executable,
            "-m",
            *runner,
            "--db",
            str(db),
            "--smtp-host",
            HOST,
            "--smtp-port",
            "0",
            "--http-host",
            HOST,
            "--http-port",
            "0",
            "--relay",
            relay,
            "--sender-auth",  # on: with MAILDESK_DNS at `service.bench.dns` (extra_env)
            "on" if sender_auth else "off",
            "--fake-clock",
            clock,
            "--smtp-processes",
            str(smtp_processes),
        ]
        environment = _child_env(
            {
                "MAILDESK_SECRET": SECRET,
                "MAILDESK_ADMIN_TOKEN": ADMIN_TOKEN,
                "MAILDESK_NEW_TICKETS_PER_HOUR": str(NEW_TICKETS_PER_HOUR),
                **(extra_env or {}),
            }
        )
        process = await anyio.open_process(
            command, env=environment, stdin=None, stdout=log, stderr=log, cwd=log_path.parent
        )
        served = cls(process, log_path, log)
        served.trace_path = trace
        with anyio.move_on_after(60):
            while process.returncode is None:
                text = _read_text(log_path)
                smtp, web = _BANNER_SMTP.search(text), _BANNER_WEB.search(text)
                if smtp and web:
                    served.smtp_port, served.http_port = int(smtp.group(2)), int(web.group(2))
                    return served
                await anyio.sleep(0.05)
        await served.stop()
        raise RuntimeError(f"maildesk serve did not start; its log:\n{_read_text(log_path)}")

    @classmethod
    async def start_holding_mail(
        cls, db: Path | str, *, log_path: Path, **options: Any
    ) -> Maildesk:
        """`start` for an inbound run: the relay at a closed port, so the outbox tries once
        and pauses (its backoff runs on the fake clock, which stands still) and every
        notification stays queued; the clock at the corpus's Monday afternoon."""
        from service.bench.corpus import START

        relay = f"{HOST}:{closed_port()}"
        return await cls.start(
            db, log_path=log_path, relay=relay, clock=START.isoformat(), **options
        )

    async def trace_phase(self) -> dict[str, Any] | None:
        """With `trace`: the counts since the last call (SIGUSR1), which also restarts them."""
        path = self.trace_path
        if path is None:
            return None
        path.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        with anyio.fail_after(30):
            while not path.exists():  # noqa: ASYNC110 (a file written by a signal handler)
                await anyio.sleep(0.01)
        counts: dict[str, Any] = json.loads(await anyio.Path(path).read_text("utf-8"))
        path.unlink()
        return counts

    def pids(self) -> list[int]:
        """The serving process and its helper SMTP processes."""
        return [self.pid, *child_pids(self.pid)]

    def memory(self) -> dict[str, int]:
        """Each `Vm*` figure summed over `pids()`: a peak is the sum of each one's peak, an
        upper bound that counts the pages they share (the interpreter, libraries) twice."""
        total: dict[str, int] = {}
        for pid in self.pids():
            for name, kb in proc_status(pid).items():
                total[name] = total.get(name, 0) + kb
        return total

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    async def stop(self) -> int | None:
        """SIGTERM (a graceful stop), SIGKILL after 30 s; returns the exit code. Runs even when
        cancelled."""
        code = await stop_process(self.process, signal.SIGTERM, grace=30)
        self._log.close()
        return code


if __name__ == "__main__":
    sys.exit(main())
