"""Signed webhooks: telling a vendor's own commerce system that a refund or cancelation happened.

A webhook rides the durable outbox like an email (kind `webhook`, the URL as
its address), so it gets the same guarantees: queued in the transaction that
processed the refund, retried with backoff while the endpoint fails, never
lost across restarts, and visible in `maildesk outbox`.

The body is JSON; `X-Maildesk-Signature: sha256=<hex>` is an HMAC-SHA256 of
`<timestamp>.<body>` under the vendor's API key, and `X-Maildesk-Delivery`
is stable across retries so the receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from service.domain.notifications import WEBHOOK_KIND
from service.outbound.transport import PermanentFailure, TransientFailure

__all__ = ["WEBHOOK_KIND", "WebhookSender", "signature", "verify"]


def signature(api_key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(api_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(api_key: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a vendor's endpoint does with our request (here for tests and for the README)."""
    return hmac.compare_digest(signature(api_key, timestamp, body), header)


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self.client = client or httpx.AsyncClient(timeout=timeout)

    async def post(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        api_key: str,
        delivery_id: str,
        timestamp: str,
    ) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "maildesk-webhook/1",
            "X-Maildesk-Delivery": delivery_id,
            "X-Maildesk-Timestamp": timestamp,
            "X-Maildesk-Signature": signature(api_key, timestamp, body),
        }
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise TransientFailure(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientFailure(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentFailure(f"HTTP {response.status_code}: {response.text[:200]}")
