"""What the benchmark may depend on: the stock stack shares nothing with maildesk.

The stock server (`service/bench/stock.py`) is the yardstick maildesk's
changes must not move, so it may import the standard library, aiosmtpd and
mailparser, nothing else; and run the way `maildesk bench` runs it, it loads
no module of maildesk's and serves with aiosmtpd's own `SMTP` class.
"""

from __future__ import annotations

import ast
import smtplib
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
