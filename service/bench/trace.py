"""Stopwatches inside a running maildesk, without touching its code.

    python -m service.bench.trace OUT.json -- serve --db … (any `maildesk` arguments)

runs `service.cli.main(ARGS)` after wrapping, at run time, the functions
where an inbound message or an outbound notification spends its time. On
SIGUSR1 it writes what it counted since the last SIGUSR1 to OUT.json
(atomically) and starts counting afresh; `maildesk bench --trace DIR` sends
one before and one after each maildesk phase and turns the counts into a
per-message table (`DIR/<phase>.trace.txt`, see `render`).

What is counted, for each label: calls, wall time, and for functions that
never await, the CPU time of the calling thread (`time.thread_time`):

- stages of the product: `Intake.receive` (one message, wall), `parse_mail`
  (in anyio's worker thread), the quote stripper, the guards, the state
  machine, `Desk.apply`/`keep`/`notify_address` (a whole funnel
  transaction, wall), rendering and MIME building, the relay transport;
- every `Queries` method (wall, `q.<name>`); every call into SQLite's
  thread (wall, loop → thread → loop: each `execute`, each cursor `fetchall`
  and each cursor `close` is one), on the write connection (all of them
  inside the write lock) or the read one; and each sqlite3 call inside a thread
  by statement (`sqlite3 INSERT outbox`, `sqlite3 COMMIT` which includes the
  fsync, `sqlite3 fetchall`, …);
- the SQLite write lock: waiting for it and holding it (wall);
- aiosmtpd's handling of each SMTP command (wall, includes the handler);
- CPU seconds by thread (event loop, aiosqlite, anyio workers), from
  /proc/self/task.

Wrappers cost a few microseconds a call and change nothing that runs, but
on paths made of many short calls (the scheduler's ~40 hand-offs a timer)
they slow maildesk down by up to a quarter: read the shares, not the rates.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

_calls: Counter[str] = Counter()
_wall: defaultdict[str, float] = defaultdict(float)
_cpu: defaultdict[str, float] = defaultdict(float)
_started = [time.monotonic()]
_thread_base: dict[int, float] = {}


def _add(label: str, wall: float, cpu: float | None = None) -> None:
    _calls[label] += 1
    _wall[label] += wall
    if cpu is not None:
        _cpu[label] += cpu


def _sync(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _add(label, time.perf_counter() - wall0, time.thread_time() - cpu0)

    setattr(owner, name, timed)


def _async(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(owner, name)

    @functools.wraps(original)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        wall0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            _add(label, time.perf_counter() - wall0)

    setattr(owner, name, timed)


_SQL_WORDS = re.compile(r"[A-Za-z_]+")


def sql_label(sql: str) -> str:
    """A short name for a statement: its verb and table ("INSERT outbox", "COMMIT")."""
    words = _SQL_WORDS.findall(sql)
    if not words:
        return "?"
    verb, lowered = words[0].upper(), [w.lower() for w in words]
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    for keyword in ("into", "from"):
        if keyword in lowered[:-1]:
            return f"{verb} {words[lowered.index(keyword) + 1]}"
    return " ".join(w.upper() for w in words[:2])


def _instrument_sql() -> None:
    from service.store import queries, sqlite

    for name, member in list(vars(queries.Queries).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            _async(queries.Queries, name, f"q.{name}")

    writers: set[int] = set()  # id() of each store's write connection

    class TimedLock:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.acquired = 0.0

        async def __aenter__(self) -> None:
            wall0 = time.perf_counter()
            await self.inner.__aenter__()
            self.acquired = time.perf_counter()
            _add("SQLite write lock: waiting", self.acquired - wall0)

        async def __aexit__(self, *exc: object) -> None:
            _add("SQLite write lock: held", time.perf_counter() - self.acquired)
            await self.inner.__aexit__(*exc)

        def __getattr__(self, name: str) -> Any:  # statistics(), locked(), …
            return getattr(self.inner, name)

    original_init = sqlite.SqliteStore.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if hasattr(self, "_write_lock"):  # the store's internals may change: count what is there
            self._write_lock = TimedLock(self._write_lock)
        if hasattr(self, "_writer"):
            writers.add(id(self._writer))

    sqlite.SqliteStore.__init__ = init  # type: ignore[method-assign]


def install() -> None:
    """Put the stopwatches in place (before anything is built)."""
    import anyio.to_thread
    from aiosmtpd.smtp import SMTP

    from service import desk, scheduler
    from service.domain import machine
    from service.inbound import intake, smtp
    from service.outbound import compose, outbox, render, transport
    from service.store import queries

    _instrument_sql()
    for name, label in (
        ("parse_mail", "parse_mail (worker thread)"),
        ("new_text", "new_text (quote stripping)"),
        ("parse_commands", "parse_commands"),
        ("dmarc_failed", "dmarc_failed"),
        ("auto_generated_reason", "auto_generated_reason"),
        ("body_hash", "body_hash"),
    ):
        _sync(intake, name, label)
    _sync(machine, "open_ticket", "machine.open_ticket")
    _sync(machine, "apply", "machine.apply")
    _sync(queries, "_ticket", "rows -> Ticket")
    _sync(queries, "_queued", "rows -> QueuedMail")
    _sync(render.Renderer, "render", "Renderer.render (Jinja)")
    _sync(compose, "build_message", "build_message (MIME)")
    _sync(compose, "ticket_json", "ticket_json")
    _async(intake.Intake, "receive", "Intake.receive")
    _async(intake.Intake, "_find_order", "Intake._find_order")
    _async(intake.Intake, "_thread_of", "Intake._thread_of")
    _async(desk.Desk, "apply", "Desk.apply (transaction)")
    _async(desk.Desk, "keep", "Desk.keep (transaction)")
    _async(desk.Desk, "notify_address", "Desk.notify_address (transaction)")
    _async(smtp.ListenerHandler, "handle_DATA", "ListenerHandler.handle_DATA")
    _async(anyio.to_thread, "run_sync", "anyio.to_thread.run_sync (wait + run)")
    _async(compose.Composer, "compose", "Composer.compose")
    _async(compose.Composer, "context", "Composer.context (reads)")
    _async(transport.SmtpRelayTransport, "send", "SmtpRelayTransport.send")
    _async(transport.CatcherTransport, "send", "CatcherTransport.send")
    _async(outbox.OutboxWorker, "run_once", "OutboxWorker.run_once")
    _async(scheduler.Scheduler, "run_due", "Scheduler.run_due")
    for command in ("EHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT"):
        _async(SMTP, f"smtp_{command}", f"aiosmtpd {command} (incl. handler)")


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each live thread, with its group, from /proc/self/task."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for tid_text in os.listdir("/proc/self/task"):
        tid = int(tid_text)
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        name = names.get(tid, "other")
        if name.startswith("AnyIO worker"):
            name = "anyio worker threads"
        elif "_connection_worker_thread" in name:
            name = "aiosqlite threads"
        elif tid == os.getpid():
            name = "event loop (main thread)"
        found[tid] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def snapshot() -> dict[str, Any]:
    """The counts since the last snapshot (threads that ended meanwhile are not counted)."""
    now = time.monotonic()
    threads = thread_cpu()
    groups: defaultdict[str, float] = defaultdict(float)
    for tid, (name, seconds) in threads.items():
        groups[name] += seconds - _thread_base.get(tid, 0.0)
    result = {
        "elapsed_s": now - _started[0],
        "threads_cpu_s": dict(groups),
        "labels": {
            label: {
                "calls": _calls[label],
                "wall_s": _wall[label],
                "cpu_s": _cpu[label] if label in _cpu else None,
            }
            for label in _calls
        },
    }
    _calls.clear()
    _wall.clear()
    _cpu.clear()
    _started[0] = now
    _thread_base.clear()
    _thread_base.update({tid: seconds for tid, (_, seconds) in threads.items()})
    return result


def _dump(path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(snapshot(), indent=1), "utf-8")
    temporary.replace(path)


def render(trace: dict[str, Any], messages: int, title: str) -> str:
    """The counts of one phase as a table, per message handled (`messages`)."""
    per = max(messages, 1)
    elapsed = float(trace["elapsed_s"])
    lines = [
        f"{title}: {messages} messages in {elapsed:.2f} s ({messages / elapsed:.1f}/s)",
        "",
        "CPU by thread (share of one core over the phase, and ms per message):",
    ]
    for name, seconds in sorted(trace["threads_cpu_s"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {seconds / elapsed:6.2f} cores  {1000 * seconds / per:8.3f} ms  {name}")
    lines += ["", f"  {'calls/msg':>9} {'wall ms/msg':>11} {'cpu ms/msg':>10}  label"]
    labels: dict[str, dict[str, Any]] = trace["labels"]
    for label, values in sorted(labels.items(), key=lambda kv: -float(kv[1]["wall_s"])):
        cpu = values["cpu_s"]
        cpu_text = f"{1000 * cpu / per:10.3f}" if cpu is not None else f"{'':>10}"
        lines.append(
            f"  {values['calls'] / per:9.2f} {1000 * values['wall_s'] / per:11.3f} {cpu_text}"
            f"  {label}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m service.bench.trace OUT.json -- MAILDESK_ARGS…", file=sys.stderr)
        return 2
    out = Path(args[0])
    install()
    snapshot()
    signal.signal(signal.SIGUSR1, lambda signum, frame: _dump(out))
    from service.cli import main as maildesk

    return maildesk(args[2:])


if __name__ == "__main__":
    sys.exit(main())
