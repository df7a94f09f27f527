"""`/metrics`: what an operator graphs and alerts on, in Prometheus's text format.

Two kinds of figures, kept apart on purpose:

- Counted by this process as things happen (prometheus_client counters and
  histograms): SMTP replies by code and the time each message took, HTTP
  request latency by route, deliveries by result. Each process of a
  several-node desk counts its own; Prometheus adds them up.
- Read from the database when scraped (gauges): tickets by type and status
  (so opened and closed per type, across every node), timers due and how
  late the oldest is, outbox depth and the age of its oldest message, and
  deliveries by status. Every node answers the same for these: they are the
  desk's, not the process's.

Each `Runtime` has its own registry, so tests that run several desks in one
process never mix their counts. Nothing here is a rule; it only counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import anyio
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _DeskFigures(Collector):
    """The gauges read from the database; `snapshot` is refreshed just before each scrape."""

    def __init__(self) -> None:
        self.tickets: dict[tuple[str, str], int] = {}
        self.timers_due = 0
        self.timers_lag = 0.0
        self.outbox: dict[str, int] = {}
        self.outbox_oldest_age = 0.0

    def collect(self) -> Iterator[Metric]:
        opened = CounterMetricFamily(
            "maildesk_tickets_opened", "Tickets ever opened, by type", labels=["type"]
        )
        closed = CounterMetricFamily(
            "maildesk_tickets_closed", "Tickets closed, by type", labels=["type"]
        )
        current = GaugeMetricFamily(
            "maildesk_tickets", "Tickets now, by type and status", labels=["type", "status"]
        )
        by_type: dict[str, int] = {}
        for (kind, status), count in sorted(self.tickets.items()):
            by_type[kind] = by_type.get(kind, 0) + count
            current.add_metric([kind, status], count)
        for kind in ("refund", "cancelation", "support"):
            opened.add_metric([kind], by_type.get(kind, 0))
            closed.add_metric([kind], self.tickets.get((kind, "closed"), 0))
        yield opened
        yield closed
        yield current
        yield GaugeMetricFamily(
            "maildesk_timers_due", "Timers due now and not yet fired", value=self.timers_due
        )
        yield GaugeMetricFamily(
            "maildesk_timers_lag_seconds",
            "How late the oldest due timer is (0 when none is due)",
            value=self.timers_lag,
        )
        depth = sum(self.outbox.get(status, 0) for status in ("pending", "retrying"))
        yield GaugeMetricFamily(
            "maildesk_outbox_depth", "Emails and webhooks waiting to be delivered", value=depth
        )
        yield GaugeMetricFamily(
            "maildesk_outbox_oldest_age_seconds",
            "Age of the oldest delivery still waiting (0 when none waits)",
            value=self.outbox_oldest_age,
        )
        statuses = GaugeMetricFamily(
            "maildesk_outbox_messages", "Outbox rows by status", labels=["status"]
        )
        for status in ("pending", "retrying", "sent", "failed"):
            statuses.add_metric([status], self.outbox.get(status, 0))
        yield statuses


class Metrics:
    """One process's counters and histograms, and the desk's figures read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.smtp_messages = Counter(
            "maildesk_smtp_messages",
            "Messages answered after DATA, by SMTP reply code",
            ["code"],
            registry=self.registry,
        )
        self.smtp_seconds = Histogram(
            "maildesk_smtp_message_seconds",
            "Time from the end of DATA to the reply (checks, funnel, commit)",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "maildesk_http_request_seconds",
            "HTTP request latency, by method and route",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "maildesk_deliveries",
            "Delivery attempts by this process, by result (sent, retry, failed)",
            ["result"],
            registry=self.registry,
        )
        self._desk = _DeskFigures()
        self.registry.register(self._desk)
        self._lock = anyio.Lock()

    def smtp_reply(self, code: int, seconds: float) -> None:
        self.smtp_messages.labels(code=str(code)).inc()
        self.smtp_seconds.observe(seconds)

    def delivered(self, result: str) -> None:
        self.deliveries.labels(result=result).inc()

    async def exposition(self, store: Store, now: datetime) -> bytes:
        """Every figure in the text format, the database's read now."""
        async with self._lock:
            async with store.reading() as q:
                tickets = await q.tickets.counts()
                due, oldest_due = await q.timers.due(now)
                outbox = await q.outbox.counts()
                oldest_waiting = await q.outbox.oldest_waiting()
            desk = self._desk
            desk.tickets = tickets
            desk.timers_due = due
            desk.timers_lag = max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0
            desk.outbox = outbox
            desk.outbox_oldest_age = (
                max(0.0, (now - oldest_waiting).total_seconds()) if oldest_waiting else 0.0
            )
            return bytes(generate_latest(self.registry))
