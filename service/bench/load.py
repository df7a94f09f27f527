"""The SMTP load generator: aiosmtplib, N connections, each reused for many messages.

The client is maildesk's own relay client (`service.adapters.aiosmtplib.RelayClient`):
aiosmtplib, sending the benchmark's CRLF messages as they are rather than through two
regular-expression passes each (what `data()` does: ~0.2 ms of CPU a message on the
cores the servers are measured on). The bytes on the wire are the same.

Each connection says EHLO once, then for every message `MAIL`, `RCPT`,
`DATA`; the latency of a message is from sending `DATA` to the reply to the
message body (`time.perf_counter`), which for maildesk is the whole of its
work: parsing, acting, committing, queueing both notifications. A refusal
(4xx/5xx) is counted with its reply text and the connection carries on after
`RSET`; a dropped connection is reopened.

Two modes:

- `closed_loop`: every connection sends its next message as soon as the last
  one is answered; throughput is counted over the steady middle of the run
  (the first completions, while connections open, and the last
  `connections` completions, while they drain, are left out).
- `fixed_rate`: open loop. Messages are due at a fixed rate whatever the
  server does; a free connection takes the next due message. Besides
  DATA→reply latency this records the time from when each message was due,
  which also counts waiting for a free connection (no coordinated omission).

The client's own CPU use is reported too: a client near 100% of a core is
measuring itself, not the server.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import aiosmtplib
import anyio

from service.adapters.aiosmtplib import RelayClient
from service.bench.corpus import Job

LOCAL_HOSTNAME = "loadgen.bench.test"
"""Given in EHLO; set so aiosmtplib never asks DNS for this machine's name."""


@dataclass
class RunResult:
    """What one load run measured."""

    label: str
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    throughput: float = 0.0
    """Successful messages per second over the steady part of the run."""
    latencies_ms: list[float] = field(default_factory=list)
    """DATA → reply, successful messages in the measured window."""
    sojourn_ms: list[float] = field(default_factory=list)
    """Fixed rate only: from when the message was due to the reply."""
    client_cpu: float = 0.0
    """CPU time of this process over the run, as a share of one core."""
    target_rate: float | None = None
    completions: list[float] = field(default_factory=list, repr=False)

    @property
    def sent(self) -> int:
        return self.ok + sum(self.errors.values())

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        return percentile(self.latencies_ms if values is None else values, q)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linear between the nearest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class _Connection:
    """One SMTP client connection, reopened when the server drops it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.client: RelayClient | None = None

    async def open(self) -> RelayClient:
        if self.client is None or not self.client.is_connected:
            client = RelayClient(
                hostname=self.host,
                port=self.port,
                start_tls=False,
                timeout=120,
                local_hostname=LOCAL_HOSTNAME,
            )
            await client.connect()
            await client.ehlo()
            self.client = client
        return self.client

    async def send(self, job: Job) -> tuple[float, float, str | None]:
        """Send one message: (DATA sent at, reply at, refusal text or None)."""
        client = await self.open()
        started = time.perf_counter()
        try:
            await client.mail_as_is(job.sender)
            await client.rcpt_as_is(job.recipient)
            started = time.perf_counter()
            await client.data_as_is(job.raw)
        except aiosmtplib.SMTPResponseException as error:
            done = time.perf_counter()
            try:
                await client.rset()
            except aiosmtplib.SMTPException:
                self.client = None
            return started, done, f"{error.code} {error.message[:80]}"
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError) as error:
            self.client = None
            return started, time.perf_counter(), f"connection: {type(error).__name__}"
        return started, time.perf_counter(), None

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.quit()
            except aiosmtplib.SMTPException:
                self.client.close()


async def closed_loop(
    host: str,
    port: int | Sequence[int],
    jobs: Iterator[Job],
    *,
    label: str,
    connections: int = 16,
    duration: float | None = None,
    limit: int | None = None,
) -> RunResult:
    """Send `jobs` as fast as the server answers, until they run out, `limit` or `duration`.

    With several ports (several `serve` nodes on one database) the connections are dealt
    among them in turn, as a round-robin MX record or a load balancer would."""
    ports = [port] if isinstance(port, int) else list(port)
    result = RunResult(label)
    deadline = math.inf if duration is None else time.perf_counter() + duration
    remaining = [math.inf if limit is None else limit]
    latencies: list[tuple[float, float]] = []  # (reply at, latency)

    def next_job() -> Job | None:
        if remaining[0] <= 0 or time.perf_counter() >= deadline:
            return None
        job = next(jobs, None)
        if job is not None:
            remaining[0] -= 1
        return job

    async def worker(port: int) -> None:
        connection = _Connection(host, port)
        try:
            while (job := next_job()) is not None:
                started, done, refusal = await connection.send(job)
                result.completions.append(done)
                if refusal is None:
                    result.ok += 1
                    latencies.append((done, (done - started) * 1000))
                else:
                    result.errors[refusal] += 1
        finally:
            await connection.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as group:
        for n in range(connections):
            group.start_soon(worker, ports[n % len(ports)])
    result.elapsed_s = time.perf_counter() - t0
    result.client_cpu = (time.process_time() - cpu0) / max(result.elapsed_s, 1e-9)
    result.throughput, window = _steady_rate(
        result.completions, connections, result.ok, result.elapsed_s
    )
    result.latencies_ms = [ms for at, ms in latencies if window[0] <= at <= window[1]]
    return result


def _steady_rate(
    completions: list[float], connections: int, ok: int, elapsed: float
) -> tuple[float, tuple[float, float]]:
    """Completions per second between the warm-up and the drain, scaled to successes."""
    times = sorted(completions)
    n = len(times)
    warm = max(2 * connections, n // 20)
    if n < warm + 2 * connections + 10:
        rate = ok / elapsed if elapsed else 0.0
        return rate, (-math.inf, math.inf)
    first, last = warm, n - connections - 1
    span = times[last] - times[first]
    rate = (last - first) / span if span > 0 else 0.0
    return rate * (ok / n), (times[first], times[last])


async def fixed_rate(
    host: str,
    port: int,
    jobs: list[Job],
    *,
    label: str,
    rate: float,
    connections: int = 16,
    warmup_share: float = 0.05,
) -> RunResult:
    """Offer `jobs` at `rate` per second (open loop) over `connections` connections."""
    result = RunResult(label, target_rate=rate)
    send, receive = anyio.create_memory_object_stream[tuple[float, Job]](max_buffer_size=math.inf)
    samples: list[tuple[float, float, float]] = []  # (due at, DATA at, reply at)

    async def dispatch(t0: float) -> None:
        async with send:
            for i, job in enumerate(jobs):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                await send.send((due, job))

    async def worker() -> None:
        connection = _Connection(host, port)
        await connection.open()
        try:
            async for due, job in receive:
                started, done, refusal = await connection.send(job)
                result.completions.append(done)
                if refusal is None:
                    result.ok += 1
                    samples.append((due, started, done))
                else:
                    result.errors[refusal] += 1
        finally:
            await connection.close()

    async with receive:
        cpu0 = time.process_time()
        async with anyio.create_task_group() as workers:
            for _ in range(connections):
                workers.start_soon(worker)
            await anyio.sleep(0.2)  # let the connections open before the clock starts
            t0 = time.perf_counter()
            await dispatch(t0)  # closing the send side ends the workers once they drain it
        result.elapsed_s = time.perf_counter() - t0
        result.client_cpu = (time.process_time() - cpu0) / max(result.elapsed_s, 1e-9)
    skip = int(len(samples) * warmup_share)
    kept = sorted(samples)[skip:]
    result.latencies_ms = [(done - started) * 1000 for _, started, done in kept]
    result.sojourn_ms = [(done - due) * 1000 for due, _, done in kept]
    if result.completions:
        result.throughput = result.ok / (max(result.completions) - t0)
    return result
