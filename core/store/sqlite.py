"""The embedded SQLite backend: one file, WAL, one writer thread with group commit, readers off the loop.

Layout: the original MongoDB collections become tables of the same names and field names. Where the
original had one database per tenant, tables carry a ``tenant`` column. Readings (``data``) have real
columns; flexible documents (devices, users, subscribers, ...) are JSON (see :mod:`core.store.documents`)
with indexes on the fields the listings filter and sort on.

Writes: every write method builds a *unit* (a function of a connection) and hands it to the writer
thread. The writer drains everything queued, runs each unit inside a SAVEPOINT (a failing unit is rolled
back alone), COMMITs once with ``synchronous=FULL`` and only then resolves the callers' futures, so many
concurrent device sessions share one fsync and a write returns only once it is durable.
"""
from __future__ import annotations

import asyncio
import logging
import operator
import os
import queue
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from core.errors import Conflict, InvalidInput, NotFound, StoreError, StoreUnavailable
from core.store.base import ListQuery, Page, Store
from core.store.documents import (
    CALENDAR_FIELDS,
    check_bool,
    check_dead_letter,
    check_event,
    check_exchange,
    check_fields,
    check_int,
    check_keyed,
    check_number,
    check_reading,
    check_reading_list,
    check_scale_reading,
    check_session,
    check_weighing,
    from_json,
    to_json,
)
from core.store.validation import check_field_name, check_identifier, check_query, check_tenant

log = logging.getLogger(__name__)

DEFAULT_PATH = "specgate.db"
DEFAULT_COMMON_DB = "gas_common"
MAX_UNITS_PER_COMMIT = 1000

# ---------------------------------------------------------------------------- schema and migrations
# Each entry upgrades the schema by one version; append new steps, never edit shipped ones.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: the original collections
    (
        "CREATE TABLE tenants (name TEXT PRIMARY KEY)",
        "CREATE TABLE device_route (device_uid TEXT PRIMARY KEY, db_name TEXT NOT NULL)",
        "CREATE INDEX device_route_db_name ON device_route (db_name)",
        "CREATE TABLE user_route (ID TEXT PRIMARY KEY, db_name TEXT NOT NULL)",
        "CREATE TABLE floating_users (ID TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE INDEX floating_users_regdate ON floating_users (json_extract(doc, '$.regdate'))",
        "CREATE TABLE misc_data (id INTEGER PRIMARY KEY, at REAL NOT NULL, ip TEXT, port INTEGER,"
        " device_type TEXT, doc TEXT NOT NULL)",
        "CREATE INDEX misc_data_at ON misc_data (at)",
        "CREATE INDEX misc_data_ip ON misc_data (ip, at)",
        "CREATE TABLE users (tenant TEXT NOT NULL, ID TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tenant, ID))",
        "CREATE TABLE device (tenant TEXT NOT NULL, device_uid TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY (tenant, device_uid))",
        "CREATE INDEX device_meter_id ON device (tenant, json_extract(doc, '$.meter_id'))",
        "CREATE INDEX device_customer_no ON device (tenant, json_extract(doc, '$.customer_no'))",
        "CREATE INDEX device_installer_id ON device (tenant, json_extract(doc, '$.installer_id'))",
        "CREATE INDEX device_last_timestamp ON device (tenant, json_extract(doc, '$.last_timestamp'))",
        "CREATE TABLE data (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, device_uid TEXT NOT NULL,"
        " timestamp INTEGER NOT NULL, counter_val INTEGER NOT NULL, year INTEGER, month INTEGER, day INTEGER,"
        " hour INTEGER, wday INTEGER, week INTEGER, UNIQUE (tenant, device_uid, timestamp))",
        "CREATE INDEX data_tenant_timestamp ON data (tenant, timestamp)",
        "CREATE TABLE subscriber (tenant TEXT NOT NULL, customer_no TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY (tenant, customer_no))",
        "CREATE INDEX subscriber_meter_id ON subscriber (tenant, json_extract(doc, '$.meter_id'))",
        "CREATE INDEX subscriber_bind_device_id ON subscriber (tenant, json_extract(doc, '$.bind_device_id'))",
    ),
    # 2: collections specgate added
    (
        "CREATE TABLE event (tenant TEXT NOT NULL, event_id TEXT NOT NULL, device_uid TEXT NOT NULL,"
        " event_time REAL NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tenant, event_id))",
        "CREATE INDEX event_device_time ON event (tenant, device_uid, event_time)",
        "CREATE INDEX event_time ON event (tenant, event_time)",
        "CREATE TABLE dead_letter (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX dead_letter_at ON dead_letter (at)",
        "CREATE TABLE scale_latest (scale_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
        "CREATE TABLE scale_weight_log (id INTEGER PRIMARY KEY AUTOINCREMENT, scale_id TEXT NOT NULL,"
        " cylinder_no TEXT NOT NULL, event_type TEXT NOT NULL, committed_at REAL NOT NULL, doc TEXT NOT NULL)",
        "CREATE INDEX scale_weight_log_cylinder ON scale_weight_log (cylinder_no)",
        "CREATE INDEX scale_weight_log_committed_at ON scale_weight_log (committed_at)",
        "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, login_id TEXT NOT NULL, expires_at REAL NOT NULL,"
        " revoked INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL)",
        "CREATE INDEX sessions_login_id ON sessions (login_id)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection with the store's pragmas: WAL, ``synchronous=FULL``, autocommit (explicit BEGIN)."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, ...]] = MIGRATIONS) -> int:
    """Create or upgrade the schema to ``len(migrations)`` in one transaction; returns the version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS specgate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM specgate_meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > len(migrations):
            raise StoreUnavailable(
                f"the database has schema version {version}, newer than this specgate knows ({len(migrations)})")
        for steps in migrations[version:]:
            for statement in steps:
                conn.execute(statement)
        conn.execute("INSERT OR REPLACE INTO specgate_meta (key, value) VALUES ('schema_version', ?)",
                     (str(len(migrations)),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM specgate_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


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


# ---------------------------------------------------------------------------- tables
def _json_field(name: str) -> str:
    return f"json_extract(doc, '$.{name}')"


@dataclass(frozen=True)
class Table:
    """How one collection is stored: its table, whether rows are per tenant, field expressions, row shape."""

    name: str
    per_tenant: bool
    select: str
    to_doc: Callable[[sqlite3.Row | tuple], dict[str, Any]]
    columns: Mapping[str, str] = field(default_factory=dict)
    json_doc: bool = True

    def expression(self, name: str, params: list[Any]) -> str:
        """SQL for field ``name``: a real column, a literal JSON path (index-friendly) or a bound one."""
        if name in self.columns:
            return self.columns[name]
        if not self.json_doc:
            return "NULL"
        if '"' in name or "\\" in name:
            raise InvalidInput(f"field name {name!r} may not contain quotes or backslashes")
        params.append(f'$."{name}"')
        return "json_extract(doc, ?)"


def _doc(row: Any) -> dict[str, Any]:
    return from_json(row[0])


def _reading(row: Any) -> dict[str, Any]:
    out = {"device_uid": row[0], "timestamp": row[1], "counter_val": row[2]}
    for name, value in zip(CALENDAR_FIELDS, row[3:]):
        if value is not None:
            out[name] = value
    return out


def _with_id(row: Any) -> dict[str, Any]:
    return {**from_json(row[0]), "id": str(row[1])}


def _with_int_id(row: Any) -> dict[str, Any]:
    return {**from_json(row[0]), "id": row[1]}


def _session(row: Any) -> dict[str, Any]:
    return {**from_json(row[0]), "revoked": bool(row[1])}


_JSON_FIELDS = ("meter_id", "customer_no", "installer_id", "last_timestamp", "regdate", "bind_device_id")
_INDEXED = {name: _json_field(name) for name in _JSON_FIELDS}
READING_COLUMNS = ("device_uid", "timestamp", "counter_val") + CALENDAR_FIELDS
_reading_values = operator.itemgetter(*READING_COLUMNS)
ONLY_INT = {int}

TABLES: dict[str, Table] = {
    "device_route": Table("device_route", False, "device_uid, db_name",
                          lambda r: {"device_uid": r[0], "db_name": r[1]},
                          {"device_uid": "device_uid", "db_name": "db_name"}, json_doc=False),
    "user_route": Table("user_route", False, "ID, db_name", lambda r: {"ID": r[0], "db_name": r[1]},
                        {"ID": "ID", "db_name": "db_name"}, json_doc=False),
    "floating_users": Table("floating_users", False, "doc", _doc, {"ID": "ID", "regdate": _INDEXED["regdate"]}),
    "misc_data": Table("misc_data", False, "doc", _doc,
                       {"at": "at", "ip": "ip", "port": "port", "device_type": "device_type"}),
    "dead_letter": Table("dead_letter", False, "doc, id", _with_id, {"at": "at", "id": "id"}),
    "scale_latest": Table("scale_latest", False, "doc", _doc, {"scale_id": "scale_id"}),
    "scale_weight_log": Table("scale_weight_log", False, "doc, id", _with_int_id,
                              {"id": "id", "scale_id": "scale_id", "cylinder_no": "cylinder_no",
                               "event_type": "event_type", "committed_at": "committed_at"}),
    "sessions": Table("sessions", False, "doc, revoked", _session,
                      {"token_hash": "token_hash", "login_id": "login_id", "expires_at": "expires_at",
                       "revoked": "revoked"}),
    "users": Table("users", True, "doc", _doc, {"ID": "ID"}),
    "device": Table("device", True, "doc", _doc,
                    {"device_uid": "device_uid", **{k: _INDEXED[k] for k in ("meter_id", "customer_no",
                                                                             "installer_id", "last_timestamp")}}),
    "data": Table("data", True, ", ".join(READING_COLUMNS), _reading, {c: c for c in READING_COLUMNS},
                  json_doc=False),
    "subscriber": Table("subscriber", True, "doc", _doc,
                        {"customer_no": "customer_no", "meter_id": _INDEXED["meter_id"],
                         "bind_device_id": _INDEXED["bind_device_id"]}),
    "event": Table("event", True, "doc", _doc, {"event_id": "event_id", "device_uid": "device_uid",
                                                "event_time": "event_time"}),
}
COMMON_COLLECTIONS = ("dead_letter", "device_route", "floating_users", "misc_data", "scale_latest",
                      "scale_weight_log", "sessions", "user_route")
TENANT_COLLECTIONS = ("data", "device", "event", "subscriber", "users")


def select_page(
    conn: sqlite3.Connection,
    table: Table,
    tenant: str | None,
    query: ListQuery,
    default_sort: str,
    default_descending: bool = False,
) -> Page:
    """One page and the total of ``table`` under ``query`` (already checked), in one read snapshot."""
    where: list[str] = []
    params: list[Any] = []
    if table.per_tenant:
        where.append("tenant = ?")
        params.append(tenant)
    for name, value in query.filters.items():
        where.append(f"{table.expression(name, params)} IS ?")
        params.append(value)
    for name, (low, high) in query.ranges.items():
        if low is not None:
            where.append(f"{table.expression(name, params)} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{table.expression(name, params)} < ?")
            params.append(high)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sort_params: list[Any] = []
    if query.sort is None:
        order = "rowid" if default_sort == "rowid" else table.expression(default_sort, sort_params)
        descending = default_descending or query.descending
    else:
        order = table.expression(query.sort, sort_params)
        descending = query.descending
    direction = "DESC" if descending else "ASC"
    conn.execute("BEGIN")
    try:
        total = conn.execute(f"SELECT COUNT(*) FROM {table.name}{clause}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {table.select} FROM {table.name}{clause} ORDER BY {order} {direction}, rowid {direction}"
            " LIMIT ? OFFSET ?",
            params + sort_params + [query.limit, query.offset],
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return Page(items=[table.to_doc(row) for row in rows], total=total)


# ---------------------------------------------------------------------------- the writer thread
Unit = Callable[[sqlite3.Connection], Any]
_STOP = object()


class _Writer(threading.Thread):
    """Runs queued units in group commits: drain, SAVEPOINT per unit, one COMMIT, resolve the futures."""

    def __init__(self, conn: sqlite3.Connection, store: SQLiteStore) -> None:
        super().__init__(name="specgate-sqlite-writer", daemon=True)
        self.conn = conn
        self.store = store
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stopping = False
        self.next_purge = time.monotonic()
        self.identity = file_identity(store.path)

    def submit(self, unit: Unit, future: asyncio.Future, loop: asyncio.AbstractEventLoop) -> None:
        if self.stopping or not self.is_alive():
            raise StoreUnavailable(f"SQLite store {self.store.path} is closed")
        self.queue.put((unit, future, loop))

    def stop(self) -> None:
        self.stopping = True
        self.queue.put(_STOP)

    def run(self) -> None:
        try:
            self._serve()
        finally:
            self._fail_leftovers()
            self.conn.close()

    def _serve(self) -> None:
        stop = False
        while not stop:
            timeout = max(0.0, self.next_purge - time.monotonic())
            try:
                item = self.queue.get(timeout=timeout)
            except queue.Empty:
                self._purge()
                continue
            batch = []
            while True:
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
                if len(batch) >= MAX_UNITS_PER_COMMIT:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit_batch(batch)
            if time.monotonic() >= self.next_purge:
                self._purge()

    def _commit_batch(self, batch: list[tuple[Unit, asyncio.Future, asyncio.AbstractEventLoop]]) -> None:
        conn, path = self.conn, self.store.path
        outcomes: list[list[Any]] = []  # [future, loop, result, error]
        try:
            if file_identity(path) != self.identity:
                # SQLite would keep writing to the unlinked file and lose everything on restart
                raise sqlite3.OperationalError(f"database file {path} is gone or was replaced")
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            error = translate_error(exc, path)
            self._deliver([[fut, loop, None, error] for _, fut, loop in batch])
            return
        broken: BaseException | None = None
        isolated = len(batch) > 1  # a lone unit needs no savepoint: its failure rolls back the transaction
        committed_tenants: set[str] = set()
        for unit, fut, loop in batch:
            if broken is not None:
                outcomes.append([fut, loop, None, broken])
                continue
            self.store._unit_tenants.clear()
            try:
                if isolated:
                    conn.execute("SAVEPOINT unit")
                result = unit(conn)
                if isolated:
                    conn.execute("RELEASE unit")
            except Exception as exc:  # noqa: BLE001 - every failure goes back to its caller
                outcomes.append([fut, loop, None, translate_error(exc, path)])
                try:
                    conn.execute("ROLLBACK TO unit" if isolated else "ROLLBACK")
                    if isolated:
                        conn.execute("RELEASE unit")
                except sqlite3.Error as rollback_exc:
                    broken = translate_error(rollback_exc, path)
                if not isolated and broken is None:
                    self._deliver(outcomes)
                    return
                continue
            committed_tenants |= self.store._unit_tenants
            outcomes.append([fut, loop, result, None])
        if broken is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = translate_error(exc, path)
        if broken is not None:
            log.error("SQLite commit of %d units failed: %s", len(batch), broken)
            self.store.stats["failed_commits"] += 1
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for outcome in outcomes:
                if outcome[3] is None:
                    outcome[2], outcome[3] = None, broken
        else:
            self.store._known_tenants |= committed_tenants
            self.store.stats["commits"] += 1
            self.store.stats["units"] += len(batch)
        self._deliver(outcomes)

    def _purge(self) -> None:
        """Drop exchange log entries and dead letters older than their retention (``<= 0`` keeps them)."""
        store = self.store
        self.next_purge = time.monotonic() + store.purge_interval
        for table, days, counter in (
            ("misc_data", store.exchange_retention_days, "purged_exchanges"),
            ("dead_letter", store.dead_letter_retention_days, "purged_dead_letters"),
        ):
            if days <= 0:
                continue
            cutoff = time.time() - days * 86400
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                removed = self.conn.execute(f"DELETE FROM {table} WHERE at < ?", (cutoff,)).rowcount
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                log.warning("%s purge of %s failed: %s", table, store.path, exc)
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                continue
            store.stats[counter] += removed

    @staticmethod
    def _deliver(outcomes: list[list[Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[list[Any]]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[1], []).append(outcome)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)
            except RuntimeError:
                pass  # the caller's loop is closed: nobody is waiting any more

    def _fail_leftovers(self) -> None:
        leftovers = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                unit, fut, loop = item
                leftovers.append([fut, loop, None, StoreUnavailable(f"SQLite store {self.store.path} is closed")])
        self._deliver(leftovers)


def _resolve(outcomes: list[list[Any]]) -> None:
    for fut, _loop, result, error in outcomes:
        if fut.done():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


# ---------------------------------------------------------------------------- the store
class SQLiteStore(Store):
    """The embedded default backend (see the module docstring)."""

    backend = "sqlite"

    def __init__(
        self,
        path: str = DEFAULT_PATH,
        exchange_retention_days: float = 30,
        *,
        common_db: str = DEFAULT_COMMON_DB,
        purge_interval: float = 3600.0,
        dead_letter_retention_days: float = 30,
        busy_timeout: float = 5.0,
        reader_threads: int = 4,
        **_ignored: Any,
    ) -> None:
        self.path = str(path)
        self.exchange_retention_days = float(exchange_retention_days)
        self.common_db = common_db
        self.purge_interval = float(purge_interval)
        self.dead_letter_retention_days = float(dead_letter_retention_days)
        self.busy_timeout = float(busy_timeout)
        self.reader_threads = int(reader_threads)
        #: counters: ``commits`` (group commits), ``units`` (writes committed), ``failed_commits``,
        #: ``purged_exchanges``, ``purged_dead_letters``
        self.stats: dict[str, int] = {
            "commits": 0, "units": 0, "failed_commits": 0, "purged_exchanges": 0, "purged_dead_letters": 0,
        }
        self._writer: _Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # writer-thread state: tenants known to be committed, and those the running unit registered
        self._known_tenants: set[str] = set()
        self._unit_tenants: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        with self._lock:
            if self._writer is None:
                self._start()

    def _start(self) -> None:
        try:
            conn = connect(self.path, self.busy_timeout)
            migrate(conn)
            self._known_tenants = {row[0] for row in conn.execute("SELECT name FROM tenants")}
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._readers = ThreadPoolExecutor(max_workers=self.reader_threads, thread_name_prefix="specgate-sqlite-read")
        self._writer = _Writer(conn, self)
        self._writer.start()

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        if writer is None:
            return
        self._writer = self._readers = None
        writer.stop()
        await asyncio.to_thread(writer.join)
        if readers is not None:
            await asyncio.to_thread(readers.shutdown, True)
        with self._lock:
            connections, self._reader_connections = self._reader_connections, []
        for conn in connections:
            conn.close()

    async def ping(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        await self._read(lambda conn: conn.execute("SELECT COUNT(*) FROM specgate_meta").fetchone())

    # ------------------------------------------------------------------ plumbing
    async def _write(self, unit: Unit) -> Any:
        writer = self._writer
        if writer is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        writer.submit(unit, future, loop)
        return await future

    def _reader_connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.busy_timeout)
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            return fn(self._reader_connection())
        except Exception as exc:  # noqa: BLE001 - translated for the caller
            raise translate_error(exc, self.path) from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        readers = self._readers
        if readers is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(readers, self._run_read, fn)

    async def _page(self, collection: str, tenant: str | None, query: ListQuery, default_sort: str,
                    default_descending: bool = False) -> Page:
        table = TABLES[collection]
        return await self._read(lambda conn: select_page(conn, table, tenant, query, default_sort, default_descending))

    def _register_tenant(self, conn: sqlite3.Connection, tenant: str) -> None:
        """Record ``tenant`` (writer thread only); tenants already committed are remembered."""
        if tenant not in self._known_tenants:
            conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            self._unit_tenants.add(tenant)

    def _check_tenant(self, tenant: Any) -> str:
        check_tenant(tenant)
        if tenant == self.common_db:
            raise InvalidInput(f"tenant {tenant!r} is the common database")
        return tenant

    # ------------------------------------------------------------------ tenants and routing
    async def add_tenant(self, tenant: str) -> None:
        self._check_tenant(tenant)
        await self._write(lambda conn: self._register_tenant(conn, tenant))

    async def list_tenants(self) -> list[str]:
        rows = await self._read(lambda conn: conn.execute("SELECT name FROM tenants ORDER BY name").fetchall())
        return [row[0] for row in rows]

    async def set_device_route(self, device_uid: str, tenant: str) -> None:
        check_identifier("device_uid", device_uid)
        check_tenant(tenant)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO device_route (device_uid, db_name) VALUES (?, ?)", (device_uid, tenant))

        await self._write(unit)

    async def get_device_route(self, device_uid: str) -> str | None:
        check_identifier("device_uid", device_uid)
        row = await self._read(lambda conn: conn.execute(
            "SELECT db_name FROM device_route WHERE device_uid = ?", (device_uid,)).fetchone())
        return row[0] if row else None

    # ------------------------------------------------------------------ devices
    async def add_device(self, tenant: str, device: Mapping[str, Any]) -> None:
        self._check_tenant(tenant)
        doc = check_keyed(device, "device", "device_uid")
        uid, encoded = doc["device_uid"], to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM device WHERE tenant = ? AND device_uid = ?", (tenant, uid)).fetchone():
                raise Conflict(f"device {uid!r} already exists in tenant {tenant!r}")
            self._register_tenant(conn, tenant)
            conn.execute("INSERT INTO device (tenant, device_uid, doc) VALUES (?, ?, ?)", (tenant, uid, encoded))
            conn.execute("INSERT OR REPLACE INTO device_route (device_uid, db_name) VALUES (?, ?)", (uid, tenant))

        await self._write(unit)

    async def get_device(self, tenant: str, device_uid: str) -> dict[str, Any] | None:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        return await self._get_doc("SELECT doc FROM device WHERE tenant = ? AND device_uid = ?", (tenant, device_uid))

    async def _get_doc(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        row = await self._read(lambda conn: conn.execute(sql, params).fetchone())
        return from_json(row[0]) if row else None

    @staticmethod
    def _merge(conn: sqlite3.Connection, select_sql: str, update_sql: str, key: tuple[Any, ...],
               fields: Mapping[str, Any]) -> bool:
        """``$set`` on one JSON document; False when there is none."""
        row = conn.execute(select_sql, key).fetchone()
        if row is None:
            return False
        doc = from_json(row[0])
        doc.update(fields)
        conn.execute(update_sql, (to_json(doc), *key))
        return True

    async def update_device(self, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        doc = check_fields(fields, "device update", "device_uid", device_uid)
        to_json(doc)
        return await self._write(lambda conn: self._update_device(conn, tenant, device_uid, doc))

    def _update_device(self, conn: sqlite3.Connection, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        return self._merge(conn, "SELECT doc FROM device WHERE tenant = ? AND device_uid = ?",
                           "UPDATE device SET doc = ? WHERE tenant = ? AND device_uid = ?", (tenant, device_uid), fields)

    async def delete_device(self, tenant: str, device_uid: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)

        def unit(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute("DELETE FROM device WHERE tenant = ? AND device_uid = ?", (tenant, device_uid)).rowcount
            if deleted:
                conn.execute("DELETE FROM device_route WHERE device_uid = ? AND db_name = ?", (device_uid, tenant))
            return bool(deleted)

        return await self._write(unit)

    async def list_devices(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        fields = ("device_uid", "meter_id", "installer_id", "flag", "customer_no", "status")
        check_query(query, fields, (), fields + ("last_timestamp", "last_access"))
        return await self._page("device", tenant, query, "device_uid")

    # ------------------------------------------------------------------ readings
    @staticmethod
    def _reading_rows(tenant: str, readings: Any) -> list[tuple[Any, ...]]:
        """Rows for ``data``. A complete reading (all nine fields, the gateway's case) is checked with
        C-level operations, as this is the hot path; anything else goes through :func:`check_reading`,
        which gives the precise error. An int beyond 64 bits is refused by sqlite3 when binding
        (``InvalidInput``; the unit is rolled back)."""
        rows = []
        prefix = (tenant,)
        for r in check_reading_list(readings):
            if type(r) is dict and len(r) == len(READING_COLUMNS):
                try:
                    values = _reading_values(r)
                except KeyError:
                    values = None
                if values is not None:
                    uid = values[0]
                    if (type(uid) is str and 0 < len(uid) <= 256 and uid[0] != "$" and "\x00" not in uid
                            and set(map(type, values[1:])) == ONLY_INT):
                        rows.append(prefix + values)
                        continue
            r = check_reading(r)
            rows.append((tenant, r["device_uid"], r["timestamp"], r["counter_val"], r.get("year"), r.get("month"),
                         r.get("day"), r.get("hour"), r.get("wday"), r.get("week")))
        return rows

    @staticmethod
    def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        cursor = conn.executemany(
            "INSERT OR IGNORE INTO data (tenant, device_uid, timestamp, counter_val, year, month, day, hour, wday,"
            " week) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return cursor.rowcount

    async def insert_readings(self, tenant: str, readings: Sequence[Mapping[str, Any]]) -> int:
        self._check_tenant(tenant)
        rows = self._reading_rows(tenant, readings)
        if not rows:
            return 0

        def unit(conn: sqlite3.Connection) -> int:
            self._register_tenant(conn, tenant)
            return self._insert_rows(conn, rows)

        return await self._write(unit)

    async def list_readings(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        check_query(query, ("device_uid",), ("timestamp",), ("timestamp",))
        return await self._page("data", tenant, query, "timestamp")

    async def readings_for_usage(self, tenant: str, device_uid: str, start: int, end: int) -> list[dict[str, Any]]:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        check_int("start", start)
        check_int("end", end)
        columns = ", ".join(READING_COLUMNS)

        def read(conn: sqlite3.Connection) -> list[Any]:
            conn.execute("BEGIN")
            try:
                baseline = conn.execute(
                    f"SELECT {columns} FROM data WHERE tenant = ? AND device_uid = ? AND timestamp < ?"
                    " ORDER BY timestamp DESC LIMIT 1", (tenant, device_uid, start)).fetchall()
                rows = conn.execute(
                    f"SELECT {columns} FROM data WHERE tenant = ? AND device_uid = ? AND timestamp >= ?"
                    " AND timestamp < ? ORDER BY timestamp", (tenant, device_uid, start, end)).fetchall()
            finally:
                conn.execute("COMMIT")
            return baseline + rows

        return [_reading(row) for row in await self._read(read)]

    # ------------------------------------------------------------------ one report, one commit
    async def record_report(
        self,
        tenant: str,
        device_uid: str,
        device_fields: Mapping[str, Any],
        readings: Sequence[Mapping[str, Any]],
        event: Mapping[str, Any] | None = None,
    ) -> int:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        fields = check_fields(device_fields, "device fields", "device_uid", device_uid)
        to_json(fields)
        rows = self._reading_rows(tenant, readings)
        event_row = self._event_row(event) if event is not None else None

        def unit(conn: sqlite3.Connection) -> int:
            self._register_tenant(conn, tenant)
            if fields:
                self._update_device(conn, tenant, device_uid, fields)
            new = self._insert_rows(conn, rows)
            if event_row is not None:
                self._insert_event(conn, tenant, event_row)
            return new

        return await self._write(unit)

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event_row(event: Mapping[str, Any]) -> tuple[str, str, float, str]:
        doc = check_event(event)
        doc.setdefault("event_id", uuid.uuid4().hex)
        return doc["event_id"], doc["device_uid"], doc["event_time"], to_json(doc)

    def _insert_event(self, conn: sqlite3.Connection, tenant: str, row: tuple[str, str, float, str]) -> None:
        self._register_tenant(conn, tenant)
        conn.execute("INSERT INTO event (tenant, event_id, device_uid, event_time, doc) VALUES (?, ?, ?, ?, ?)",
                     (tenant, *row))

    async def add_event(self, tenant: str, event: Mapping[str, Any]) -> str:
        self._check_tenant(tenant)
        row = self._event_row(event)
        await self._write(lambda conn: self._insert_event(conn, tenant, row))
        return row[0]

    async def list_events(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        check_query(query, ("device_uid", "event_type", "event_status"), ("event_time",), ("event_time",))
        return await self._page("event", tenant, query, "event_time")

    # ------------------------------------------------------------------ exchange log
    async def log_exchange(self, entry: Mapping[str, Any]) -> None:
        doc = check_exchange(entry)
        row = (doc["at"], doc.get("ip"), doc.get("port"), doc.get("device_type"), to_json(doc))

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO misc_data (at, ip, port, device_type, doc) VALUES (?, ?, ?, ?, ?)", row)

        await self._write(unit)

    async def list_exchanges(self, query: ListQuery) -> Page:
        check_query(query, ("ip", "port", "device_type"), ("at", "datetime"), ("at",))
        return await self._page("misc_data", None, query, "at", default_descending=True)

    async def purge_exchanges(self, older_than: float) -> int:
        check_number("older_than", older_than)
        return await self._write(lambda conn: conn.execute("DELETE FROM misc_data WHERE at < ?", (older_than,)).rowcount)

    # ------------------------------------------------------------------ dead letters
    async def add_dead_letter(self, entry: Mapping[str, Any]) -> str:
        doc = check_dead_letter(entry)
        row = (doc["at"], to_json(doc))

        def unit(conn: sqlite3.Connection) -> str:
            return str(conn.execute("INSERT INTO dead_letter (at, doc) VALUES (?, ?)", row).lastrowid)

        return await self._write(unit)

    async def list_dead_letters(self, query: ListQuery) -> Page:
        check_query(query, ("device_type", "ip"), ("at",), ("at",))
        return await self._page("dead_letter", None, query, "at", default_descending=True)

    # ------------------------------------------------------------------ scales
    async def set_scale_latest(self, scale_id: str, reading: Mapping[str, Any]) -> None:
        doc = check_scale_reading(scale_id, reading)
        encoded = to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO scale_latest (scale_id, doc) VALUES (?, ?)", (scale_id, encoded))

        await self._write(unit)

    async def get_scale_latest(self, scale_id: str) -> dict[str, Any] | None:
        check_identifier("scale_id", scale_id)
        return await self._get_doc("SELECT doc FROM scale_latest WHERE scale_id = ?", (scale_id,))

    async def commit_weighing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        doc = check_weighing(record)
        row = (doc["scale_id"], doc["cylinder_no"], doc["event_type"], doc["committed_at"], to_json(doc))

        def unit(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("INSERT INTO scale_weight_log (scale_id, cylinder_no, event_type, committed_at, doc)"
                                  " VALUES (?, ?, ?, ?, ?)", row)
            assert cursor.lastrowid is not None  # an INSERT always sets it
            return cursor.lastrowid

        return {**doc, "id": await self._write(unit)}

    async def search_weighings(self, query: ListQuery) -> Page:
        check_query(query, ("cylinder_no", "event_type", "scale_id"), ("committed_at",), ("id", "committed_at"))
        return await self._page("scale_weight_log", None, query, "id")

    # ------------------------------------------------------------------ users
    async def add_user(self, tenant: str, user: Mapping[str, Any]) -> None:
        self._check_tenant(tenant)
        doc = check_keyed(user, "user", "ID")
        login_id, encoded = doc["ID"], to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            routed = conn.execute("SELECT db_name FROM user_route WHERE ID = ?", (login_id,)).fetchone()
            if routed:
                raise Conflict(f"login ID {login_id!r} is already in use (tenant {routed[0]!r})")
            if conn.execute("SELECT 1 FROM users WHERE tenant = ? AND ID = ?", (tenant, login_id)).fetchone():
                raise Conflict(f"user {login_id!r} already exists in tenant {tenant!r}")
            self._register_tenant(conn, tenant)
            conn.execute("INSERT INTO users (tenant, ID, doc) VALUES (?, ?, ?)", (tenant, login_id, encoded))
            conn.execute("INSERT INTO user_route (ID, db_name) VALUES (?, ?)", (login_id, tenant))

        await self._write(unit)

    async def get_user(self, tenant: str, login_id: str) -> dict[str, Any] | None:
        self._check_tenant(tenant)
        check_identifier("ID", login_id)
        return await self._get_doc("SELECT doc FROM users WHERE tenant = ? AND ID = ?", (tenant, login_id))

    async def find_user(self, login_id: str) -> tuple[str, dict[str, Any]] | None:
        check_identifier("ID", login_id)
        row = await self._read(lambda conn: conn.execute(
            "SELECT users.tenant, users.doc FROM user_route JOIN users"
            " ON users.tenant = user_route.db_name AND users.ID = user_route.ID WHERE user_route.ID = ?",
            (login_id,)).fetchone())
        return (row[0], from_json(row[1])) if row else None

    async def update_user(self, tenant: str, login_id: str, fields: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        check_identifier("ID", login_id)
        doc = check_fields(fields, "user update", "ID", login_id)
        to_json(doc)
        return await self._write(lambda conn: self._merge(
            conn, "SELECT doc FROM users WHERE tenant = ? AND ID = ?",
            "UPDATE users SET doc = ? WHERE tenant = ? AND ID = ?", (tenant, login_id), doc))

    async def delete_user(self, tenant: str, login_id: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("ID", login_id)

        def unit(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute("DELETE FROM users WHERE tenant = ? AND ID = ?", (tenant, login_id)).rowcount
            if deleted:
                conn.execute("DELETE FROM user_route WHERE ID = ? AND db_name = ?", (login_id, tenant))
            return bool(deleted)

        return await self._write(unit)

    async def list_users(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        check_query(query, ("ID", "role", "flag", "email"), (), ("ID",))
        return await self._page("users", tenant, query, "ID")

    # ------------------------------------------------------------------ registrations
    async def add_registration(self, registration: Mapping[str, Any]) -> None:
        doc = check_keyed(registration, "registration", "ID")
        login_id, encoded = doc["ID"], to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM user_route WHERE ID = ?", (login_id,)).fetchone():
                raise Conflict(f"login ID {login_id!r} is already in use")
            if conn.execute("SELECT 1 FROM floating_users WHERE ID = ?", (login_id,)).fetchone():
                raise Conflict(f"login ID {login_id!r} is already registered")
            conn.execute("INSERT INTO floating_users (ID, doc) VALUES (?, ?)", (login_id, encoded))

        await self._write(unit)

    async def get_registration(self, login_id: str) -> dict[str, Any] | None:
        check_identifier("ID", login_id)
        return await self._get_doc("SELECT doc FROM floating_users WHERE ID = ?", (login_id,))

    async def list_registrations(self, query: ListQuery) -> Page:
        check_query(query, ("flag", "category"), (), ("regdate",))
        return await self._page("floating_users", None, query, "regdate")

    async def set_registration_flag(self, login_id: str, flag: bool) -> bool:
        check_identifier("ID", login_id)
        check_bool("flag", flag)
        return await self._write(lambda conn: self._merge(
            conn, "SELECT doc FROM floating_users WHERE ID = ?", "UPDATE floating_users SET doc = ? WHERE ID = ?",
            (login_id,), {"flag": flag}))

    # ------------------------------------------------------------------ sessions
    async def create_session(self, session: Mapping[str, Any]) -> None:
        doc = check_session(session)
        row = (doc["token_hash"], doc["login_id"], doc["expires_at"], to_json(doc))

        def unit(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM sessions WHERE token_hash = ?", (row[0],)).fetchone():
                raise Conflict("a session with this token hash already exists")
            conn.execute("INSERT INTO sessions (token_hash, login_id, expires_at, doc) VALUES (?, ?, ?, ?)", row)

        await self._write(unit)

    async def get_session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        check_identifier("token_hash", token_hash)
        check_number("now", now)
        return await self._get_doc(
            "SELECT doc FROM sessions WHERE token_hash = ? AND revoked = 0 AND expires_at > ?", (token_hash, now))

    async def revoke_session(self, token_hash: str) -> bool:
        check_identifier("token_hash", token_hash)
        return await self._write(lambda conn: conn.execute(
            "UPDATE sessions SET revoked = 1 WHERE token_hash = ?", (token_hash,)).rowcount > 0)

    async def revoke_user_sessions(self, login_id: str) -> int:
        check_identifier("login_id", login_id)
        return await self._write(lambda conn: conn.execute(
            "UPDATE sessions SET revoked = 1 WHERE login_id = ? AND revoked = 0", (login_id,)).rowcount)

    # ------------------------------------------------------------------ subscribers
    async def upsert_subscriber(self, tenant: str, subscriber: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        doc = check_keyed(subscriber, "subscriber", "customer_no")
        customer_no, encoded = doc["customer_no"], to_json(doc)

        def unit(conn: sqlite3.Connection) -> bool:
            self._register_tenant(conn, tenant)
            if self._merge(conn, "SELECT doc FROM subscriber WHERE tenant = ? AND customer_no = ?",
                           "UPDATE subscriber SET doc = ? WHERE tenant = ? AND customer_no = ?",
                           (tenant, customer_no), doc):
                return False
            conn.execute("INSERT INTO subscriber (tenant, customer_no, doc) VALUES (?, ?, ?)",
                         (tenant, customer_no, encoded))
            return True

        return await self._write(unit)

    async def get_subscriber(self, tenant: str, customer_no: str) -> dict[str, Any] | None:
        self._check_tenant(tenant)
        check_identifier("customer_no", customer_no)
        return await self._get_doc("SELECT doc FROM subscriber WHERE tenant = ? AND customer_no = ?",
                                   (tenant, customer_no))

    async def delete_subscriber(self, tenant: str, customer_no: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("customer_no", customer_no)
        return await self._write(lambda conn: conn.execute(
            "DELETE FROM subscriber WHERE tenant = ? AND customer_no = ?", (tenant, customer_no)).rowcount > 0)

    async def list_subscribers(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        check_query(query, ("customer_no", "meter_id", "subscriber_no", "bind_device_id", "binded"), (),
                    ("customer_no",))
        return await self._page("subscriber", tenant, query, "customer_no")

    # ------------------------------------------------------------------ admin explorer
    async def list_collections(self) -> list[dict[str, Any]]:
        tenants = await self.list_tenants()
        listing = [{"db": self.common_db, "collections": list(COMMON_COLLECTIONS)}]
        listing += [{"db": tenant, "collections": list(TENANT_COLLECTIONS)} for tenant in tenants]
        return sorted(listing, key=lambda entry: entry["db"])

    async def browse(self, db: str, collection: str, query: ListQuery) -> Page:
        for name, value in (("db", db), ("collection", collection)):
            if not isinstance(value, str):
                raise InvalidInput(f"{name} must be a string, got {type(value).__name__}: {value!r}")
        check_query(query, (), (), (), any_field=True)
        for name in list(query.filters) + ([query.sort] if query.sort else []):
            check_field_name(name)
        if db == self.common_db and collection in COMMON_COLLECTIONS:
            return await self._page(collection, None, query, "rowid")
        if collection in TENANT_COLLECTIONS and db in await self.list_tenants():
            return await self._page(collection, db, query, "rowid")
        raise NotFound(f"no collection {collection!r} in database {db!r}")
