"""The JSON API: every endpoint's errors, and no vendor ever reaching another vendor's data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.routing import Route

from service.web.api import api_routes
from service.web.openapi import DOCUMENT
from tests.e2e.conftest import ADMIN, DEMO, Served

pytestmark = pytest.mark.anyio

ACME, GLOBEX = "acme-demo-key", "globex-demo-key"


async def open_by_api(
    served: Served, order: str, kind: str, key: str = ACME, text: str = ""
) -> Any:
    return await served.api(
        "POST", "/api/v1/tickets", {"order": order, "type": kind, "text": text}, token=key
    )


async def test_every_endpoint_needs_a_token_and_rejects_an_unknown_one(served: Served) -> None:
    for route in api_routes():
        if route.path.endswith(("openapi.json", "/docs")):
            continue
        path = route.path.format(
            vendor_id="acme", number="1", reference="Q7K2M9XA", subscription_id="S1001", item="1"
        )
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            missing = await served.http.request(method, path)
            assert missing.status_code == 401, (method, path)
            assert "Bearer" in missing.json()["error"]
            body = {} if method == "POST" else None  # a GET with a body is a 413
            wrong = await served.api(method, path, body, token="not-a-key")
            assert wrong.status_code == 401, (method, path)


async def test_a_vendor_key_cannot_use_admin_endpoints(served: Served) -> None:
    for method, path, body in [
        ("POST", "/api/v1/admin/import", {}),
        ("POST", "/api/v1/admin/clock", {"advance": "PT1H"}),
        ("POST", "/api/v1/admin/vendors/acme/abuse", {"abusing": False}),
        ("GET", "/api/v1/admin/escalations", None),
        ("POST", "/api/v1/admin/subscriptions/S1001/rotate", {}),
    ]:
        response = await served.api(method, path, body, token=ACME)
        assert response.status_code == 403, path


async def test_a_vendor_never_sees_or_touches_another_vendors_data(served: Served) -> None:
    opened = await open_by_api(served, "B00K4JNE", "support", text="Checking in")
    assert opened.status_code == 201
    number = opened.json()["number"]
    assert (await served.api("GET", f"/api/v1/tickets/{number}", token=GLOBEX)).status_code == 404
    assert (await served.api("GET", "/api/v1/orders/B00K4JNE", token=GLOBEX)).status_code == 404
    assert (await served.api("GET", "/api/v1/vendors/acme", token=GLOBEX)).status_code == 404
    listed = await served.http.get(
        "/api/v1/tickets", params={"vendor": "acme"}, headers={"Authorization": f"Bearer {GLOBEX}"}
    )
    assert listed.json() == {"tickets": []}
    all_of_globex = await served.api("GET", "/api/v1/tickets", token=GLOBEX)
    assert all_of_globex.json() == {"tickets": []}
    for action, body in [
        ("reply", {"text": "hi"}),
        ("close", {}),
        ("change", {"type": "refund"}),
        ("approve", {}),
    ]:
        response = await served.api(
            "POST", f"/api/v1/tickets/{number}/{action}", body, token=GLOBEX
        )
        assert response.status_code == 404, action
    assert (await open_by_api(served, "B00K4JNE", "refund", key=GLOBEX)).status_code == 404
    mine = await served.api("GET", f"/api/v1/tickets/{number}", token=ACME)
    assert mine.status_code == 200 and mine.json()["events"][0]["kind"] == "opened"
    assert len(mine.json()["events"]) == 1  # nothing the other vendor tried landed


async def test_malformed_requests_get_400_with_a_message_that_names_the_problem(
    served: Served,
) -> None:
    bad_json = await served.http.post(
        "/api/v1/tickets", content=b"{not json", headers={"Authorization": f"Bearer {ACME}"}
    )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    not_object = await served.api("POST", "/api/v1/tickets", [1, 2], token=ACME)
    assert not_object.status_code == 400 and "object" in not_object.json()["error"]
    unknown = await served.api(
        "POST",
        "/api/v1/tickets",
        {"order": "B00K4JNE", "type": "refund", "colour": "red"},
        token=ACME,
    )
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]
    wrong_type = await served.api(
        "POST", "/api/v1/tickets", {"order": 42, "type": "refund"}, token=ACME
    )
    assert wrong_type.status_code == 400 and "'order'" in wrong_type.json()["error"]
    bad_kind = await open_by_api(served, "B00K4JNE", "teleport")
    assert (
        bad_kind.status_code == 400 and "refund, cancelation or support" in bad_kind.json()["error"]
    )
    huge = await served.http.post(
        "/api/v1/tickets",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Authorization": f"Bearer {ACME}"},
    )
    assert huge.status_code == 413
    bad_clock = await served.api("POST", "/api/v1/admin/clock", {"advance": "soon"})
    assert bad_clock.status_code == 400
    backwards = await served.api("POST", "/api/v1/admin/clock", {"now": "2020-01-01T00:00Z"})
    assert backwards.status_code == 400 and "cannot go back" in backwards.json()["error"]
    unknown_path = await served.api("GET", "/api/v1/nothing-here")
    assert unknown_path.status_code == 404 and "no such endpoint" in unknown_path.json()["error"]


async def test_business_refusals_are_422_with_the_reason_and_send_no_email(
    served: Served,
) -> None:
    vendors_window = await open_by_api(served, "OLD45DAY", "refund")
    assert vendors_window.status_code == 201  # 45 days: past the customer's 30, within 90
    too_old = await open_by_api(served, "GLX95DAY", "refund", key=GLOBEX)
    assert too_old.status_code == 422
    assert "90 days" in too_old.json()["error"] and too_old.json()["code"] == "refund_window_passed"
    not_waiting = await open_by_api(served, "B00K4JNE", "support")
    number = not_waiting.json()["number"]
    approve = await served.api("POST", f"/api/v1/tickets/{number}/approve", {}, token=ACME)
    assert approve.status_code == 422 and approve.json()["code"] == "nothing_to_approve"
    refused_mail = [m for m in await served.mail() if "refused" in m.subject.lower()]
    assert refused_mail == []


async def test_the_vendor_api_opens_replies_changes_and_closes(served: Served) -> None:
    opened = await open_by_api(served, "Q7K2M9XA", "cancelation", text="As you asked")
    assert opened.status_code == 201
    ticket = opened.json()
    assert ticket["opened_by"] == "vendor" and ticket["due"]["event"] == "process"
    number = ticket["number"]
    reply = await served.api(
        "POST", f"/api/v1/tickets/{number}/reply", {"text": "Done soon"}, token=ACME
    )
    assert reply.status_code == 200 and reply.json()["comments"][-1]["text"] == "Done soon"
    changed = await served.api(
        "POST", f"/api/v1/tickets/{number}/change", {"type": "support"}, token=ACME
    )
    assert changed.status_code == 200 and changed.json()["type"] == "support"
    closed = await served.api("POST", f"/api/v1/tickets/{number}/close", {}, token=ACME)
    assert closed.json()["status"] == "closed"
    assert closed.json()["close_reason"] == "closed_by_vendor"
    again = await served.api("POST", f"/api/v1/tickets/{number}/close", {}, token=ACME)
    assert again.status_code == 422 and again.json()["code"] == "ticket_closed"


async def test_the_openapi_document_describes_every_api_route(served: Served) -> None:
    response = await served.http.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.json() == DOCUMENT
    described = {
        (path, method.upper()) for path, item in DOCUMENT["paths"].items() for method in item
    }
    served_routes = {
        (r.path, m)
        for r in api_routes()
        if isinstance(r, Route)
        for m in (r.methods or ())
        if m != "HEAD"
    }
    served_routes.discard(("/api/v1/openapi.json", "GET"))
    served_routes.discard(("/api/v1/docs", "GET"))
    assert served_routes == described


async def test_the_operator_opens_a_request_on_the_customers_behalf_under_the_customers_rules(
    served: Served,
) -> None:
    opened = await open_by_api(served, "Q7K2M9XA", "refund", key=ADMIN, text="Called us.")
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert ticket["opened_by"] == "operator"
    assert ticket["comments"][0]["author"] == "operator"
    # Processed after the customer's 24 weekday hours, not the vendor's 5 minutes.
    assert ticket["due"]["event"] == "process"
    assert ticket["due"]["at"] > "2026-11-24T13:00:00Z"
    # The customer's 60-day window applies: a 75-day-old order is refused, with the reason.
    refused = await open_by_api(served, "GLX75DAY", "refund", key=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["code"] == "refund_window_passed"
    missing = await open_by_api(served, "NOSUCH01", "refund", key=ADMIN)
    assert missing.status_code == 404


async def test_a_clock_advance_that_is_not_iso_8601_shows_the_form_it_wants(
    served: Served,
) -> None:
    response = await served.api("POST", "/api/v1/admin/clock", {"advance": "1 day"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "P1D" in error and "'1 day'" in error


async def test_the_api_reference_page_lists_every_endpoint_of_the_openapi_document(
    served: Served,
) -> None:
    page = await served.http.get("/api/v1/docs")  # no token: the reference is public
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path, operations in DOCUMENT["paths"].items():
        for method in operations:
            assert f"<code>{method.upper()} {path}</code>" in page.text, (method, path)
    assert "<script" not in page.text and "https://" not in page.text.split("</head>")[0]


async def test_a_large_import_is_read_as_a_stream_with_the_same_answers(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over `PARSED_WHOLE` bytes the body is spooled and streamed (issue #19), same answers."""
    from service.web import api_admin

    monkeypatch.setattr(api_admin, "PARSED_WHOLE", 64)
    document = json.loads(DEMO.read_text())
    response = await served.api("POST", "/api/v1/admin/import", document)
    assert response.status_code == 200, response.text
    assert response.json() == {"vendors": 2, "products": 5, "orders": 11}
    document["orders"][3]["bills"][0]["amount"] = "-1"
    refused = await served.api("POST", "/api/v1/admin/import", document)
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("orders[3] (")
    garbled = await served.http.post(
        "/api/v1/admin/import",
        content=json.dumps(document).encode()[:-10],
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert garbled.status_code == 400 and "not valid JSON" in garbled.json()["error"]
