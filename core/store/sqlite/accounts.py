"""SQLite store methods for people: users and their routes, registrations, sessions and subscribers."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from core.errors import Conflict
from core.store.documents import (
    check_bool,
    check_fields,
    check_keyed,
    check_number,
    check_registration,
    check_session,
    from_json,
    to_json,
)
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.sqlite.backend import SQLiteBackend
from core.store.validation import check_identifier


class AccountMethods(SQLiteBackend):
    """``users`` + ``user_route``, ``floating_users``, ``sessions`` and ``subscriber``."""

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
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT users.tenant, users.doc FROM user_route JOIN users"
                " ON users.tenant = user_route.db_name AND users.ID = user_route.ID WHERE user_route.ID = ?",
                (login_id,),
            ).fetchone()
        )
        return (row[0], from_json(row[1])) if row else None

    async def update_user(self, tenant: str, login_id: str, fields: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        check_identifier("ID", login_id)
        doc = check_fields(fields, "user update", "ID", login_id)
        to_json(doc)
        return await self._write(
            lambda conn: self._merge(
                conn,
                "SELECT doc FROM users WHERE tenant = ? AND ID = ?",
                "UPDATE users SET doc = ? WHERE tenant = ? AND ID = ?",
                (tenant, login_id),
                doc,
            )
        )

    async def delete_user(self, tenant: str, login_id: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("ID", login_id)
        return await self._delete_routed(tenant, "users", "user_route", "ID", login_id)

    async def list_users(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        return await self._list(LISTINGS["users"], "users", tenant, query)

    # ------------------------------------------------------------------ registrations
    async def add_registration(self, registration: Mapping[str, Any]) -> None:
        doc = check_registration(registration)
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
        return await self._list(LISTINGS["registrations"], "floating_users", None, query)

    async def set_registration_flag(self, login_id: str, flag: bool) -> bool:
        check_identifier("ID", login_id)
        check_bool("flag", flag)
        return await self._write(
            lambda conn: self._merge(
                conn,
                "SELECT doc FROM floating_users WHERE ID = ?",
                "UPDATE floating_users SET doc = ? WHERE ID = ?",
                (login_id,),
                {"flag": flag},
            )
        )

    async def delete_registration(self, login_id: str) -> bool:
        check_identifier("ID", login_id)
        return await self._write(
            lambda conn: conn.execute("DELETE FROM floating_users WHERE ID = ?", (login_id,)).rowcount > 0
        )

    # ------------------------------------------------------------------ sessions
    _LIVE_SESSION = "revoked = 0 AND expires_at > ? AND (idle_expires_at IS NULL OR idle_expires_at > ?)"

    async def create_session(self, session: Mapping[str, Any]) -> None:
        doc = check_session(session)
        row = (doc["token_hash"], doc["login_id"], doc["expires_at"], doc.get("idle_expires_at"), to_json(doc))

        def unit(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM sessions WHERE token_hash = ?", (row[0],)).fetchone():
                raise Conflict("a session with this token hash already exists")
            conn.execute(
                "INSERT INTO sessions (token_hash, login_id, expires_at, idle_expires_at, doc) VALUES (?, ?, ?, ?, ?)",
                row,
            )

        await self._write(unit)

    async def get_session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        check_identifier("token_hash", token_hash)
        check_number("now", now)
        return await self._get_doc(
            f"SELECT doc FROM sessions WHERE token_hash = ? AND {self._LIVE_SESSION}", (token_hash, now, now)
        )

    async def touch_session(self, token_hash: str, idle_expires_at: float, last_seen: float) -> bool:
        check_identifier("token_hash", token_hash)
        check_number("idle_expires_at", idle_expires_at)
        check_number("last_seen", last_seen)

        def unit(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                f"SELECT doc FROM sessions WHERE token_hash = ? AND {self._LIVE_SESSION}",
                (token_hash, last_seen, last_seen),
            ).fetchone()
            if row is None:
                return False
            doc = {**from_json(row[0]), "idle_expires_at": idle_expires_at, "last_seen": last_seen}
            conn.execute(
                "UPDATE sessions SET idle_expires_at = ?, doc = ? WHERE token_hash = ?",
                (idle_expires_at, to_json(doc), token_hash),
            )
            return True

        return await self._write(unit)

    async def revoke_session(self, token_hash: str) -> bool:
        check_identifier("token_hash", token_hash)
        return await self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE sessions SET revoked = 1 WHERE token_hash = ? AND revoked = 0", (token_hash,)
                ).rowcount
                > 0
            )
        )

    async def revoke_user_sessions(self, login_id: str) -> int:
        check_identifier("login_id", login_id)
        return await self._write(
            lambda conn: (
                conn.execute("UPDATE sessions SET revoked = 1 WHERE login_id = ? AND revoked = 0", (login_id,)).rowcount
            )
        )

    async def purge_sessions(self, before: float) -> int:
        check_number("before", before)
        return await self._write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM sessions WHERE revoked != 0 OR expires_at < ? OR idle_expires_at < ?", (before, before)
                ).rowcount
            ),
            bulk=True,
        )

    # ------------------------------------------------------------------ subscribers
    async def upsert_subscriber(self, tenant: str, subscriber: Mapping[str, Any]) -> bool:
        self._check_tenant(tenant)
        doc = check_keyed(subscriber, "subscriber", "customer_no")
        customer_no, encoded = doc["customer_no"], to_json(doc)

        def unit(conn: sqlite3.Connection) -> bool:
            self._register_tenant(conn, tenant)
            if self._merge(
                conn,
                "SELECT doc FROM subscriber WHERE tenant = ? AND customer_no = ?",
                "UPDATE subscriber SET doc = ? WHERE tenant = ? AND customer_no = ?",
                (tenant, customer_no),
                doc,
            ):
                return False
            conn.execute(
                "INSERT INTO subscriber (tenant, customer_no, doc) VALUES (?, ?, ?)", (tenant, customer_no, encoded)
            )
            return True

        return await self._write(unit)

    async def get_subscriber(self, tenant: str, customer_no: str) -> dict[str, Any] | None:
        self._check_tenant(tenant)
        check_identifier("customer_no", customer_no)
        return await self._get_doc(
            "SELECT doc FROM subscriber WHERE tenant = ? AND customer_no = ?", (tenant, customer_no)
        )

    async def delete_subscriber(self, tenant: str, customer_no: str) -> bool:
        self._check_tenant(tenant)
        check_identifier("customer_no", customer_no)
        return await self._write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM subscriber WHERE tenant = ? AND customer_no = ?", (tenant, customer_no)
                ).rowcount
                > 0
            )
        )

    async def list_subscribers(self, tenant: str, query: ListQuery) -> Page:
        self._check_tenant(tenant)
        return await self._list(LISTINGS["subscribers"], "subscriber", tenant, query)
