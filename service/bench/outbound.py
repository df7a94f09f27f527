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

from service.bench.databases import server_cpu_seconds
from service.bench.profile import Profiler
from service.bench.servers import HOST, Maildesk, ServerProcess, mb

_WAITING = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'retrying')"


def _sqlite_backlog(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(_WAITING).fetchone()[0])
    finally:
        conn.close()


async def backlog(db: Path | str) -> int:
    """Notifications waiting in the outbox: read-only on a SQLite file (in a thread), one
    query on a PostgreSQL URL."""
    if isinstance(db, Path):
        return await anyio.to_thread.run_sync(_sqlite_backlog, db)
    import asyncpg

    conn = await asyncpg.connect(db)
    try:
        return int(await conn.fetchval(_WAITING))
    finally:
        await conn.close()


async def measure(
    db: Path | str,
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
    waiting = await backlog(db)
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
        cpu0, t0, db0 = maildesk.cpu_seconds(), time.monotonic(), server_cpu_seconds()
        while stats["count"] < target and time.monotonic() < deadline:
            await anyio.sleep(0.05)
            stats = await catcher.command("stats")
        elapsed = max(time.monotonic() - t0, 1e-9)
        cpu, db1 = (maildesk.cpu_seconds() - cpu0) / elapsed, server_cpu_seconds()
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
    cpu_s, sent = cpu * elapsed, max(1, count - first_count)
    on_postgres = isinstance(db, str) and db0 is not None and db1 is not None
    return {
        "backlog": waiting,
        "delivered": count,
        "outbound_per_s": round((count - 1) / span, 1) if span > 0 else 0.0,
        "outbound_server_cpu": round(cpu, 2),
        "outbound_cpu_ms_per_msg": round(1000 * cpu_s / sent, 3),
        "outbound_pg_server_ms_per_msg": (
            round(1000 * (db1 - db0) / sent, 3) if on_postgres and db0 and db1 else None
        ),
        "outbound_rss_mb": mb(memory.get("VmHWM")),
    }
