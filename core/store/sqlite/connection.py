"""SQLite connections as the store opens them, and sqlite errors as store errors."""

from __future__ import annotations

import os
import sqlite3

from core.errors import Conflict, InvalidInput, StoreError, StoreUnavailable

#: the sqlite error codes of a lock another connection holds
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

#: The SQL function listings search with: a string in lower case, anything else NULL (never matched).
FOLD_FUNCTION = "specgate_fold"


def fold_text(value: object) -> str | None:
    """``value`` lower-cased when it is a string (Unicode-aware, unlike SQLite's own ``lower``)."""
    return value.lower() if isinstance(value, str) else None


def connect(path: str, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection with the store's pragmas: WAL, ``synchronous=FULL``, autocommit (explicit BEGIN)."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.create_function(FOLD_FUNCTION, 1, fold_text, deterministic=True)
    return conn


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the database file, or None when it does not exist."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def translate_error(exc: BaseException, path: str) -> BaseException:
    """sqlite errors as store errors: constraint -> Conflict, bad value -> InvalidInput, else unavailable."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(f"a record with the same key already exists: {exc}")
    if isinstance(exc, (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError)):
        return InvalidInput(f"value cannot be stored: {exc}")
    if isinstance(exc, sqlite3.Error):
        return StoreUnavailable(f"SQLite store {path} is unusable: {exc}")
    return exc
