"""The benchmark's PostgreSQL: a fresh database per run, and the server's own CPU.

A PostgreSQL run must start from nothing, as the SQLite runs start from a new
file, and must leave nothing behind: `fresh_database` makes a database with a
random name on the server the operator named, yields its URL and drops it
after (`WITH (FORCE)`, so a `serve` killed mid-run cannot keep it alive).

maildesk's CPU alone does not size a deployment on PostgreSQL: every
statement also costs the server. `server_cpu_seconds` reads it from the
server's own processes in /proc (the postmaster, its backends and background
workers, plus what its exited children used, which the kernel adds to the
postmaster's `cutime`/`cstime` when it reaps them), so a phase's difference is
the server's CPU for that phase. It needs the server on this machine; for a
remote one it answers `None` and the report says the figure was not read.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name` (user, host, port, query kept)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(server_url: str, name: str) -> None:
    await _admin(server_url, f'CREATE DATABASE "{name}"')


async def drop_database(server_url: str, name: str) -> None:
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg  # only PostgreSQL runs need it

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(server_url: str, prefix: str = "maildesk_bench") -> AsyncIterator[str]:
    """A new, empty database on the server of `server_url` for one run; dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await create_database(server_url, name)
    try:
        yield database_url(server_url, name)
    finally:
        await drop_database(server_url, name)


_PROC = Path("/proc")


def _stat_fields(pid: str) -> tuple[str, list[str]] | None:
    try:
        text = (_PROC / pid / "stat").read_text("ascii")
    except OSError:
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    return name, text.rpartition(")")[2].split()


def server_cpu_seconds() -> float | None:
    """CPU seconds used so far by the PostgreSQL server on this machine, or None when none
    is visible (a server elsewhere): every live `postgres` process's user + system time,
    plus the time of the children the postmaster has already reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    processes: dict[str, tuple[str, list[str]]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat_fields(entry.name)) is not None:
            if stat[0] == "postgres" or stat[0].startswith("postgres:"):
                processes[entry.name] = stat
    if not processes:
        return None
    total = 0
    for _name, fields in processes.values():
        total += int(fields[11]) + int(fields[12])  # utime, stime
        parent = fields[1]
        if parent not in processes:  # the postmaster: add its reaped children (cutime, cstime)
            total += int(fields[13]) + int(fields[14])
    return total / ticks
