"""SQLite store methods for gas meters: devices, readings, whole reports and events (tenant tables)."""

from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar, cast

from core.errors import Conflict
from core.store.documents import (
    ReadingRows,
    Report,
    check_batch,
    check_event,
    check_fields,
    check_int,
    check_keyed,
    check_reading,
    check_reading_rows,
    decide_report,
    from_json,
    to_json,
)
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import event_entry, report_entry
from core.store.sqlite.backend import BULK_ROWS, SQLiteBackend
from core.store.sqlite.live import append_live
from core.store.sqlite.queries import READING_COLUMNS, reading_doc
from core.store.validation import check_identifier

T = TypeVar("T")

_reading_values = operator.itemgetter(*READING_COLUMNS)
_first = operator.itemgetter(0)
_row_timestamp = operator.itemgetter(2)  # of a ``data`` row: tenant, device_uid, timestamp, ...
_rest = operator.itemgetter(slice(1, None))
_ONLY_INT = {int}
_ONLY_STR = {str}
_ONLY_DICT = {dict}
_COMPLETE = {len(READING_COLUMNS)}
#: values a JSON merge patch sets as they are (null would delete the key, an object would be merged into one)
_PATCHABLE = frozenset({str, int, float, bool})


_ROUTED_DEVICE = (
    "SELECT device_route.db_name, device.doc FROM device_route LEFT JOIN device"
    " ON device.tenant = device_route.db_name AND device.device_uid = device_route.device_uid"
    " WHERE device_route.device_uid = ?"
)

#: readings one INSERT carries (10 values each: under SQLite's oldest limit of 999 bound parameters)
ROWS_PER_INSERT = 96


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_sql(count: int) -> str:
    return (
        "INSERT OR IGNORE INTO data (tenant, device_uid, timestamp, counter_val, year, month, day, hour, wday,"
        " week) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    )


def _complete_rows(tenant: str, readings: Sequence[Any]) -> list[tuple[Any, ...]] | None:
    """The rows of a batch in which every reading is a plain dict of exactly the nine fields, the device uid
    a well-formed string and every other value an int; None when one is not, so each is checked alone."""
    if not readings or set(map(type, readings)) != _ONLY_DICT or set(map(len, readings)) != _COMPLETE:
        return None
    try:
        values = list(map(_reading_values, readings))
    except KeyError:
        return None
    uids = list(map(_first, values))
    if set(map(type, uids)) != _ONLY_STR:
        return None
    for uid in set(uids):
        if not 0 < len(uid) <= 256 or uid[0] == "$" or "\x00" in uid:
            return None
    if set(map(type, itertools.chain.from_iterable(map(_rest, values)))) != _ONLY_INT:
        return None
    return list(map((tenant,).__add__, values))


class _PreparedReport(NamedTuple):
    fields: dict[str, Any]
    encoded_fields: str
    rows: list[tuple[Any, ...]]
    event_row: tuple[str, str, float, str] | None


class DeviceMethods(SQLiteBackend):
    """Devices (``device``), readings (``data``), reports and events (``event``)."""

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

    async def get_routed_device(self, device_uid: str) -> tuple[str | None, dict[str, Any] | None]:
        check_identifier("device_uid", device_uid)
        tenant, doc = await self._read_point(lambda conn: self._routed_device(conn, device_uid))
        if tenant is not None:
            self._check_tenant(tenant)  # a route to a tenant get_device would refuse is refused alike
        return tenant, doc

    @staticmethod
    def _routed_device(conn: sqlite3.Connection, device_uid: str) -> tuple[str | None, dict[str, Any] | None]:
        row = conn.execute(_ROUTED_DEVICE, (device_uid,)).fetchone()
        if row is None:
            return None, None
        return row[0], (from_json(row[1]) if row[1] is not None else None)

    async def update_device(self, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        doc = check_fields(fields, "device update", "device_uid", device_uid)
        encoded = to_json(doc)
        return await self._write(lambda conn: self._update_device(conn, tenant, device_uid, doc, encoded))

    def _update_device(
        self, conn: sqlite3.Connection, tenant: str, device_uid: str, fields: Mapping[str, Any], encoded: str = ""
    ) -> bool:
        if encoded and all(type(value) in _PATCHABLE for value in fields.values()):
            # a merge patch of plain values is exactly a $set: one statement, the document never leaves SQLite
            cursor = conn.execute(
                "UPDATE device SET doc = json_patch(doc, ?) WHERE tenant = ? AND device_uid = ?",
                (encoded, tenant, device_uid),
            )
            return cursor.rowcount > 0
        return self._merge(
            conn,
            "SELECT doc FROM device WHERE tenant = ? AND device_uid = ?",
            "UPDATE device SET doc = ? WHERE tenant = ? AND device_uid = ?",
            (tenant, device_uid),
            fields,
        )

    async def delete_device(self, tenant: str, device_uid: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        return await self._delete_routed(tenant, "device", "device_route", "device_uid", device_uid)

    async def list_devices(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        return await self._list(LISTINGS["devices"], "device", tenant, query)

    # ------------------------------------------------------------------ readings
    @staticmethod
    def _reading_rows(tenant: str, readings: Any, device_uid: str | None = None) -> list[tuple[Any, ...]]:
        """Rows for ``data``. :class:`ReadingRows` (the gateway's case) and a batch of complete reading
        documents are checked as a whole with C-level operations, as this is the hot path
        (:func:`check_reading_rows`, :func:`_complete_rows`); anything else goes through
        :func:`check_reading`, reading by reading, which gives the precise error. An int beyond 64 bits in a
        document is refused by sqlite3 when binding (``InvalidInput``; the unit is rolled back)."""
        if type(readings) is ReadingRows:
            prefix = (tenant, readings.device_uid)
            return [prefix + row for row in check_reading_rows(readings, device_uid)]
        readings = check_batch(readings)
        complete = _complete_rows(tenant, readings)
        if complete is not None:
            return complete
        rows = []
        for r in readings:
            r = check_reading(r)
            rows.append(
                (
                    tenant,
                    r["device_uid"],
                    r["timestamp"],
                    r["counter_val"],
                    r.get("year"),
                    r.get("month"),
                    r.get("day"),
                    r.get("hour"),
                    r.get("wday"),
                    r.get("week"),
                )
            )
        return rows

    @staticmethod
    def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
        # one multi-row statement per chunk rather than executemany: sqlite3 lets go of the GIL around every
        # step, and a writer thread that has to win it back from a busy event loop once per row waits long
        new = 0
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            new += conn.execute(_insert_sql(len(chunk)), list(itertools.chain.from_iterable(chunk))).rowcount
        return new

    async def insert_readings(self, tenant: str, readings: Sequence[Mapping[str, Any]] | ReadingRows) -> int:
        self._check_tenant(tenant)
        rows = self._reading_rows(tenant, readings)
        if not rows:
            return 0

        def unit(conn: sqlite3.Connection) -> int:
            self._register_tenant(conn, tenant)
            return self._insert_rows(conn, rows)

        return await self._write(unit, bulk=len(rows) > BULK_ROWS)

    async def list_readings(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        return await self._list(LISTINGS["readings"], "data", tenant, query)

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
                    " ORDER BY timestamp DESC LIMIT 1",
                    (tenant, device_uid, start),
                ).fetchall()
                rows = conn.execute(
                    f"SELECT {columns} FROM data WHERE tenant = ? AND device_uid = ? AND timestamp >= ?"
                    " AND timestamp < ? ORDER BY timestamp",
                    (tenant, device_uid, start, end),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            return baseline + rows

        return [reading_doc(row) for row in await self._read(read)]

    # ------------------------------------------------------------------ one report, one commit
    async def record_report(
        self,
        tenant: str,
        device_uid: str,
        device_fields: Mapping[str, Any],
        readings: Sequence[Mapping[str, Any]] | ReadingRows,
        event: Mapping[str, Any] | None = None,
    ) -> int:
        self._check_tenant(tenant)
        check_identifier("device_uid", device_uid)
        prepared = self._prepare_report(tenant, device_uid, Report(device_fields, readings, event))
        return await self._write(lambda conn: self._write_report(conn, tenant, device_uid, prepared))

    async def record_routed_report(
        self,
        device_uid: str,
        decide: Callable[[str | None, dict[str, Any] | None], tuple[T, Report | None]],
    ) -> T:
        check_identifier("device_uid", device_uid)

        def unit(conn: sqlite3.Connection) -> tuple[T | None, Exception | None]:
            # everything that can refuse the report runs before its first write and is answered after the
            # commit, so a refusal never sends the group it shares into its one-savepoint-per-unit rerun
            try:
                tenant, device = self._routed_device(conn, device_uid)
                if tenant is not None:
                    self._check_tenant(tenant)
                result, report = decide_report(decide, device_uid, tenant, device)
                if report is None or tenant is None:
                    return result, None
                prepared = self._prepare_report(tenant, device_uid, report)
            except Exception as exc:
                return None, exc
            self._write_report(conn, tenant, device_uid, prepared)
            return result, None

        result, refused = await self._write(unit)
        if refused is not None:
            raise refused
        return cast(T, result)

    def _prepare_report(self, tenant: str, device_uid: str, report: Report) -> _PreparedReport:
        """The report checked and encoded for :meth:`_write_report` (``InvalidInput`` when it is refused)."""
        fields = check_fields(report.device_fields, "device fields", "device_uid", device_uid)
        rows = self._reading_rows(tenant, report.readings, device_uid)
        event_row = self._event_row(report.event) if report.event is not None else None
        return _PreparedReport(fields, to_json(fields), rows, event_row)

    def _write_report(self, conn: sqlite3.Connection, tenant: str, device_uid: str, report: _PreparedReport) -> int:
        """Write a prepared report in the unit running; how many readings were new. The order is that of
        the MongoDB store without transactions."""
        self._register_tenant(conn, tenant)
        rows = report.rows
        new = self._insert_rows(conn, rows)
        if report.event_row is not None:
            self._insert_event(conn, tenant, report.event_row)
        if report.fields:
            self._update_device(conn, tenant, device_uid, report.fields, report.encoded_fields)
        if new:
            # the entry carries the newest reading only: that one row is made a document
            newest = max(rows, key=_row_timestamp)
            append_live(conn, report_entry(tenant, device_uid, [reading_doc(newest[1:])]))
        return new

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event_row(event: Mapping[str, Any]) -> tuple[str, str, float, str]:
        doc = check_event(event)
        doc.setdefault("event_id", uuid.uuid4().hex)
        return doc["event_id"], doc["device_uid"], doc["event_time"], to_json(doc)

    def _insert_event(self, conn: sqlite3.Connection, tenant: str, row: tuple[str, str, float, str]) -> bool:
        """Insert the event unless its ``event_id`` is stored already (a resent report); True when new."""
        self._register_tenant(conn, tenant)
        cursor = conn.execute(
            "INSERT INTO event (tenant, event_id, device_uid, event_time, doc) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (tenant, event_id) DO NOTHING",
            (tenant, *row),
        )
        if cursor.rowcount > 0:
            append_live(conn, event_entry(tenant, from_json(row[3])))
        return cursor.rowcount > 0

    async def add_event(self, tenant: str, event: Mapping[str, Any]) -> str:
        self._check_tenant(tenant)
        row = self._event_row(event)
        await self._write(lambda conn: self._insert_event(conn, tenant, row))
        return row[0]

    async def list_events(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        return await self._list(LISTINGS["events"], "event", tenant, query)
