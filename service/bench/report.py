"""The benchmark's output: a table for people, then one JSON line for scripts.

The JSON object is always the last line of output. Keys the issue asks for:

    noop_msgs_per_s         1. no-op aiosmtpd server, closed loop
    parse_only_msgs_per_s   2. aiosmtpd + mail-parser, closed loop
    inbound_msgs_per_s      3. maildesk serve, new-ticket mail, closed loop (its peak)
    reply_msgs_per_s        3. maildesk serve, replies to notifications, closed loop
    ratio_to_parse_only     inbound / parse-only (3/2)
    p50_ms, p99_ms          DATA → 250 at half of inbound_msgs_per_s, open loop
    outbound_per_s          notifications rendered and delivered to the catcher
    timers_10k_s            seconds to fire 10,000 due timers and queue their emails
                            (measured with `timers_due`; scaled to 10,000 when fewer)
    idle_tick_ms            one scheduler tick with nothing due (median)
    peak_rss_mb             maildesk serve's VmHWM over the inbound phases
    stock_parse_msgs_per_s  S. the stock stack: aiosmtpd's own SMTP class and DATA
                            reading + mail-parser, closed loop (`service.bench.stock`)
    ratio_to_stock_parse    inbound / stock (3/S): the ratio maildesk's own SMTP
                            code cannot move, since S shares none of it
    reply_ratio_to_stock_parse  replies / stock (3r/S)

1, 2 and 2b run on maildesk's own SMTP session and DATA reader, so their
ceilings rise when it gets faster; S does not. Every older key stays, so
old figures remain comparable.

and more, for context: `ratio_to_noop` (3/1), `parse_maildesk_msgs_per_s`,
`stock_parse_cpu_ms_per_msg`,
closed-loop latencies, the offered and achieved rate of the latency run and
its latency counted from when each message was due, CPU shares of server
and client, `rss_100k_tickets_mb`, the machine and the mode.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from service.bench.load import RunResult, percentile


def number(value: float, digits: int = 1) -> float | None:
    """Rounded, or None (JSON null) when not measured."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), digits)


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 3)


def _cell(value: Any, width: int, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.{digits}f}"
    return str(value).rjust(width)


@dataclass(frozen=True)
class Measured:
    """One load run and what the server spent on it."""

    run: RunResult
    server_cpu_s: float
    """CPU seconds of the server process (all threads) over the run."""
    rss_mb: float | None = None
    database_cpu_s: float | None = None
    """CPU seconds of the PostgreSQL server over the run (None: SQLite, or not readable)."""

    @property
    def database_ms_per_msg(self) -> float | None:
        """The database server's CPU per message: what sizes PostgreSQL."""
        if self.database_cpu_s is None or not self.run.sent:
            return None
        return 1000 * self.database_cpu_s / self.run.sent

    @property
    def cpu_share(self) -> float:
        """The server's CPU over the run, in cores."""
        return self.server_cpu_s / self.run.elapsed_s if self.run.elapsed_s else 0.0

    @property
    def cpu_ms_per_msg(self) -> float:
        """Server CPU per message: steadier than msgs/s on a shared machine."""
        return 1000 * self.server_cpu_s / self.run.sent if self.run.sent else math.nan


def load_row(label: str, measured: Measured | None) -> str:
    if measured is None:
        return f"  {label:<38}{'(skipped)':>10}"
    run = measured.run
    errors = sum(run.errors.values())
    return (
        f"  {label:<38}{_cell(run.throughput, 9)}{_cell(run.sent, 7)}"
        f"{_cell(percentile(run.latencies_ms, 50), 9)}{_cell(percentile(run.latencies_ms, 99), 9)}"
        f"{_cell(measured.cpu_share, 9, 2)}{_cell(measured.cpu_ms_per_msg, 8, 2)}"
        f"{_cell(run.client_cpu, 9, 2)}{_cell(measured.rss_mb, 8)}"
        + (f"   {errors} refused" if errors else "")
    )


LOAD_HEADER = (
    f"  {'':<38}{'msgs/s':>9}{'sent':>7}{'p50 ms':>9}{'p99 ms':>9}"
    f"{'srv CPU':>9}{'ms/msg':>8}{'cli CPU':>9}{'RSS MB':>8}"
)
"""Columns: throughput over the steady part; messages sent; DATA→reply latency; the server's
CPU in cores and in ms per message (all its threads); the load generator's CPU; server VmHWM."""


def emit(lines: list[str], result: dict[str, Any]) -> None:
    """Print the table, then the JSON object as the very last line."""
    print("\n".join(lines), flush=True)
    print(json.dumps(result, sort_keys=False), flush=True)
