"""The desk answers another vendor's ticket or order with the same statements as a missing one.

As for the API (`test_http_timing.py`, penetration-test item 7): a signed-in
vendor probing ids learns nothing from the status, the page or the time,
because the store is asked the same questions, with the vendor in the first.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.reliability.test_http_timing import (  # noqa: F401
    MISSING_ORDER,
    RecordingStore,
    a_globex_ticket,
    recorded,
)
from tests.web.desk_support import browser, sign_in
from tests.web.support import csrf_token

pytestmark = pytest.mark.anyio


async def desk_statements(
    client: httpx.AsyncClient, recording: RecordingStore, method: str, path: str, token: str
) -> tuple[list[str], int, str]:
    """The SQL of one desk request (the task that asked about acme), its status and page."""
    recording.log.clear()
    if method == "GET":
        response = await client.get(path)
    else:
        response = await client.post(
            path, data={"csrf_token": token, "text": "x", "type": "support"}
        )
    tasks = [s.task for s in recording.log if "acme" in s.args]
    assert len(set(tasks)) == 1, "the request's statements ran in one task"
    return [s.sql for s in recording.log if s.task is tasks[0]], response.status_code, response.text


async def test_another_vendors_ids_cost_what_missing_ones_cost_on_the_desk(
    recorded: tuple[Served, RecordingStore],  # noqa: F811
) -> None:
    served, recording = recorded
    foreign = await a_globex_ticket(served)
    missing = foreign + 1000
    before = await served.api("GET", f"/api/v1/tickets/{foreign}", token="globex-demo-key")
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        token = await csrf_token(client, "/desk/tickets")
        for method, theirs, nothing in [
            ("GET", f"/desk/tickets/{foreign}", f"/desk/tickets/{missing}"),
            ("POST", f"/desk/tickets/{foreign}/reply", f"/desk/tickets/{missing}/reply"),
            ("POST", f"/desk/tickets/{foreign}/action", f"/desk/tickets/{missing}/action"),
            ("GET", "/desk/orders/GLX75DAY", f"/desk/orders/{MISSING_ORDER}"),
            ("POST", "/desk/orders/GLX75DAY/open", f"/desk/orders/{MISSING_ORDER}/open"),
        ]:
            a = await desk_statements(client, recording, method, theirs, token)
            b = await desk_statements(client, recording, method, nothing, token)
            assert a[1] == b[1] == 404, (theirs, a[1], b[1])
            assert a[0] == b[0], (theirs, a[0], b[0])
            assert a[2] == b[2]
    after = await served.api("GET", f"/api/v1/tickets/{foreign}", token="globex-demo-key")
    assert after.json() == before.json()  # nothing of acme's reached globex's ticket
    assert len(await served.tickets(order="GLX75DAY")) == 1
