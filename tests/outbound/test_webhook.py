"""Vendor webhooks: processed refunds and cancelations, and subscription changes, posted,
signed, retried until accepted.

The vendor's endpoint is outside the product, so the tests bring one: a real
HTTP(S) server on 127.0.0.1 (`tests/outbound/endpoint.py`), which the
operator's allow-list (`MAILDESK_WEBHOOK_ALLOW_HOSTS=127.0.0.1`) admits, as an
operator would for an internal endpoint; everything else is the real outbox
on a real database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.catalog import import_catalog
from service.catcher.mailbox import Mailbox
from service.clock import FakeClock
from service.desk import Desk, OpenRequest, SubscriptionAction
from service.domain.events import Open
from service.domain.records import Party, TicketType
from service.domain.subscription.events import RequestRenewal, SetAutoRenew
from service.outbound.compose import Composer, MailSettings
from service.outbound.outbox import OutboxWorker
from service.outbound.render import Renderer
from service.outbound.transport import CatcherTransport
from service.outbound.webhook import WebhookSender, verify, webhook_client
from service.outbound.webhook_target import AllowList
from service.scheduler import Scheduler
from service.store import QueuedWebhook, Store, WebhookItem
from tests.conftest import DOMAIN, small_catalog
from tests.outbound.endpoint import Endpoint, certificates_for, running

pytestmark = pytest.mark.anyio

LOOPBACK = AllowList.parse("127.0.0.1")


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running(Endpoint()) as serving:
        yield serving


async def process_vendor_refund(
    store: Store,
    desk: Desk,
    clock: FakeClock,
    webhook_url: str,
    *,
    allow: AllowList = LOOPBACK,
    client: httpx.AsyncClient | None = None,
) -> OutboxWorker:
    """Acme (webhook at `webhook_url`) refunds an order; the outbox that will post it."""
    data = small_catalog()
    data["vendors"][0]["webhook_url"] = webhook_url
    await import_catalog(store, data, webhook_allow=allow)
    await desk.apply(OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.VENDOR)))
    clock.advance(timedelta(minutes=5))
    await Scheduler(store, desk, clock).run_due()
    composer = Composer(store, Renderer(), MailSettings(b"s" * 32, DOMAIN, "http://d.test"))
    return OutboxWorker(
        store,
        clock,
        CatcherTransport(Mailbox()),
        composer,
        webhooks=WebhookSender(allow, client=client),
    )


async def webhook_rows(store: Store) -> list[QueuedWebhook]:
    async with store.reading() as q:
        return [m for m in await q.outbox.find() if isinstance(m.item, WebhookItem)]


async def test_a_processed_refund_is_posted_signed_with_the_vendors_key(
    store: Store, desk: Desk, clock: FakeClock, endpoint: Endpoint
) -> None:
    outbox = await process_vendor_refund(store, desk, clock, endpoint.url())
    await outbox.run_once()
    (request,) = endpoint.requests
    body = request.body
    payload: dict[str, Any] = json.loads(body)
    assert payload["event"] == "refund.processed"
    assert payload["order"] == "BOOK0001" and payload["amount"] == "9.00"
    assert verify(
        "acme-key",
        request.headers["x-maildesk-timestamp"],
        body,
        request.headers["x-maildesk-signature"],
    )
    assert not verify(
        "globex-key",
        request.headers["x-maildesk-timestamp"],
        body,
        request.headers["x-maildesk-signature"],
    )


async def test_a_failing_endpoint_is_retried_with_the_same_delivery_id_until_it_accepts(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    with running(Endpoint(failures=3)) as endpoint:
        outbox = await process_vendor_refund(store, desk, clock, endpoint.url())
        for _ in range(6):
            await outbox.run_once()
            clock.advance(timedelta(hours=1))
    assert len(endpoint.requests) == 4
    assert len({r.headers["x-maildesk-delivery"] for r in endpoint.requests}) == 1
    assert [(m.status, m.attempts) for m in await webhook_rows(store)] == [("sent", 4)]


async def test_an_endpoint_refusing_with_4xx_is_marked_failed_for_the_operator(
    store: Store, desk: Desk, clock: FakeClock
) -> None:
    with running(Endpoint(failures=99, status=410)) as endpoint:
        outbox = await process_vendor_refund(store, desk, clock, endpoint.url())
        await outbox.run_once()
        clock.advance(timedelta(hours=2))
        await outbox.run_once()
    assert len(endpoint.requests) == 1
    (hook,) = await webhook_rows(store)
    assert hook.status == "failed" and "410" in (hook.last_error or "")


@pytest.mark.parametrize("certified", ["localhost", "someone-else.test"])
async def test_https_is_sent_to_the_checked_address_and_verified_against_the_host_name(
    store: Store, desk: Desk, clock: FakeClock, tmp_path: Path, certified: str
) -> None:
    """The request goes to the address that was checked, yet TLS still proves the host name.

    The URL names `localhost`; maildesk connects to 127.0.0.1 (the address it
    checked), asks for `localhost` in SNI and verifies the certificate
    against that name, so a certificate for another name is refused and
    nothing is posted.
    """
    certificates = certificates_for(certified, tmp_path / "tls")
    with running(Endpoint(tls=certificates.server_context())) as endpoint:
        client = webhook_client(verify=certificates.client_context())
        outbox = await process_vendor_refund(
            store, desk, clock, endpoint.url("localhost"), client=client
        )
        await outbox.run_once()
    assert endpoint.server_names == ["localhost"]
    (hook,) = await webhook_rows(store)
    if certified == "localhost":
        (request,) = endpoint.requests
        assert request.headers["host"] == f"localhost:{endpoint.port}"
        assert (hook.status, hook.last_error) == ("sent", None)
    else:
        assert endpoint.requests == []
        assert hook.status == "retrying" and "certificate" in (hook.last_error or "").lower()


async def test_the_customers_choice_and_a_renewal_request_reach_the_vendors_platform(
    store: Store, desk: Desk, clock: FakeClock, endpoint: Endpoint
) -> None:
    """SPEC §7: `subscription.updated` with the whole subscription, and
    `subscription.renewal_requested`, signed like every webhook; no link in them."""
    data = small_catalog()
    data["vendors"][0]["webhook_url"] = endpoint.url()
    data["orders"][0]["subscription"] = {"id": "S1001", "renewal": "auto"}
    data["orders"].append(
        dict(
            data["orders"][0],
            reference="SUB00002",
            subscription={"id": "S1002", "renewal": "manual"},
        )
    )
    await import_catalog(store, data, webhook_allow=LOOPBACK, clock=clock)
    await desk.apply(SubscriptionAction("S1001", (SetAutoRenew(False, 1),)))
    await desk.apply(SubscriptionAction("S1002", (RequestRenewal(),)))
    composer = Composer(store, Renderer(), MailSettings(b"s" * 32, DOMAIN, "http://d.test"))
    outbox = OutboxWorker(
        store, clock, CatcherTransport(Mailbox()), composer, webhooks=WebhookSender(LOOPBACK)
    )
    await outbox.run_once()
    payloads = {json.loads(r.body)["event"]: json.loads(r.body) for r in endpoint.requests}
    assert len(endpoint.requests) == 2  # delivered side by side: in either order
    updated = payloads["subscription.updated"]
    requested = payloads["subscription.renewal_requested"]
    assert updated["cause"] == "auto_renew_off" and updated["order"] == "SUB00001"
    assert updated["subscription"]["items"][0]["auto_renew"] is False
    assert updated["subscription"]["ends_at"] == updated["subscription"]["next_billing_at"]
    assert requested["subscription"]["id"] == "S1002" and requested["cause"] == "renewal_requested"
    assert "links" not in updated["subscription"]  # the customer's secret stays in mail
    for request in endpoint.requests:
        assert verify(
            "acme-key",
            request.headers["x-maildesk-timestamp"],
            request.body,
            request.headers["x-maildesk-signature"],
        )
