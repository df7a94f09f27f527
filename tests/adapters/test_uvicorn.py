"""Differential test of `service.adapters.uvicorn` against the uvicorn installed.

The adapter subclasses uvicorn's h11 protocol, which is not public API. If a
uvicorn release renames, re-types or stops calling what it overrides, these
tests fail loudly, naming what moved, instead of the head deadline or the
connection cap quietly doing nothing. Update the adapter and the pin in
pyproject.toml together, then this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import AsyncIterator

import anyio
import h11
import pytest
import uvicorn
from anyio.abc import SocketStream
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from service.adapters.uvicorn import GuardedH11Protocol, ServerWithoutSignals, guarded_protocol
from service.catcher import CatcherAddresses, run_catcher
from service.config import HttpLimits
from service.web.http_server import listening_socket
from tests.adapters.pins import assert_installed_in_pinned_series

OVERRIDDEN = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],
    "connection_made": ["self", "transport"],
    "data_received": ["self", "data"],
    "connection_lost": ["self", "exc"],
    "on_response_complete": ["self"],
}
READ_OR_SET = ("conn", "transport", "loop", "scope", "timeout_keep_alive", "client")
ADDED = {
    "limits",
    "open_connections",
    "idle",
    "drop",
    "_head_deadline",
    "_head_bytes",
    "_in_request",
    "_body_deadline",
    "_body_started",
    "_body_bytes",
    "_body_last",
    "_note_new_request",
    "_body_too_slow",
    "_await_head",
    "_cancel_deadlines",
    "_head_too_slow",
}
"""Every name the adapter adds to uvicorn's protocol: none may be one uvicorn uses."""


def test_uvicorn_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("uvicorn", "service/adapters/uvicorn.py")


@pytest.mark.parametrize("name", sorted(OVERRIDDEN))
def test_each_overridden_method_still_exists_with_the_same_parameters(name: str) -> None:
    method = getattr(H11Protocol, name, None)
    assert method is not None, f"H11Protocol.{name} is gone"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == OVERRIDDEN[name], f"H11Protocol.{name} now takes {parameters}"


def test_uvicorn_still_lets_a_server_skip_its_signal_handlers() -> None:
    assert "capture_signals" in vars(uvicorn.Server)
    server = ServerWithoutSignals(uvicorn.Config(app=_app))
    with server.capture_signals():  # must not touch signal handlers
        pass


@pytest.mark.anyio
async def test_should_exit_still_makes_a_serving_server_return() -> None:
    server = ServerWithoutSignals(uvicorn.Config(app=_app, lifespan="off", log_config=None))
    assert vars(server).get("should_exit") is False, "uvicorn.Server no longer sets should_exit"
    with listening_socket("127.0.0.1", 0) as listening, anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(server.serve, sockets=[listening]))
            while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event)
                await anyio.sleep(0.01)
            server.begin_shutdown()  # serve() returns, and the task group with it


@pytest.mark.anyio
async def test_the_attributes_the_adapter_reads_are_set_and_its_own_names_are_free() -> None:
    config = uvicorn.Config(app=_app, http=guarded_protocol(HttpLimits()))
    config.load()
    assert config.http_protocol_class.__mro__[1] is GuardedH11Protocol
    plain = H11Protocol(config=config, server_state=ServerState(), app_state={})
    for name in READ_OR_SET:
        assert hasattr(plain, name), f"H11Protocol no longer sets {name}"
    assert isinstance(plain.conn, h11.Connection)
    assert isinstance(plain.loop, asyncio.AbstractEventLoop)
    guarded = GuardedH11Protocol(config=config, server_state=ServerState(), app_state={})
    added = {n for n in vars(GuardedH11Protocol) if not n.startswith("__")} - set(OVERRIDDEN)
    added |= set(GuardedH11Protocol.__annotations__) | (set(vars(guarded)) - set(vars(plain)))
    assert added == ADDED, "update ADDED with the names the adapter now adds"
    taken = ADDED & (set(dir(H11Protocol)) | set(vars(plain)))
    assert not taken, f"uvicorn now uses names the adapter adds: {sorted(taken)}"


@contextlib.asynccontextmanager
async def catcher(limits: HttpLimits) -> AsyncIterator[CatcherAddresses]:
    """The stand-alone catcher on real loopback sockets, served with `limits`."""
    async with anyio.create_task_group() as group:
        addresses: CatcherAddresses = await group.start(
            functools.partial(run_catcher, http_limits=limits), "127.0.0.1", 0, "127.0.0.1", 0
        )
        yield addresses
        group.cancel_scope.cancel()


async def _closed_after(stream: SocketStream, within: float) -> tuple[bytes, float]:
    started = time.monotonic()
    said = bytearray()
    with anyio.fail_after(within):
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            while True:
                said += await stream.receive()
    return bytes(said), time.monotonic() - started


@pytest.mark.anyio
async def test_on_the_real_server_a_slow_head_is_cut_and_pipelined_requests_are_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The behaviour the overrides exist for, end to end on the installed uvicorn."""
    async with catcher(HttpLimits(header_timeout=0.5, keep_alive_timeout=5)) as addresses:
        port = addresses.http_port
        async with await anyio.connect_tcp("127.0.0.1", port) as slow:
            await slow.send(b"GET /healthz HTTP/1.1\r\n")
            said, took = await _closed_after(slow, within=3)
        assert said.startswith(b"HTTP/1.1 408") and took < 1.5, (said, took)

        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        async with await anyio.connect_tcp("127.0.0.1", port) as pipelined:
            await pipelined.send(request * 3)  # three heads at once: each parsed, none cut
            said = b""
            with anyio.fail_after(3):
                while said.count(b"HTTP/1.1 200") < 3:
                    said += await pipelined.receive()
            await anyio.sleep(0.3)
            await pipelined.send(request)  # a fourth, on time after the third response
            with anyio.fail_after(3):
                while said.count(b"HTTP/1.1 200") < 4:
                    said += await pipelined.receive()
    capsys.readouterr()


async def _app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
    raise NotImplementedError
