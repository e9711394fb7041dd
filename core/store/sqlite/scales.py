"""SQLite store methods for scales: the latest reading per scale and the weighing log (common tables)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from core.store.documents import check_scale_reading, check_weighing, from_json, to_json
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import scale_entry
from core.store.sqlite.backend import SQLiteBackend
from core.store.sqlite.live import append_live
from core.store.validation import check_identifier, check_tenant


class ScaleMethods(SQLiteBackend):
    """``scale_latest`` and ``scale_weight_log`` (its AUTOINCREMENT ``id`` increases across processes)."""

    # ------------------------------------------------------------------ scales
    async def set_scale_latest(self, scale_id: str, reading: Mapping[str, Any]) -> None:
        doc = check_scale_reading(scale_id, reading)
        encoded = to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO scale_latest (scale_id, doc) VALUES (?, ?)", (scale_id, encoded))
            append_live(conn, scale_entry(doc))

        await self._write(unit)

    async def get_scale_latest(self, scale_id: str) -> dict[str, Any] | None:
        check_identifier("scale_id", scale_id)
        return await self._get_doc("SELECT doc FROM scale_latest WHERE scale_id = ?", (scale_id,))

    async def list_scales(self, tenant: str | None) -> list[dict[str, Any]]:
        if tenant is not None:
            check_tenant(tenant)
        sql = (
            "SELECT doc FROM scale_latest WHERE ? IS NULL OR json_extract(doc, '$.tenant') IS NULL"
            " OR json_extract(doc, '$.tenant') = ? ORDER BY scale_id"
        )
        rows = await self._read(lambda conn: conn.execute(sql, (tenant, tenant)).fetchall())
        return [from_json(row[0]) for row in rows]

    async def commit_weighing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        doc = check_weighing(record)
        row = (
            doc["scale_id"],
            doc["cylinder_no"],
            doc["event_type"],
            doc["committed_at"],
            doc.get("tenant"),
            to_json(doc),
        )

        def unit(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO scale_weight_log (scale_id, cylinder_no, event_type, committed_at, tenant, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            assert cursor.lastrowid is not None  # an INSERT always sets it
            return cursor.lastrowid

        return {**doc, "id": await self._write(unit)}

    async def search_weighings(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["weighings"], "scale_weight_log", None, query)
