"""maildesk on PostgreSQL: one node beside the SQLite figures, then 1, 2 and 3 nodes.

`maildesk bench --db postgresql://…` runs this after the SQLite phases, in
the same run, so the ratio to the stock stack is against the same baseline.
The database is made for the run and dropped after
(`service.bench.databases.fresh_database`); the catalog is imported into it
with `maildesk import`, and support tickets are seeded through a first
`serve` (relay: the catcher) so that the replies answer real notifications,
as on SQLite.

Then, with the relay at a closed port (the outbox pauses, as in the SQLite
inbound runs):

- one node, `serve --smtp-processes` as for SQLite: new tickets, then
  replies, each in a closed loop. Its figures are the `pg_*` keys. Then the
  notifications they queued are delivered to the catcher, as on SQLite
  (`pg_outbound_*`), so that a message's whole cost on PostgreSQL is known.
- nodes: 1, 2 and 3 `serve` processes (`--smtp-processes 1` each) on the one
  database, the load generator's connections dealt among their ports, new
  tickets in a closed loop. On this machine they share its cores with
  PostgreSQL and the load generator, so the throughput shows contention as
  much as scaling; the CPU per message, maildesk's and PostgreSQL's, is what
  the README turns into a sizing table.

The PostgreSQL server's CPU is read from its own processes
(`databases.server_cpu_seconds`), so it must run on this machine for those
columns; everything else works against any server.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from service.bench import corpus, load, outbound, report
from service.bench.corpus import START, Job, NewTickets
from service.bench.databases import fresh_database, server_cpu_seconds
from service.bench.report import Measured
from service.bench.servers import HOST, Maildesk, ServerProcess, mb

if TYPE_CHECKING:
    from service.bench.suite import Bench

NODE_COUNTS = (1, 2, 3)


async def run_load(
    maildesks: Sequence[Maildesk], jobs: list[Job], label: str, connections: int
) -> Measured:
    """A closed loop over every node's port; maildesk's and PostgreSQL's CPU over it."""
    cpu0, db0 = sum(m.cpu_seconds() for m in maildesks), server_cpu_seconds()
    run = await load.closed_loop(
        HOST, [m.smtp_port for m in maildesks], iter(jobs), label=label, connections=connections
    )
    cpu, db1 = sum(m.cpu_seconds() for m in maildesks) - cpu0, server_cpu_seconds()
    rss = sum(mb(m.memory().get("VmHWM")) for m in maildesks)
    return Measured(run, cpu, rss, None if db0 is None or db1 is None else db1 - db0)


async def measure(bench: Bench, server_url: str, catcher: ServerProcess) -> dict[str, Measured]:
    """Every PostgreSQL run, keyed `pg-new`, `pg-reply`, `pg-nodes-1`, `pg-nodes-2`, …"""
    plan = bench.plan
    runs: dict[str, Measured] = {}
    catalog = corpus.make_catalog(plan.orders)  # its own: every order unused on this database
    tickets = NewTickets(catalog, seed=23)
    async with fresh_database(server_url) as url:
        bench.progress(f"PostgreSQL: database {url.rsplit('/', 1)[1]} made for this run")
        await bench.import_catalog(url)
        replies = await bench.seed(url, catalog, catcher)
        node = await Maildesk.start_holding_mail(
            url,
            log_path=bench.workdir / "serve-pg-1.log",
            smtp_processes=bench.smtp_processes,
        )
        try:
            for label, jobs in (
                ("pg-new", tickets.make(plan.new_tickets)),
                ("pg-reply", replies),
            ):
                runs[label] = await run_load([node], jobs, label, bench.connections)
                bench.progress(describe(label, runs[label]))
        finally:
            await node.stop()
        delivered = await outbound.measure(
            url,
            catcher,
            clock=(START + timedelta(hours=1)).isoformat(),
            limit=plan.outbound_limit,
            log_path=bench.workdir / "serve-pg-outbound.log",
            smtp_processes=bench.smtp_processes,
        )
        bench.result |= {
            "pg_outbound_per_s": delivered["outbound_per_s"],
            "pg_outbound_cpu_ms_per_msg": delivered["outbound_cpu_ms_per_msg"],
            "pg_outbound_server_ms_per_msg": delivered["outbound_pg_server_ms_per_msg"],
        }
        bench.progress(
            f"pg-outbound: {delivered['outbound_per_s']}/s over {delivered['delivered']} "
            f"notifications (maildesk {delivered['outbound_cpu_ms_per_msg']} ms CPU each, "
            f"PostgreSQL {delivered['outbound_pg_server_ms_per_msg']} ms)"
        )
        for count in NODE_COUNTS:
            label = f"pg-nodes-{count}"
            async with AsyncExitStack() as stack:
                nodes = []
                for n in range(count):
                    started = await Maildesk.start_holding_mail(
                        url,
                        log_path=bench.workdir / f"serve-pg-nodes-{count}-{n}.log",
                        smtp_processes=1,
                    )
                    stack.push_async_callback(started.stop)
                    nodes.append(started)
                jobs = tickets.make(plan.node_tickets)
                runs[label] = await run_load(nodes, jobs, label, bench.connections)
            bench.progress(describe(label, runs[label]))
    return runs


def describe(label: str, measured: Measured) -> str:
    database = measured.database_ms_per_msg
    return (
        f"{label}: {measured.run.throughput:.1f} msgs/s (maildesk {measured.cpu_ms_per_msg:.2f} "
        f"ms CPU/msg, PostgreSQL "
        + ("not read" if database is None else f"{database:.2f} ms CPU/msg")
        + ")"
        + (f", refused: {dict(measured.run.errors)}" if measured.run.errors else "")
    )


def summary(runs: dict[str, Measured], stock: Measured) -> dict[str, Any]:
    """The JSON keys of the PostgreSQL runs (all None when there were none)."""
    new, reply = runs.get("pg-new"), runs.get("pg-reply")
    nodes = [
        {
            "nodes": count,
            "msgs_per_s": report.number(m.run.throughput),
            "maildesk_cpu_ms_per_msg": report.number(m.cpu_ms_per_msg, 3),
            "pg_server_ms_per_msg": _ms(m.database_ms_per_msg),
            "maildesk_cores": report.number(m.cpu_share, 2),
            "pg_server_cores": _ms(
                m.database_cpu_s / m.run.elapsed_s
                if m.database_cpu_s is not None and m.run.elapsed_s
                else None
            ),
        }
        for count in NODE_COUNTS
        if (m := runs.get(f"pg-nodes-{count}")) is not None
    ]
    return {
        "pg_inbound_msgs_per_s": report.number(new.run.throughput) if new else None,
        "ratio_pg_to_stock_parse": (
            report.ratio(new.run.throughput, stock.run.throughput) if new else None
        ),
        "pg_server_ms_per_msg": _ms(new.database_ms_per_msg) if new else None,
        "pg_cpu_ms_per_msg": report.number(new.cpu_ms_per_msg, 3) if new else None,
        "pg_reply_msgs_per_s": report.number(reply.run.throughput) if reply else None,
        "pg_reply_ratio_to_stock_parse": (
            report.ratio(reply.run.throughput, stock.run.throughput) if reply else None
        ),
        "pg_reply_server_ms_per_msg": _ms(reply.database_ms_per_msg) if reply else None,
        "pg_reply_cpu_ms_per_msg": report.number(reply.cpu_ms_per_msg, 3) if reply else None,
        "pg_nodes": nodes or None,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else report.number(value, 3)


def whole_message_ms(
    runs: dict[str, Measured], result: dict[str, Any]
) -> tuple[float, float] | None:
    """CPU of one new ticket with both its notifications delivered, (maildesk, PostgreSQL):
    the ingest run's cost per message plus twice the delivery run's cost per notification."""
    new = runs.get("pg-new")
    out_md, out_pg = (
        result.get("pg_outbound_cpu_ms_per_msg"),
        result.get("pg_outbound_server_ms_per_msg"),
    )
    if new is None or new.database_ms_per_msg is None or out_md is None or out_pg is None:
        return None
    return new.cpu_ms_per_msg + 2 * out_md, new.database_ms_per_msg + 2 * out_pg


def whole_message_keys(runs: dict[str, Measured], result: dict[str, Any]) -> dict[str, Any]:
    whole = whole_message_ms(runs, result)
    return {
        "pg_message_maildesk_ms": None if whole is None else round(whole[0], 3),
        "pg_message_server_ms": None if whole is None else round(whole[1], 3),
    }


def lines(runs: dict[str, Measured], stock: Measured, result: dict[str, Any]) -> list[str]:
    """The table's PostgreSQL section."""
    if not runs:
        return []
    keys = summary(runs, stock)
    rows = [
        "PostgreSQL (a database made for this run; relay at a closed port), closed loop:",
        report.LOAD_HEADER + f"{'PG ms/msg':>11}",
    ]
    names = {
        "pg-new": "3p maildesk on PostgreSQL: new tickets",
        "pg-reply": "3q maildesk on PostgreSQL: replies",
        **{f"pg-nodes-{n}": f"N{n} {n} serve process(es), new tickets" for n in NODE_COUNTS},
    }
    for key, name in names.items():
        if (measured := runs.get(key)) is not None:
            database = measured.database_ms_per_msg
            rows.append(
                report.load_row(name, measured) + ("" if database is None else f"{database:11.2f}")
            )
    rows.append(
        f"  3p/S = {keys['ratio_pg_to_stock_parse']}, 3q/S = "
        f"{keys['pg_reply_ratio_to_stock_parse']}; PostgreSQL's own CPU from its processes "
        "on this machine (the postmaster, its backends and workers)"
    )
    rows.append(
        f"  outbound on PostgreSQL: {result.get('pg_outbound_per_s')}/s, maildesk "
        f"{result.get('pg_outbound_cpu_ms_per_msg')} ms and PostgreSQL "
        f"{result.get('pg_outbound_server_ms_per_msg')} ms CPU a notification"
    )
    whole = whole_message_ms(runs, result)
    if whole is not None:
        rows.append(
            f"  sizing: a new ticket with both notifications delivered costs maildesk "
            f"{whole[0]:.2f} ms and PostgreSQL {whole[1]:.2f} ms of CPU: one maildesk core "
            f"carries about {1000 / whole[0]:.0f} messages a second, one PostgreSQL core about "
            f"{1000 / whole[1]:.0f}"
        )
    return [*rows, ""]
