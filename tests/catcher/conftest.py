"""Fixtures for the catcher's tests: a real catcher on loopback and an HTTP client for its app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.catcher import RunningCatcher, running_catcher


@pytest.fixture
async def catcher() -> AsyncIterator[RunningCatcher]:
    async with running_catcher() as running:
        yield running


@pytest.fixture
async def client(catcher: RunningCatcher) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=catcher.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http
