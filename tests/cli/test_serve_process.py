"""`maildesk serve` as a real process: its defaults, a graceful stop, and refused bad config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiosmtplib
import anyio
import httpx
import pytest

from service.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("serve did not become healthy in 20 s")


def import_demo(workdir: Path) -> None:
    """`maildesk import fixtures/demo.json` into the database of `workdir`."""
    imported = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", str(ROOT / "fixtures/demo.json")],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert imported.returncode == 0, imported.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def start_serve(
    workdir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], int, int]:
    smtp, http = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    environment.update(
        {"MAILDESK_SMTP_PORT": str(smtp), "MAILDESK_HTTP_PORT": str(http), "PYTHONPATH": str(ROOT)}
    )
    environment.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", *extra],
        cwd=workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, smtp, http


def test_serve_runs_on_its_defaults_and_finishes_the_transaction_in_flight_on_sigterm(
    workdir: Path,
) -> None:
    process, smtp_port, http_port = start_serve(workdir)
    try:
        wait_for_health(http_port, process)
        import_demo(workdir)

        async def send_across_a_sigterm() -> tuple[int, str, int]:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False)
            await client.connect()
            await client.ehlo()
            await client.mail("jane@example.test")
            await client.rcpt("support@support.maildesk.test")
            process.send_signal(signal.SIGTERM)  # the stop begins mid-transaction
            await anyio.sleep(0.5)
            message = (
                b"From: jane@example.test\r\nTo: support@support.maildesk.test\r\n"
                b"Subject: B00K4JNE will not open\r\nMessage-ID: <inflight@x.test>\r\n"
                b"\r\nHelp please.\r\n"
            )
            response = await client.data(message)
            late = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, start_tls=False, timeout=2)
            try:
                await late.connect()
                refused = 0
            except (aiosmtplib.SMTPException, OSError):
                refused = 1  # the listening socket is closed: no new sessions
            return response.code, response.message, refused

        code, text, refused_new = anyio.run(send_across_a_sigterm)
        assert code == 250, text
        assert refused_new == 1
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    out, err = process.communicate()
    assert "maildesk serving support.maildesk.test on maildesk.db" in out
    assert "SIGTERM" in err

    async def ticket_was_committed() -> list[str]:
        store = await SqliteStore.open(workdir / "maildesk.db")
        async with store.reading() as q:
            tickets = await q.tickets.find()
        await store.close()
        return [t.order_reference for t in tickets]

    assert anyio.run(ticket_was_committed) == ["B00K4JNE"]


def test_serve_with_a_relay_but_no_secret_exits_with_a_clear_error(workdir: Path) -> None:
    process, _, _ = start_serve(workdir, "--relay", "127.0.0.1:2")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "MAILDESK_SECRET is not set" in err and "secrets.token_urlsafe" in err


def test_demo_prints_what_to_try_and_serves_the_demo_data(workdir: Path) -> None:
    smtp, http = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "demo",
            "--smtp-port",
            str(smtp),
            "--http-port",
            str(http),
        ],
        cwd=workdir,
        env={**environment, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_health(http, process)
        sample = ROOT / "fixtures" / "mail" / "refund-request.eml"
        sent = subprocess.run(
            [sys.executable, "-m", "service.cli", "send", str(sample), "--smtp-port", str(smtp)],
            capture_output=True,
            text=True,
            env={**environment, "PYTHONPATH": str(ROOT)},
        )
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 10
        caught: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(caught) < 2:
            caught = httpx.get(f"http://127.0.0.1:{http}/api/messages").json()
            time.sleep(0.2)
        assert len(caught) == 2
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert "maildesk send" in out and "Try:" in out
