"""MongoDB store methods for people: users and their routes, registrations, sessions and subscribers."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from core.errors import Conflict
from core.store.documents import (
    check_bool,
    check_fields,
    check_keyed,
    check_number,
    check_registration,
    check_session,
)
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import USER_INTS, clean, original_types
from core.store.mongo.connection import driver_errors
from core.store.validation import TENANT_RE, check_identifier, check_tenant


class AccountMethods(MongoBackend):
    """``users`` + ``user_route``, ``floating_users``, ``sessions`` and ``subscriber``."""

    # ------------------------------------------------------------------ users
    async def add_user(self, tenant: str, user: Mapping[str, Any]) -> None:
        route_name = check_tenant(tenant)
        doc = original_types(check_keyed(user, "user", "ID"), USER_INTS)
        login_id = doc["ID"]
        db = await self._writable_tenant(route_name)
        routes = self._common["user_route"]

        async def work(session: AsyncClientSession | None) -> None:
            try:
                await routes.insert_one({"ID": login_id, "db_name": route_name}, session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"login ID {login_id!r} is already in use") from exc
            try:
                await db["users"].insert_one(dict(doc), session=session)
            except PyMongoError:
                if session is None:  # no transaction to take the new route back
                    with contextlib.suppress(PyMongoError):
                        await routes.delete_one({"ID": login_id, "db_name": route_name})
                raise

        await self._atomically(f"add user {login_id!r}", work)

    async def get_user(self, tenant: str, login_id: str) -> dict[str, Any] | None:
        login_id = check_identifier("ID", login_id)
        db = self._tenant_db(tenant)
        with driver_errors(f"read user {login_id!r}"):
            return clean(await db["users"].find_one({"ID": {"$eq": login_id}}))

    async def find_user(self, login_id: str) -> tuple[str, dict[str, Any]] | None:
        login_id = check_identifier("ID", login_id)
        with driver_errors(f"route user {login_id!r}"):
            route = await self._common["user_route"].find_one({"ID": {"$eq": login_id}})
        tenant = None if route is None else route.get("db_name")
        if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
            return None
        user = await self.get_user(tenant, login_id)
        return None if user is None else (tenant, user)

    async def update_user(self, tenant: str, login_id: str, fields: Mapping[str, Any]) -> bool:
        login_id = check_identifier("ID", login_id)
        changes = original_types(check_fields(fields, "user fields", "ID", login_id), USER_INTS)
        changes.pop("ID", None)
        return await self._set_fields(tenant, "users", "ID", login_id, changes)

    async def delete_user(self, tenant: str, login_id: str) -> bool:
        login_id = check_identifier("ID", login_id)
        return await self._delete_routed(tenant, "users", "user_route", "ID", login_id)

    async def list_users(self, tenant: str, query: ListQuery) -> Page:
        return await self._list(LISTINGS["users"], self._tenant_db(tenant)["users"], query)

    # ------------------------------------------------------------------ registrations
    async def add_registration(self, registration: Mapping[str, Any]) -> None:
        doc = check_registration(registration)
        doc.pop("_id", None)
        doc.setdefault("flag", False)
        login_id = doc["ID"]
        common = self._common

        async def work(session: AsyncClientSession | None) -> None:
            if await common["user_route"].find_one({"ID": {"$eq": login_id}}, session=session):
                raise Conflict(f"login ID {login_id!r} is already in use")
            if await common["floating_users"].find_one({"ID": {"$eq": login_id}}, session=session):
                raise Conflict(f"login ID {login_id!r} is already registered")
            await common["floating_users"].insert_one(dict(doc), session=session)

        await self._atomically(f"add registration {login_id!r}", work)

    async def get_registration(self, login_id: str) -> dict[str, Any] | None:
        login_id = check_identifier("ID", login_id)
        with driver_errors(f"read registration {login_id!r}"):
            return clean(await self._common["floating_users"].find_one({"ID": {"$eq": login_id}}))

    async def list_registrations(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["registrations"], self._common["floating_users"], query)

    async def set_registration_flag(self, login_id: str, flag: bool) -> bool:
        login_id = check_identifier("ID", login_id)
        check_bool("flag", flag)
        with driver_errors(f"flag registration {login_id!r}"):
            result = await self._common["floating_users"].update_many(
                {"ID": {"$eq": login_id}}, {"$set": {"flag": flag}}
            )
        return result.matched_count > 0

    async def delete_registration(self, login_id: str) -> bool:
        login_id = check_identifier("ID", login_id)
        with driver_errors(f"delete registration {login_id!r}"):
            result = await self._common["floating_users"].delete_many({"ID": {"$eq": login_id}})
        return result.deleted_count > 0

    # ------------------------------------------------------------------ sessions
    async def create_session(self, session: Mapping[str, Any]) -> None:
        doc = check_session(session)
        doc.pop("_id", None)
        doc["revoked"] = False
        with driver_errors("create a session"):
            try:
                await self._common["sessions"].insert_one(doc)
            except DuplicateKeyError as exc:
                raise Conflict("a session with this token hash already exists") from exc

    @staticmethod
    def _live_session(token_hash: str, now: float) -> dict[str, Any]:
        return {
            "token_hash": {"$eq": token_hash},
            "revoked": {"$ne": True},
            "expires_at": {"$gt": now},
            "$or": [{"idle_expires_at": {"$eq": None}}, {"idle_expires_at": {"$gt": now}}],
        }

    async def get_session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        token_hash = check_identifier("token_hash", token_hash)
        check_number("now", now)
        with driver_errors("read a session"):
            doc = await self._common["sessions"].find_one(self._live_session(token_hash, now))
        return clean(doc, "revoked")

    async def touch_session(self, token_hash: str, idle_expires_at: float, last_seen: float) -> bool:
        token_hash = check_identifier("token_hash", token_hash)
        check_number("idle_expires_at", idle_expires_at)
        check_number("last_seen", last_seen)
        with driver_errors("touch a session"):
            result = await self._common["sessions"].update_one(
                self._live_session(token_hash, last_seen),
                {"$set": {"idle_expires_at": idle_expires_at, "last_seen": last_seen}},
            )
        return result.matched_count > 0

    async def revoke_session(self, token_hash: str) -> bool:
        token_hash = check_identifier("token_hash", token_hash)
        with driver_errors("revoke a session"):
            result = await self._common["sessions"].update_one(
                {"token_hash": {"$eq": token_hash}, "revoked": {"$ne": True}}, {"$set": {"revoked": True}}
            )
        return result.matched_count > 0

    async def revoke_user_sessions(self, login_id: str) -> int:
        login_id = check_identifier("login_id", login_id)
        with driver_errors(f"revoke the sessions of {login_id!r}"):
            result = await self._common["sessions"].update_many(
                {"login_id": {"$eq": login_id}, "revoked": {"$ne": True}}, {"$set": {"revoked": True}}
            )
        return result.modified_count

    async def purge_sessions(self, before: float) -> int:
        check_number("before", before)
        with driver_errors("purge sessions"):
            result = await self._common["sessions"].delete_many(
                {
                    "$or": [
                        {"revoked": {"$eq": True}},
                        {"expires_at": {"$lt": before}},
                        {"idle_expires_at": {"$lt": before}},
                    ]
                }
            )
        return result.deleted_count

    # ------------------------------------------------------------------ subscribers
    async def upsert_subscriber(self, tenant: str, subscriber: Mapping[str, Any]) -> bool:
        doc = check_keyed(subscriber, "subscriber", "customer_no")
        customer_no = doc["customer_no"]
        fields = {key: value for key, value in doc.items() if key not in ("customer_no", "_id")}
        db = await self._writable_tenant(tenant)
        update: dict[str, Any] = {"$setOnInsert": {"customer_no": customer_no}}
        if fields:
            update["$set"] = fields
        with driver_errors(f"upsert subscriber {customer_no!r}"):
            result = await db["subscriber"].update_one({"customer_no": {"$eq": customer_no}}, update, upsert=True)
        return result.upserted_id is not None

    async def get_subscriber(self, tenant: str, customer_no: str) -> dict[str, Any] | None:
        customer_no = check_identifier("customer_no", customer_no)
        db = self._tenant_db(tenant)
        with driver_errors(f"read subscriber {customer_no!r}"):
            return clean(await db["subscriber"].find_one({"customer_no": {"$eq": customer_no}}))

    async def delete_subscriber(self, tenant: str, customer_no: str) -> bool:
        customer_no = check_identifier("customer_no", customer_no)
        db = self._tenant_db(tenant)
        with driver_errors(f"delete subscriber {customer_no!r}"):
            result = await db["subscriber"].delete_many({"customer_no": {"$eq": customer_no}})
        return result.deleted_count > 0

    async def list_subscribers(self, tenant: str, query: ListQuery) -> Page:
        return await self._list(LISTINGS["subscribers"], self._tenant_db(tenant)["subscriber"], query)
