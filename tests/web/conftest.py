"""Fixtures for the web app: two store instances on one database, as two processes would have."""

from __future__ import annotations

import httpx
import pytest

from core.config import Config
from tests.web.support import Clock
from web.app import create_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def web(two_stores, clock):
    """An httpx client on the app over the *reader* store."""
    app = create_app(Config(), two_stores[1], clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://specgate.test") as client:
        yield client
