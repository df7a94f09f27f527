"""More SMTP processes on the one port, so mail in and out uses every core.

One Python process runs one event loop on one core, and aiosmtpd's protocol
handling plus parsing fill it long before the database is busy. `maildesk
serve --smtp-processes N` therefore starts N-1 helper processes, each with
its own store connection, intake and funnel, each listening on the port the
main process bound (SO_REUSEPORT, so `--smtp-port 0` works too: the helpers
bind the port it got). The kernel spreads new connections evenly across the
N sockets; on one shared socket, whichever process woke first took every
connection waiting, and kept them, so one process worked while the other
idled. The database keeps them consistent as it keeps several nodes
consistent: every message still acts in one transaction, dedupe and limits
are rows, and a `250` still means committed.

A helper listens and, when mail goes to a relay, delivers from the outbox
too: rendering a notification costs about as much CPU as receiving a
message, and outbox rows are claimed with leases, so several workers send
each email once, as several nodes do. (With the built-in catcher only the
main process delivers: the catcher's mailbox lives in it.) The main process
alone runs the web server and the scheduler, which find the helpers' timers
in the database on their next look (at most a second later). With a fake
clock a helper follows the main process's time through `SharedTime`.

Lifecycle: a helper gets its settings as JSON on stdin (the secret stays out
of argv and the environment), prints `ready` once it serves, and stops
gracefully (refuses new transactions, finishes open ones) on SIGTERM,
SIGINT, or when its parent is gone, so a SIGKILLed `serve` leaves no
listener behind. A helper that dies on its own takes `serve` down with an
error instead of leaving a process that silently serves less.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from service import logs
from service.clock import FollowingClock, SharedTime
from service.config import Settings
from service.event_loop import anyio_backend_options
from service.inbound.smtp_server import serve_smtp
from service.runtime import Runtime, build_runtime
from service.web.http_server import listening_socket

log = logging.getLogger(__name__)

READY = b"ready\n"
START_TIMEOUT = 60.0
STOP_GRACE = 40.0  # a helper's own stop takes at most its SMTP grace (30 s) and a close
PARENT_CHECK_INTERVAL = 0.5


class ListenerFailed(RuntimeError):
    """A helper SMTP process did not start, or ended while `serve` was running."""


@asynccontextmanager
async def serve_listener(runtime: Runtime, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `runtime`'s SMTP listener on `sock` with the settings' limits (any process)."""
    settings, listener = runtime.settings, runtime.listener
    async with serve_smtp(
        listener,
        hostname=settings.host_name,  # the MX's own name in its greeting and EHLO
        ident="maildesk",
        data_size_limit=settings.max_message_size,
        idle_timeout=settings.smtp_idle_timeout,
        max_connections=settings.smtp_max_connections,
        sock=sock,
        in_flight=lambda: listener.in_flight,
        on_stop=listener.stop_accepting,
        tls_context=runtime.tls.context if runtime.tls else None,
        require_tls=settings.smtp_require_tls,
    ):
        yield


@asynccontextmanager
async def helper_listeners(
    settings: Settings, shared_time: SharedTime | None
) -> AsyncIterator[list[Process]]:
    """Run `settings.smtp_processes - 1` helpers on the SMTP port while the context is open.

    The main process listens already, with SO_REUSEPORT, on `settings.smtp_port`.
    Yields the helpers, so that `serve` can pass SIGHUP on to them.
    """
    count = settings.smtp_processes - 1
    if count < 1:
        yield []
        return
    helpers: list[Process] = []
    try:
        async with anyio.create_task_group() as group:
            for _ in range(count):
                helper = await _start(settings, shared_time)
                helpers.append(helper)
                group.start_soon(_watch, helper)
            try:
                yield helpers
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            for helper in helpers:  # all stop at once, each finishing its open transactions
                if helper.returncode is None:
                    helper.send_signal(signal.SIGTERM)
            for helper in helpers:
                await _stop(helper, signalled=True)


async def _start(settings: Settings, shared_time: SharedTime | None) -> Process:
    fds = [shared_time.fileno()] if shared_time else []
    command = [sys.executable, "-m", "service.inbound.listeners", *map(str, fds)]
    helper = await anyio.open_process(command, stdout=-1, stderr=None, pass_fds=fds)
    assert helper.stdin is not None and helper.stdout is not None
    await helper.stdin.send(settings.to_json().encode() + b"\n")
    await helper.stdin.aclose()
    with anyio.move_on_after(START_TIMEOUT):
        line = await BufferedByteReceiveStream(helper.stdout).receive_until(b"\n", 64)
        if line + b"\n" == READY:
            return helper
    await _stop(helper)
    raise ListenerFailed(
        f"an SMTP helper process did not start (exit code {helper.returncode}); "
        "its error is above, or run `maildesk serve --smtp-processes 1`"
    )


async def _watch(helper: Process) -> None:
    code = await helper.wait()
    raise ListenerFailed(
        f"SMTP helper process {helper.pid} ended with exit code {code} while serving; "
        "maildesk stops rather than serve on fewer processes than it was told"
    )


async def _stop(helper: Process, *, signalled: bool = False) -> None:
    """SIGTERM unless `signalled` already, then wait; SIGKILL after `STOP_GRACE`."""
    if helper.returncode is None:
        if not signalled:
            helper.send_signal(signal.SIGTERM)
        with anyio.move_on_after(STOP_GRACE):
            await helper.wait()
        if helper.returncode is None:
            log.error("SMTP helper %s did not stop in %.0f s; killed", helper.pid, STOP_GRACE)
            helper.kill()
            await helper.wait()
    await helper.aclose()


# --- the helper process ------------------------------------------------------------------


async def _run_helper(settings: Settings, shared_fd: int | None) -> None:
    clock = FollowingClock(SharedTime(shared_fd)) if shared_fd is not None else None
    runtime = await build_runtime(settings, clock=clock)
    try:
        if settings.relay:  # it delivers too: its first notifications need not wait for Jinja
            runtime.renderer.compile_all()  # (`serve` checked the folder before starting it)
        # Signals are ours from before `ready` to the end, so one arriving while open
        # transactions finish (a second SIGTERM, a Ctrl-C) cannot cut them short.
        with (
            anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals,
            listening_socket(settings.smtp_host, settings.smtp_port, reuse_port=True) as sock,
        ):
            async with serve_listener(runtime, sock), anyio.create_task_group() as group:
                sys.stdout.buffer.write(READY)
                sys.stdout.flush()
                group.start_soon(_stop_when_orphaned, group.cancel_scope, os.getppid())
                if settings.relay:  # the built-in catcher's mailbox is the main process's
                    group.start_soon(runtime.outbox.run_forever)
                async for received in signals:
                    if received == signal.SIGHUP:  # passed on by `serve`: a renewed certificate
                        if runtime.tls is not None:
                            runtime.tls.reload()
                        continue
                    group.cancel_scope.cancel()
                    break
    finally:
        with anyio.CancelScope(shield=True):
            await runtime.close()


async def _stop_when_orphaned(scope: anyio.CancelScope, parent: int) -> None:
    while os.getppid() == parent:  # noqa: ASYNC110 (no event tells of a parent's death)
        await anyio.sleep(PARENT_CHECK_INTERVAL)
    scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or not all(arg.isdigit() for arg in args):
        print(
            "usage: python -m service.inbound.listeners [CLOCK_FD] < settings.json\n"
            "(started by `maildesk serve --smtp-processes N`, not by hand)",
            file=sys.stderr,
        )
        return 2
    settings = Settings.from_json(sys.stdin.readline())
    logs.configure(settings.log_format)
    anyio.run(
        _run_helper,
        settings,
        int(args[0]) if args else None,
        backend_options=anyio_backend_options(),  # the parent's, through the environment
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
