"""The whole benchmark, in one run, in this order (`maildesk bench`, see `service.bench.cli`).

1. Baselines, each server its own process, the same mail for each, cycled:
   a no-op aiosmtpd server, one that parses with mail-parser, one that runs
   maildesk's `parse_mail` (these three on maildesk's own SMTP session and
   DATA reader), and the stock stack, aiosmtpd's own `SMTP` class with its
   own DATA reading plus mail-parser (`service.bench.stock`), the reference
   maildesk's ratios are reported against (closed loop, 16 connections).
2. The catalog (N customers, 2 orders each) imported by `maildesk import`
   into a fresh SQLite file; a catcher process started.
3. `maildesk serve` #1 (relay: the catcher), untimed: support tickets opened
   so that their notifications arrive at the catcher; replies are built from
   those (their `Reply-To`, Gmail-style quoting).
4. `maildesk serve` #2 (relay: a closed port, so the outbox pauses after one
   probe and every notification stays queued): new-ticket mail in a closed
   loop (the peak), then an open loop at half that peak (p50/p99), then the
   replies in a closed loop. Its VmHWM is the peak RSS. With several SMTP
   processes, `serve` #2c with one: new tickets and replies again (on
   tickets seeded for it), for the CPU a message costs against the stock
   server's, one process each (see `Bench.cost_of_a_message`). Then `serve` #2a the same
   way with `--sender-auth on` against a DNS server on loopback
   (`service.bench.dns`): new tickets in a closed loop, SPF and DMARC judged
   for each (the cost of facing the internet as the MX).
5. `maildesk serve` #3 (relay: the catcher): the queued notifications
   delivered, counted at the catcher.
5b. End to end (`service.bench.end_to_end`): a `serve` on a copy of the
   imported catalog, its relay a counting no-op server: new tickets in,
   both notifications of each out, and the outbox backlog over time.
5c. A big database (`service.bench.growth`, `--growth-orders`): CPU per new
   ticket on a copy of the catalog and on one with many more orders.
5d. With `--db postgresql://…` (`service.bench.postgres_nodes`): a database
   made for the run; one node (new tickets, replies, outbound), then 1, 2
   and 3 nodes, with the PostgreSQL server's own CPU per message.
6. The scheduler: a database of many open tickets with many timers due at
   once, measured in a maildesk-like process (`service.bench.scheduler`).

maildesk runs on a fake clock (Monday 23 November 2026, 14:00 UTC, the
catalog's orders are from the 20 days before) with
MAILDESK_NEW_TICKETS_PER_HOUR=1000000000 so the per-sender limit (20 by
default) never refuses the benchmark's mail. Progress goes to stderr; the
table and then the JSON line go to stdout.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio

from service.bench import (
    corpus,
    end_to_end,
    growth,
    load,
    outbound,
    postgres_nodes,
    report,
    scheduler,
)
from service.bench.corpus import START, Job, NewTickets
from service.bench.dns import corpus_dns
from service.bench.load import RunResult, percentile
from service.bench.profile import Profiler
from service.bench.report import Measured
from service.bench.servers import (
    HOST,
    NEW_TICKETS_PER_HOUR,
    STOCK,
    Maildesk,
    ServerProcess,
    _child_env,
    cpu_seconds,
    mb,
    stolen_cpu_seconds,
)


@dataclass(frozen=True)
class Plan:
    """How much of everything one mode does."""

    name: str
    orders: int
    baseline_s: float
    baseline_pool: int
    parse_maildesk: bool
    new_tickets: int
    seed_tickets: int
    replies_per_ticket: int
    latency_s: float
    outbound_limit: int
    sched_tickets: int
    sched_due: int
    idle_ticks: int
    sched_subscriptions: int = 0
    sched_reminders: int = 0
    e2e_messages: int = 0
    node_tickets: int = 0
    growth_tickets: int = 0
    growth_padding: int = 0


PLANS = {
    "full": Plan(
        "full",
        orders=16_000,
        baseline_s=10,
        baseline_pool=400,
        parse_maildesk=True,
        new_tickets=4_000,
        seed_tickets=500,
        replies_per_ticket=4,
        latency_s=20,
        outbound_limit=3_000,
        sched_tickets=100_000,
        sched_due=10_000,
        idle_ticks=300,
        sched_subscriptions=100_000,
        sched_reminders=10_000,
        e2e_messages=4_000,
        node_tickets=3_000,
        growth_tickets=1_500,
        growth_padding=1_000_000,
    ),
    "quick": Plan(
        "quick",
        orders=3_000,
        baseline_s=2.5,
        baseline_pool=200,
        parse_maildesk=True,
        new_tickets=600,
        seed_tickets=64,
        replies_per_ticket=3,
        latency_s=3.5,
        outbound_limit=300,
        sched_tickets=6_000,
        sched_due=600,
        idle_ticks=100,
        sched_subscriptions=6_000,
        sched_reminders=600,
        e2e_messages=600,
        node_tickets=400,
        growth_tickets=300,
        growth_padding=30_000,
    ),
    "smoke": Plan(
        "smoke",
        orders=300,
        baseline_s=0.8,
        baseline_pool=40,
        parse_maildesk=False,
        new_tickets=100,
        seed_tickets=16,
        replies_per_ticket=2,
        latency_s=1.0,
        outbound_limit=60,
        sched_tickets=1_000,
        sched_due=100,
        idle_ticks=20,
        sched_subscriptions=1_000,
        sched_reminders=100,
        e2e_messages=100,
        node_tickets=60,
        growth_tickets=60,
        growth_padding=2_000,
    ),
}


def _fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def _inbound_check(db: Path) -> dict[str, Any]:
    """What maildesk made of the mail: inbound rows by status, refusal reasons, queued mail."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM inbound_messages GROUP BY 1"))
        reasons = conn.execute(
            "SELECT detail, COUNT(*) FROM inbound_messages WHERE status <> 'acted' "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
        ).fetchall()
        tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        outbox = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY 1"))
    finally:
        conn.close()
    return {
        "statuses": statuses,
        "reasons": [f"{n}x {detail[:70]}" for detail, n in reasons],
        "tickets": tickets,
        "outbox": outbox,
    }


def _read_dump(path: Path) -> list[corpus.Notification]:
    import base64

    notes: list[corpus.Notification] = []
    with open(path, encoding="ascii") as lines:
        for line in lines:
            record = json.loads(line)
            rcpt = record["rcpt"][0] if record["rcpt"] else ""
            note = corpus.read_notification(base64.b64decode(record["raw"]), rcpt)
            if note is not None:
                notes.append(note)
    return notes


async def write_trace(directory: Path, phase: str, counts: dict[str, Any], messages: int) -> None:
    """`<phase>.trace.json` (the raw counts) and `<phase>.trace.txt` (per message)."""
    from service.bench.trace import render

    await anyio.Path(directory / f"{phase}.trace.json").write_text(json.dumps(counts, indent=1))
    table = render(counts, messages, phase)
    await anyio.Path(directory / f"{phase}.trace.txt").write_text(table + "\n")


class Bench:
    def __init__(
        self,
        plan: Plan,
        workdir: Path,
        *,
        connections: int,
        profiler: Profiler | None,
        trace_dir: Path | None = None,
        keep: bool = False,
        smtp_processes: int = 1,
        postgres: str | None = None,
        growth_padding: int | None = None,
    ) -> None:
        self.plan = plan
        self.postgres = postgres
        self.growth_padding = plan.growth_padding if growth_padding is None else growth_padding
        self.smtp_processes = smtp_processes
        self.keep = keep
        self.trace_dir = trace_dir
        self.workdir = workdir
        self.connections = connections
        self.profiler = profiler
        self.started = time.monotonic()
        self.stolen_at_start = self.stolen_at_last = stolen_cpu_seconds()
        self.result: dict[str, Any] = {}
        self.lines: list[str] = []
        self.runs: dict[str, Measured] = {}
        self.check: dict[str, Any] = {}
        self.sched: dict[str, Any] = {}
        self.pg_runs: dict[str, Measured] = {}
        self.catalog_file = workdir / "catalog.json"
        self.cost_runs = smtp_processes > 1
        """Measure the CPU a message costs with one SMTP process too (see `cost_of_a_message`)."""
        self.cost_replies: list[Job] = []

    def progress(self, text: str) -> None:
        """One line on stderr; it says when the host took CPU time since the last one (steal)."""
        now_stolen = stolen_cpu_seconds()
        stolen, self.stolen_at_last = now_stolen - self.stolen_at_last, now_stolen
        note = f" [host steal {stolen:.1f} s of CPU]" if stolen >= 0.5 else ""
        print(
            f"[{time.monotonic() - self.started:6.1f}s] {text}{note}", file=sys.stderr, flush=True
        )

    async def run(self) -> None:
        plan = self.plan
        self.progress(f"maildesk bench ({plan.name}) in {self.workdir}")
        load_start = os.getloadavg()
        catalog = corpus.make_catalog(plan.orders)
        await self.baselines()
        async with AsyncExitStack() as stack:
            catcher = await ServerProcess.start("catcher")
            stack.push_async_callback(catcher.stop)
            await anyio.Path(self.catalog_file).write_text(json.dumps(catalog.document), "utf-8")
            db = self.workdir / "bench.db"
            await self.import_catalog(db)
            imported = self.workdir / "catalog.db"  # the catalog alone, for the runs below
            await anyio.to_thread.run_sync(end_to_end.copy_database, db, imported)
            replies = await self.seed(db, catalog, catcher, cost_replies=self.cost_runs)
            await self.inbound(db, catalog, replies)
            await self.outbound(db, catcher)
            await self.end_to_end(imported, catalog)
            if self.growth_padding:
                self.result |= await growth.measure(
                    self, imported, NewTickets(catalog, seed=41), self.growth_padding
                )
            if self.postgres:
                self.pg_runs = await postgres_nodes.measure(self, self.postgres, catcher)
        await self.scheduler()
        self.finish(load_start)

    # --- 1. baselines --------------------------------------------------------------

    async def baselines(self) -> None:
        plan = self.plan
        pool = NewTickets(corpus.make_catalog(plan.baseline_pool, seed=99)).make(plan.baseline_pool)
        kinds = ["noop", "parse"] + (["parse-maildesk"] if plan.parse_maildesk else []) + [STOCK]
        for kind in kinds:
            server = await ServerProcess.start(kind)
            try:
                cpu0 = cpu_seconds(server.pid)
                run = await load.closed_loop(
                    HOST,
                    server.port,
                    corpus.cycle(pool),
                    label=kind,
                    connections=self.connections,
                    duration=plan.baseline_s,
                )
                cpu = cpu_seconds(server.pid) - cpu0
                stats = await server.command("stats")
            finally:
                await server.stop()
            if stats.get("service_modules"):
                raise RuntimeError(
                    f"the stock server loaded maildesk's modules {stats['service_modules']}: "
                    "it would not be the stock stack"
                )
            measured = self.runs[kind] = Measured(run, cpu, mb(stats["vm_hwm_kb"]))
            self.progress(
                f"{kind}: {run.throughput:.0f} msgs/s ({measured.cpu_ms_per_msg:.2f} ms CPU/msg)"
            )

    # --- 2. the catalog --------------------------------------------------------------

    async def import_catalog(self, db: Path | str, file: Path | None = None) -> str:
        """`maildesk import` of the run's catalog (or of `file`) into `db` (a SQLite path or a
        PostgreSQL URL); what it printed (its counts)."""
        command = [
            *(sys.executable, "-m", "service.cli", "import", str(file or self.catalog_file)),
            *("--db", str(db)),
        ]
        done = await anyio.run_process(command, env=_child_env(), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"maildesk import failed: {done.stderr.decode()[-2000:]}")
        counts = done.stdout.decode().strip()
        if file is None:
            store = "PostgreSQL" if isinstance(db, str) else "SQLite"
            self.progress(f"imported the catalog into {store}: {counts}")
        return counts

    # --- 3. seed tickets, whose notifications the replies answer ----------------------

    async def seed(
        self,
        db: Path | str,
        catalog: corpus.Catalog,
        catcher: ServerProcess,
        *,
        cost_replies: bool = False,
    ) -> list[Job]:
        """Replies to freshly seeded tickets; with `cost_replies`, as many more for
        `cost_of_a_message`, on tickets of their own, in `self.cost_replies`."""
        plan = self.plan
        seeds = NewTickets(catalog, seed=5).make(
            plan.seed_tickets * (2 if cost_replies else 1), refunds=False, large=False
        )
        await catcher.command("reset")  # only this seed's notifications are counted and dumped
        maildesk = await Maildesk.start(
            db,
            log_path=self.workdir / f"serve-1-seed-{'pg' if isinstance(db, str) else 'sqlite'}.log",
            relay=f"{HOST}:{catcher.port}",
            clock=START.isoformat(),
        )
        try:
            run = await load.closed_loop(
                HOST, maildesk.smtp_port, iter(seeds), label="seed", connections=self.connections
            )
            if run.errors:
                raise RuntimeError(f"seed mail refused: {dict(run.errors)}")
            wanted, deadline = 2 * len(seeds), time.monotonic() + 120
            while (await catcher.command("stats"))["count"] < wanted:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {wanted} seed notifications did not arrive in 120 s")
                await anyio.sleep(0.1)
        finally:
            await maildesk.stop()
        dump = self.workdir / "seed-notifications.jsonl"
        await catcher.command(f"dump {dump}")
        notes = await anyio.to_thread.run_sync(_read_dump, dump)
        caught = len(notes)
        if cost_replies:  # half the tickets for each reply run: a ticket is answered once
            self.cost_replies = corpus.replies_from(
                [n for n in notes if n.ticket % 2], plan.replies_per_ticket
            )
            notes = [n for n in notes if not n.ticket % 2]
        replies = corpus.replies_from(notes, plan.replies_per_ticket)
        self.progress(
            f"seeded {len(seeds)} tickets; {caught} notifications caught; "
            f"{len(replies) + len(self.cost_replies if cost_replies else [])} replies built"
        )
        return replies

    # --- 4. inbound ------------------------------------------------------------------

    async def inbound(self, db: Path, catalog: corpus.Catalog, replies: list[Job]) -> None:
        plan = self.plan
        tickets = NewTickets(catalog)
        new_jobs = tickets.make(plan.new_tickets)
        maildesk = await Maildesk.start_holding_mail(
            db,
            log_path=self.workdir / "serve-2-inbound.log",
            trace=self.trace_dir / "serve-2.counts.json" if self.trace_dir else None,
            smtp_processes=self.smtp_processes,
        )
        try:
            peak = await self.maildesk_run(maildesk, "inbound-new", iter(new_jobs))
            rate = peak.throughput / 2
            count = max(20, math.ceil(rate * plan.latency_s))
            latency_jobs = tickets.make(count)
            profiling = self.profiler and await self.profiler.start(maildesk.pid, "half-load")
            await maildesk.trace_phase()
            cpu0 = maildesk.cpu_seconds()
            fixed = await load.fixed_rate(
                HOST,
                maildesk.smtp_port,
                latency_jobs,
                label="latency",
                rate=rate,
                connections=self.connections,
            )
            self.runs["latency"] = Measured(fixed, maildesk.cpu_seconds() - cpu0)
            counts = await maildesk.trace_phase()
            if profiling:
                await profiling.stop()
            if counts is not None and self.trace_dir is not None:
                await write_trace(self.trace_dir, "half-load", counts, fixed.ok)
            self.progress(
                f"latency at {rate:.1f}/s offered ({fixed.throughput:.1f}/s done): "
                f"p50 {percentile(fixed.latencies_ms, 50):.1f} ms, "
                f"p99 {percentile(fixed.latencies_ms, 99):.1f} ms"
            )
            await self.maildesk_run(maildesk, "inbound-reply", iter(replies))
            memory = maildesk.memory()
        finally:
            await maildesk.stop()
        self.result["peak_rss_mb"] = mb(memory.get("VmHWM"))
        if self.cost_runs:
            await self.cost_of_a_message(db, tickets)
        await self.inbound_with_sender_auth(db, tickets, max(20, plan.new_tickets // 2))
        self.check = await anyio.to_thread.run_sync(_inbound_check, db)

    async def cost_of_a_message(self, db: Path, tickets: NewTickets) -> None:
        """New tickets and replies again, on one SMTP process, for what a message costs.

        The stock server is one process, with a core to itself and the load
        generator on the other. With `--smtp-processes 2` maildesk's processes
        and the load generator share the 2 cores, and every program costs more
        CPU a message on saturated cores (the stock server itself 12% more with
        a busy loop on the other core, measured): those runs measure
        throughput. The CPU a message costs beyond parsing (issue #19, part 4)
        is compared like for like: one process each, cores not saturated.
        """
        maildesk = await Maildesk.start_holding_mail(
            db,
            log_path=self.workdir / "serve-2-one-process.log",
            trace=self.trace_dir / "serve-2c.counts.json" if self.trace_dir else None,
            smtp_processes=1,
        )
        try:
            await self.maildesk_run(maildesk, "cost-new", iter(tickets.make(self.plan.new_tickets)))
            await self.maildesk_run(maildesk, "cost-reply", iter(self.cost_replies))
        finally:
            await maildesk.stop()

    async def inbound_with_sender_auth(self, db: Path, tickets: NewTickets, count: int) -> None:
        """New tickets again, with SPF, DKIM and DMARC judged by maildesk (`--sender-auth on`)
        against the corpus's DNS server on loopback (`service.bench.dns`)."""
        async with corpus_dns(HOST) as nameserver:
            maildesk = await Maildesk.start_holding_mail(
                db,
                log_path=self.workdir / "serve-2-sender-auth.log",
                smtp_processes=self.smtp_processes,
                sender_auth=True,
                extra_env={"MAILDESK_DNS": nameserver, "MAILDESK_HOSTNAME": "mx.bench.test"},
            )
            try:
                await self.maildesk_run(maildesk, "inbound-auth", iter(tickets.make(count)))
            finally:
                await maildesk.stop()

    async def maildesk_run(self, maildesk: Maildesk, label: str, jobs: Any) -> RunResult:
        recording = await self.profiler.start(maildesk.pid, label) if self.profiler else None
        await maildesk.trace_phase()
        cpu0 = maildesk.cpu_seconds()
        run = await load.closed_loop(
            HOST, maildesk.smtp_port, jobs, label=label, connections=self.connections
        )
        cpu = maildesk.cpu_seconds() - cpu0
        counts = await maildesk.trace_phase()
        if recording is not None:
            await recording.stop()
        if counts is not None and self.trace_dir is not None:
            await write_trace(self.trace_dir, label, counts, run.ok)
        measured = self.runs[label] = Measured(run, cpu, mb(maildesk.memory().get("VmHWM")))
        self.progress(
            f"{label}: {run.throughput:.1f} msgs/s ({measured.cpu_ms_per_msg:.2f} ms CPU/msg)"
            + (f", refused: {dict(run.errors)}" if run.errors else "")
        )
        return run

    # --- 5. outbound -----------------------------------------------------------------

    async def outbound(self, db: Path, catcher: ServerProcess) -> None:
        measured = await outbound.measure(
            db,
            catcher,
            clock=(START + timedelta(hours=1)).isoformat(),
            limit=self.plan.outbound_limit,
            log_path=self.workdir / "serve-3-outbound.log",
            profile=self.profiler,
            trace_dir=self.trace_dir,
            smtp_processes=self.smtp_processes,
        )
        self.result.update(measured)
        self.progress(
            f"outbound: {measured['outbound_per_s']}/s over {measured['delivered']} notifications"
        )

    # --- 5b. end to end ---------------------------------------------------------------

    async def end_to_end(self, imported: Path, catalog: corpus.Catalog) -> None:
        db = self.workdir / "e2e.db"
        await anyio.to_thread.run_sync(end_to_end.copy_database, imported, db)
        self.result |= await end_to_end.measure(
            db,
            NewTickets(catalog, seed=31).make(self.plan.e2e_messages),
            log_path=self.workdir / "serve-4-end-to-end.log",
            smtp_processes=self.smtp_processes,
            connections=self.connections,
            progress=self.progress,
            trace_dir=self.trace_dir,
        )

    # --- 6. scheduler ----------------------------------------------------------------

    async def scheduler(self) -> None:
        plan = self.plan
        measured = await scheduler.measure(
            self.workdir,
            plan.sched_tickets,
            plan.sched_due,
            plan.idle_ticks,
            plan.sched_subscriptions,
            plan.sched_reminders,
        )
        self.sched = measured
        self.progress(
            f"scheduler: {measured['fired']} timers fired in {measured['fire_s']} s; "
            f"idle tick {measured['idle_tick_ms']} ms"
        )

    # --- report ----------------------------------------------------------------------

    def finish(self, load_start: tuple[float, float, float]) -> None:
        plan, runs, r, sched, check = self.plan, self.runs, self.result, self.sched, self.check
        noop, parse, pmd, stock = (
            runs["noop"],
            runs["parse"],
            runs.get("parse-maildesk"),
            runs[STOCK],
        )
        new, reply, fixed = runs["inbound-new"], runs["inbound-reply"], runs["latency"]
        cost_new, cost_reply = runs.get("cost-new", new), runs.get("cost-reply", reply)
        auth = runs.get("inbound-auth")
        due = max(1, int(sched["due"]))
        timers_10k = sched["fire_s"] * 10_000 / due
        lat, soj = fixed.run.latencies_ms, fixed.run.sojourn_ms
        summary: dict[str, Any] = {
            "noop_msgs_per_s": report.number(noop.run.throughput),
            "parse_only_msgs_per_s": report.number(parse.run.throughput),
            "inbound_msgs_per_s": report.number(new.run.throughput),
            "reply_msgs_per_s": report.number(reply.run.throughput),
            "ratio_to_parse_only": report.ratio(new.run.throughput, parse.run.throughput),
            "ratio_to_noop": report.ratio(new.run.throughput, noop.run.throughput),
            "p50_ms": report.number(percentile(lat, 50), 2),
            "p99_ms": report.number(percentile(lat, 99), 2),
            "outbound_per_s": r.get("outbound_per_s"),
            "timers_10k_s": report.number(timers_10k, 2),
            "idle_tick_ms": sched["idle_tick_ms"],
            "peak_rss_mb": r.get("peak_rss_mb"),
            "stock_parse_msgs_per_s": report.number(stock.run.throughput),
            "ratio_to_stock_parse": report.ratio(new.run.throughput, stock.run.throughput),
            "reply_ratio_to_stock_parse": report.ratio(reply.run.throughput, stock.run.throughput),
            "sender_auth_msgs_per_s": report.number(auth.run.throughput) if auth else None,
            "sender_auth_ratio_to_stock_parse": (
                report.ratio(auth.run.throughput, stock.run.throughput) if auth else None
            ),
            "sender_auth_cpu_ms_per_msg": report.number(auth.cpu_ms_per_msg, 3) if auth else None,
            "e2e_msgs_per_s": r.get("e2e_msgs_per_s"),
            "ingest_cpu_ratio_to_stock_parse": report.ratio(
                cost_new.cpu_ms_per_msg, stock.cpu_ms_per_msg
            ),
            "reply_cpu_ratio_to_stock_parse": report.ratio(
                cost_reply.cpu_ms_per_msg, stock.cpu_ms_per_msg
            ),
            "ingest_cpu_ms_per_msg": report.number(cost_new.cpu_ms_per_msg, 3),
            "reply_ingest_cpu_ms_per_msg": report.number(cost_reply.cpu_ms_per_msg, 3),
            "ingest_cpu_ratio_all_processes": report.ratio(
                new.cpu_ms_per_msg, stock.cpu_ms_per_msg
            ),
            **postgres_nodes.summary(self.pg_runs, stock),
            **postgres_nodes.whole_message_keys(self.pg_runs, r),
            **{k: v for k, v in r.items() if k.startswith(("e2e_", "growth_", "pg_outbound"))},
            # context
            "reply_ratio_to_parse_only": report.ratio(reply.run.throughput, parse.run.throughput),
            "parse_maildesk_msgs_per_s": report.number(pmd.run.throughput) if pmd else None,
            "noop_cpu_ms_per_msg": report.number(noop.cpu_ms_per_msg, 3),
            "parse_only_cpu_ms_per_msg": report.number(parse.cpu_ms_per_msg, 3),
            "parse_maildesk_cpu_ms_per_msg": report.number(pmd.cpu_ms_per_msg, 3) if pmd else None,
            "stock_parse_cpu_ms_per_msg": report.number(stock.cpu_ms_per_msg, 3),
            "inbound_cpu_ms_per_msg": report.number(new.cpu_ms_per_msg, 3),
            "reply_cpu_ms_per_msg": report.number(reply.cpu_ms_per_msg, 3),
            "inbound_server_cpu": report.number(new.cpu_share, 2),
            "reply_server_cpu": report.number(reply.cpu_share, 2),
            "inbound_closed_p50_ms": report.number(percentile(new.run.latencies_ms, 50), 2),
            "inbound_closed_p99_ms": report.number(percentile(new.run.latencies_ms, 99), 2),
            "latency_offered_per_s": report.number(fixed.run.target_rate or 0.0),
            "latency_achieved_per_s": report.number(fixed.run.throughput),
            "p50_from_due_ms": report.number(percentile(soj, 50), 2),
            "p99_from_due_ms": report.number(percentile(soj, 99), 2),
            "refused": sum(sum(m.run.errors.values()) for m in runs.values()),
            "inbound_acted": check["statuses"].get("acted", 0),
            "inbound_not_acted": sum(n for k, n in check["statuses"].items() if k != "acted"),
            "outbound_delivered": r.get("delivered"),
            "outbound_cpu_ms_per_msg": r.get("outbound_cpu_ms_per_msg"),
            "outbound_server_cpu": r.get("outbound_server_cpu"),
            "timers_due": sched["due"],
            "timers_fired": sched["fired"],
            "timers_fire_s": sched["fire_s"],
            "timers_emails_queued": sched["queued"],
            "sched_open_tickets": sched["open_tickets"],
            "sched_active_subscriptions": sched["active_subscriptions"],
            "reminders_fired": sched["reminders_fired"],
            "reminders_fire_s": sched["remind_s"],
            "reminders_emails_queued": sched["reminders_queued"],
            "idle_tick_p99_ms": sched["idle_tick_p99_ms"],
            "rss_100k_tickets_mb": sched["rss_after_mb"],
            "mode": plan.name,
            "connections": self.connections,
            "smtp_processes": self.smtp_processes,
            "new_tickets_per_hour": NEW_TICKETS_PER_HOUR,
            "cpus": os.cpu_count(),
            "loadavg_start": round(load_start[0], 2),
            "loadavg_end": round(os.getloadavg()[0], 2),
            "cpu_steal_s": round(stolen_cpu_seconds() - self.stolen_at_start, 1),
            "fs": _fs_type(self.workdir),
            "python": platform.python_version(),
            "elapsed_s": round(time.monotonic() - self.started, 1),
        }
        kept = [f"databases and logs kept in {self.workdir}", ""] if self.keep else []
        lines = [
            "",
            f"maildesk bench ({plan.name}): {os.cpu_count()} CPUs, load {load_start[0]:.2f} → "
            f"{os.getloadavg()[0]:.2f}, {summary['cpu_steal_s']} s of CPU taken by the host "
            f"(steal), databases on {summary['fs']}, Python "
            f"{summary['python']}, {self.connections} SMTP connections on loopback",
            f"maildesk: serve --smtp-processes {self.smtp_processes} (CPU and RSS: all of them "
            "added up), SQLite synchronous=FULL, fake clock 2026-11-23T14:00Z, "
            f"MAILDESK_NEW_TICKETS_PER_HOUR={NEW_TICKETS_PER_HOUR} (default 20); outbox paused "
            "during the inbound runs (relay at a closed port), measured on its own below",
            "",
            "SMTP, closed loop (each connection sends as soon as it is answered):",
            report.LOAD_HEADER,
            report.load_row("1  no-op aiosmtpd", noop),
            report.load_row("2  aiosmtpd + mail-parser", parse),
            report.load_row("2b aiosmtpd + maildesk parse_mail", pmd),
            report.load_row("S  stock aiosmtpd SMTP + mail-parser", stock),
            report.load_row("3  maildesk serve: new tickets", new),
            report.load_row("3r maildesk serve: replies", reply),
            report.load_row("3a maildesk serve: new, sender auth", auth),
            *(
                [
                    report.load_row("3c one SMTP process: new tickets", cost_new),
                    report.load_row("3cr one SMTP process: replies", cost_reply),
                ]
                if self.cost_runs
                else []
            ),
            f"  ratios against the stock stack (S: aiosmtpd's own SMTP class and DATA reading): "
            f"3/S = {summary['ratio_to_stock_parse']}, "
            f"replies/S = {summary['reply_ratio_to_stock_parse']}, "
            f"3a/S = {summary['sender_auth_ratio_to_stock_parse']} (SPF and DMARC on every "
            "message, DNS from a loopback server, answers cached)",
            f"  ratios against 1 and 2 (maildesk's own SMTP session and DATA reader): "
            f"3/2 = {summary['ratio_to_parse_only']}, 3/1 = {summary['ratio_to_noop']}, "
            f"replies/2 = {summary['reply_ratio_to_parse_only']}",
            "",
            f"latency at half of maildesk's peak, open loop: {fixed.run.target_rate:.1f}/s offered,"
            f" {fixed.run.throughput:.1f}/s done, {fixed.run.ok} messages, maildesk CPU "
            f"{fixed.cpu_share:.2f}",
            f"  DATA→250  p50 {summary['p50_ms']} ms  p99 {summary['p99_ms']} ms;"
            f"  from when due  p50 {summary['p50_from_due_ms']} ms  "
            f"p99 {summary['p99_from_due_ms']} ms",
            f"  peak RSS of maildesk serve over the inbound runs: {summary['peak_rss_mb']} MB",
            f"  what maildesk made of it: inbound {check['statuses']}, "
            f"{check['tickets']} tickets, outbox {check['outbox']}"
            + (f"; not acted: {check['reasons']}" if check["reasons"] else ""),
            "",
            f"outbound: {r.get('delivered')} queued notifications rendered and delivered to the "
            f"catcher: {r.get('outbound_per_s')}/s ({r.get('outbound_cpu_ms_per_msg')} ms CPU "
            f"each, maildesk CPU {r.get('outbound_server_cpu')}, "
            f"RSS {r.get('outbound_rss_mb')} MB)",
            "",
            *self.end_to_end_lines(summary),
            *postgres_nodes.lines(self.pg_runs, stock, r),
            f"scheduler: {sched['open_tickets']} open tickets, {sched['due']} timers due at once: "
            f"{sched['fired']} fired in {sched['fire_s']} s ({sched['fired_per_s']}/s), "
            f"{sched['queued']} emails queued"
            + (f" (10,000 would take ~{timers_10k:.1f} s)" if due != 10_000 else ""),
            f"  subscriptions: {sched['active_subscriptions']} active, "
            f"{sched['reminders_fired']} payment reminders due at once fired in "
            f"{sched['remind_s']} s, {sched['reminders_queued']} emails queued",
            f"  idle tick (run_due with nothing due, tickets and subscriptions): median "
            f"{sched['idle_tick_ms']} ms, p99 {sched['idle_tick_p99_ms']} ms "
            f"({plan.idle_ticks} ticks)",
            f"  RSS of the maildesk-like process: {sched['rss_open_mb']} MB after opening, "
            f"{sched['rss_after_mb']} MB after firing (HWM {sched['hwm_mb']} MB); "
            f"database built in {sched['build_s']} s ({sched['db_mb']} MB)",
            "",
            *kept,
        ]
        report.emit(lines, summary)

    def end_to_end_lines(self, summary: dict[str, Any]) -> list[str]:
        s = summary
        backlog = ", ".join(
            f"{t:g}s {b}" for t, _, b in s["e2e_backlog"][:: max(1, len(s["e2e_backlog"]) // 12)]
        )
        rows = "3c and 3cr" if self.cost_runs else "3 and 3r"
        lines = [
            f"end to end (one serve, relay: an SMTP sink that counts): {s['e2e_messages']} "
            f"messages in, {s['e2e_notifications']} notifications at the relay in {s['e2e_s']} s: "
            f"{s['e2e_msgs_per_s']} msgs/s ({s['e2e_cpu_ms_per_msg']} ms maildesk CPU a message, "
            f"in and out, {s['e2e_server_cpu']} cores; on the same cores the load generator "
            f"{s['e2e_client_cpu_ms_per_msg']} ms and the relay {s['e2e_relay_cpu_ms_per_msg']} ms "
            "a message)",
            f"  mail in took {s['e2e_inbound_s']} s ({s['e2e_inbound_msgs_per_s']}/s), the last "
            f"notification left {s['e2e_drain_s']} s after the last message; outbox backlog "
            f"(not yet at the relay) over time: {backlog}; peak {s['e2e_backlog_peak']}",
            f"  CPU per message beyond parsing, one process each ({rows} against S): new "
            f"tickets {s['ingest_cpu_ratio_to_stock_parse']}x ({s['ingest_cpu_ms_per_msg']} ms), "
            f"replies {s['reply_cpu_ratio_to_stock_parse']}x ({s['reply_ingest_cpu_ms_per_msg']} "
            f"ms) the stock server's; new tickets with every SMTP process on the saturated "
            f"cores (3): {s['ingest_cpu_ratio_all_processes']}x",
        ]
        if s.get("growth_padding_orders"):
            lines.append(
                f"  with {s['growth_padding_orders']:,} more orders: "
                f"{s['growth_big_cpu_ms_per_msg']} ms CPU a new ticket against "
                f"{s['growth_small_cpu_ms_per_msg']} ms with the catalog alone "
                f"({s['growth_cpu_ratio']}x)"
            )
        return [*lines, ""]
