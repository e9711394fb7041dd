"""SQLite store methods for credentials other than sessions: API tokens and login throttling counters
(common tables ``api_tokens`` and ``login_failures``)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from core.errors import Conflict
from core.store.documents import (
    LOGIN_FAILURE_RETENTION_S,
    check_api_token,
    check_number,
    to_json,
)
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.sqlite.backend import SQLiteBackend
from core.store.validation import check_identifier, check_key, check_optional_tenant


class TokenMethods(SQLiteBackend):
    """``api_tokens`` (the hash is a column, never part of the listed ``doc``) and ``login_failures``."""

    # ------------------------------------------------------------------ API tokens
    async def create_api_token(self, token: Mapping[str, Any]) -> None:
        doc = check_api_token(token)
        token_hash = doc.pop("token_hash")
        row = (doc["token_id"], token_hash, doc["tenant"], doc["name"], doc["created_at"], doc["expires_at"])
        encoded = to_json(doc)

        def unit(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM api_tokens WHERE token_id = ?", (row[0],)).fetchone():
                raise Conflict(f"an API token with id {row[0]!r} already exists")
            if conn.execute("SELECT 1 FROM api_tokens WHERE token_hash = ?", (token_hash,)).fetchone():
                raise Conflict("an API token with this token hash already exists")
            conn.execute(
                "INSERT INTO api_tokens (token_id, token_hash, tenant, name, created_at, expires_at, doc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row, encoded),
            )

        await self._write(unit)

    async def get_api_token(self, token_hash: str, now: float) -> dict[str, Any] | None:
        check_identifier("token_hash", token_hash)
        check_number("now", now)
        found = await self._get_doc(
            "SELECT doc FROM api_tokens WHERE token_hash = ? AND revoked = 0 AND (expires_at IS NULL OR expires_at > ?)",
            (token_hash, now),
        )
        return None if found is None else {**found, "token_hash": token_hash}

    async def list_api_tokens(self, tenant: str | None, query: ListQuery) -> Page:
        check_optional_tenant(tenant)
        fixed = None if tenant is None else {"tenant": tenant}
        return await self._list(LISTINGS["api_tokens"], "api_tokens", None, query, fixed)

    async def revoke_api_token(self, token_id: str, tenant: str | None) -> bool:
        check_identifier("token_id", token_id)
        check_optional_tenant(tenant)
        sql = "UPDATE api_tokens SET revoked = 1 WHERE token_id = ? AND revoked = 0"
        params: tuple[Any, ...] = (token_id,)
        if tenant is not None:
            sql, params = sql + " AND tenant = ?", (token_id, tenant)
        return await self._write(lambda conn: conn.execute(sql, params).rowcount > 0)

    # ------------------------------------------------------------------ login throttling
    async def note_login_failure(self, key: str, at: float) -> None:
        check_key("key", key)
        check_number("at", at)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM login_failures WHERE at < ?", (time.time() - LOGIN_FAILURE_RETENTION_S,))
            conn.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, at))
            beyond = conn.execute(
                "SELECT at, id FROM login_failures WHERE key = ? ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                (key, self.login_failures_kept),
            ).fetchone()
            if beyond is not None:  # the newest beyond the bound, and every older one, go
                conn.execute(
                    "DELETE FROM login_failures WHERE key = ? AND (at < ? OR (at = ? AND id <= ?))",
                    (key, beyond[0], beyond[0], beyond[1]),
                )

        await self._write(unit)

    async def count_login_failures(self, key: str, since: float) -> int:
        check_key("key", key)
        check_number("since", since)
        since = max(since, time.time() - LOGIN_FAILURE_RETENTION_S)
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?", (key, since)
            ).fetchone()
        )
        return int(row[0])

    async def clear_login_failures(self, key: str) -> None:
        check_key("key", key)
        await self._write(lambda conn: conn.execute("DELETE FROM login_failures WHERE key = ?", (key,)))
