"""Outbound delivery: queued notifications rendered and delivered to a catcher, per second.

The inbound phases leave the outbox full: every accepted message queued two
notifications while deliveries were paused. Here a fresh `maildesk serve`
starts on that database with `--relay` pointing at the catcher process
(`service.bench.servers catcher`, maildesk's own catcher handler) and the
inbound runs' `--smtp-processes`, and each process's outbox worker does what
it does in production: claim a batch, render each
notification (Jinja text + HTML from the ticket as it was when queued),
build the MIME message, and hand it to the relay over SMTP on kept
connections, sixteen at a time. The rate is counted at the catcher, from the
first arrival to the last, until `limit` notifications have arrived (or the
backlog is empty).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio

from service.bench.profile import Profiler
from service.bench.servers import HOST, Maildesk, ServerProcess, mb


def backlog(db: Path) -> int:
    """Notifications waiting in the outbox (read-only, beside nothing running)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'retrying')"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


async def measure(
    db: Path,
    catcher: ServerProcess,
    *,
    clock: str,
    limit: int,
    log_path: Path,
    profile: Profiler | None = None,
    trace_dir: Path | None = None,
    smtp_processes: int = 1,
) -> dict[str, Any]:
    """Deliver up to `limit` queued notifications; the rate, CPU share and memory of maildesk."""
    waiting = await anyio.to_thread.run_sync(backlog, db)
    target = min(limit, waiting)
    if target < 2:
        return {"backlog": waiting, "delivered": 0, "outbound_per_s": 0.0}
    await catcher.command("reset")
    maildesk = await Maildesk.start(
        db,
        log_path=log_path,
        relay=f"{HOST}:{catcher.port}",
        clock=clock,
        trace=trace_dir / "serve-3.counts.json" if trace_dir else None,
        smtp_processes=smtp_processes,
    )
    try:
        deadline = time.monotonic() + max(60.0, target / 5)
        stats = await catcher.command("stats")
        while stats["count"] < 1 and time.monotonic() < deadline:
            await anyio.sleep(0.02)
            stats = await catcher.command("stats")
        recording = await profile.start(maildesk.pid, "outbound") if profile else None
        await maildesk.trace_phase()
        first_count = int(stats["count"])
        cpu0, t0 = maildesk.cpu_seconds(), time.monotonic()
        while stats["count"] < target and time.monotonic() < deadline:
            await anyio.sleep(0.05)
            stats = await catcher.command("stats")
        elapsed = max(time.monotonic() - t0, 1e-9)
        cpu = (maildesk.cpu_seconds() - cpu0) / elapsed
        counts = await maildesk.trace_phase()
        if recording is not None:
            await recording.stop()
        if counts is not None and trace_dir is not None:
            from service.bench.suite import write_trace

            await write_trace(trace_dir, "outbound", counts, int(stats["count"]) - first_count)
        memory = maildesk.memory()
    finally:
        await maildesk.stop()
    count, span = int(stats["count"]), float(stats["last"]) - float(stats["first"])
    cpu_s = cpu * elapsed
    return {
        "backlog": waiting,
        "delivered": count,
        "outbound_per_s": round((count - 1) / span, 1) if span > 0 else 0.0,
        "outbound_server_cpu": round(cpu, 2),
        "outbound_cpu_ms_per_msg": round(1000 * cpu_s / max(1, count - first_count), 3),
        "outbound_rss_mb": mb(memory.get("VmHWM")),
    }
