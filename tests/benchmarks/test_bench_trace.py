"""`maildesk bench --trace`: a real `serve` under the trace runner reports from its seams.

The old trace wrapped product functions at run time and broke, without a
test noticing, when one of them moved. This one starts maildesk the way the
benchmark does (`service.bench.trace`, which runs `serve` with a tracer
installed), sends a few new-ticket messages, and checks that the seams the
trace tables are read for all reported: the receive, the parse, the funnel,
the SQL statements and SQLite's commit.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import anyio
import pytest

from service.bench import corpus, load
from service.bench.servers import HOST, Maildesk, _child_env
from service.bench.trace import render

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A loopback port nothing listens on: the relay, so that the outbox pauses."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def test_a_traced_serve_reports_from_every_inbound_seam(tmp_path: Path) -> None:
    catalog = corpus.make_catalog(20)
    document = tmp_path / "catalog.json"
    document.write_text(json.dumps(catalog.document), "utf-8")
    db = tmp_path / "bench.db"
    imported = await anyio.run_process(
        [sys.executable, "-m", "service.cli", "import", str(document), "--db", str(db)],
        env=_child_env(),
        check=False,
    )
    assert imported.returncode == 0, imported.stderr.decode()[-2000:]

    counts_path = tmp_path / "serve.counts.json"
    maildesk = await Maildesk.start(
        db,
        log_path=tmp_path / "serve.log",
        relay=f"{HOST}:{closed_port()}",
        clock=corpus.START.isoformat(),
        trace=counts_path,
    )
    try:
        await maildesk.trace_phase()
        jobs = corpus.NewTickets(catalog).make(6)
        run = await load.closed_loop(HOST, maildesk.smtp_port, iter(jobs), label="t", connections=2)
        counts = await maildesk.trace_phase()
    finally:
        await maildesk.stop()
    assert run.ok == 6, dict(run.errors)
    assert counts is not None
    labels = counts["labels"]
    for seam in ("Intake.receive", "parse_mail", "Desk.apply", "SQLite COMMIT"):
        reported = [label for label in labels if label.startswith(seam)]
        assert reported and labels[reported[0]]["calls"] >= 1, (seam, sorted(labels))
    assert labels["SQL INSERT inbound_messages"]["calls"] == 6
    table = render(counts, run.ok, "inbound")
    assert "SQL (all statements)" in table and "event loop (main thread)" in table
