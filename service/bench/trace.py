"""Where a message's time goes inside a running maildesk, read from its own trace hooks.

    python -m service.bench.trace OUT.json -- SERVE_ARGS…   (`maildesk serve`'s options)

installs a `Counts` tracer through `service.tracing.install` and runs
`maildesk serve` (`service.serving.run.cmd_serve`, the function the `serve`
command calls) in this process. Nothing of maildesk's is wrapped or
replaced: the product reports at the seams it marks itself (see
`service/tracing.py` for the list), and without a tracer those hooks do
nothing. On SIGUSR1 it writes what it counted since the last SIGUSR1 to
OUT.json (atomically) and starts counting afresh; `maildesk bench --trace
DIR` sends one before and one after each maildesk phase and turns the counts
into a per-message table (`DIR/<phase>.trace.txt`, see `render`).

What is counted, for each label: calls, wall time, and where it means
something, CPU time of the calling thread (`time.thread_time`):

- the seams: `Intake.receive` (one message, wall), `parse_mail` (on the loop, or in anyio's
  worker thread, CPU too), `Desk.apply` / `keep` / `notify_address` (one
  funnel transaction each, commit included, wall), SQLite's write turn with
  `BEGIN` and its `COMMIT` (the fsync), `Renderer.render` (Jinja),
  `Composer.compose` (reads, render and MIME), the relay send;
- every SQL statement, by verb and table (`SQL INSERT outbox`,
  `SQL SELECT tickets`, …): wall time, and on SQLite, whose statements run
  inline on the event loop, their CPU time; plus their total;
- CPU seconds by thread (event loop, anyio workers), from /proc/self/task.

A hook costs a few microseconds a call while tracing and the SQL ones count
every statement, so a traced maildesk is slower than the real one: read the
shares, not the rates. This module never imports `service.cli` (the `bench`
command lives there, so that would be a cycle; a test holds it).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

_SQL_WORDS = re.compile(r"[A-Za-z_]+")


@functools.lru_cache(maxsize=1024)
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


SQL_PREFIX = "SQL "
"""Every statement's label starts with it; `render` adds their total."""


class Counts:
    """The benchmark's `service.tracing.Tracer`: calls, wall and CPU by label, and by thread.

    Seams report from the event loop and from worker threads (`parse_mail`,
    SQLite's `BEGIN`), hence the lock. `snapshot` runs on the event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._wall: defaultdict[str, float] = defaultdict(float)
        self._cpu: defaultdict[str, float] = defaultdict(float)
        self._started = time.monotonic()
        self._thread_base: dict[int, float] = {}

    def record(self, label: str, wall_s: float, cpu_s: float | None) -> None:
        with self._lock:
            self._calls[label] += 1
            self._wall[label] += wall_s
            if cpu_s is not None:
                self._cpu[label] += cpu_s

    def record_sql(self, sql: str, wall_s: float, cpu_s: float | None) -> None:
        self.record(SQL_PREFIX + sql_label(sql), wall_s, cpu_s)

    def snapshot(self) -> dict[str, Any]:
        """The counts since the last snapshot (threads that ended meanwhile are not counted)."""
        now = time.monotonic()
        threads = thread_cpu()
        groups: defaultdict[str, float] = defaultdict(float)
        for tid, (name, seconds) in threads.items():
            groups[name] += seconds - self._thread_base.get(tid, 0.0)
        with self._lock:
            labels = {
                label: {
                    "calls": self._calls[label],
                    "wall_s": self._wall[label],
                    "cpu_s": self._cpu[label] if label in self._cpu else None,
                }
                for label in self._calls
            }
            self._calls.clear()
            self._wall.clear()
            self._cpu.clear()
        result = {
            "elapsed_s": now - self._started,
            "threads_cpu_s": dict(groups),
            "labels": labels,
        }
        self._started = now
        self._thread_base = {tid: seconds for tid, (_, seconds) in threads.items()}
        return result


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
        elif tid == os.getpid():
            name = "event loop (main thread)"
        found[tid] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def _write_atomically(path: Path, counts: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(counts, indent=1), "utf-8")
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
    labels: dict[str, dict[str, Any]] = dict(trace["labels"])
    statements = [values for label, values in labels.items() if label.startswith(SQL_PREFIX)]
    if statements:
        cpus = [values["cpu_s"] for values in statements]
        labels[f"{SQL_PREFIX}(all statements)"] = {
            "calls": sum(values["calls"] for values in statements),
            "wall_s": sum(values["wall_s"] for values in statements),
            "cpu_s": None if None in cpus else sum(cpus),
        }
    for label, values in sorted(labels.items(), key=lambda kv: -float(kv[1]["wall_s"])):
        cpu = values["cpu_s"]
        cpu_text = f"{1000 * cpu / per:10.3f}" if cpu is not None else f"{'':>10}"
        lines.append(
            f"  {values['calls'] / per:9.2f} {1000 * values['wall_s'] / per:11.3f} {cpu_text}"
            f"  {label}"
        )
    return "\n".join(lines)


async def _dump_on_signal(
    counts: Counts, out: Path, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Each SIGUSR1: write the counts since the last one to `out`, on the event loop.

    On the loop rather than in a signal handler, so a snapshot never lands in
    the middle of a `record` made by the thread it interrupted.
    """
    with anyio.open_signal_receiver(signal.SIGUSR1) as signals:
        task_status.started()
        async for _ in signals:
            _write_atomically(out, counts.snapshot())


async def _serve_traced(args: argparse.Namespace, counts: Counts, out: Path) -> int:
    from service.serving.run import cmd_serve

    async with anyio.create_task_group() as group:
        await group.start(_dump_on_signal, counts, out)
        code = await cmd_serve(args)
        group.cancel_scope.cancel()
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] != "--":
        print("usage: python -m service.bench.trace OUT.json -- SERVE_ARGS…", file=sys.stderr)
        return 2
    from service import tracing
    from service.serving.options import add_serve_options

    parser = argparse.ArgumentParser(prog=f"python -m service.bench.trace {args[0]} --")
    add_serve_options(parser)
    serve_args = parser.parse_args(args[2:])
    counts = Counts()
    tracing.install(counts)
    counts.snapshot()
    return anyio.run(_serve_traced, serve_args, counts, Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
