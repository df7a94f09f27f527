"""`/metrics`: Prometheus's own parser reads it, the admin token guards it, the figures add up."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import ADMIN, Served, serving

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await served.http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_metrics_count_mail_tickets_outbox_and_requests(served: Served) -> None:
    code, _ = await served.send(
        "jane@example.test", f"refund@{DOMAIN}", "Q7K2M9XA", "Please refund me"
    )
    assert code == 250
    code, _ = await served.send("mallory@evil.test", f"refund@{DOMAIN}", "nothing", "x")
    before = await scrape(served)
    assert before[("maildesk_smtp_messages_total", (("code", "250"),))] == 2
    assert before[("maildesk_smtp_message_seconds_count", ())] == 2
    assert before[("maildesk_tickets_opened_total", (("type", "refund"),))] == 1
    assert before[("maildesk_tickets_closed_total", (("type", "refund"),))] == 0
    assert before[("maildesk_tickets", (("status", "open"), ("type", "refund")))] == 1
    assert ("maildesk_outbox_depth", ()) in before
    assert before[("maildesk_timers_due", ())] == 0

    await served.flush()
    await served.advance("P2D")  # the refund is processed and the ticket closed
    after = await scrape(served)
    assert after[("maildesk_tickets_closed_total", (("type", "refund"),))] == 1
    assert after[("maildesk_outbox_depth", ())] == 0
    assert after[("maildesk_outbox_oldest_age_seconds", ())] == 0
    assert after[("maildesk_deliveries_total", (("result", "sent"),))] >= 4
    route = (("method", "POST"), ("route", "/api/v1/admin/clock"))
    assert after[("maildesk_http_request_seconds_count", route)] == 1


async def test_metrics_need_the_admin_token(served: Served) -> None:
    assert (await served.http.get("/metrics")).status_code == 401
    wrong = await served.http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_without_an_admin_token_metrics_are_off_and_say_why(store: Store) -> None:
    async with serving(store, admin_token="") as served:
        response = await served.http.get("/metrics")
        assert response.status_code == 403
        assert "MAILDESK_ADMIN_TOKEN" in response.json()["error"]
