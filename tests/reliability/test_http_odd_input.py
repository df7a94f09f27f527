"""Odd input over HTTP: odd digits, huge numbers, deep JSON, strings a database refuses.

Penetration-test report #13, item 5: `/api/v1/tickets/¹` and a 30-digit
number answered 500 with a traceback, full-width and Arabic-Indic digits
(`１`, `١`) both opened ticket 1, and 100,000-deep JSON raised RecursionError.
Every path and query parameter and every JSON body is attacked here through a
real `maildesk serve`: malformed input is a 400 whose JSON error shows what a
valid value looks like, and nothing ever answers 500. A hypothesis test then
throws arbitrary path segments and JSON bodies at the running app.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.outbound.addresses import ticket_link_token
from tests.e2e.conftest import ADMIN, SECRET, Served
from tests.web.support import JANE, open_by_email, page_link, post_form

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ACME = "acme-demo-key"

ODD_NUMBERS = [
    "¹",  # superscript one: str.isdigit() says yes, int() says no
    "１",  # full-width one: int() reads it as 1
    "١",  # Arabic-Indic one: int() reads it as 1
    "1" * 30,  # past any ticket number (and past 64-bit integers)
    "9" * 5000,  # past Python's 4,300-digit limit on int()
    "0",
    "007",
    "-1",
    "+1",
    "1e3",
    " 1",
    "1_000",
]


def path_segment(raw: str) -> str:
    return quote(raw, safe="")


async def admin_get(served: Served, path: str, **params: str) -> httpx.Response:
    return await served.http.get(path, params=params, headers={"Authorization": f"Bearer {ADMIN}"})


def assert_400_showing(response: httpx.Response, example: str) -> None:
    assert response.status_code == 400, (response.request.url, response.text[:300])
    error = response.json()["error"]
    assert example in error, error


async def test_a_ticket_number_in_odd_digits_is_a_400_that_shows_a_valid_one(
    served: Served,
) -> None:
    opened = await served.api(
        "POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, token=ACME
    )
    assert opened.status_code == 201 and opened.json()["number"] == 1
    for raw in ODD_NUMBERS:
        segment = path_segment(raw)
        assert_400_showing(await admin_get(served, f"/api/v1/tickets/{segment}"), "like 42")
        for action in ("reply", "close", "change", "approve"):
            response = await served.api(
                "POST", f"/api/v1/tickets/{segment}/{action}", {"text": "hi"}, token=ACME
            )
            assert_400_showing(response, "like 42")
    assert (await admin_get(served, "/api/v1/tickets/1")).status_code == 200
    assert (await admin_get(served, f"/api/v1/tickets/{10**18 - 1}")).status_code == 404


async def test_vendor_ids_order_references_and_query_parameters_are_checked(
    served: Served,
) -> None:
    for raw in ["\x00", "ACME", "a" * 41, "ac me", "acme\n", "ａｃｍｅ"]:
        segment = path_segment(raw)
        assert_400_showing(await admin_get(served, f"/api/v1/vendors/{segment}"), "like acme")
        abuse = await served.api(
            "POST", f"/api/v1/admin/vendors/{segment}/abuse", {"abusing": True}
        )
        assert_400_showing(abuse, "like acme")
        assert_400_showing(await admin_get(served, "/api/v1/tickets", vendor=raw), "like acme")
        escalations = await admin_get(served, "/api/v1/admin/escalations", vendor=raw)
        assert_400_showing(escalations, "like acme")
    for raw in ["\x00", "Q7K2M9XA\x00", "\x1b[31m", "x" * 129, "tab\there"]:
        segment = path_segment(raw)
        assert_400_showing(await admin_get(served, f"/api/v1/orders/{segment}"), "like Q7K2M9XA")
        listed = await admin_get(served, "/api/v1/tickets", order=raw)
        assert_400_showing(listed, "like Q7K2M9XA")
    assert_400_showing(await admin_get(served, "/api/v1/tickets", status="\x00"), "open or closed")
    assert (await admin_get(served, "/api/v1/orders/Q7K2M9XA")).status_code == 200
    assert (await admin_get(served, "/api/v1/vendors/acme")).status_code == 200


async def test_a_catcher_id_that_is_not_a_plain_number_is_a_400(served: Served) -> None:
    await served.api("POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, ACME)
    await served.flush()
    assert (await served.http.get("/api/messages/1")).status_code == 200
    for raw in ["9" * 5000, "1" * 30, "１", "¹", "0", "01", "-1", "abc"]:
        segment = path_segment(raw)
        for path in (f"/api/messages/{segment}", f"/api/messages/{segment}/raw"):
            assert_400_showing(await served.http.get(path), "like 1")
        page = await served.http.get(f"/mail/{segment}")
        assert page.status_code == 400 and "like /mail/1" in page.text, page.text[:300]


async def test_an_attachment_id_that_cannot_be_one_is_a_400_page(served: Served) -> None:
    token = ticket_link_token(SECRET, 1, "customer")
    await served.api("POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, ACME)
    for raw in ["x" * 65, "a b", "\x00", "１"]:
        response = await served.http.get(f"/t/{token}/attachments/{path_segment(raw)}")
        assert response.status_code == 400, response.text[:300]
        assert "attachment" in response.text
    missing = await served.http.get(f"/t/{token}/attachments/{'a' * 32}")
    assert missing.status_code == 404


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (DEEP, "nested"),
        (b'{"text": ' + b"[" * 40 + b"]" * 40 + b"}", "nested"),
        (b'{"text": ' + b"1" * 5000 + b"}", "digits"),
        (b'{"text": ' + b"1" * 30 + b"}", "digits"),
        (b'{"text": NaN}', "NaN"),
        (b'{"text": -Infinity}', "Infinity"),
        (b'{"text": 1e999}', "finite"),
        (b'{"text": "\\ud800"}', "surrogate"),
        (b'{"text": "a\\u0000b"}', "NUL"),
        (b'{"text": "ok", "\\u0000": 1}', "NUL"),
        (b"[1, 2]", "object"),
        (b'"text"', "object"),
        (b"null", "object"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"text": "\xed\xa0\x80"}', "UTF-8"),
        (b"{", "not valid JSON"),
    ],
)
async def test_a_json_body_a_parser_or_a_database_would_choke_on_is_a_400(
    served: Served, body: bytes, says: str
) -> None:
    opened = await served.api(
        "POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, token=ACME
    )
    number = opened.json()["number"]
    before = await served.ticket(number)
    for path, token in [
        (f"/api/v1/tickets/{number}/reply", ACME),
        ("/api/v1/tickets", ACME),
        ("/api/v1/admin/import", ADMIN),
        ("/api/v1/admin/clock", ADMIN),
    ]:
        response = await served.http.post(
            path, content=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 400, (path, response.text[:300])
        assert says in response.json()["error"], (path, response.json())
    assert await served.ticket(number) == before  # nothing landed


# --- hypothesis: whatever comes, never a 500 ------------------------------------------------

ANY_CHARACTER = st.characters(codec=None, categories=None, exclude_categories=())
"""Every code point, lone surrogates and NUL included."""

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(ANY_CHARACTER, max_size=30)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(["order", "type", "text", "now", "advance", "abusing", "vendors"])
BODIES = (
    JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | st.dictionaries(FIELDS, JSON_VALUES, max_size=3).map(lambda d: json.dumps(d).encode())
    | st.fixed_dictionaries(
        {"order": st.sampled_from(["B00K4JNE", "GLX75DAY"]), "type": st.just("support")},
        optional={"text": st.text(ANY_CHARACTER, max_size=40)},
    ).map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=60)
    | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
)
SEGMENTS = st.text(ANY_CHARACTER, max_size=40) | (
    st.integers(min_value=-(10**30), max_value=10**30).map(str)
)
PATHS = [
    ("GET", "/api/v1/tickets/{}"),
    ("POST", "/api/v1/tickets/{}/reply"),
    ("POST", "/api/v1/tickets/{}/change"),
    ("GET", "/api/v1/orders/{}"),
    ("GET", "/api/v1/vendors/{}"),
    ("POST", "/api/v1/admin/vendors/{}/abuse"),
    ("GET", "/api/messages/{}"),
    ("GET", "/api/messages/{}/raw"),
    ("GET", "/mail/{}"),
    ("GET", "/t/{}"),
    ("GET", "/t/" + ticket_link_token(SECRET, 1, "vendor") + "/attachments/{}"),
    ("GET", "/{}"),
]
POSTS = [
    ("/api/v1/tickets", ACME),
    ("/api/v1/tickets/1/reply", ACME),
    ("/api/v1/tickets/1/change", ACME),
    ("/api/v1/admin/import", ADMIN),
    ("/api/v1/admin/clock", ADMIN),
    ("/api/v1/admin/vendors/acme/abuse", ADMIN),
]
QUERIES = st.dictionaries(
    st.sampled_from(["vendor", "order", "status"]), SEGMENTS, min_size=1, max_size=3
)


def _encoded(segment: str) -> str:
    return quote(segment.encode("utf-8", "surrogatepass"), safe="")


async def test_odd_path_segments_queries_and_json_bodies_never_get_a_500(served: Served) -> None:
    opened = await served.api(
        "POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, token=ACME
    )
    assert opened.status_code == 201
    base = str(served.http.base_url)
    seen: list[tuple[str, str, int]] = []

    def check(response: httpx.Response) -> None:
        seen.append((response.request.method, str(response.request.url)[:80], response.status_code))
        assert response.status_code < 500, (response.request.url, response.text[:500])

    with httpx.Client(base_url=base, timeout=30) as http:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        vendor = {"Authorization": f"Bearer {ACME}"}

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(route=st.sampled_from(PATHS), segment=SEGMENTS, body=BODIES)
        def odd_paths(route: tuple[str, str], segment: str, body: bytes) -> None:
            method, template = route
            url = template.format(_encoded(segment))
            headers = vendor if "/tickets/" in url else auth
            check(
                http.request(
                    method, url, headers=headers, content=body if method == "POST" else None
                )
            )

        @settings(max_examples=150, deadline=None, database=None)
        @given(post=st.sampled_from(POSTS), body=BODIES)
        def odd_bodies(post: tuple[str, str], body: bytes) -> None:
            path, token = post
            check(http.post(path, content=body, headers={"Authorization": f"Bearer {token}"}))

        @settings(max_examples=60, deadline=None, database=None)
        @given(
            query=QUERIES, path=st.sampled_from(["/api/v1/tickets", "/api/v1/admin/escalations"])
        )
        def odd_queries(query: dict[str, str], path: str) -> None:
            encoded = "&".join(f"{k}={_encoded(v)}" for k, v in query.items())
            for headers in (auth, vendor):
                check(http.get(f"{path}?{encoded}", headers=headers))

        def run_all() -> None:
            odd_paths()
            odd_bodies()
            odd_queries()

        await anyio.to_thread.run_sync(run_all)
    assert len(seen) > 300


async def test_form_fields_with_a_nul_character_never_get_a_500(served: Served) -> None:
    """PostgreSQL refuses NUL in text: a form must never carry one into a query or a row."""
    number = await open_by_email(served, JANE, "support", "B00K4JNE help", "Hello")
    page = await page_link(served, JANE, number)
    for form, fields in [
        ("/lookup", {"email": "jane\x00@example.test", "reference": "B00K4JNE"}),
        (
            "/refund",
            {"email": JANE, "reference": "B00K4JNE", "reason": "Other", "details": "a\x00b"},
        ),
    ]:
        response = await post_form(served.http, form, form, fields)
        assert response.status_code < 500, response.text[:300]
    reply = await post_form(served.http, page, f"{page}/reply", {"text": "nul \x00 here"})
    assert reply.status_code == 303, reply.text[:300]
    comments = (await served.ticket(number))["comments"]
    assert comments[-1]["text"] == "nul \ufffd here"
