"""A real `maildesk serve` in the test's event loop: SMTP and HTTP on loopback ports.

Tests speak to it only as the outside world does: SMTP with aiosmtplib, HTTP
with httpx to the admin API, and the built-in catcher's JSON API for what was
sent. Time moves only through `POST /api/v1/admin/clock`.
"""

from __future__ import annotations

import email.utils
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import httpx
import mailparser
import pytest

from service.catalog import import_catalog
from service.clock import FakeClock
from service.config import Settings
from service.runtime import Runtime
from service.serving.run import serve
from service.store import Store
from tests.conftest import DOMAIN

ADMIN = "e2e-admin-token"
SECRET = b"e2e-secret-0123456789abcdef"
DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"
# Monday 23 November 2026, 14:00 UTC (09:00 in New York): fixtures/demo.json is dated around it.
DEMO_START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@dataclass
class Served:
    runtime: Runtime
    http: httpx.AsyncClient

    @property
    def smtp_port(self) -> int:
        return self.runtime.settings.smtp_port

    async def send(
        self,
        sender: str,
        to: str,
        subject: str,
        body: str,
        *,
        headers: Mapping[str, str] | None = None,
        envelope_from: str | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, str]:
        """Send one message; return the server's (code, text) for DATA (or the refusal)."""
        if raw is None:
            lines = [
                f"From: {sender}",
                f"To: {to}",
                f"Subject: {subject}",
                f"Message-ID: <{uuid.uuid4().hex}@client.test>",
                f"Date: {email.utils.format_datetime(DEMO_START)}",
                *(f"{k}: {v}" for k, v in (headers or {}).items()),
                "Content-Type: text/plain; charset=utf-8",
                "",
                body,
            ]
            raw = "\r\n".join(lines).encode()
        try:
            _, reply = await aiosmtplib.send(
                raw,
                sender=envelope_from if envelope_from is not None else sender,
                recipients=[to],
                hostname="127.0.0.1",
                port=self.smtp_port,
                start_tls=False,
            )
        except aiosmtplib.SMTPResponseException as error:
            return error.code, error.message
        except aiosmtplib.SMTPRecipientsRefused as error:
            refusal = error.recipients[0]
            return refusal.code, refusal.message
        return 250, reply

    async def api(
        self, method: str, path: str, body: Any = None, token: str = ADMIN
    ) -> httpx.Response:
        return await self.http.request(
            method,
            path,
            headers={"Authorization": f"Bearer {token}"},
            content=None if body is None else json.dumps(body),
        )

    async def advance(self, duration: str) -> dict[str, Any]:
        response = await self.api("POST", "/api/v1/admin/clock", {"advance": duration})
        assert response.status_code == 200, response.text
        await self.flush()
        result: dict[str, Any] = response.json()
        return result

    async def flush(self) -> None:
        """Let the outbox worker deliver everything queued so far.

        The served outbox worker runs beside the test and may hold a claim on rows
        this pass skips; wait (briefly) until none is left pending, so what the
        test reads next is what was sent.
        """
        for _ in range(40):
            await self.runtime.outbox.run_once()
            async with self.runtime.store.reading() as q:
                if not (await q.outbox.counts()).get("pending"):
                    return
            await anyio.sleep(0.05)

    async def mail(self) -> list[Any]:
        """Everything the catcher received, parsed back with mail-parser."""
        await self.flush()
        response = await self.http.get("/api/messages")
        assert response.status_code == 200
        return [
            mailparser.parse_from_string((await self.http.get(f"/api/messages/{m['id']}/raw")).text)
            for m in response.json()
        ]

    async def mail_to(self, address: str, subject_contains: str = "") -> list[Any]:
        return [
            m
            for m in await self.mail()
            if m.to and m.to[0][1] == address and subject_contains in m.subject
        ]

    async def clear_mail(self) -> None:
        await self.http.delete("/api/messages")

    async def ticket(self, number: int) -> dict[str, Any]:
        response = await self.api("GET", f"/api/v1/tickets/{number}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def tickets(self, **query: str) -> list[dict[str, Any]]:
        response = (
            await self.api("GET", "/api/v1/tickets", None)
            if not query
            else await self.http.get(
                "/api/v1/tickets", params=query, headers={"Authorization": f"Bearer {ADMIN}"}
            )
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["tickets"]
        return result

    # --- helpers added for the scenario and SMTP-contract tests -------------------------

    async def deliver(
        self, raw: bytes, to: str, envelope_from: str, *, to_all: tuple[str, ...] = ()
    ) -> tuple[int, str]:
        """Send raw bytes with any envelope sender, including the null sender `<>`.

        (`aiosmtplib.send` refuses an empty sender for a raw message, so `send` cannot.)
        """
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, start_tls=False)
        async with client:
            try:
                _, reply = await client.sendmail(envelope_from, [to, *to_all], raw)
            except aiosmtplib.SMTPResponseException as error:
                return error.code, error.message
            except aiosmtplib.SMTPRecipientsRefused as error:
                refusal = error.recipients[0]
                return refusal.code, refusal.message
        return 250, reply

    async def forget_mail(self) -> None:
        """Deliver whatever is still queued, then empty the catcher: a clean slate."""
        await self.flush()
        await self.clear_mail()

    async def recipients(self) -> list[str]:
        """The `To` address of every caught message, oldest first."""
        return [m.to[0][1] for m in await self.mail()]

    async def latest_to(self, address: str, subject_contains: str = "") -> Any:
        """The newest caught message to `address` whose subject contains the text."""
        found = await self.mail_to(address, subject_contains)
        assert found, f"no mail to {address} with {subject_contains!r} in the subject"
        return found[-1]

    async def reply_address(self, address: str) -> str:
        """The `Reply-To` of the newest notification sent to `address`."""
        return reply_address_of(await self.latest_to(address))

    async def command_address(self, vendor: str) -> str:
        response = await self.api("GET", f"/api/v1/vendors/{vendor}")
        assert response.status_code == 200, response.text
        return str(response.json()["command_address"])

    async def order(self, reference: str) -> dict[str, Any]:
        response = await self.api("GET", f"/api/v1/orders/{reference}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def move_to(self, moment: str) -> dict[str, Any]:
        response = await self.api("POST", "/api/v1/admin/clock", {"now": moment})
        assert response.status_code == 200, response.text
        await self.flush()
        result: dict[str, Any] = response.json()
        return result

    async def inbound(self) -> list[Any]:
        """Every received message the store kept, newest first (without the raw bytes)."""
        async with self.runtime.store.reading() as q:
            return list(await q.inbound.find())

    async def inbound_raw(self, inbound_id: int) -> bytes | None:
        async with self.runtime.store.reading() as q:
            return await q.inbound.raw(inbound_id)

    async def is_bouncing(self, address: str) -> bool:
        async with self.runtime.store.reading() as q:
            return bool(await q.inbound.is_bouncing(address))


def text_of(message: Any) -> str:
    """The text/plain part of a caught message (mail-parser's `body` also holds the HTML)."""
    return "\n".join(message.text_plain) if message.text_plain else str(message.body)


def ticket_number_of(message: Any) -> int:
    """The ticket number a notification's subject is tagged with ("[#12] …")."""
    match = re.search(r"\[#(\d+)\]", message.subject)
    assert match, f"no ticket tag in {message.subject!r}"
    return int(match.group(1))


def reply_address_of(message: Any) -> str:
    ((_, address),) = message.reply_to
    return str(address)


@pytest.fixture
async def served(store: Store) -> AsyncIterator[Served]:
    async with serving(store) as running:
        yield running


@asynccontextmanager
async def serving(store: Store, **overrides: Any) -> AsyncIterator[Served]:
    """Like the `served` fixture, with some settings changed (e.g. `max_message_size`)."""
    settings = Settings(
        db=getattr(store, "path", "postgresql"),
        domain=DOMAIN,
        smtp_port=0,
        http_port=0,
        fake_clock=True,
        fake_clock_start=DEMO_START,
        secret=SECRET,
        admin_token=ADMIN,
        base_url="http://desk.test",
        new_tickets_per_hour=5,
        mode="test",
    )
    settings = replace(settings, **overrides)
    # At the fake clock's start, as `maildesk demo` imports: subscription timers count from it.
    await import_catalog(store, json.loads(DEMO.read_text()), clock=FakeClock(DEMO_START))
    async with anyio.create_task_group() as group:
        runtime: Runtime = await group.start(_serve_without_closing, settings, store)
        port = runtime.settings.http_port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield Served(runtime, http)
        group.cancel_scope.cancel()


async def _serve_without_closing(settings: Settings, store: Store, *, task_status: Any) -> None:
    """`serve`, but the `store` fixture closes the store (and drops its PostgreSQL schema)."""

    class Borrowed:
        def __init__(self, inner: Store) -> None:
            self._inner = inner
            self.url = inner.url
            self.path = getattr(inner, "path", "")

        def transaction(self) -> Any:
            return self._inner.transaction()

        def reading(self) -> Any:
            return self._inner.reading()

        async def close(self) -> None:
            pass

    await serve(settings, store=Borrowed(store), task_status=task_status)
