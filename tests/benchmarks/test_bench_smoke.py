"""`maildesk bench --smoke` works: it runs every phase and ends with the JSON line.

Not a timed test: the figures of a smoke run mean nothing (tiny counts, a
shared CI machine). It checks that the harness runs end to end in about 15
seconds, that every key the issue asks for is there (the stock stack and the
ratios against it included), that every figure is a positive number, and that
maildesk acted on every message it was sent.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import POSTGRES_URL, postgres_problem, require_postgres

pytestmark = pytest.mark.slow  # a load run of ~50 s: CI runs it, `-m "not slow"` skips it

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = (
    "noop_msgs_per_s",
    "parse_only_msgs_per_s",
    "inbound_msgs_per_s",
    "reply_msgs_per_s",
    "ratio_to_parse_only",
    "p50_ms",
    "p99_ms",
    "outbound_per_s",
    "timers_10k_s",
    "idle_tick_ms",
    "peak_rss_mb",
    "stock_parse_msgs_per_s",
    "sender_auth_msgs_per_s",  # new tickets with SPF and DMARC judged (DNS on loopback)
    "sender_auth_ratio_to_stock_parse",
    "stock_parse_cpu_ms_per_msg",
    "ratio_to_stock_parse",
    "reply_ratio_to_stock_parse",
    "e2e_msgs_per_s",  # mail in to both notifications at the relay (issue #19)
    "ingest_cpu_ratio_to_stock_parse",  # one SMTP process, as the stock server is one
    "reply_cpu_ratio_to_stock_parse",
    "ingest_cpu_ms_per_msg",
    "reply_ingest_cpu_ms_per_msg",
    "ingest_cpu_ratio_all_processes",
    "growth_small_cpu_ms_per_msg",  # a new ticket's CPU on a small and a big database
    "growth_big_cpu_ms_per_msg",
)
POSTGRES_KEYS = (
    "pg_inbound_msgs_per_s",
    "ratio_pg_to_stock_parse",
    "pg_server_ms_per_msg",
    "pg_cpu_ms_per_msg",
    "pg_reply_msgs_per_s",
    "pg_outbound_per_s",
    "pg_outbound_server_ms_per_msg",
    "pg_message_server_ms",  # a new ticket and both notifications: what sizes PostgreSQL
)


@dataclass(frozen=True)
class SmokeRun:
    done: subprocess.CompletedProcess[str]
    result: dict[str, object]
    workdir: Path
    on_postgres: bool


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """One `maildesk bench --smoke` for the tests below, with `--db` when PostgreSQL is here.

    Made once per test session, whichever xdist worker asks first (a lock file in the
    session's shared temporary folder): the others read what it kept.
    """
    basetemp = tmp_path_factory.getbasetemp()  # a worker's is inside the session's
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    with open(shared / "bench-smoke.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = shared / "bench-smoke.json"
        if kept.exists():
            saved = json.loads(kept.read_text("utf-8"))
            done = subprocess.CompletedProcess(
                saved["args"], saved["returncode"], saved["stdout"], saved["stderr"]
            )
            return SmokeRun(done, saved["result"], Path(saved["workdir"]), saved["on_postgres"])
        run = _smoke_run(tmp_path_factory.mktemp("bench-smoke"))
        kept.write_text(
            json.dumps(
                {
                    "args": run.done.args,
                    "returncode": run.done.returncode,
                    "stdout": run.done.stdout,
                    "stderr": run.done.stderr,
                    "result": run.result,
                    "workdir": str(run.workdir),
                    "on_postgres": run.on_postgres,
                }
            ),
            "utf-8",
        )
        return run


def _smoke_run(tmp_path: Path) -> SmokeRun:
    on_postgres = postgres_problem() is None
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "service.cli", "bench", "--smoke"),
            *("--workdir", str(tmp_path)),
            *(("--db", POSTGRES_URL) if on_postgres else ()),
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return SmokeRun(done, result, tmp_path, on_postgres)


def test_bench_smoke_runs_every_phase_and_ends_with_the_json_line(smoke: SmokeRun) -> None:
    done, result, tmp_path = smoke.done, smoke.result, smoke.workdir

    for key in REQUIRED:
        value = result.get(key)
        assert isinstance(value, int | float) and value > 0, f"{key} = {value!r}"
    assert result["mode"] == "smoke"
    assert isinstance(result["cpu_steal_s"], int | float) and result["cpu_steal_s"] >= 0
    assert "s of CPU taken by the host (steal)" in done.stdout
    assert result["refused"] == 0, done.stdout
    assert result["inbound_acted"] > 0 and result["inbound_not_acted"] == 0, done.stdout
    assert result["timers_fired"] == result["timers_due"]
    assert result["timers_emails_queued"] == 2 * result["timers_fired"]
    assert "maildesk serve: new tickets" in done.stdout
    assert "stock aiosmtpd SMTP + mail-parser" in done.stdout
    for ratio, numerator in (
        ("ratio_to_stock_parse", "inbound_msgs_per_s"),
        ("reply_ratio_to_stock_parse", "reply_msgs_per_s"),
    ):  # against the stock stack, as the old ratios are against the parse-only server
        expected = float(result[numerator]) / float(result["stock_parse_msgs_per_s"])
        assert abs(float(result[ratio]) - expected) < 0.01, (ratio, result[ratio], expected)
    assert not any(tmp_path.glob("maildesk-bench-*")), "the work directory was not removed"
    if int(result["smtp_processes"]) > 1:  # the cost a message is measured on one process too
        assert "3c one SMTP process: new tickets" in done.stdout
        assert "3cr one SMTP process: replies" in done.stdout
    ratio = float(result["ingest_cpu_ms_per_msg"]) / float(result["stock_parse_cpu_ms_per_msg"])
    assert abs(float(result["ingest_cpu_ratio_to_stock_parse"]) - ratio) < 0.01


def test_end_to_end_counts_every_notification_at_the_relay(smoke: SmokeRun) -> None:
    result = smoke.result
    assert result["e2e_notifications"] == 2 * int(result["e2e_messages"])
    samples = result["e2e_backlog"]
    assert isinstance(samples, list) and samples, "no backlog samples"
    assert samples[-1][1] == result["e2e_notifications"]  # the last sample saw them all out
    # A peak of 0 is a pass, not a missing figure: the outbox kept pace with the smoke's mail.
    assert result["e2e_backlog_peak"] == max(backlog for _, _, backlog in samples) >= 0
    assert "end to end (one serve" in smoke.done.stdout


def test_postgres_mode_reports_maildesk_and_server_cpu_per_message(smoke: SmokeRun) -> None:
    require_postgres()
    assert smoke.on_postgres
    result = smoke.result
    for key in POSTGRES_KEYS:
        value = result.get(key)
        assert isinstance(value, int | float) and value > 0, f"{key} = {value!r}"
    nodes = result["pg_nodes"]
    assert isinstance(nodes, list)
    assert [n["nodes"] for n in nodes] == [1, 2, 3]
    assert all(n["msgs_per_s"] > 0 and n["pg_server_ms_per_msg"] > 0 for n in nodes)
    assert "3p maildesk on PostgreSQL: new tickets" in smoke.done.stdout
    made = re.search(r"PostgreSQL: database (maildesk_bench_\w+) made", smoke.done.stderr)
    assert made, smoke.done.stderr[-2000:]
    assert not _database_exists(made.group(1)), "the run's database was not dropped"


def _database_exists(name: str) -> bool:
    async def probe() -> bool:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(probe())
