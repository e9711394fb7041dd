"""What every part of the SQLite store shares: options, open and close, the writer and the readers,
tenants and device routes. The domain methods are in the mixins next to this module."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.errors import InvalidInput, StoreUnavailable
from core.store.base import Store
from core.store.documents import from_json, to_json
from core.store.listings import Listing, ListQuery, Page, Scalar
from core.store.sqlite.connection import BUSY_CODES, connect, translate_error
from core.store.sqlite.queries import TABLES, select_page
from core.store.sqlite.schema import migrate
from core.store.sqlite.writer import Retention, TenantLedger, Writer
from core.store.validation import check_identifier, check_listing, check_tenant

T = TypeVar("T")

#: tenant names remembered as valid at most (a bound against a caller inventing names)
_VALID_TENANTS_KEPT = 4096

#: a write of more rows than this is bulk: it runs on the writer thread, not on the event loop's
BULK_ROWS = 500

DEFAULT_PATH = "specgate.db"
DEFAULT_COMMON_DB = "gas_common"


#: what ``delete_tenant`` counts, and the table each count comes from
_TENANT_TABLES = (
    ("users", "users"),
    ("devices", "device"),
    ("readings", "data"),
    ("subscribers", "subscriber"),
    ("events", "event"),
)


class SQLiteBackend(Store):
    """The embedded default backend's plumbing (see :mod:`core.store.sqlite`)."""

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
            "commits": 0,
            "units": 0,
            "failed_commits": 0,
            "purged_exchanges": 0,
            "purged_dead_letters": 0,
        }
        self._writer: Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        #: bumped by every open, so a thread's point-read connection of an earlier opening is not reused
        self._opening = 0
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._tenants = TenantLedger(set())
        #: tenant names :meth:`_check_tenant` found valid (a name's validity never changes)
        self._valid_tenants: set[str] = set()

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
            self._tenants = TenantLedger({row[0] for row in conn.execute("SELECT name FROM tenants")})
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._readers = ThreadPoolExecutor(max_workers=self.reader_threads, thread_name_prefix="specgate-sqlite-read")
        retention = (
            Retention("misc_data", self.exchange_retention_days, "purged_exchanges"),
            Retention("dead_letter", self.dead_letter_retention_days, "purged_dead_letters"),
        )
        self._writer = Writer(
            conn, self.path, self._tenants, self.stats, retention, self.purge_interval, self.busy_timeout
        )
        self._writer.start()
        self._opening += 1

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
        if self._writer is None or self._writer.finished:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        await self._read(lambda conn: conn.execute("SELECT COUNT(*) FROM specgate_meta").fetchone())

    # ------------------------------------------------------------------ plumbing
    async def _write(self, unit: Callable[[sqlite3.Connection], T], bulk: bool = False) -> T:
        """Run ``unit`` in the writer's next group; returns once its group commit is durable. A ``bulk`` unit
        (one that may take long: many rows) runs on the writer thread, never on the event loop's."""
        writer = self._writer
        if writer is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        writer.submit(unit, future, loop, bulk)
        return await future

    def _reader_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.busy_timeout)
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._reader_connection())
        except Exception as exc:
            raise translate_error(exc, self.path) from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        readers = self._readers
        if readers is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(readers, self._run_read, fn)

    def _point_connection(self) -> sqlite3.Connection:
        """The calling thread's connection for point reads; it never waits for a lock (busy timeout 0)."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "point", None)
        if held is not None and held[0] == self._opening:
            return held[1]
        conn = connect(self.path, 0.0)
        self._local.point = (self._opening, conn)
        with self._lock:
            self._reader_connections.append(conn)
        return conn

    async def _read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of a row or two by key, run on the caller's thread: it takes microseconds, far less than
        a hand-over to the reader threads and back. A database that is busy (a lock a WAL reader rarely
        meets) sends the read to the reader threads, which wait for it, so the event loop never does."""
        if self._readers is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        try:
            return fn(self._point_connection())
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in BUSY_CODES:
                raise translate_error(exc, self.path) from exc
        except Exception as exc:
            raise translate_error(exc, self.path) from exc
        return await self._read(fn)

    async def _page(
        self,
        collection: str,
        tenant: str | None,
        query: ListQuery,
        order: tuple[str, bool],
        searches: tuple[str, ...] = (),
        fixed: Mapping[str, Scalar] | None = None,
    ) -> Page:
        table = TABLES[collection]
        return await self._read(lambda conn: select_page(conn, table, tenant, query, order, searches, fixed))

    async def _list(
        self,
        listing: Listing,
        collection: str,
        tenant: str | None,
        query: ListQuery,
        fixed: Mapping[str, Scalar] | None = None,
    ) -> Page:
        """A listing method: ``query`` checked against ``listing`` and sorted by its rules (``tenant``, of
        a per-tenant collection, is already checked); ``fixed`` equality conditions hold besides."""
        check_listing(query, listing)
        return await self._page(collection, tenant, query, listing.order(query), listing.searches, fixed)

    async def _get_doc(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        """One document by its key (a point read)."""
        row = await self._read_point(lambda conn: conn.execute(sql, params).fetchone())
        return from_json(row[0]) if row else None

    @staticmethod
    def _merge(
        conn: sqlite3.Connection, select_sql: str, update_sql: str, key: tuple[Any, ...], fields: Mapping[str, Any]
    ) -> bool:
        """``$set`` on one JSON document; False when there is none."""
        row = conn.execute(select_sql, key).fetchone()
        if row is None:
            return False
        doc = from_json(row[0])
        doc.update(fields)
        conn.execute(update_sql, (to_json(doc), *key))
        return True

    async def _delete_routed(self, tenant: str, table: str, route: str, key: str, value: str) -> bool:
        """Delete the tenant's row whose ``key`` is ``value`` and, when there was one, the route
        (``device_route``, ``user_route``) pointing there, in one unit."""

        def unit(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute(f"DELETE FROM {table} WHERE tenant = ? AND {key} = ?", (tenant, value)).rowcount
            if deleted:
                conn.execute(f"DELETE FROM {route} WHERE {key} = ? AND db_name = ?", (value, tenant))
            return bool(deleted)

        return await self._write(unit)

    def _register_tenant(self, conn: sqlite3.Connection, tenant: str) -> None:
        """Record ``tenant`` (inside a unit)."""
        self._tenants.register(conn, tenant)

    def _check_tenant(self, tenant: Any) -> str:
        if type(tenant) is str and tenant in self._valid_tenants:
            return tenant  # every write of a session checks the same few names: each is matched once
        check_tenant(tenant)
        if tenant == self.common_db:
            raise InvalidInput(f"tenant {tenant!r} is the common database")
        if len(self._valid_tenants) < _VALID_TENANTS_KEPT:
            self._valid_tenants.add(tenant)
        return tenant

    # ------------------------------------------------------------------ tenants and routing
    async def add_tenant(self, tenant: str) -> None:
        self._check_tenant(tenant)
        await self._write(lambda conn: self._register_tenant(conn, tenant))

    async def delete_tenant(self, tenant: str) -> dict[str, int]:
        self._check_tenant(tenant)

        def unit(conn: sqlite3.Connection) -> dict[str, int]:
            removed = {
                name: conn.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant,)).rowcount
                for name, table in _TENANT_TABLES
            }
            conn.execute(
                "UPDATE sessions SET revoked = 1 WHERE login_id IN (SELECT ID FROM user_route WHERE db_name = ?)",
                (tenant,),
            )
            conn.execute("UPDATE api_tokens SET revoked = 1 WHERE tenant = ?", (tenant,))
            conn.execute("DELETE FROM device_route WHERE db_name = ?", (tenant,))
            conn.execute("DELETE FROM user_route WHERE db_name = ?", (tenant,))
            conn.execute("DELETE FROM tenants WHERE name = ?", (tenant,))
            self._tenants.committed.discard(tenant)
            self._tenants.pending.discard(tenant)
            return removed

        return await self._write(unit, bulk=True)

    async def list_tenants(self) -> list[str]:
        rows = await self._read(lambda conn: conn.execute("SELECT name FROM tenants ORDER BY name").fetchall())
        return [row[0] for row in rows]

    async def set_device_route(self, device_uid: str, tenant: str) -> None:
        check_identifier("device_uid", device_uid)
        check_tenant(tenant)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO device_route (device_uid, db_name) VALUES (?, ?)", (device_uid, tenant)
            )

        await self._write(unit)

    async def get_device_route(self, device_uid: str) -> str | None:
        check_identifier("device_uid", device_uid)
        row = await self._read_point(
            lambda conn: conn.execute("SELECT db_name FROM device_route WHERE device_uid = ?", (device_uid,)).fetchone()
        )
        return row[0] if row else None
