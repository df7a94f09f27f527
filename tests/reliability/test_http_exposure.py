"""Who can reach the web server, under which name: the Host check and the catcher's door.

Penetration-test report #13, item 3: the built-in catcher listed every
notification, with both parties' ticket links, to anyone who could reach the
port, under any `Host` (so a web page could read it through DNS rebinding),
`DELETE /api/messages` needed nothing, and `serve --http-host 0.0.0.0` said
nothing about it. Attacked here through real HTTP: a foreign `Host` on every
route, a client on another address (the machine's own non-loopback address:
the server listens on 0.0.0.0), the banner, and the stand-alone catcher's
refusal of a remote bind.
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.routing import Route

from service.catcher import CatcherAddresses, run_catcher
from service.store import Store
from service.web.app import build_app
from tests.cli.test_serve_process import free_port, wait_for_health
from tests.e2e.conftest import ADMIN, Served, serving

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
ACME = "acme-demo-key"
CATCHER_ROUTES = [
    ("GET", "/mail"),
    ("GET", "/mail/1"),
    ("GET", "/api/messages"),
    ("GET", "/api/messages/1"),
    ("GET", "/api/messages/1/raw"),
    ("DELETE", "/api/messages"),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def own_non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback and can be bound, if any."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        candidates += [
            i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        ]
    for probe in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):  # no packet is sent
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            candidates.append(s.getsockname()[0])
    for address in candidates:
        if address.startswith("127.") or address == "0.0.0.0":
            continue
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind((address, 0))
            return str(address)
    return None


# --- the Host check ----------------------------------------------------------------------------


def every_route(served: Served) -> Iterator[tuple[str, str]]:
    for route in build_app(served.runtime).routes:
        assert isinstance(route, Route)
        path = route.path.format(
            number="1",
            vendor_id="acme",
            reference="Q7K2M9XA",
            id="1",
            token="1-c-x",
            blob_id="b",
            subscription_id="S1001",
            item="1",
        )
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            yield method, path


async def test_a_request_under_a_foreign_name_is_refused_on_every_route(served: Served) -> None:
    """DNS rebinding: evil.test resolves to 127.0.0.1, so the browser sends `Host: evil.test`."""
    for method, path in every_route(served):
        for host in ("evil.test", "evil.test:8025", "desk.test.evil.test", "127.0.0.1.evil.test"):
            response = await served.http.request(
                method, path, headers={"Host": host, "Authorization": f"Bearer {ADMIN}"}
            )
            assert response.status_code == 400, (method, path, host, response.text[:100])
            assert response.headers["content-type"].startswith("text/plain")
            assert "--base-url" in response.text and "Host" in response.text
    assert (await served.http.delete("/api/messages")).status_code == 200


@pytest.mark.parametrize(
    "host", ["desk.test", "DESK.test.", "desk.test:443", "localhost", "localhost:1", "[::1]:80"]
)
async def test_the_servers_own_names_are_answered_whatever_the_port(
    served: Served, host: str
) -> None:
    response = await served.http.get("/healthz", headers={"Host": host})
    assert response.status_code == 200, response.text


async def test_a_request_without_a_host_header_is_refused(served: Served) -> None:
    async with await anyio.connect_tcp("127.0.0.1", served.runtime.settings.http_port) as s:
        await s.send(b"GET /api/messages HTTP/1.0\r\n\r\n")
        said = b""
        with anyio.fail_after(5), contextlib.suppress(anyio.EndOfStream):
            while True:
                said += await s.receive()
    assert said.startswith(b"HTTP/1.1 400") and b"without a Host header" in said, said


@contextlib.asynccontextmanager
async def standalone_catcher(host: str = "127.0.0.1") -> AsyncIterator[CatcherAddresses]:
    async with anyio.create_task_group() as group:
        addresses: CatcherAddresses = await group.start(run_catcher, "127.0.0.1", 0, host, 0)
        yield addresses
        group.cancel_scope.cancel()


async def test_the_standalone_catcher_refuses_a_foreign_name_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with standalone_catcher() as catcher:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{catcher.http_port}") as http:
            for path in ("/", "/healthz", "/mail", "/api/messages"):
                refused = await http.get(path, headers={"Host": "evil.test"})
                assert refused.status_code == 400 and "--http-host" in refused.text, path
            assert (await http.get("/api/messages", headers={"Host": "localhost"})).json() == []
            refused = await http.delete("/api/messages", headers={"Host": "evil.test"})
            assert refused.status_code == 400
    capsys.readouterr()


# --- the catcher inside serve, from another machine --------------------------------------------


@pytest.fixture
def lan_address() -> str:
    address = own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    return address


@contextlib.asynccontextmanager
async def served_on_every_address(store: Store, lan: str) -> AsyncIterator[httpx.AsyncClient]:
    """serve on 0.0.0.0, and a client that reaches it from `lan` (not loopback), as desk.test."""
    async with serving(store, http_host="0.0.0.0") as served:
        await served.api("POST", "/api/v1/tickets", {"order": "B00K4JNE", "type": "support"}, ACME)
        await served.flush()
        assert len((await served.http.get("/api/messages")).json()) >= 2  # from loopback: open
        port = served.runtime.settings.http_port
        async with httpx.AsyncClient(
            base_url=f"http://{lan}:{port}", headers={"Host": "desk.test"}
        ) as remote:
            yield remote


async def test_from_another_machine_the_catcher_needs_the_admin_token(
    store: Store, lan_address: str
) -> None:
    async with served_on_every_address(store, lan_address) as remote:
        for method, path in CATCHER_ROUTES:
            for authorization in (
                None,
                f"Bearer {ACME}",  # a vendor's key is not the operator's
                "Bearer wrong",
                basic("admin", "wrong"),
                basic(ADMIN, ""),
                "Basic !!!not-base64",
            ):
                headers = {"Authorization": authorization} if authorization else {}
                response = await remote.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, authorization)
                assert response.headers["www-authenticate"].startswith(
                    'Basic realm="maildesk mail catcher"'
                )
                assert "admin token" in response.text
        listed = await remote.get("/api/messages", headers={"Authorization": f"Bearer {ADMIN}"})
        assert listed.status_code == 200 and len(listed.json()) >= 2  # nothing was deleted
        page = await remote.get("/mail", headers={"Authorization": basic("anyone", ADMIN)})
        assert page.status_code == 200 and "<html" in page.text.lower()
        health = await remote.get("/healthz")  # the rest of the site is not the catcher's
        assert health.status_code == 200
        cleared = await remote.delete("/api/messages", auth=("me", ADMIN))
        assert cleared.status_code == 200 and cleared.json()["deleted"] >= 2


async def test_a_remote_client_cannot_pose_as_loopback_with_a_forwarded_header(
    store: Store, lan_address: str
) -> None:
    async with served_on_every_address(store, lan_address) as remote:
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            value = "for=127.0.0.1" if header == "Forwarded" else "127.0.0.1"
            response = await remote.get("/api/messages", headers={header: value})
            assert response.status_code == 401, header


# --- saying so at start ------------------------------------------------------------------------


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env.update(PYTHONPATH=str(ROOT), MAILDESK_DB=str(tmp_path / "maildesk.db"))
    return env


def _first_lines(process: subprocess.Popen[bytes], until: str, within: float = 20) -> str:
    """What `process` printed until `until` appeared (or `within` seconds passed)."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + within
    while until.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    return seen.decode()


def test_serve_on_every_address_with_the_builtin_catcher_says_who_may_read_it(
    tmp_path: Path,
) -> None:
    http = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--http-host",
            "0.0.0.0",
            "--http-port",
            str(http),
            "--smtp-port",
            str(free_port()),
        ],
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_health(http, process)  # type: ignore[arg-type]  # reads no output
        banner = _first_lines(process, "--base-url")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "web/API  http://0.0.0.0:" in banner  # the line the benchmark reads, unchanged
    assert "reaches other machines" in banner and "admin token" in banner
    assert "any user name and the admin token as password" in banner
    assert "answers only to 127.0.0.1, ::1, localhost" in banner and "--base-url" in banner


def test_the_standalone_catcher_refuses_to_listen_beyond_this_machine_unless_told(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "service.cli", "catcher", "--http-host", "0.0.0.0"]
    ports = ["--http-port", str(free_port()), "--smtp-port", str(free_port())]
    refused = subprocess.run(
        [*command, *ports], env=_environment(tmp_path), capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "--allow-remote" in refused.stderr and "no password" in refused.stderr

    allowed = subprocess.Popen(
        [*command, *ports, "--allow-remote"],
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        said = _first_lines(allowed, "can read and delete")
    finally:
        allowed.terminate()
        allowed.wait(timeout=30)
    assert "anyone who can reach" in said and "can read and delete every caught message" in said
