"""Storage: one :class:`Store` interface, an embedded SQLite default and a MongoDB backend."""

from __future__ import annotations

import os
from typing import Any

from core.errors import ConfigError
from core.store.base import ListQuery, Page, Store
from core.store.documents import ReadingRows, Report
from core.store.usage import USAGE_BUCKETS

__all__ = [
    "DEFAULT_STORE_URL",
    "USAGE_BUCKETS",
    "ListQuery",
    "Page",
    "ReadingRows",
    "Report",
    "Store",
    "display_url",
    "open_store",
    "sqlite_file",
]

DEFAULT_STORE_URL = "sqlite:///specgate.db"


def open_store(url: str = DEFAULT_STORE_URL, **options: Any) -> Store:
    """Make the store named by ``url``, not yet opened: ``async with open_store(url) as store:``.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or a bare file path select the
    embedded backend; ``mongodb://...`` or ``mongodb+srv://...`` select MongoDB. ``options`` are passed to
    the backend (``common_db``, ``exchange_retention_days``, ...).
    """
    path = sqlite_file(url)
    if path is None:
        from core.store.mongo import MongoStore

        return MongoStore(url, **options)
    from core.store.sqlite import SQLiteStore

    return SQLiteStore(path, **options)


def sqlite_file(url: str) -> str | None:
    """The database file a SQLite store URL names; None for a MongoDB URL; ``ConfigError`` for neither."""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return None
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigError(f"store URL {url!r} names no database file, e.g. sqlite:///specgate.db")
        return path
    if "://" in url:
        raise ConfigError(f"unknown store URL {url!r}: use sqlite:///FILE or mongodb://HOST:PORT/")
    return url


def display_url(url: str) -> str:
    """The store URL as logs and command output show it: a MongoDB password is masked, and a SQLite file
    is given with its absolute path (so a store opened from another directory is noticed)."""
    path = sqlite_file(url)
    if path is not None:
        return f"sqlite:///{os.path.abspath(path)}"
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"
