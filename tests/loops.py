"""Both event loops maildesk runs on, for the tests of code that touches transports.

uvloop is the default (`service.event_loop`), asyncio's own loop the
alternative (`MAILDESK_EVENT_LOOP=asyncio`); the suite runs on uvloop
(`tests/conftest.py`). A module whose code reads transports and protocols,
where the two loops differ (uvloop's transports are not asyncio's classes,
and it keeps a protocol's bound methods), runs on both by importing this
fixture:

    from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture)
"""

from __future__ import annotations

from typing import Any

import pytest

from service.event_loop import anyio_backend_options

LOOPS: dict[str, tuple[str, dict[str, Any]]] = {
    "uvloop": ("asyncio", anyio_backend_options({})),
    "asyncio": ("asyncio", {"use_uvloop": False}),
}


@pytest.fixture(name="anyio_backend", params=list(LOOPS.values()), ids=list(LOOPS))
def anyio_backend_on_both_loops(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param  # type: ignore[no-any-return]
