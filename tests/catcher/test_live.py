"""The list page's live updates: a long poll that answers on change, timeout, or shutdown."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from service.catcher import CatcherAddresses, LiveUpdates, Mailbox, build_catcher_app, run_catcher
from service.store import Store
from tests.e2e.conftest import Served, serving

pytestmark = pytest.mark.anyio


def notice(subject: str) -> bytes:
    return f"From: a@example.test\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def live(mailbox: Mailbox) -> LiveUpdates:
    return LiveUpdates(mailbox, wait_seconds=5)


@pytest.fixture
async def client(mailbox: Mailbox, live: LiveUpdates) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_catcher_app(mailbox, live=live))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


async def poll_while(
    client: httpx.AsyncClient, params: dict[str, str], action: object
) -> httpx.Response:
    """Start a poll, run `action` once it is waiting, and return the poll's answer."""
    answer: list[httpx.Response] = []

    async def poll() -> None:
        answer.append(await client.get("/mail/live", params=params))

    with anyio.fail_after(3):
        async with anyio.create_task_group() as group:
            group.start_soon(poll)
            await anyio.sleep(0.1)
            assert not answer, "the poll answered before anything changed"
            action()  # type: ignore[operator]
    return answer[0]


async def test_a_poll_answers_with_the_list_as_soon_as_mail_arrives(
    mailbox: Mailbox, client: httpx.AsyncClient
) -> None:
    response = await poll_while(
        client, {"version": "0"}, lambda: mailbox.add(notice("Fresh"), "", ["b@x.test"])
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="mail-list"')
    assert 'data-version="1"' in response.text
    assert ">Fresh</a>" in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_a_poll_answers_a_deletion_too(mailbox: Mailbox, client: httpx.AsyncClient) -> None:
    mailbox.add(notice("Going"), "", ["b@x.test"])

    response = await poll_while(client, {"version": "1"}, lambda: mailbox.delete(1))

    assert response.status_code == 200
    assert "Going" not in response.text and "No mail caught yet" in response.text


async def test_a_poll_for_an_old_version_answers_at_once(
    mailbox: Mailbox, client: httpx.AsyncClient
) -> None:
    mailbox.add(notice("Already here"), "", ["b@x.test"])

    with anyio.fail_after(1):
        response = await client.get("/mail/live", params={"version": "0"})

    assert response.status_code == 200 and "Already here" in response.text


async def test_a_poll_keeps_the_search_of_its_page(
    mailbox: Mailbox, client: httpx.AsyncClient
) -> None:
    def deliver_two() -> None:
        mailbox.add(notice("Refund for Acme"), "", ["b@x.test"])
        mailbox.add(notice("Something else"), "", ["b@x.test"])

    response = await poll_while(client, {"version": "0", "q": "refund"}, deliver_two)

    assert "Refund for Acme" in response.text and "Something else" not in response.text


async def test_without_a_change_a_poll_ends_with_204_after_its_wait(mailbox: Mailbox) -> None:
    app = build_catcher_app(mailbox, live=LiveUpdates(mailbox, wait_seconds=0.1))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        with anyio.fail_after(2):
            response = await client.get("/mail/live", params={"version": "0"})

    assert response.status_code == 204


@pytest.mark.parametrize("params", [{}, {"version": "x"}, {"version": ""}])
async def test_a_poll_must_say_which_version_it_has(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/mail/live", params=params)

    assert response.status_code == 400 and "version=N" in response.text


async def test_stop_answers_every_waiting_poll_at_once_and_every_later_one(
    live: LiveUpdates, client: httpx.AsyncClient
) -> None:
    response = await poll_while(client, {"version": "0"}, live.stop)

    assert response.status_code == 503 and "stopping" in response.text
    assert (await client.get("/mail/live", params={"version": "0"})).status_code == 503


async def test_an_open_list_page_does_not_hold_up_the_catchers_shutdown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """uvicorn waits up to 5 s for requests in progress; a pending poll is answered at once."""
    polled: list[int] = []

    async def poll(base_url: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            polled.append((await http.get("/mail/live", params={"version": "0"})).status_code)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as browser:
            async with anyio.create_task_group() as server:
                addresses: CatcherAddresses = await server.start(
                    run_catcher, "127.0.0.1", 0, "127.0.0.1", 0
                )
                browser.start_soon(poll, f"http://127.0.0.1:{addresses.http_port}")
                await anyio.sleep(0.3)
                assert not polled
                started = time.monotonic()
                server.cancel_scope.cancel()
            stopped_in = time.monotonic() - started
    capsys.readouterr()

    assert polled == [503]
    assert stopped_in < 2.5, f"the catcher took {stopped_in:.1f}s to stop"


async def test_an_open_list_page_does_not_hold_up_maildesk_serve_either(store: Store) -> None:
    polled: list[int] = []

    async def poll(served: Served) -> None:
        version = str(served.runtime.mailbox.version)
        async with httpx.AsyncClient(base_url=str(served.http.base_url), timeout=30) as http:
            polled.append((await http.get("/mail/live", params={"version": version})).status_code)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as browser:
            async with serving(store) as served:
                browser.start_soon(poll, served)
                await anyio.sleep(0.3)
                assert not polled
                started = time.monotonic()
            stopped_in = time.monotonic() - started

    assert polled == [503]
    assert stopped_in < 2.5, f"maildesk serve took {stopped_in:.1f}s to stop"
