"""`maildesk bench --smoke` works: it runs every phase and ends with the JSON line.

Not a timed test: the figures of a smoke run mean nothing (tiny counts, a
shared CI machine). It checks that the harness runs end to end in about 15
seconds, that every key the issue asks for is there (the stock stack and the
ratios against it included), that every figure is a positive number, and that
maildesk acted on every message it was sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
)


def test_bench_smoke_runs_every_phase_and_ends_with_the_json_line(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "bench", "--smoke", "--workdir", str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])

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
        expected = result[numerator] / result["stock_parse_msgs_per_s"]
        assert abs(result[ratio] - expected) < 0.01, (ratio, result[ratio], expected)
    assert not any(tmp_path.glob("maildesk-bench-*")), "the work directory was not removed"
