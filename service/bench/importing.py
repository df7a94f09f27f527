"""`maildesk import` of a big file: its time and its peak memory (issue #19, part 6).

    python -m service.bench.importing --orders 1000000 [--db postgresql://…/postgres]

Writes an import file of `--orders` orders (about 325 bytes each, over four
vendors, a third of them subscriptions; written line by line, never held
whole), then runs `maildesk import FILE` as its own process on a fresh
database (a SQLite file, or a PostgreSQL database made for the run and
dropped after) and reports the wall time, orders per second and the
process's peak resident memory (`ru_maxrss` of the child, what `/usr/bin/time
-v` calls "Maximum resident set size").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.bench.databases import create_database, database_url, drop_database

VENDORS = [
    {"id": f"vendor{v}", "name": f"Vendor {v}", "account_email": f"owner@vendor{v}.test"}
    for v in range(4)
]


def write_file(path: Path, orders: int) -> int:
    """An import file of `orders` orders, written as it goes; returns its size in bytes."""
    products = [
        {
            "sku": f"V{v}-{kind.upper()}",
            "vendor": f"vendor{v}",
            "name": f"Vendor {v} {kind}",
            "kind": kind,
            "price": "19.95",
            "currency": "USD",
            **({"interval": "P1M"} if kind == "subscription" else {}),
        }
        for v in range(4)
        for kind in ("digital", "subscription")
    ]
    with path.open("w", encoding="utf-8") as out:
        out.write('{"vendors": ' + json.dumps(VENDORS) + ",\n")
        out.write(' "products": ' + json.dumps(products) + ',\n "orders": [\n')
        for n in range(orders):
            kind = "subscription" if n % 3 == 0 else "digital"
            order = {
                "reference": f"R{n:09d}",
                "vendor": f"vendor{n % 4}",
                "customer": {"email": f"customer{n:08d}@mail{n % 97}.example.test"},
                "items": [{"sku": f"V{n % 4}-{kind.upper()}", "quantity": 1}],
                "payment_method": "credit_card",
                "purchased_at": "2026-11-02T10:00:00Z",
                "license_key": f"KEY-{n:09d}",
                "bills": [{"billed_at": "2026-11-02T10:00:00Z", "amount": "19.95"}],
            }
            out.write(("  " if n == 0 else ", ") + json.dumps(order) + "\n")
        out.write(" ]\n}\n")
    return path.stat().st_size


@contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    """A fresh database for one run: a SQLite file, or a PostgreSQL database dropped after."""
    if url is None:
        yield str(workdir / "import.db")
        return
    import asyncio

    name = f"maildesk_import_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(url, name))
    try:
        yield database_url(url, name)
    finally:
        asyncio.run(drop_database(url, name))


def run_import(file: Path, db: str) -> dict[str, Any]:
    """`maildesk import FILE --db DB` in its own process: wall time and its peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "import", str(file), "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    out = child.stdout.read().decode() if child.stdout else ""
    err = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"maildesk import failed: {err[-2000:]}")
    counts = json.loads(out.strip().splitlines()[-1])
    return {
        "orders": counts["orders"],
        "import_s": round(seconds, 1),
        "orders_per_s": round(counts["orders"] / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench.importing")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", help="a PostgreSQL server URL (a database is made per run)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="maildesk-import-") as work:
        workdir = Path(work)
        file = workdir / "orders.json"
        size = write_file(file, args.orders)
        with database(args.db, workdir) as db:
            result = run_import(file, db)
    result |= {
        "file_mb": round(size / 2**20, 1),
        "store": "postgresql" if args.db else "sqlite",
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
