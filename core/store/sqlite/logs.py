"""SQLite store methods for what the listeners log: the exchange log and dead letters (common tables)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from core.store.documents import check_batch, check_dead_letter, check_exchange, from_json, to_json
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import dead_letter_entry
from core.store.sqlite.backend import BULK_ROWS, SQLiteBackend
from core.store.sqlite.live import append_live
from core.store.validation import check_identifier

_INSERT_EXCHANGE = (
    "INSERT INTO misc_data (at, ip, port, device_type, device_uid, tenant, doc) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _exchange_row(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    doc = check_exchange(entry)
    return (
        doc["at"],
        doc.get("ip"),
        doc.get("port"),
        doc.get("device_type"),
        doc.get("device_uid"),
        doc.get("tenant"),
        to_json(doc),
    )


class LogMethods(SQLiteBackend):
    """The exchange log (``misc_data``) and dead letters (``dead_letter``), purged by the writer."""

    # ------------------------------------------------------------------ exchange log
    async def log_exchange(self, entry: Mapping[str, Any]) -> None:
        row = _exchange_row(entry)
        await self._write(lambda conn: conn.execute(_INSERT_EXCHANGE, row))

    async def log_exchanges(self, entries: Sequence[Mapping[str, Any]]) -> None:
        rows = [_exchange_row(entry) for entry in check_batch(entries, "exchanges")]
        if rows:
            await self._write(lambda conn: conn.executemany(_INSERT_EXCHANGE, rows), bulk=len(rows) > BULK_ROWS)

    async def list_exchanges(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["exchanges"], "misc_data", None, query)

    # ------------------------------------------------------------------ dead letters
    async def add_dead_letter(self, entry: Mapping[str, Any]) -> str:
        doc = check_dead_letter(entry)
        row = (doc["at"], to_json(doc))

        def unit(conn: sqlite3.Connection) -> str:
            entry_id = str(conn.execute("INSERT INTO dead_letter (at, doc) VALUES (?, ?)", row).lastrowid)
            append_live(conn, dead_letter_entry(entry_id, doc))
            return entry_id

        return await self._write(unit)

    async def get_dead_letter(self, entry_id: str) -> dict[str, Any] | None:
        check_identifier("id", entry_id)
        if not entry_id.isdigit() or len(entry_id) > 18:
            return None
        row = await self._read(
            lambda conn: conn.execute("SELECT doc, id FROM dead_letter WHERE id = ?", (int(entry_id),)).fetchone()
        )
        return {**from_json(row[0]), "id": str(row[1])} if row else None

    async def list_dead_letters(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["dead_letters"], "dead_letter", None, query)
