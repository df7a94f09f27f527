"""Webhook URLs cannot turn maildesk into a way into the operator's network (issue #13, item 8).

The attack: import accepted `http://127.0.0.1:…`, `http://169.254.169.254/…`,
`file:///etc/passwd` and `gopher://…` as a vendor's webhook URL, and maildesk
posted to the loopback one. Here each is tried through the real doors (the
import API and `maildesk import`), and through a real `maildesk serve`
whose webhook host name resolves to loopback only when it is sent; a real
HTTP server on 127.0.0.1 counts what reaches it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.outbound.webhook import verify
from service.store import QueuedWebhook, Store, WebhookItem
from tests.e2e.conftest import DEMO, Served, serving
from tests.loops import LOOPS
from tests.outbound.endpoint import Endpoint, running

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
ACME_KEY = "acme-demo-key"

HOSTILE_URLS = [
    ("http://127.0.0.1:8025/api/v1/admin/import", "127.0.0.1, a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
    ("file:///etc/passwd", "is not an https:// or http:// URL"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "is not an https:// or http:// URL"),
    ("http://[::1]/", "::1, a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 (that is 127.0.0.1), a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0, the unspecified address"),
    ("http://user:pw@example.com/", "carries a user name or password"),
]
IDS = [url.split("/")[2] or url.split(":")[0] for url, _ in HOSTILE_URLS]


def vendor_with_webhook(url: str, vendor_id: str = "mallory") -> dict[str, Any]:
    return {
        "vendors": [
            {
                "id": vendor_id,
                "name": "Mallory Ltd",
                "account_email": "owner@mallory.test",
                "webhook_url": url,
            }
        ]
    }


def acme_with_webhook(url: str) -> dict[str, Any]:
    """The demo's Acme, its webhook now at `url`."""
    (acme,) = [v for v in json.loads(DEMO.read_text())["vendors"] if v["id"] == "acme"]
    return {"vendors": [{**acme, "webhook_url": url}]}


def maildesk_import(
    document: dict[str, Any], folder: Path, *args: str, allow: str | None = None
) -> subprocess.CompletedProcess[str]:
    file = folder / "import.json"
    file.write_text(json.dumps(document))
    env = {k: v for k, v in os.environ.items() if k != "MAILDESK_WEBHOOK_ALLOW_HOSTS"}
    if allow is not None:
        env["MAILDESK_WEBHOOK_ALLOW_HOSTS"] = allow
    command = ["import", str(file), "--db", str(folder / "md.db"), *args]
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(("url", "why"), HOSTILE_URLS, ids=IDS)
async def test_the_import_api_refuses_a_webhook_url_that_is_not_a_public_http_endpoint(
    served: Served, url: str, why: str
) -> None:
    response = await served.api("POST", "/api/v1/admin/import", vendor_with_webhook(url))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error.startswith("vendors[0] (mallory).webhook_url: ")
    assert why in error
    assert "pw@" not in error  # a password in a URL is not echoed back
    assert (await served.api("GET", "/api/v1/vendors/mallory")).status_code == 404


@pytest.mark.parametrize(("url", "why"), HOSTILE_URLS, ids=IDS)
def test_maildesk_import_refuses_a_webhook_url_that_is_not_a_public_http_endpoint(
    tmp_path: Path, url: str, why: str
) -> None:
    done = maildesk_import(vendor_with_webhook(url), tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("maildesk: vendors[0] (mallory).webhook_url: ")
    assert why in done.stderr and "pw@" not in done.stderr


def test_maildesk_import_admits_an_internal_endpoint_the_operator_allows(tmp_path: Path) -> None:
    internal = vendor_with_webhook("http://10.1.2.3:8080/hooks")
    refused = maildesk_import(internal, tmp_path)
    assert refused.returncode == 2
    assert "MAILDESK_WEBHOOK_ALLOW_HOSTS=10.1.2.3" in refused.stderr  # the message names the fix
    by_variable = maildesk_import(internal, tmp_path, allow="127.0.0.1, 10.0.0.0/8")
    assert by_variable.returncode == 0, by_variable.stderr
    by_flag = maildesk_import(internal, tmp_path, "--webhook-allow-hosts", "10.1.2.3")
    assert by_flag.returncode == 0, by_flag.stderr
    typo = maildesk_import(internal, tmp_path, allow="http://10.1.2.3/")
    assert typo.returncode == 2
    assert "MAILDESK_WEBHOOK_ALLOW_HOSTS (--webhook-allow-hosts): 'http://10.1.2.3/'" in typo.stderr


async def test_the_import_api_admits_an_internal_endpoint_the_operator_allows(
    store: Store,
) -> None:
    async with serving(store, webhook_allow_hosts=("127.0.0.1",)) as served:
        allowed = await served.api(
            "POST", "/api/v1/admin/import", acme_with_webhook("http://127.0.0.1:9/hook")
        )
        assert allowed.status_code == 200, allowed.text
        still_refused = await served.api(
            "POST", "/api/v1/admin/import", vendor_with_webhook("http://10.0.0.1/")
        )
        assert still_refused.status_code == 422


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running(Endpoint()) as serving_endpoint:
        yield serving_endpoint


async def refund_with_webhook(served: Served, url: str) -> list[QueuedWebhook]:
    """Acme's webhook at `url`; Acme refunds an order; the processed refund's webhook is sent."""
    imported = await served.api("POST", "/api/v1/admin/import", acme_with_webhook(url))
    assert imported.status_code == 200, imported.text
    opened = await served.api(
        "POST",
        "/api/v1/tickets",
        {"order": "B00K4JNE", "type": "refund", "text": "Refunding as agreed"},
        token=ACME_KEY,
    )
    assert opened.status_code == 201, opened.text
    await served.advance("PT5M")  # a vendor's refund is processed five minutes after opening
    return await webhook_rows(served)


async def webhook_rows(served: Served) -> list[QueuedWebhook]:
    async with served.runtime.store.reading() as q:
        return [m for m in await q.outbox.find() if isinstance(m.item, WebhookItem)]


async def test_a_webhook_host_that_resolves_to_loopback_when_sent_gets_no_request(
    served: Served, endpoint: Endpoint
) -> None:
    # `localhost` is a name: import cannot judge it without looking it up (and DNS answers change
    # after import), so it is judged when sent, by the address it resolves to then.
    (hook,) = await refund_with_webhook(served, endpoint.url("localhost"))
    assert endpoint.requests == []
    assert hook.status == "failed"
    assert hook.last_error is not None
    assert "localhost resolves to 127.0.0.1, a loopback address" in hook.last_error
    assert "MAILDESK_WEBHOOK_ALLOW_HOSTS=127.0.0.1" in hook.last_error
    await served.advance("P1D")  # a refused target is not retried
    assert endpoint.requests == []
    assert [(m.status, m.attempts) for m in await webhook_rows(served)] == [("failed", 1)]


async def test_with_the_allow_list_the_same_webhook_arrives_signed(
    store: Store, endpoint: Endpoint
) -> None:
    async with serving(store, webhook_allow_hosts=("127.0.0.1",)) as served:
        (hook,) = await refund_with_webhook(served, endpoint.url("localhost"))
    (request,) = endpoint.requests
    assert hook.status == "sent"
    assert request.headers["host"] == f"localhost:{endpoint.port}"
    assert json.loads(request.body)["event"] == "refund.processed"
    assert verify(
        ACME_KEY,
        request.headers["x-maildesk-timestamp"],
        request.body,
        request.headers["x-maildesk-signature"],
    )


async def test_a_redirect_is_not_followed_and_fails_the_webhook(store: Store) -> None:
    with (
        running(Endpoint()) as elsewhere,
        running(Endpoint(redirect_to="http://127.0.0.1:1/placeholder")) as endpoint,
    ):
        endpoint.redirect_to = elsewhere.url(path="/where-the-redirect-points")
        async with serving(store, webhook_allow_hosts=("127.0.0.1",)) as served:
            (hook,) = await refund_with_webhook(served, endpoint.url())
            await served.advance("P1D")  # failed for good: not tried again either
            (again,) = await webhook_rows(served)
    assert len(endpoint.requests) == 1 and elsewhere.requests == []
    assert hook.status == "failed" and (again.status, again.attempts) == ("failed", 1)
    assert hook.last_error is not None
    assert "HTTP 302" in hook.last_error and endpoint.redirect_to in hook.last_error


@pytest.mark.parametrize("anyio_backend", [LOOPS["asyncio"]], ids=["asyncio"])
async def test_the_address_checked_is_the_address_connected_to(
    store: Store, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that answers 127.0.0.1 to the check and 127.0.0.2 after it.

    The endpoint listens on 127.0.0.1 only. The name is looked up once, and the
    request reaches the address that lookup gave; a second lookup (by the
    HTTP client, say) would have taken it elsewhere.

    On asyncio's own loop: the fake resolver is `socket.getaddrinfo`, which
    every lookup on that loop goes through, whoever makes it; uvloop resolves
    in libuv, past it. What is tested (one lookup, its address connected to)
    is the same code on both loops.
    """
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if name != "hooks.rebind.test" or flags & socket.AI_NUMERICHOST:
            return real(host, port, *args, **kwargs)  # not a question for DNS
        lookups.append(name)
        answer = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    async with serving(store, webhook_allow_hosts=("127.0.0.1",)) as served:
        (hook,) = await refund_with_webhook(served, endpoint.url("hooks.rebind.test"))
    assert (hook.status, hook.last_error) == ("sent", None)
    assert lookups == ["hooks.rebind.test"]
    (request,) = endpoint.requests
    assert request.headers["host"] == f"hooks.rebind.test:{endpoint.port}"
