"""Helpers shared by the web and scale tests: a hand-moved clock and two store instances on one database."""
from __future__ import annotations

import contextlib

import pytest

from core.store import open_store

#: 2025-12-18 12:00:00 +09:00
T0 = 1_766_026_800.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def two_stores(backend_url):
    """(writer, reader): the gateway's store instance and the web app's, sharing one database."""
    url, options = backend_url
    async with contextlib.AsyncExitStack() as stack:
        stores = []
        for _ in range(2):
            store = open_store(url, **options)
            await store.open()
            stack.push_async_callback(store.close)
            stores.append(store)
        yield tuple(stores)
