"""A vendor's own settings, changed from the desk (issue #17): the same checks as the import.

Time zone (an IANA name), customer-service address and agent addresses (one
mailbox each), and the webhook URL (checked against private networks as at
import and again before every send). The refund policy is the operator's
and is only shown. Also: a new API key, and a test event to the webhook,
queued through the outbox like every other delivery.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.catalog.fields import ImportError_, mailbox
from service.desk import Desk
from service.desk.outgoing import new_message_id
from service.domain.records import Vendor
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList, RefusedTarget, check_url
from service.representations import iso
from service.store import WebhookItem

TEST_EVENT = "test"
MAX_AGENTS = 20


@dataclass(frozen=True)
class SettingsForm:
    """What the settings form posted, as typed."""

    timezone: str
    support_email: str
    agent_emails: str
    """One address a line (commas also separate)."""
    webhook_url: str


@dataclass(frozen=True)
class SettingsSaved:
    vendor: Vendor


@dataclass(frozen=True)
class SettingsRefused:
    """Field name -> what to fix; nothing was changed."""

    errors: dict[str, str]


async def save_settings(
    desk: Desk, vendor: Vendor, form: SettingsForm, *, webhook_allow: AllowList = NO_EXCEPTIONS
) -> SettingsSaved | SettingsRefused:
    errors: dict[str, str] = {}
    zone = form.timezone.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = f"{zone!r} is not a time zone; choose one like America/New_York."
    support: str | None = None
    if form.support_email.strip():
        try:
            support = mailbox("Customer-service email", form.support_email)
        except ImportError_ as error:
            errors["support_email"] = str(error)
    agents: list[str] = []
    for raw in form.agent_emails.replace(",", "\n").splitlines():
        if not raw.strip():
            continue
        try:
            address = mailbox("Agent email", raw)
        except ImportError_ as error:
            errors["agent_emails"] = str(error)
            break
        if address not in agents:
            agents.append(address)
    if len(agents) > MAX_AGENTS:
        errors["agent_emails"] = f"At most {MAX_AGENTS} agent emails; remove some."
    webhook = form.webhook_url.strip() or None
    if webhook is not None:
        try:
            check_url(webhook, webhook_allow)
        except RefusedTarget as error:
            errors["webhook_url"] = f"Webhook URL: {error}"
    if errors:
        return SettingsRefused(errors)
    changed = replace(
        vendor,
        timezone=zone,
        support_email=support,
        agent_emails=tuple(agents),
        webhook_url=webhook,
    )
    await desk.save_vendor(changed)
    return SettingsSaved(changed)


async def rotate_api_key(desk: Desk, vendor: Vendor) -> str:
    """A new API key; the old one stops working at once. The key is returned to show once."""
    key = f"mdk_{secrets.token_urlsafe(24)}"
    await desk.save_vendor(replace(vendor, api_key=key))
    return key


async def send_test_webhook(desk: Desk, vendor: Vendor) -> bool:
    """Queue a `test` event to the vendor's webhook; False when it has none."""
    if not vendor.webhook_url:
        return False
    now = desk.clock.now()
    await desk.queue_webhook(
        WebhookItem(
            event=TEST_EVENT,
            url=vendor.webhook_url,
            vendor_id=vendor.id,
            delivery_id=new_message_id(desk.identity.domain).strip("<>"),
            payload={"event": TEST_EVENT, "vendor": vendor.id, "at": iso(now)},
            record=None,
            created_at=now,
        )
    )
    return True
