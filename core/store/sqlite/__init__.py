"""The embedded SQLite backend: one file, WAL, group commits (units on the event loop, the COMMIT on a writer thread).

Layout: the original MongoDB collections become tables of the same names and field names. Where the
original had one database per tenant, tables carry a ``tenant`` column. Readings (``data``) have real
columns; flexible documents (devices, users, subscribers, ...) are JSON (see :mod:`core.store.documents`)
with indexes on the fields the listings filter and sort on.

Writes: every write method builds a *unit* (a function of a connection) and hands it to the writer
thread. The writer drains everything queued, runs the units (when one fails, the group runs again with a
SAVEPOINT per unit, so the failing unit is rolled back alone), COMMITs once with ``synchronous=FULL`` and only then resolves the callers' futures, so many
concurrent device sessions share one fsync and a write returns only once it is durable.

Parts: :mod:`~core.store.sqlite.schema` (tables and migrations), :mod:`~core.store.sqlite.connection`
(pragmas, error mapping), :mod:`~core.store.sqlite.writer` (the group-commit thread),
:mod:`~core.store.sqlite.queries` (table descriptions, page selection), :mod:`~core.store.sqlite.backend`
(lifecycle, plumbing, tenants) and one mixin per domain, assembled in :mod:`~core.store.sqlite.store`.
"""

from __future__ import annotations

from core.store.sqlite.backend import DEFAULT_COMMON_DB, DEFAULT_PATH
from core.store.sqlite.connection import connect, file_identity, translate_error
from core.store.sqlite.queries import TABLES, Table, select_page
from core.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from core.store.sqlite.store import SQLiteStore
from core.store.sqlite.writer import MAX_UNITS_PER_COMMIT

__all__ = [
    "DEFAULT_COMMON_DB",
    "DEFAULT_PATH",
    "MAX_UNITS_PER_COMMIT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "SQLiteStore",
    "Table",
    "connect",
    "file_identity",
    "migrate",
    "schema_version",
    "select_page",
    "translate_error",
]
