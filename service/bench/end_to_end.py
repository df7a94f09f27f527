"""Mail in to mail out: from the first message sent to the last notification at the relay.

Inbound and outbound are each measured alone elsewhere in the run, with the
other one held still. Here one `maildesk serve` (the run's
`--smtp-processes`) does both at once, as in production: new-ticket mail
arrives in a closed loop, every message is acted on and committed, and the
outbox workers render both notifications and hand them to the relay while
more mail keeps coming. The relay is the benchmark's SMTP sink, which
answers `250` and counts (`service.bench.sink`, at a fraction of the CPU
aiosmtpd would take of the cores maildesk is measured on); it is its own
process, as the load generator is. Both report their CPU a message.

`e2e_msgs_per_s` is the messages accepted over the time from the first
`DATA` sent to the last notification accepted by the relay: a backlog the
outbox built up during the load is paid for in that figure. The backlog
itself (notifications committed but not yet at the relay) is sampled twice a
second from the database, read-only, so a run shows whether delivery keeps
up with a sustained load or falls behind and catches up after.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from service.bench import load
from service.bench.corpus import START, Job
from service.bench.outbound import backlog
from service.bench.servers import HOST, Maildesk, ServerProcess

SAMPLE_EVERY_S = 0.5


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included), through SQLite's backup."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


async def measure(
    db: Path,
    jobs: list[Job],
    *,
    log_path: Path,
    smtp_processes: int,
    connections: int,
    progress: Callable[[str], None],
    trace_dir: Path | None = None,
) -> dict[str, Any]:
    """Send `jobs` to a maildesk on `db` (empty outbox) whose relay is the counting SMTP
    sink; the end-to-end rate and the outbox backlog over time. With `trace_dir`, where
    the time went (`end-to-end.trace.txt`, per inbound message, both directions)."""
    relay = await ServerProcess.start("sink")
    try:
        maildesk = await Maildesk.start(
            db,
            log_path=log_path,
            relay=f"{HOST}:{relay.port}",
            clock=START.isoformat(),
            smtp_processes=smtp_processes,
            trace=trace_dir / "serve-4.counts.json" if trace_dir else None,
        )
        try:
            await maildesk.trace_phase()
            measured = await _run(db, jobs, maildesk, relay, connections, progress)
            counts = await maildesk.trace_phase()
            if counts is not None and trace_dir is not None:
                from service.bench.suite import write_trace

                await write_trace(trace_dir, "end-to-end", counts, measured["e2e_messages"])
            return measured
        finally:
            await maildesk.stop()
    finally:
        await relay.stop()


async def _run(
    db: Path,
    jobs: list[Job],
    maildesk: Maildesk,
    relay: ServerProcess,
    connections: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    samples: list[dict[str, float | int]] = []

    async def take_sample(t0: float) -> None:
        delivered = int((await relay.command("stats"))["count"])
        waiting = await backlog(db)
        samples.append(
            {"t": round(time.monotonic() - t0, 2), "delivered": delivered, "backlog": waiting}
        )

    async def sample(t0: float) -> None:
        while True:
            await take_sample(t0)
            await anyio.sleep(SAMPLE_EVERY_S)

    cpu0, relay_cpu0 = maildesk.cpu_seconds(), float((await relay.command("stats"))["cpu_s"])
    t0 = time.monotonic()
    deadline = 120 + len(jobs) / 20
    async with anyio.create_task_group() as group:
        group.start_soon(sample, t0)
        run = await load.closed_loop(
            HOST, maildesk.smtp_port, iter(jobs), label="end-to-end", connections=connections
        )
        sent_s = time.monotonic() - t0
        with anyio.move_on_after(deadline):
            while int((await relay.command("stats"))["count"]) < 2 * run.ok:  # noqa: ASYNC110 (another process)
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    await take_sample(t0)  # the end: everything out, or what was left at the deadline
    stats = await relay.command("stats")
    cpu = maildesk.cpu_seconds() - cpu0
    relay_cpu = float(stats["cpu_s"]) - relay_cpu0
    delivered = int(stats["count"])
    if run.errors:
        raise RuntimeError(f"end-to-end mail refused: {dict(run.errors)}")
    if delivered < 2 * run.ok:
        raise RuntimeError(
            f"end to end: {delivered} of {2 * run.ok} notifications reached the relay in "
            f"{deadline:.0f} s after the last message; see {maildesk.log_path}"
        )
    span = float(stats["last"]) - t0
    peak = max((int(s["backlog"]) for s in samples), default=0)
    progress(
        f"end to end: {run.ok} messages in, {delivered} notifications out in {span:.1f} s "
        f"({run.ok / span:.1f} msgs/s; inbound alone took {sent_s:.1f} s), "
        f"peak backlog {peak}"
    )
    return {
        "e2e_msgs_per_s": round(run.ok / span, 1),
        "e2e_messages": run.ok,
        "e2e_notifications": delivered,
        "e2e_s": round(span, 2),
        "e2e_inbound_s": round(sent_s, 2),
        "e2e_inbound_msgs_per_s": round(run.ok / sent_s, 1),
        "e2e_drain_s": round(span - sent_s, 2),
        "e2e_cpu_ms_per_msg": round(1000 * cpu / max(1, run.ok), 3),
        "e2e_server_cpu": round(cpu / span, 2),
        # The harness on the same cores: the load generator and the relay, a message each way
        "e2e_client_cpu_ms_per_msg": round(
            1000 * run.client_cpu * run.elapsed_s / max(1, run.ok), 3
        ),
        "e2e_relay_cpu_ms_per_msg": round(1000 * relay_cpu / max(1, run.ok), 3),
        "e2e_backlog_peak": peak,
        "e2e_backlog": [[s["t"], s["delivered"], s["backlog"]] for s in samples],
    }
