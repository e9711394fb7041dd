"""SQLite store methods for measurements of devices that are not gas meters (common ``measurement`` table)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from core.store.documents import check_batch, check_measurement, to_json
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.sqlite.backend import BULK_ROWS, SQLiteBackend


class MeasurementMethods(SQLiteBackend):
    """One row per ``(device_type, device_id, at)``; the whole measurement is the JSON ``doc``."""

    async def record_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> int:
        rows = []
        for measurement in check_batch(measurements, "measurements"):
            doc = check_measurement(measurement)
            rows.append((doc["device_type"], doc["device_id"], doc["at"], doc["tenant"], to_json(doc)))
        if not rows:
            return 0

        def unit(conn: sqlite3.Connection) -> int:
            return conn.executemany(
                "INSERT OR IGNORE INTO measurement (device_type, device_id, at, tenant, doc) VALUES (?, ?, ?, ?, ?)",
                rows,
            ).rowcount

        return await self._write(unit, bulk=len(rows) > BULK_ROWS)

    async def list_measurements(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["measurements"], "measurement", None, query)
