"""`maildesk bench [--quick | --smoke]`: the command line of the benchmark.

Kept light on purpose: `service.cli` imports this module to build its
parser, so every `maildesk` command (`serve` included, whose memory the
benchmark measures) would pay for what is imported here. The benchmark
itself (`service.bench.suite`) is imported only when `bench` runs.

The dependency runs one way, cli → bench: nothing in `service.bench`
imports `service.cli`. The benchmark starts maildesk as `python -m
service.cli …` subprocesses, and `--trace` runs `serve` through
`service.serving.run` (`service.bench.trace`);
`tests/benchmarks/test_bench_boundaries.py` fails on an import back.

    maildesk bench            the full run (several minutes)
    maildesk bench --quick    everything reduced, under a minute
    maildesk bench --smoke    tiny counts, ~15 s: checks that it works (CI)
    maildesk bench --db postgresql://127.0.0.1/postgres
                              also on PostgreSQL (a database made and dropped per run)

Options: `--connections N` (16), `--smtp-processes N` (what the inbound runs
give `maildesk serve --smtp-processes`; default one a core), `--workdir DIR` (where the temporary
databases and logs go), `--keep` (keep them), `--py-spy DIR` (record the
maildesk process with py-spy during its phases; perturbs the figures),
`--trace DIR` (run maildesk under `service.bench.trace` and write, per
phase, where each message's time goes: `DIR/<phase>.trace.txt`), `--db
postgresql://…` (also run on PostgreSQL: a database is made on that server
and dropped after), `--growth-orders N` (the big-database run's added orders).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import anyio


def add_options(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    mode.add_argument("--smoke", action="store_true", help="tiny counts (~15 s): does it work")
    parser.add_argument("--connections", type=int, default=16, help="SMTP connections")
    parser.add_argument(
        "--smtp-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="maildesk serve --smtp-processes for the inbound runs "
        "(default: one a core, here %(default)s)",
    )
    parser.add_argument(
        "--workdir", help="where the temporary databases go (default: the system temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--db",
        type=_postgres_server,
        metavar="postgresql://…",
        help="also run maildesk on PostgreSQL: a database is made on this server for the run "
        "and dropped after (one node, then 1, 2 and 3 nodes)",
    )
    parser.add_argument(
        "--growth-orders",
        type=int,
        metavar="N",
        help="orders added for the 'does a message cost more on a big database' run "
        "(full: 1,000,000; 0 skips it)",
    )
    parser.add_argument(
        "--trace",
        metavar="DIR",
        help="run maildesk under service.bench.trace and write per-message stage timings to DIR",
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="record maildesk with py-spy during its phases into DIR (perturbs the figures)",
    )


def _postgres_server(value: str) -> str:
    if not value.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a PostgreSQL URL: give the server to run on, such as "
            "postgresql://127.0.0.1:5432/postgres (maildesk bench always runs SQLite too, on "
            "files of its own)"
        )
    return value


async def run(args: argparse.Namespace) -> int:
    """The `maildesk bench` command: table and JSON line on stdout, progress on stderr."""
    from service.bench.profile import Profiler
    from service.bench.suite import PLANS, Bench

    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    base = Path(args.workdir) if args.workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="maildesk-bench-", dir=base))
    profiler = Profiler(Path(args.py_spy)) if args.py_spy else None
    trace_dir = Path(args.trace) if args.trace else None
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
    if trace_dir is not None or profiler is not None:
        args.smtp_processes = 1  # the trace and py-spy see one process: let it take all the mail
    bench = Bench(
        plan,
        workdir,
        connections=args.connections,
        profiler=profiler,
        trace_dir=trace_dir,
        keep=args.keep,
        smtp_processes=args.smtp_processes,
        postgres=args.db,
        growth_padding=args.growth_orders,
    )
    try:
        await bench.run()
    finally:
        if not args.keep:
            await anyio.to_thread.run_sync(shutil.rmtree, workdir, True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m service.bench [--quick | --smoke]`, the same as `maildesk bench`."""
    parser = argparse.ArgumentParser(prog="maildesk bench", description=__doc__)
    add_options(parser)
    args = parser.parse_args(argv)
    try:
        return anyio.run(run, args)
    except KeyboardInterrupt:
        return 130
