"""Storage: one :class:`Store` interface, an embedded SQLite default and a MongoDB backend."""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError
from core.store.base import ListQuery, Page, Store
from core.store.usage import USAGE_BUCKETS

__all__ = ["DEFAULT_STORE_URL", "USAGE_BUCKETS", "ListQuery", "Page", "Store", "open_store"]

DEFAULT_STORE_URL = "sqlite:///specgate.db"


def open_store(url: str = DEFAULT_STORE_URL, **options: Any) -> Store:
    """Make the store named by ``url``, not yet opened: ``async with open_store(url) as store:``.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or a bare file path select the
    embedded backend; ``mongodb://...`` or ``mongodb+srv://...`` select MongoDB. ``options`` are passed to
    the backend (``common_db``, ``exchange_retention_days``, ...).
    """
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from core.store.mongo import MongoStore

        return MongoStore(url, **options)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigError(f"store URL {url!r} names no database file, e.g. sqlite:///specgate.db")
    elif "://" in url:
        raise ConfigError(f"unknown store URL {url!r}: use sqlite:///FILE or mongodb://HOST:PORT/")
    else:
        path = url
    from core.store.sqlite import SQLiteStore

    return SQLiteStore(path, **options)
