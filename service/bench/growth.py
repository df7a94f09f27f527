"""Does a message cost more when the database is big? New tickets on a small and a big one.

Two copies of the run's freshly imported catalog (its thousands of orders);
into the second, `maildesk import` adds `padding` more orders (1,000,000 in
the full run, from `service.bench.importing.write_file`: four more vendors,
a third of them subscriptions). Then the same number of new-ticket messages
goes to a `maildesk serve` on each, one after the other, with the same
settings, and the report sets maildesk's CPU per message side by side. Every
lookup a message makes (the order by reference, the customer by address,
open requests on the order, the sender's recent tickets) should be an index
probe, whose cost grows with the logarithm of the rows at most; a full scan
anywhere on the path shows here as a ratio well above 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from service.bench import importing
from service.bench.corpus import NewTickets
from service.bench.end_to_end import copy_database
from service.bench.report import Measured
from service.bench.servers import Maildesk

if TYPE_CHECKING:
    from pathlib import Path

    from service.bench.suite import Bench


async def measure(bench: Bench, base: Path, tickets: NewTickets, padding: int) -> dict[str, Any]:
    """CPU per new ticket on a copy of `base` and on a copy with `padding` more orders."""
    small, big = bench.workdir / "growth-small.db", bench.workdir / "growth-big.db"
    await anyio.to_thread.run_sync(copy_database, base, small)
    await anyio.to_thread.run_sync(copy_database, base, big)
    file = bench.workdir / "padding.json"
    await anyio.to_thread.run_sync(importing.write_file, file, padding)
    await bench.import_catalog(big, file)
    file.unlink()
    bench.progress(f"growth: {padding:,} more orders imported into a copy of the catalog")
    measured: dict[str, Measured] = {}
    count = bench.plan.growth_tickets
    for name, db in (("small", small), ("big", big)):
        maildesk = await Maildesk.start_holding_mail(
            db,
            log_path=bench.workdir / f"serve-growth-{name}.log",
            smtp_processes=bench.smtp_processes,
        )
        try:
            run = await bench.maildesk_run(maildesk, f"growth-{name}", iter(tickets.make(count)))
            measured[name] = bench.runs[f"growth-{name}"]
        finally:
            await maildesk.stop()
        if run.errors:
            raise RuntimeError(f"growth run refused mail: {dict(run.errors)}")
    small_ms, big_ms = measured["small"].cpu_ms_per_msg, measured["big"].cpu_ms_per_msg
    bench.progress(
        f"growth: {small_ms:.2f} ms CPU per new ticket with the catalog alone, {big_ms:.2f} ms "
        f"with {padding:,} more orders"
    )
    return {
        "growth_padding_orders": padding,
        "growth_small_cpu_ms_per_msg": round(small_ms, 3),
        "growth_big_cpu_ms_per_msg": round(big_ms, 3),
        "growth_cpu_ratio": round(big_ms / small_ms, 3) if small_ms else None,
        "growth_small_msgs_per_s": round(measured["small"].run.throughput, 1),
        "growth_big_msgs_per_s": round(measured["big"].run.throughput, 1),
    }
