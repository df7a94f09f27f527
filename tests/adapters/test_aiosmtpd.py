"""`service.adapters.aiosmtpd` against the aiosmtpd installed: every private name it relies on.

The adapter's `GuardedSession` overrides and calls names of aiosmtpd's
`SMTP` that are not public API, and copies its `smtp_DATA`. If an aiosmtpd
release renames, re-types or stops calling one of them, a test here fails
naming it, instead of the deadline or the connection cap quietly doing
nothing. Update the adapter and the pin in pyproject.toml together, then
this file.

The behaviour built on those names is tested where it is used:
`tests/inbound/test_smtp_data.py` (DATA read in chunks against stock aiosmtpd, reply
for reply and byte for byte), `tests/outbound/test_transport.py` (the relay
client against both), and `tests/reliability/test_smtp_abuse.py` (trickling
clients, slow links, a slow handler, the connection cap, smuggling). The
quick checks at the end of this file hold the deadline's three private
hooks to what aiosmtpd does with them.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from service.adapters.aiosmtpd import GuardedSession
from service.inbound.smtp_server import serve_smtp
from tests.adapters.pins import assert_installed_in_pinned_series
from tests.inbound.test_smtp_data import Keeper
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

OVERRIDDEN = {
    "_reset_timeout": (["self", "duration"], False),
    "_timeout_cb": (["self"], False),
    "_call_handler_hook": (["self", "command", "args"], True),
    "smtp_DATA": (["self", "arg"], True),
    "data_received": (["self", "data"], False),
    "connection_lost": (["self", "error"], False),
    "push": (["self", "status"], True),
    "smtp_MAIL": (["self", "arg"], True),
    "smtp_RCPT": (["self", "arg"], True),
    "_getaddr": (["self", "arg"], False),
}
"""aiosmtpd's methods `GuardedSession` overrides: (parameters, is a coroutine function)."""

CALLED = {
    "_set_post_data_state": (["self"], False),
    "check_helo_needed": (["self", "helo"], True),
    "check_auth_needed": (["self", "caller_method"], True),
}
"""aiosmtpd's private or undocumented methods the adapter calls without overriding them."""

SET_BY_AIOSMTPD: dict[str, type] = {
    "_timeout_duration": float,
    "_timeout_handle": asyncio.TimerHandle,  # or the running loop's own kind (uvloop's)
    "_reader": asyncio.StreamReader,
    "_writer": asyncio.StreamWriter,
    "_decode_data": bool,
    "_handle_hooks": dict,
}
"""The private attributes the adapter reads, with their type on a connected session."""

ADDED = {
    "idle",
    "close_with",
    "_registry",
    "_received",
    "_last_data_at",
    "_armed_at",
    "_armed_received",
    "_allowance",
}
"""Every name the adapter adds to aiosmtpd's session: none may be one aiosmtpd uses."""

Replies = BufferedByteReceiveStream

SMTP_DATA_SHA256 = "3a33f30d3fd6d02f39c7d78a08288bffea9170525b62e2161568041ae7e018df"
"""aiosmtpd 1.4.6's `SMTP.smtp_DATA` source, which `GuardedSession.smtp_DATA` and
`service.inbound.smtp_data` copy."""

GETADDR_SHA256 = "0aeb21c56ac1260e784e430a340459c83c23640a85965e7b8de3e1ada74d85f5"
"""aiosmtpd 1.4.6's `SMTP._getaddr` source, whose rules `_parsed_address` repeats."""

ADDRESS_ARGS = (
    "",
    "<>",
    "<jane@example.test>",
    "<jane@example.test> SIZE=1000 BODY=8BITMIME",
    "  <jane@example.test>",
    "jane@example.test",
    "jane@example.test SIZE=10",
    '<"jane doe"@example.test>',
    "<@relay.test:jane@example.test>",
    "<jane@[127.0.0.1]>",
    "<jane@example.test",
    "<jane>",
    "jane",
    "<<jane@example.test>>",
    "<jane@@example.test>",
    "<ja ne@example.test>",
    "<" + "j" * 70 + "@example.test>",
    "<jäne@exämple.test>",
)
"""MAIL and RCPT arguments, well-formed and not, that both parsers must read alike."""


def test_aiosmtpd_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("aiosmtpd", "service/adapters/aiosmtpd.py")


@pytest.mark.parametrize("name", sorted(OVERRIDDEN.keys() | CALLED.keys()))
def test_each_private_method_still_exists_with_the_same_parameters(name: str) -> None:
    parameters, is_coroutine = {**OVERRIDDEN, **CALLED}[name]
    method = getattr(SMTP, name, None)
    assert method is not None, f"aiosmtpd's SMTP.{name} is gone"
    assert list(inspect.signature(method).parameters) == parameters, (
        f"SMTP.{name} now takes {list(inspect.signature(method).parameters)}"
    )
    assert inspect.iscoroutinefunction(method) is is_coroutine, (
        f"SMTP.{name} is {'no longer' if is_coroutine else 'now'} a coroutine function"
    )


def test_the_default_allowance_is_still_the_timeout_when_no_duration_is_given() -> None:
    """The override's `duration or self._timeout_duration` is aiosmtpd's own rule."""
    duration = inspect.signature(SMTP._reset_timeout).parameters["duration"]
    assert duration.default is None
    assert "duration or self._timeout_duration" in inspect.getsource(SMTP._reset_timeout)


def test_smtp_data_is_still_the_one_the_adapter_copies() -> None:
    source = inspect.getsource(SMTP.smtp_DATA)
    assert hashlib.sha256(source.encode()).hexdigest() == SMTP_DATA_SHA256, (
        "aiosmtpd's smtp_DATA changed: compare it with aiosmtpd 1.4.6's, carry the change "
        "into GuardedSession.smtp_DATA and service/inbound/smtp_data.py, run "
        "tests/inbound/test_smtp_data.py, then update SMTP_DATA_SHA256"
    )


def test_getaddr_is_still_the_one_the_adapter_repeats() -> None:
    source = inspect.getsource(SMTP._getaddr)
    assert hashlib.sha256(source.encode()).hexdigest() == GETADDR_SHA256, (
        "aiosmtpd's _getaddr changed: carry the change into _parsed_address in "
        "service/adapters/aiosmtpd.py, then update GETADDR_SHA256"
    )


@pytest.mark.parametrize("limit", [0, 64])
def test_the_overridden_getaddr_answers_as_aiosmtpds_does(limit: int) -> None:
    plain, guarded = SMTP.__new__(SMTP), GuardedSession.__new__(GuardedSession)
    plain.local_part_limit = guarded.local_part_limit = limit
    for arg in ADDRESS_ARGS:
        for _ in range(2):  # the second answer comes from the cache
            assert guarded._getaddr(arg) == plain._getaddr(arg), arg


@asynccontextmanager
async def connected(factory: type[SMTP], handler: object, **options: Any) -> AsyncIterator[SMTP]:
    """A session of `factory` on a loopback connection, once it has greeted its client."""
    loop = asyncio.get_running_loop()
    made: list[SMTP] = []

    def session() -> SMTP:
        made.append(factory(handler, hostname="test", ident="test", loop=loop, **options))
        return made[-1]

    server = await loop.create_server(session, "127.0.0.1", 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as client:
            with anyio.fail_after(5):
                assert (await client.receive()).startswith(b"220")
            yield made[0]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.anyio
async def test_the_private_attributes_the_adapter_reads_are_set_with_their_types() -> None:
    handler = Keeper()
    timer = asyncio.get_running_loop().call_later(60, lambda: None)
    timer.cancel()
    async with connected(SMTP, handler, timeout=7.5) as session:
        for name, kind in SET_BY_AIOSMTPD.items():
            kinds = (kind, type(timer)) if name == "_timeout_handle" else (kind,)
            assert isinstance(getattr(session, name, None), kinds), (
                f"aiosmtpd's SMTP.{name} is now {type(getattr(session, name, None)).__name__}"
            )
        assert session._timeout_duration == 7.5
        assert session._decode_data is False
        assert session._handle_hooks == {"DATA": handler.handle_DATA}


@pytest.mark.anyio
async def test_the_names_the_adapter_adds_are_all_listed_and_none_is_aiosmtpds() -> None:
    class Registry:
        def touch(self, session: GuardedSession) -> None: ...

        def discard(self, session: GuardedSession) -> None: ...

    async with connected(SMTP, Keeper()) as plain:
        loop = asyncio.get_running_loop()
        guarded = GuardedSession(Keeper(), registry=Registry(), hostname="t", ident="t", loop=loop)
        added = {n for n in vars(GuardedSession) if not n.startswith("__")} - set(OVERRIDDEN)
        added |= set(vars(guarded)) - set(vars(plain))
        assert added == ADDED, "update ADDED with the names the adapter now adds"
        taken = ADDED & (set(dir(SMTP)) | set(vars(plain)))
        assert not taken, f"aiosmtpd now uses names the adapter adds: {sorted(taken)}"


# --- what aiosmtpd does with the three hooks of the deadline --------------------------------


class SlowKeeper(Keeper):
    """Keeps messages, after taking `delay` seconds over each one."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await anyio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@asynccontextmanager
async def client_of(bound: tuple[str, int]) -> AsyncIterator[tuple[SocketStream, Replies]]:
    """A raw connection to `bound` and its replies, once it has been greeted."""
    async with await anyio.connect_tcp(*bound) as client:
        replies = BufferedByteReceiveStream(client)
        assert (await _said(replies, 5)).startswith(b"220")
        yield client, replies


async def _said(replies: Replies, within: float) -> bytes:
    """The next reply line."""
    with anyio.fail_after(within):
        return await replies.receive_until(b"\r\n", 1000)


@pytest.mark.anyio
async def test_the_timer_aiosmtpd_arms_calls_the_overridden_timeout_callback() -> None:
    """A silent client is told 421: aiosmtpd's `_reset_timeout` armed our `_timeout_cb`."""
    async with serve_smtp(Keeper(), hostname="t", ident="t", idle_timeout=0.3, grace=0) as bound:
        async with client_of(bound) as (_, replies):
            assert (await _said(replies, 3)).startswith(b"421")


@pytest.mark.anyio
async def test_aiosmtpd_re_arms_the_timer_after_every_command() -> None:
    """Commands every 0.15 s outlast a 0.3 s timeout: `_reset_timeout` runs after each."""
    async with serve_smtp(Keeper(), hostname="t", ident="t", idle_timeout=0.3, grace=0) as bound:
        async with client_of(bound) as (client, replies):
            for _ in range(6):
                await anyio.sleep(0.15)
                await client.send(b"NOOP\r\n")
                assert (await _said(replies, 3)).startswith(b"250")


@pytest.mark.anyio
async def test_handle_data_runs_through_the_overridden_call_handler_hook() -> None:
    """A handler slower than the timeout still answers: its time is not the client's."""
    handler = SlowKeeper(delay=0.6)
    async with serve_smtp(handler, hostname="t", ident="t", idle_timeout=0.3, grace=0) as bound:
        async with client_of(bound) as (client, replies):
            await client.send(b"HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
            for code in (b"250", b"250", b"250", b"354"):
                assert (await _said(replies, 3)).startswith(code)
            await client.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
            assert await _said(replies, 3) == b"250 kept"
    assert handler.contents == [b"Subject: x\r\n\r\nbody\r\n"]
