"""What the benchmark may depend on.

- The stock server (`service/bench/stock.py`) is the yardstick maildesk's
  changes must not move, so it may import the standard library, aiosmtpd and
  mailparser, nothing else; and run the way `maildesk bench` runs it, it
  loads no module of maildesk's and serves with aiosmtpd's own `SMTP` class.
- `service.cli` imports `service.bench.cli` (the `bench` subcommand), so no
  module of `service.bench` may import `service.cli`, at the top or inside a
  function, directly or through another module: the benchmark starts
  maildesk as `python -m service.cli …` subprocesses, or through
  `service.serving.run`.
"""

from __future__ import annotations

import ast
import os
import smtplib
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from service.bench.servers import HOST, STOCK, ServerProcess

BENCH = Path(__file__).resolve().parents[2] / "service" / "bench"
STOCK_ALLOWED = {"aiosmtpd", "mailparser"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, in functions too; relative ones as `.name`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.level == 0 and node.module == "service":  # `from service import cli`
                found += [(node.lineno, f"service.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def test_the_stock_server_imports_only_the_stdlib_aiosmtpd_and_mailparser() -> None:
    imports = imported_modules(BENCH / "stock.py")
    assert imports, "no imports found: is the parser reading the right file?"
    foreign = [
        (line, module)
        for line, module in imports
        if module.startswith(".")
        or (
            module.partition(".")[0] not in sys.stdlib_module_names
            and module.partition(".")[0] not in STOCK_ALLOWED | {"__future__"}
        )
    ]
    assert not foreign, f"stock.py imports beyond stdlib, aiosmtpd and mailparser: {foreign}"


@pytest.mark.anyio
async def test_the_stock_server_runs_aiosmtpd_alone_and_loads_nothing_of_maildesk() -> None:
    server = await ServerProcess.start(STOCK)
    try:
        message = (
            b"From: a@example.com\r\nTo: support@bench.test\r\nSubject: hello\r\n"
            b"Message-ID: <stock-1@example.com>\r\n\r\n.leading dot\r\nbody\r\n"
        )

        def send() -> str:
            with smtplib.SMTP(timeout=30) as client:
                _, greeting = client.connect(HOST, server.port)
                client.sendmail("a@example.com", ["support@bench.test"], message)
                return greeting.decode()

        greeting = await anyio.to_thread.run_sync(send)
        stats = await server.command("stats")
    finally:
        await server.stop()
    assert "stock aiosmtpd + mail-parser" in greeting
    assert stats["count"] == 1
    assert stats["service_modules"] == []


def bench_modules() -> list[str]:
    """Every module of `service.bench` but `__main__` (importing it runs the benchmark)."""
    return sorted(
        f"service.bench.{path.stem}"
        for path in BENCH.glob("*.py")
        if path.stem not in ("__init__", "__main__")
    )


def test_no_bench_module_imports_the_cli_anywhere_in_its_source() -> None:
    offenders = [
        (path.name, line, module)
        for path in sorted(BENCH.glob("*.py"))
        for line, module in imported_modules(path)
        if module == "service.cli" or module.startswith("service.cli.")
    ]
    assert not offenders, f"service.bench imports service.cli (a cycle): {offenders}"


def test_importing_every_bench_module_loads_no_cli() -> None:
    modules = bench_modules()
    assert "service.bench.trace" in modules and "service.bench.suite" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] == ['service', 'cli']))"
    )
    root = str(BENCH.parents[1])
    environment = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, cwd=root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", f"service.cli was imported: {done.stdout}"
