"""A mail catcher for tests: real SMTP on loopback, on the test's own event loop.

    async with running_catcher() as catcher:
        await aiosmtplib.send(message, hostname=catcher.host, port=catcher.port)
        [caught] = await catcher.mailbox.wait_for_count(1)

As a pytest fixture (anyio plugin, `anyio_backend` = "asyncio"):

    @pytest.fixture
    async def catcher() -> AsyncIterator[RunningCatcher]:
        async with running_catcher() as running:
            yield running

What this module must never do: listen anywhere but loopback by default, or
outlive its `async with` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette

from service.catcher.app import build_catcher_app
from service.catcher.mailbox import Mailbox
from service.catcher.smtp import serve_catcher_smtp


@dataclass(frozen=True)
class RunningCatcher:
    """A catcher listening for SMTP at `host`:`port` and keeping mail in `mailbox`.

    `app` is its web app over the same mailbox, for `httpx.ASGITransport(app=catcher.app)`.
    """

    host: str
    port: int
    mailbox: Mailbox
    app: Starlette


@asynccontextmanager
async def running_catcher(
    mailbox: Mailbox | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[RunningCatcher]:
    """Run a catcher's SMTP listener on an ephemeral port of `host` for the block's duration."""
    mailbox = mailbox if mailbox is not None else Mailbox()
    async with serve_catcher_smtp(mailbox, host, 0) as (bound_host, port):
        yield RunningCatcher(
            host=bound_host, port=port, mailbox=mailbox, app=build_catcher_app(mailbox)
        )
