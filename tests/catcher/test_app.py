"""The stand-alone catcher: both servers on real sockets, started and stopped by its task group."""

from __future__ import annotations

import socket

import aiosmtplib
import anyio
import httpx
import pytest

import service.catcher
from service.catcher import CatcherAddresses, Mailbox, build_catcher_app, run_catcher
from service.config import ConfigError
from tests.catcher import mail

pytestmark = pytest.mark.anyio


def test_the_public_names_are_exported() -> None:
    assert set(service.catcher.__all__) >= {
        "Mailbox",
        "CaughtMessage",
        "CatcherHandler",
        "catcher_routes",
        "build_catcher_app",
        "run_catcher",
        "running_catcher",
    }
    for name in service.catcher.__all__:
        assert hasattr(service.catcher, name)


async def test_healthz_reports_ok_and_the_number_of_messages_kept() -> None:
    mailbox = Mailbox()
    mailbox.add(b"Subject: x\r\n\r\n", "a@example.test", ["b@example.test"])
    transport = httpx.ASGITransport(app=build_catcher_app(mailbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.get("/healthz")

    assert response.json() == {"status": "ok", "messages": 1}


async def test_run_catcher_catches_over_smtp_and_serves_over_http_until_cancelled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with anyio.create_task_group() as task_group:
        addresses: CatcherAddresses = await task_group.start(
            run_catcher, "127.0.0.1", 0, "127.0.0.1", 0
        )
        await aiosmtplib.send(
            mail.refund_notice(),
            sender=mail.SENDER,
            recipients=[mail.RECIPIENT],
            hostname=addresses.smtp_host,
            port=addresses.smtp_port,
            timeout=5,
        )
        base_url = f"http://{addresses.http_host}:{addresses.http_port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            listed = (await client.get("/api/messages")).json()
            page = await client.get("/mail")
        task_group.cancel_scope.cancel()

    assert [message["subject"] for message in listed] == [mail.SUBJECT]
    assert page.status_code == 200
    printed = capsys.readouterr().out
    assert f"SMTP on 127.0.0.1:{addresses.smtp_port}" in printed
    assert f"http://127.0.0.1:{addresses.http_port}/mail" in printed
    for port in (addresses.smtp_port, addresses.http_port):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


async def test_run_catcher_stops_within_the_graceful_shutdown_time_with_a_client_connected() -> (
    None
):
    with anyio.fail_after(10):
        async with anyio.create_task_group() as task_group:
            addresses: CatcherAddresses = await task_group.start(
                run_catcher, "127.0.0.1", 0, "127.0.0.1", 0
            )
            smtp_client = aiosmtplib.SMTP(
                hostname=addresses.smtp_host, port=addresses.smtp_port, timeout=5
            )
            await smtp_client.connect()
            async with httpx.AsyncClient(
                base_url=f"http://{addresses.http_host}:{addresses.http_port}"
            ) as client:
                assert (await client.get("/healthz")).status_code == 200  # keeps a connection
                task_group.cancel_scope.cancel()


async def test_a_busy_http_port_is_a_config_error_not_an_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port} is already in use"):
            await run_catcher("127.0.0.1", 0, "127.0.0.1", port)
