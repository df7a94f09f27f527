"""The stock stack: aiosmtpd's own `SMTP` class and mail-parser, nothing of maildesk's.

    python -I path/to/service/bench/stock.py

The yardstick the product cannot move. The other baselines (no-op,
parse-only, `servers.py`) run on maildesk's own SMTP session and DATA reader
(`service.inbound.smtp_server`, `service.inbound.smtp_data`), so when maildesk's reader gets
faster their ceiling rises with it and a ratio against them hides the gain.
This server is what someone would write with the chosen libraries alone:
aiosmtpd's `SMTP` protocol class, unmodified and unsubclassed (its own
line-by-line DATA reading, its own timeouts), on a plain asyncio loop, with
a handler that parses each message with mail-parser
(`mailparser.parse_from_bytes`, on the event loop, as the parse-only
baseline does) and answers `250`. `maildesk bench` reports maildesk's
throughput against it (`ratio_to_stock_parse`) beside the old ratios.

It must never run maildesk's code: it is started by file path with `python
-I` (run as `-m service.bench.stock` it would import `service` and
`service.bench` first; -I keeps its own folder and PYTHONPATH off
`sys.path`), imports only the standard library, aiosmtpd and mailparser
(`tests/benchmarks/test_bench_boundaries.py` reads this file's imports), and
its `stats` answer lists any `service` module that got loaded all the same
(`service_modules`; the benchmark stops if it is not empty).

The command channel is the one `servers.ServerProcess` speaks: first a line
`{"port": …, "pid": …}`, then one JSON answer per command line on stdin
(`stats`, `reset`), stopping at end of input. The constructor options match
what `maildesk serve` gives aiosmtpd (host name, 10 MB size limit, SMTPUTF8,
60 s timeout, listen backlog), so the two differ in code, not in settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import mailparser
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
HOSTNAME = "bench.test"
DATA_SIZE_LIMIT = 10 * 1024 * 1024
"""maildesk's default `MAILDESK_MAX_MESSAGE_SIZE` (aiosmtpd's own default is 32 MiB)."""
TIMEOUT = 60.0
"""maildesk's default `MAILDESK_SMTP_IDLE_TIMEOUT` (aiosmtpd's own default is 300 s)."""
LISTEN_BACKLOG = 1024
"""As `maildesk serve` listens: asyncio's default of 100 can drop handshakes in a burst."""


def _vm_kb() -> dict[str, int]:
    """VmHWM and VmRSS of this process in kB, from /proc/self/status."""
    found: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmHWM", "VmRSS"):
                    found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


class StockParseHandler:
    """mail-parser on every message, then `250`; counts arrivals for the benchmark."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: Any = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mailparser.parse_from_bytes(bytes(raw))
        now = time.monotonic()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        return "250 OK"

    def reset(self) -> None:
        self.count, self.first, self.last = 0, 0.0, 0.0

    def stats(self) -> dict[str, Any]:
        """The same fields as `servers.py`'s `stats`, plus the proof of independence."""
        times = os.times()
        vm = _vm_kb()
        return {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "cpu_s": times.user + times.system,
            "vm_hwm_kb": vm.get("VmHWM", 0),
            "vm_rss_kb": vm.get("VmRSS", 0),
            "service_modules": loaded_service_modules(),
        }


def loaded_service_modules() -> list[str]:
    """maildesk's modules in this process: none, or the yardstick is not the stock stack."""
    return sorted(name for name in sys.modules if name == "service" or name.startswith("service."))


async def serve() -> None:
    """Serve until stdin ends, answering the benchmark's commands on stdout."""
    loop = asyncio.get_running_loop()
    handler = StockParseHandler()

    def session() -> SMTP:
        return SMTP(
            handler,
            hostname=HOSTNAME,
            ident="stock aiosmtpd + mail-parser",
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            timeout=TIMEOUT,
        )

    server = await loop.create_server(session, host=HOST, port=0, backlog=LISTEN_BACKLOG)
    port = server.sockets[0].getsockname()[1]
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    try:
        while line := await commands.readline():
            command = line.decode().strip()
            answer: dict[str, Any]
            if command == "stats":
                answer = handler.stats()
            elif command == "reset":
                handler.reset()
                answer = {"cleared": 0}
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        server.close()
        await server.wait_closed()


def main() -> int:
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
