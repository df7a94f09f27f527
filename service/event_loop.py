"""Which event loop maildesk's processes run on: uvloop, or the standard library's asyncio.

uvloop (libuv underneath, what uvicorn runs on when installed) spends less
CPU than asyncio's own loop on every socket read and write, timer and
callback: measured end to end (mail in, both notifications out at the
relay) about 5% less CPU a message, 6% more messages a second on the
benchmark's 2 cores (docs/benchmark.md). It is a dependency wherever it
builds (not on Windows) and the default there. `MAILDESK_EVENT_LOOP=asyncio`
runs on the standard library's loop instead, to compare, or to use
asyncio's debug mode (`PYTHONASYNCIODEBUG=1`). Every command takes it, and
`serve` passes it to its helper SMTP processes through the environment they
inherit.

maildesk's code runs the same on both: it asks a transport what it can do
rather than whether it is asyncio's class (uvloop's transports are not
subclasses of `asyncio.Transport`), and the test suite runs on uvloop, the
loop-sensitive adapters on both.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Any

from service.config import ConfigError

CHOICES = ("uvloop", "asyncio")


def anyio_backend_options(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`anyio.run`'s `backend_options` for the loop `MAILDESK_EVENT_LOOP` names (default:
    uvloop when it is installed)."""
    installed = importlib.util.find_spec("uvloop") is not None
    wanted = environ.get("MAILDESK_EVENT_LOOP", "").strip().lower()
    if wanted and wanted not in CHOICES:
        raise ConfigError(
            f"MAILDESK_EVENT_LOOP={wanted!r}: expected one of {', '.join(CHOICES)} "
            "(or leave it unset for uvloop where it is installed)"
        )
    if wanted == "uvloop" and not installed:
        raise ConfigError(
            "MAILDESK_EVENT_LOOP=uvloop, but uvloop is not installed: `pip install uvloop`, "
            "or unset MAILDESK_EVENT_LOOP to run on asyncio's own loop"
        )
    return {"use_uvloop": installed and wanted != "asyncio"}
