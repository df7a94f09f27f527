"""Vendor webhooks: processed refunds and cancelations posted, signed, retried until accepted.

The vendor's endpoint is outside the product, so it is the one thing mocked
(httpx.MockTransport); everything else is the real outbox on a real database.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from service.catalog import import_catalog
from service.catcher.mailbox import Mailbox
from service.clock import FakeClock
from service.desk import Desk, OpenRequest
from service.domain.events import Open
from service.domain.records import Party, TicketType
from service.outbound.compose import Composer, MailSettings
from service.outbound.outbox import OutboxWorker
from service.outbound.render import Renderer
from service.outbound.transport import CatcherTransport
from service.outbound.webhook import WebhookSender, verify
from service.scheduler import Scheduler
from service.store import Store
from tests.conftest import DOMAIN, small_catalog

pytestmark = pytest.mark.anyio


class Endpoint:
    """The vendor's system: fails `failures` times, then accepts."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            return httpx.Response(self.status)
        return httpx.Response(204)


async def process_vendor_refund(
    store: Store, desk: Desk, clock: FakeClock, endpoint: Endpoint
) -> OutboxWorker:
    data = small_catalog()
    data["vendors"][0]["webhook_url"] = "https://hooks.acme.test/maildesk"
    await import_catalog(store, data)
    await desk.apply(OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.VENDOR)))
    clock.advance(timedelta(minutes=5))
    await Scheduler(store, desk, clock).run_due()
    composer = Composer(store, Renderer(), MailSettings(b"s" * 32, DOMAIN, "http://d.test"))
    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    return OutboxWorker(
        store, clock, CatcherTransport(Mailbox()), composer, webhooks=WebhookSender(client)
    )


async def test_a_processed_refund_is_posted_signed_with_the_vendors_key(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    endpoint = Endpoint()
    outbox = await process_vendor_refund(store, desk, clock, endpoint)
    await outbox.run_once()
    (request,) = endpoint.requests
    body = request.content
    payload: dict[str, Any] = json.loads(body)
    assert payload["event"] == "refund.processed"
    assert payload["order"] == "BOOK0001" and payload["amount"] == "9.00"
    assert verify(
        "acme-key",
        request.headers["X-Maildesk-Timestamp"],
        body,
        request.headers["X-Maildesk-Signature"],
    )
    assert not verify(
        "globex-key",
        request.headers["X-Maildesk-Timestamp"],
        body,
        request.headers["X-Maildesk-Signature"],
    )


async def test_a_failing_endpoint_is_retried_with_the_same_delivery_id_until_it_accepts(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    endpoint = Endpoint(failures=3)
    outbox = await process_vendor_refund(store, desk, clock, endpoint)
    for _ in range(6):
        await outbox.run_once()
        clock.advance(timedelta(hours=1))
    assert len(endpoint.requests) == 4
    assert len({r.headers["X-Maildesk-Delivery"] for r in endpoint.requests}) == 1
    async with store.reading() as q:
        hooks = [m for m in await q.outbox() if m.item.kind == "webhook"]
    assert [(m.status, m.attempts) for m in hooks] == [("sent", 4)]


async def test_an_endpoint_refusing_with_4xx_is_marked_failed_for_the_operator(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    endpoint = Endpoint(failures=99, status=410)
    outbox = await process_vendor_refund(store, desk, clock, endpoint)
    await outbox.run_once()
    clock.advance(timedelta(hours=2))
    await outbox.run_once()
    assert len(endpoint.requests) == 1
    async with store.reading() as q:
        (hook,) = [m for m in await q.outbox() if m.item.kind == "webhook"]
    assert hook.status == "failed" and "410" in (hook.last_error or "")
