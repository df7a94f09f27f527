"""The relay connection: TLS by default, verified certificates, a login that never travels in clear.

Each test runs a real aiosmtpd relay on loopback with a certificate made by
the test's own authority (trustme), and sends through `SmtpRelayTransport`
as `maildesk serve --relay` builds it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from service.config import ConfigError, Relay, parse_relay
from service.outbound.transport import SmtpRelayTransport, TransientFailure
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)
from tests.outbound.test_transport import OffersPipelining

pytestmark = pytest.mark.anyio

SENDER = "support@desk.example.test"
RECIPIENT = "jane@example.test"
MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


class Recorder(OffersPipelining):
    """Keeps each message with whether it came over TLS, and the client's EHLO name; with
    `pipelining`, offers PIPELINING, as the relays in production do."""

    def __init__(self, *, pipelining: bool = False) -> None:
        self.received: list[tuple[bytes, bool, str]] = []
        self.pipelining = pipelining

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        tls = session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None
        self.received.append((bytes(envelope.original_content or b""), tls, session.host_name))
        return "250 2.0.0 kept"


@pytest.fixture(params=[False, True], ids=["one command at a time", "pipelining"])
def kept(request: pytest.FixtureRequest) -> Recorder:
    return Recorder(pipelining=request.param)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(authority: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def _check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"desk", b"s3cret")
    return AuthResult(success=ok, handled=False)


@asynccontextmanager
async def relay(
    handler: Recorder,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit: ssl.SSLContext | None = None,
    login: bool = False,
) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {}
    if login:
        options.update(authenticator=_check_login, auth_required=True)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="relay.test", tls_context=starttls, loop=loop, **options),
        "127.0.0.1",
        0,
        ssl=implicit,
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def send_once(relay_settings: Relay) -> None:
    transport = SmtpRelayTransport.to(
        relay_settings, local_hostname="mx.desk.example.test", timeout=5
    )
    try:
        await transport.send(SENDER, [RECIPIENT], MESSAGE)
    finally:
        await transport.aclose()


async def test_starttls_is_used_when_the_relay_offers_it(
    authority: trustme.CA, ca_file: str, kept: Recorder
) -> None:
    async with relay(kept, starttls=server_context(authority)) as port:
        await send_once(Relay("localhost", port, ca_file=ca_file))
    assert kept.received == [(MESSAGE, True, "mx.desk.example.test")]


async def test_a_certificate_that_does_not_verify_stops_delivery(authority: trustme.CA) -> None:
    kept = Recorder()
    async with relay(kept, starttls=server_context(authority)) as port:
        with pytest.raises(TransientFailure, match="MAILDESK_RELAY_CA_FILE"):
            await send_once(Relay("localhost", port))  # the test's authority is not trusted
    assert kept.received == []


async def test_starttls_off_sends_in_clear_even_when_offered(authority: trustme.CA) -> None:
    kept = Recorder()
    async with relay(kept, starttls=server_context(authority)) as port:
        await send_once(Relay("127.0.0.1", port, starttls="off"))
    assert kept.received == [(MESSAGE, False, "mx.desk.example.test")]


async def test_starttls_required_refuses_a_relay_without_it() -> None:
    kept = Recorder()
    async with relay(kept) as port:
        with pytest.raises(TransientFailure, match="STARTTLS"):
            await send_once(Relay("127.0.0.1", port, starttls="required"))
    assert kept.received == []


async def test_smtps_is_tls_from_the_first_byte(
    authority: trustme.CA, ca_file: str, kept: Recorder
) -> None:
    async with relay(kept, implicit=server_context(authority)) as port:
        await send_once(Relay("localhost", port, implicit_tls=True, ca_file=ca_file))
    assert [(message, tls) for message, tls, _ in kept.received] == [(MESSAGE, True)]


async def test_the_login_runs_after_starttls(
    authority: trustme.CA, ca_file: str, kept: Recorder
) -> None:
    async with relay(kept, starttls=server_context(authority), login=True) as port:
        await send_once(
            Relay("localhost", port, ca_file=ca_file, username="desk", password="s3cret")
        )
    assert [tls for _, tls, _ in kept.received] == [True]


async def test_a_refused_login_names_the_variables_to_check(
    authority: trustme.CA, ca_file: str
) -> None:
    kept = Recorder()
    async with relay(kept, starttls=server_context(authority), login=True) as port:
        with pytest.raises(TransientFailure, match="MAILDESK_RELAY_PASSWORD"):
            await send_once(
                Relay("localhost", port, ca_file=ca_file, username="desk", password="wrong")
            )
    assert kept.received == []


def test_relay_urls_and_their_options(ca_file: str) -> None:
    assert parse_relay("smtp.example.com:587") == Relay("smtp.example.com", 587)
    assert parse_relay("smtp://smtp.example.com:587") == Relay("smtp.example.com", 587)
    assert parse_relay("smtps://[::1]:465", ca_file=ca_file) == Relay(
        "::1", 465, implicit_tls=True, ca_file=ca_file
    )
    local = parse_relay("smtp://127.0.0.1:25", starttls="off")
    assert local is not None and local.starttls == "off"
    login = parse_relay("smtp://relay:587", username="u", password="p")
    assert login is not None and "password=" not in repr(login) and login.url == "smtp://relay:587"


@pytest.mark.parametrize(
    ("value", "options", "says"),
    [
        ("smtp://user:pw@relay:587", {}, "MAILDESK_RELAY_USER"),
        ("http://relay:80", {}, "smtp://"),
        ("smtp://relay", {}, "a host and a port"),
        ("smtp://relay:25", {"starttls": "maybe"}, "auto, required, off"),
        ("smtps://relay:465", {"starttls": "off"}, "TLS from the start"),
        ("smtp://relay:25", {"username": "u"}, "MAILDESK_RELAY_PASSWORD"),
        ("smtp://relay:25", {"ca_file": "/nonexistent/ca.pem"}, "no such file"),
    ],
)
def test_a_wrong_relay_setting_says_what_to_write(
    value: str, options: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_relay(value, **options)
