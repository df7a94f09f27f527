"""SQL and template injection in every field that reaches a query or a template.

Hostile text goes in through the import (vendor, customer and product names),
an email (subject, body, attachment name) and the API (query parameters,
paths, comments); it must come out exactly as typed in JSON, as literal text
in the plain-text emails, escaped in HTML, and never change a query.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import DEMO, Served, reply_address_of

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

SQL = "'); DROP TABLE tickets; --"
TEMPLATE = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ config }}"
HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE = f"{SQL} {TEMPLATE} {HTML}"


async def import_hostile_names(served: Served) -> None:
    data = json.loads(DEMO.read_text())
    data["vendors"][0]["name"] = f"Acme {HOSTILE}"
    data["products"][1]["name"] = f"Handbook {HOSTILE}"
    data["orders"][1]["customer"]["name"] = f"Jane {HOSTILE}"
    response = await served.api("POST", "/api/v1/admin/import", data)
    assert response.status_code == 200, response.text


async def test_hostile_text_in_names_subjects_and_comments_stays_text(served: Served) -> None:
    await import_hostile_names(served)
    code, _ = await served.send(
        "jane@example.test", f"support@{DOMAIN}", f"B00K4JNE {HOSTILE}", f"Body {HOSTILE}"
    )
    assert code == 250
    (ticket,) = await served.tickets()
    assert ticket["comments"][0]["text"] == f"Body {HOSTILE}"
    mails = await served.mail()
    assert len(mails) == 2
    for mail in mails:
        text = mail.text_plain[0]
        assert TEMPLATE in text and "49" not in text.replace("2026", "")  # never evaluated
        assert SQL in text
        html = mail.text_html[0]
        assert "<script>alert(1)</script>" not in html and "onerror=alert(2)>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The ticket page of each party shows the same text, escaped.
    link = next(w for w in mails[0].text_plain[0].split() if "/t/" in w)
    page = await served.http.get("/t/" + link.rsplit("/t/", 1)[1].strip(".,)>"))
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "{{ 7*7 }}" in page.text
    # A reply carrying the same payload: still text, and every table still there.
    code, _ = await served.send(
        "jane@example.test", reply_address_of(mails[0]), "Re: x", f"Again {HOSTILE}"
    )
    assert code == 250
    again = await served.ticket(ticket["number"])
    assert again["comments"][-1]["text"] == f"Again {HOSTILE}"
    order = (await served.api("GET", "/api/v1/orders/B00K4JNE")).json()
    assert order["customer"]["name"] == f"Jane {HOSTILE}"


async def test_hostile_query_parameters_and_paths_change_no_query(served: Served) -> None:
    code, _ = await served.send("jane@example.test", f"support@{DOMAIN}", "B00K4JNE hi", "hi")
    assert code == 250
    for params, status in (
        ({"vendor": "acme' OR '1'='1"}, 400),  # not a vendor id: refused before any query
        ({"order": "x' OR 1=1 --"}, 200),  # could be a reference: looked up, finds nothing
        ({"vendor": "acme; DELETE FROM tickets"}, 400),
    ):
        listed = await served.http.get(
            "/api/v1/tickets", params=params, headers={"Authorization": "Bearer e2e-admin-token"}
        )
        assert listed.status_code == status, params
        assert status == 400 or listed.json() == {"tickets": []}
    for path, status in (
        ("/api/v1/orders/' OR '1'='1", 404),
        ("/api/v1/vendors/acme' --", 400),
        ("/api/v1/tickets/1 OR 1=1", 400),
    ):
        response = await served.api("GET", path)
        assert response.status_code == status, path
    assert len(await served.tickets()) == 1
    evil_status = await served.http.get(
        "/api/v1/tickets",
        params={"status": "open' --"},
        headers={"Authorization": "Bearer e2e-admin-token"},
    )
    assert evil_status.status_code == 400
