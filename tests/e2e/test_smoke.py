"""The smallest whole story: a refund asked for by email, processed a weekday later."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Served

pytestmark = pytest.mark.anyio


async def test_a_refund_by_email_is_confirmed_to_both_and_processed_a_weekday_later(
    served: Served,
) -> None:
    code, _ = await served.send(
        "jane@example.test",
        "refund@support.maildesk.test",
        "Refund Q7K2M9XA please",
        "It does not do what I hoped.",
    )
    assert code == 250
    (ticket,) = await served.tickets()
    assert ticket["type"] == "refund" and ticket["due"]["at"] == "2026-11-24T14:00:00Z"
    opened = await served.mail()
    assert sorted(m.to[0][1] for m in opened) == ["help@acme.test", "jane@example.test"]
    await served.advance("PT23H59M")
    assert (await served.ticket(ticket["number"]))["status"] == "open"
    result = await served.advance("PT1M")
    assert result["fired"] == 1
    done = await served.ticket(ticket["number"])
    assert done["status"] == "closed" and done["close_reason"] == "refunded"
    order = (await served.api("GET", "/api/v1/orders/Q7K2M9XA")).json()
    assert order["refunded_amount"] == "19.95" and order["subscription_status"] == "canceled"
    confirmations = await served.mail_to("jane@example.test", "efund")
    assert any("19.95" in m.body for m in confirmations)
