"""`MAILDESK_EVENT_LOOP`: uvloop by default where it is installed, asyncio's own loop on request."""

from __future__ import annotations

import importlib.util

import pytest

from service.config import ConfigError
from service.event_loop import anyio_backend_options

UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_the_default_is_uvloop_where_it_is_installed() -> None:
    assert anyio_backend_options({}) == {"use_uvloop": UVLOOP}
    assert anyio_backend_options({"MAILDESK_EVENT_LOOP": " "}) == {"use_uvloop": UVLOOP}


@pytest.mark.parametrize("value", ["asyncio", "AsyncIO"])
def test_asyncio_is_asyncios_own_loop(value: str) -> None:
    assert anyio_backend_options({"MAILDESK_EVENT_LOOP": value}) == {"use_uvloop": False}


@pytest.mark.skipif(not UVLOOP, reason="uvloop is not installed here (it is a dependency)")
def test_uvloop_asked_for_is_uvloop() -> None:
    assert anyio_backend_options({"MAILDESK_EVENT_LOOP": "uvloop"}) == {"use_uvloop": True}


def test_anything_else_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"MAILDESK_EVENT_LOOP='trio'.*uvloop, asyncio"):
        anyio_backend_options({"MAILDESK_EVENT_LOOP": "trio"})


def test_uvloop_asked_for_where_it_is_missing_names_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install uvloop"):
        anyio_backend_options({"MAILDESK_EVENT_LOOP": "uvloop"})
    assert anyio_backend_options({}) == {"use_uvloop": False}
