"""`maildesk serve --smtp-processes N`: helper listeners on the one port, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import anyio
import httpx
import pytest
from aiosmtpd.controller import Controller

from service.catcher.mailbox import Mailbox
from service.catcher.smtp import CatcherHandler
from service.store.sqlite import SqliteStore
from tests.cli.test_serve_process import free_port, import_demo, start_serve, wait_for_health

TOKEN = "processes-admin-token"
ENV = {"MAILDESK_ADMIN_TOKEN": TOKEN, "MAILDESK_SECRET": "a-long-enough-test-secret"}


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass
class Served:
    process: subprocess.Popen[str]
    smtp_port: int
    http_port: int
    helpers: list[int]


@contextmanager
def serving(workdir: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`maildesk serve FLAGS`, healthy, with its helpers; killed with them afterwards if alive."""
    process, smtp_port, http_port = start_serve(workdir, *flags, env={**ENV, **(env or {})})
    helpers: list[int] = []
    try:
        wait_for_health(http_port, process)
        helpers = children(process.pid)
        yield Served(process, smtp_port, http_port, helpers)
    finally:
        if process.poll() is None:
            process.kill()
        for helper in helpers:
            if alive(helper):
                os.kill(helper, signal.SIGKILL)
        process.communicate()


def send_support_mail(smtp_port: int, message_id: str) -> tuple[int, str]:
    """Send one support request; with the main process stopped, to whichever socket greets.

    Each process has its own socket on the port (SO_REUSEPORT) and the kernel
    picks one by the connection's addresses, so a connection that meets the
    stopped process gets no greeting: another one (a new source port) is tried.
    """
    message = (
        "From: jane@example.test\r\nTo: support@support.maildesk.test\r\n"
        f"Subject: B00K4JNE will not open\r\nMessage-ID: <{message_id}>\r\n"
        "\r\nThe download link says 404.\r\n"
    ).encode()

    async def send() -> tuple[int, str]:
        for _ in range(40):
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=smtp_port, start_tls=False, timeout=1
            )
            try:
                await client.connect()
            except aiosmtplib.SMTPTimeoutError:
                client.close()
                continue
            client.timeout = 20
            await client.mail("jane@example.test")
            await client.rcpt("support@support.maildesk.test")
            response = await client.data(message)
            await client.quit()
            return response.code, response.message
        raise AssertionError("no SMTP process greeted in 40 connections")

    return anyio.run(send)


def test_a_helper_process_serves_mail_at_the_main_processs_fake_time_while_the_main_one_is_stopped(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, "--fake-clock", "2026-11-23T14:00:00Z", "--smtp-processes", "2") as up:
        assert len(up.helpers) == 1
        import_demo(tmp_path)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{up.http_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        moved = api.post("/api/v1/admin/clock", json={"advance": "PT1H30M"})
        assert moved.json()["now"] == "2026-11-23T15:30:00Z"

        for _ in range(3):
            time.sleep(0.3)  # let the outbox and scheduler the clock woke finish their pass
            up.process.send_signal(signal.SIGSTOP)  # only the helper can answer now
            try:
                code, reply = send_support_mail(up.smtp_port, "while-stopped@jane.test")
            finally:
                up.process.send_signal(signal.SIGCONT)
            if code != 451:  # 451: stopped inside a tick, holding the write turn; once more
                break
        assert code == 250, reply

        tickets = api.get("/api/v1/tickets").json()["tickets"]
        assert [(t["order"], t["opened_at"]) for t in tickets] == [
            ("B00K4JNE", "2026-11-23T15:30:00Z")
        ]

        up.process.send_signal(signal.SIGTERM)
        assert up.process.wait(timeout=60) == 0
        assert not any(alive(helper) for helper in up.helpers)


@contextmanager
def relay() -> Iterator[tuple[int, Mailbox]]:
    """A catcher in a thread of the test process, as the relay `serve` delivers to."""
    mailbox = Mailbox()
    controller = Controller(CatcherHandler(mailbox), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


def wait_for_mail(mailbox: Mailbox, count: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while len(mailbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_with_a_relay_a_helper_delivers_from_the_outbox_and_each_email_goes_once(
    tmp_path: Path,
) -> None:
    with (
        relay() as (relay_port, mailbox),
        serving(
            tmp_path,
            "--fake-clock",
            "2026-11-23T14:00:00Z",
            "--smtp-processes",
            "2",
            "--relay",
            f"127.0.0.1:{relay_port}",
            "--sender-auth",  # the test sends from made-up domains with no DNS
            "off",
        ) as up,
    ):
        import_demo(tmp_path)
        for _ in range(3):
            time.sleep(0.3)  # let the main process's outbox and scheduler finish their pass
            up.process.send_signal(signal.SIGSTOP)  # only the helper can receive and deliver now
            try:
                code, reply = send_support_mail(up.smtp_port, "helper-delivers@jane.test")
                if code == 250:
                    wait_for_mail(mailbox, 2)
            finally:
                up.process.send_signal(signal.SIGCONT)
            if code != 451:  # 451: stopped inside a tick, holding the write turn; once more
                break
        assert code == 250, reply
        assert len(mailbox) == 2, "the helper delivered nothing while the main process was stopped"
        time.sleep(2.5)  # the main process's outbox looks again (every second): nothing left
        caught = mailbox.messages()
        assert sorted(m.rcpt_tos[0] for m in caught) == ["help@acme.test", "jane@example.test"]
        assert len({m.to_json()["message_id"] for m in caught}) == 2


def test_helper_processes_stop_by_themselves_when_serve_is_killed(tmp_path: Path) -> None:
    with serving(tmp_path, "--smtp-processes", "3") as up:
        assert len(up.helpers) == 2
        up.process.kill()
        up.process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(alive(helper) for helper in up.helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(helper) for helper in up.helpers), "a helper outlived serve"


@pytest.mark.parametrize("value", ["0", "two"])
def test_serve_refuses_a_bad_process_count_with_the_fix(tmp_path: Path, value: str) -> None:
    process, _, _ = start_serve(tmp_path, "--smtp-processes", value, env=ENV)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--smtp-processes" in err and value in err
    assert ("at least 1" in err) if value == "0" else ("whole number" in err)


def test_every_process_finishes_the_transactions_in_flight_on_sigterm(tmp_path: Path) -> None:
    """Six open transactions, spread by the kernel over both processes, across a SIGTERM."""
    with serving(tmp_path, "--smtp-processes", "2") as up:
        import_demo(tmp_path)

        async def send_across_a_sigterm() -> list[int]:
            clients = []
            for _ in range(6):
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=up.smtp_port, start_tls=False)
                await client.connect()
                await client.mail("jane@example.test")
                await client.rcpt("support@support.maildesk.test")
                clients.append(client)
            up.process.send_signal(signal.SIGTERM)  # the stop begins with all six mid-transaction
            await anyio.sleep(0.5)
            codes = []
            for i, client in enumerate(clients):
                message = (
                    "From: jane@example.test\r\nTo: support@support.maildesk.test\r\n"
                    f"Subject: B00K4JNE question {i}\r\nMessage-ID: <inflight-{i}@jane.test>\r\n"
                    "\r\nStill there?\r\n"
                ).encode()
                codes.append((await client.data(message)).code)
            return codes

        assert anyio.run(send_across_a_sigterm) == [250] * 6
        assert up.process.wait(timeout=60) == 0
        assert not any(alive(helper) for helper in up.helpers)

    async def committed() -> int:
        store = await SqliteStore.open(tmp_path / "maildesk.db")
        async with store.reading() as q:
            count = len(await q.tickets.find())
        await store.close()
        return count

    assert anyio.run(committed) == 6  # each acted on: support tickets may share an order


def runs_on_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's extension loaded (anyio imports it only to run on it)."""
    return "uvloop" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_and_its_helpers_run_on_the_event_loop_chosen_and_mail_goes_in_and_out(
    tmp_path: Path, loop: str
) -> None:
    with (
        relay() as (relay_port, mailbox),
        serving(
            tmp_path,
            "--smtp-processes",
            "2",
            "--relay",
            f"127.0.0.1:{relay_port}",
            "--sender-auth",
            "off",
            env={"MAILDESK_EVENT_LOOP": loop},
        ) as up,
    ):
        import_demo(tmp_path)
        code, reply = send_support_mail(up.smtp_port, f"on-{loop}@jane.test")
        assert code == 250, reply
        wait_for_mail(mailbox, 2)
        assert [runs_on_uvloop(pid) for pid in (up.process.pid, *up.helpers)] == [
            loop == "uvloop"
        ] * 2


def test_serve_refuses_an_unknown_event_loop_with_the_choices(tmp_path: Path) -> None:
    process, _, _ = start_serve(tmp_path, env={**ENV, "MAILDESK_EVENT_LOOP": "tokio"})
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "MAILDESK_EVENT_LOOP='tokio'" in err and "uvloop, asyncio" in err
