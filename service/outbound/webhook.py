"""Signed webhooks: telling a vendor's own commerce system that a refund or cancelation happened.

A webhook rides the durable outbox like an email (kind `webhook`, the URL as
its address), so it gets the same guarantees: queued in the transaction that
processed the refund, retried with backoff while the endpoint fails, never
lost across restarts, and visible in `maildesk outbox`.

The body is JSON; `X-Maildesk-Signature: sha256=<hex>` is an HMAC-SHA256 of
`<timestamp>.<body>` under the vendor's API key, and `X-Maildesk-Delivery`
is stable across retries so the receiver can drop a repeat.

Where it may go is `webhook_target`'s rule, applied again here before every
attempt: the host is looked up, every address judged, and the request sent
to an address that passed, never to the name (which a second lookup could
answer differently). The sender never follows a redirect: the new URL would
escape the rule.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from service.domain.notifications import WEBHOOK_KIND
from service.outbound.transport import PermanentFailure, TransientFailure
from service.outbound.webhook_target import (
    NO_EXCEPTIONS,
    AllowList,
    RefusedTarget,
    admitted_addresses,
    check_url,
)

__all__ = ["WEBHOOK_KIND", "WebhookSender", "signature", "verify"]


def signature(api_key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(api_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(api_key: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a vendor's endpoint does with our request (here for tests and for the README)."""
    return hmac.compare_digest(signature(api_key, timestamp, body), header)


def webhook_client(
    timeout: float = 10.0, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """An HTTP client that goes only where it is sent.

    Its own transport, so no proxy is taken from the environment (a proxy
    would look the name up again, past the check); no redirects; no kept
    connections, since a pooled connection is keyed by address and one opened
    and verified for one vendor's host name must not carry another vendor's
    request to the same address; and no cookies, so one vendor's endpoint
    cannot set what another's receives. `verify` is for tests with their own
    certificate authority.
    """
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(
            verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
        ),
        timeout=timeout,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class WebhookSender:
    """Posts one webhook to an address `webhook_target` admitted, and judges the answer."""

    def __init__(
        self,
        allow: AllowList = NO_EXCEPTIONS,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.allow = allow
        self.client = client or webhook_client(timeout)

    async def post(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        api_key: str,
        delivery_id: str,
        timestamp: str,
    ) -> None:
        """Raises `PermanentFailure` for a target maildesk must not reach or an endpoint that
        refuses, `TransientFailure` for what may pass (DNS, connections, 5xx, 408, 429)."""
        try:
            target = check_url(url, self.allow)
        except RefusedTarget as error:
            raise PermanentFailure(str(error)) from None
        try:
            addresses = await admitted_addresses(target, self.allow)
        except RefusedTarget as error:
            raise PermanentFailure(str(error)) from None
        except OSError as error:  # the name cannot be looked up now
            raise TransientFailure(f"cannot look up {target.host}: {error}") from error
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {
            "Host": target.host_header,
            "Accept-Encoding": "identity",  # an error answer is read raw: no decompression bomb
            "Content-Type": "application/json",
            "User-Agent": "maildesk-webhook/1",
            "X-Maildesk-Delivery": delivery_id,
            "X-Maildesk-Timestamp": timestamp,
            "X-Maildesk-Signature": signature(api_key, timestamp, body),
        }
        unreachable: list[str] = []
        for address in addresses:
            try:
                async with self.client.stream(
                    "POST",
                    target.url_at(address),
                    content=body,
                    headers=headers,
                    extensions=target.extensions(),
                    follow_redirects=False,
                ) as response:
                    _judge(response, await _excerpt(response))
                    return
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                unreachable.append(f"{address}: {type(error).__name__}: {error}")
            except httpx.HTTPError as error:
                raise TransientFailure(f"{type(error).__name__}: {error}") from error
        raise TransientFailure(f"cannot connect to {target.host} ({'; '.join(unreachable)})")

    async def aclose(self) -> None:
        await self.client.aclose()


async def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The start of the body, for the operator; an endpoint cannot make maildesk read more
    (nor decompress anything: the bytes are taken as they came)."""
    if response.status_code < 400:
        return ""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= limit:
            break
    return kept[:limit].decode("utf-8", "replace")


def _judge(response: httpx.Response, excerpt: str) -> None:
    """2xx delivered; 408, 429 and 5xx may pass later; a redirect or another 4xx will not.

    A redirect fails for good rather than being retried: the endpoint answers
    the same way next time, and following it would post to a URL that was
    never checked. The message names where it points, so the operator can
    import that URL instead.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    if status >= 500 or status in (408, 429):
        raise TransientFailure(f"HTTP {status}")
    if 300 <= status < 400:
        location = response.headers.get("location", "(no Location)")
        raise PermanentFailure(
            f"HTTP {status}: the endpoint redirects to {location}; maildesk does not follow "
            "redirects (the new URL would escape the check on where webhooks may go): import "
            "the vendor again with the final URL as its webhook_url"
        )
    raise PermanentFailure(f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}")
