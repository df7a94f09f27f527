"""Running maildesk: `serve` runs everything until it is stopped.

It runs the SMTP listener, the web server, the scheduler and the outbox
worker in one anyio task group, so a part that fails brings the process down
loudly instead of dying alone. SIGINT or SIGTERM stops it in order: the web
server, scheduler and outbox stop; the SMTP listener stops accepting, lets
messages already in DATA finish and commit; then the database closes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import anyio
from anyio.abc import Process, TaskStatus

from service import logs
from service.catcher.app import run_catcher
from service.clock import SharedTime
from service.config import (
    ConfigError,
    Settings,
    http_limits_from_env,
    parse_port,
)
from service.inbound.listeners import helper_listeners, serve_listener
from service.outbound.render import RenderError, UnknownNotificationKind
from service.retention import RawMailRetention
from service.runtime import Runtime, build_runtime
from service.serving.banner import banner
from service.serving.options import settings_from
from service.store import Store, open_store
from service.web.app import build_app
from service.web.http_server import listening_socket, serve_http

log = logging.getLogger("maildesk")


async def serve(
    settings: Settings,
    *,
    store: Store | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
    task_status: TaskStatus[Runtime] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run everything until cancelled or signalled."""
    runtime = await build_runtime(settings, store=store)
    try:
        _compile_templates(runtime)
        await runtime.desk.create_missing_subscriptions()
        with (
            listening_socket(
                settings.smtp_host,
                settings.smtp_port,
                reuse_port=settings.smtp_processes > 1,
                setting="--smtp-port (MAILDESK_SMTP_PORT)",
            ) as smtp_socket,
            listening_socket(
                settings.http_host,
                settings.http_port,
                setting="--http-port (MAILDESK_HTTP_PORT)",
            ) as http_socket,
            _shared_fake_clock(runtime) as shared_time,
        ):
            runtime.settings = settings = replace(
                settings,
                smtp_port=smtp_socket.getsockname()[1],
                http_port=http_socket.getsockname()[1],
            )
            async with (
                serve_listener(runtime, smtp_socket),
                helper_listeners(settings, shared_time) as helpers,
                anyio.create_task_group() as group,
            ):
                group.start_soon(_stop_on_signal, group.cancel_scope)
                group.start_soon(_reload_on_sighup, runtime, helpers)
                group.start_soon(runtime.scheduler.run_forever)
                group.start_soon(runtime.outbox.run_forever)
                group.start_soon(
                    RawMailRetention(
                        runtime.store, runtime.clock, settings.keep_raw_mail_days
                    ).run_forever
                )
                app = build_app(runtime)
                group.start_soon(serve_http, app, http_socket, settings.http_limits)
                group.start_soon(app.state.catcher_live.stop_when_cancelled)
                if on_ready:
                    on_ready(runtime)
                task_status.started(runtime)
    finally:
        with anyio.CancelScope(shield=True):
            await runtime.close()


def _compile_templates(runtime: Runtime) -> None:
    """Every notification template compiled before the first mail can need one.

    A broken `--templates` folder stops the start with the file and line, not
    the first notification of that kind hours later, and the first messages
    do not wait for Jinja's compiler (about 0.3 s for them all, once a process).
    """
    renderer = runtime.renderer
    try:
        renderer.compile_all()
    except (RenderError, UnknownNotificationKind) as error:
        raise ConfigError(
            f"the notification templates in {renderer.templates_dir} do not compile: {error}. "
            "Fix that file, or leave out --templates (MAILDESK_TEMPLATES) for the built-in ones"
        ) from error


@contextmanager
def _shared_fake_clock(runtime: Runtime) -> Iterator[SharedTime | None]:
    """With a fake clock and helper processes, the memory through which they follow it.

    Closed when serving ends, after the helpers (inside this context) have stopped.
    """
    clock = runtime.fake_clock
    if clock is None or runtime.settings.smtp_processes < 2:
        yield None
        return
    shared = SharedTime.create()
    clock.share(shared)
    try:
        yield shared
    finally:
        clock.share(None)
        shared.close()


async def _reload_on_sighup(runtime: Runtime, helpers: list[Process]) -> None:
    """SIGHUP: take up a renewed TLS certificate here and in every SMTP helper process."""
    try:
        with anyio.open_signal_receiver(signal.SIGHUP) as signals:
            async for _ in signals:
                if runtime.tls is not None:
                    runtime.tls.reload()
                for helper in helpers:
                    if helper.returncode is None:
                        helper.send_signal(signal.SIGHUP)
    except (NotImplementedError, ValueError):  # not the main thread: nothing to reload on
        await anyio.sleep_forever()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for received in signals:
                print(
                    f"maildesk: {signal.Signals(received).name}: stopping after the mail in flight",
                    file=sys.stderr,
                    flush=True,
                )
                scope.cancel()
                return
    except (NotImplementedError, ValueError):  # not the main thread: the caller stops us
        await anyio.sleep_forever()


async def cmd_serve(args: argparse.Namespace) -> int:
    store = await open_store(args.db)
    try:
        settings = await settings_from(args, store, mode="production")
    except BaseException:
        await store.close()
        raise
    logs.configure(settings.log_format)
    await serve(settings, store=store, on_ready=lambda runtime: print(banner(runtime), flush=True))
    return 0


async def cmd_catcher(args: argparse.Namespace) -> int:
    await run_catcher(
        args.smtp_host,
        parse_port("smtp-port", args.smtp_port),
        args.http_host,
        parse_port("http-port", args.http_port),
        http_limits=http_limits_from_env(),
        allow_remote=args.allow_remote,
    )
    return 0
