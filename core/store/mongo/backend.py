"""What every part of the MongoDB store shares: options, the client, tenant databases, open and close,
tenants and device routes. The domain methods are in the mixins next to this module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.errors import ConfigError, InvalidInput, StoreUnavailable
from core.store.base import Store
from core.store.listings import Listing, ListQuery, Page, Scalar
from core.store.mongo.codecs import type_registry
from core.store.mongo.connection import (
    TRANSACTIONS_WIRE_VERSION,
    atomically,
    driver_errors,
    with_default_timeouts,
    write_concern_options,
)
from core.store.mongo.counters import seed_weighing_counter
from core.store.mongo.indexes import TENANTS, create_common_indexes, create_tenant_indexes
from core.store.mongo.queries import find_page
from core.store.validation import TENANT_RE, check_identifier, check_listing, check_tenant

T = TypeVar("T")

#: what ``delete_tenant`` counts, and the collection each count comes from
_TENANT_COLLECTIONS = (
    ("users", "users"),
    ("devices", "device"),
    ("readings", "data"),
    ("subscribers", "subscriber"),
    ("events", "event"),
)
_SERVER_DATABASES = frozenset({"admin", "config", "local"})
_MAX_DB_NAME = 63

#: The tenant route value that means "the common database" (original behaviour).
COMMON_ROUTE = "none"


class MongoBackend(Store):
    """The store on a MongoDB deployment (standalone, replica set or sharded cluster).

    :param uri: ``mongodb://`` or ``mongodb+srv://`` URI; its write concern must acknowledge writes.
    :param common_db: logical name of the common database.
    :param db_prefix: prepended to every physical database name (several deployments or tests on one server).
    :param exchange_retention_days: TTL of the ``misc_data`` exchange log.
    :param dead_letter_retention_days: TTL of the ``dead_letter`` collection.
    :param transactions: None uses multi-document transactions when the deployment has them (replica set,
        sharded cluster); False always uses ordered, individually acknowledged writes.
    :param write_concern: ``{w, j, wtimeout_ms}`` of every write and transaction; by default
        ``{w: "majority", j: true, wtimeout_ms: 10000}`` (unless the URI sets one), see
        :func:`~core.store.mongo.connection.write_concern_options`.
    """

    backend = "mongodb"
    #: hands committed entries to the live feed; :class:`~core.store.mongo.live.LiveMethods` defines it
    _announce: Callable[..., None]

    def __init__(
        self,
        uri: str,
        common_db: str = "gas_common",
        db_prefix: str = "",
        exchange_retention_days: float = 30,
        transactions: bool | None = None,
        dead_letter_retention_days: float = 30,
        write_concern: Mapping[str, Any] | None = None,
        **_ignored: Any,
    ) -> None:
        try:
            check_tenant(common_db)
        except InvalidInput as exc:
            raise ConfigError(f"common_db {common_db!r} is not a usable database name: {exc}") from exc
        if not isinstance(db_prefix, str) or (db_prefix and not TENANT_RE.fullmatch(db_prefix)):
            raise ConfigError(f"db_prefix {db_prefix!r} may hold only letters, digits and underscore")
        for name, days in (
            ("exchange_retention_days", exchange_retention_days),
            ("dead_letter_retention_days", dead_letter_retention_days),
        ):
            if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
                raise ConfigError(f"{name} must be a positive number, got {days!r}")
        self._write_concern = write_concern_options(uri, write_concern)
        self.uri = uri
        self.common_db = common_db
        self.db_prefix = db_prefix
        self.exchange_retention_days = exchange_retention_days
        self.dead_letter_retention_days = dead_letter_retention_days
        self.transactions = transactions
        self._client: AsyncMongoClient | None = None
        self._use_transactions = False
        self._prepared: set[str] = set()
        self._prepare_lock = asyncio.Lock()

    @property
    def uses_transactions(self) -> bool:
        """True once opened on a deployment with transactions (and ``transactions`` is not False)."""
        return self._use_transactions

    @property
    def client(self) -> AsyncMongoClient:
        if self._client is None:
            raise StoreUnavailable("the MongoDB store is not open: await store.open() first")
        return self._client

    def _physical(self, name: str) -> str:
        return self.db_prefix + name

    @property
    def _common(self) -> AsyncDatabase:
        return self.client[self._physical(self.common_db)]

    def _tenant_name(self, tenant: Any) -> str:
        tenant = check_tenant(tenant)
        if tenant == COMMON_ROUTE:
            return self.common_db
        physical = self._physical(tenant)
        if physical.lower() in _SERVER_DATABASES:
            raise InvalidInput(f"tenant {tenant!r} would be the server's own {physical!r} database")
        if len(physical) > _MAX_DB_NAME:
            raise InvalidInput(f"tenant {tenant!r} with prefix {self.db_prefix!r} exceeds {_MAX_DB_NAME} characters")
        return tenant

    def _tenant_db(self, tenant: Any) -> AsyncDatabase:
        """The tenant's database for reading (reading never creates a database)."""
        return self.client[self._physical(self._tenant_name(tenant))]

    async def _writable_tenant(self, tenant: Any) -> AsyncDatabase:
        """The tenant's database for writing: indexes created and the tenant registered the first time."""
        name = self._tenant_name(tenant)
        db = self.client[self._physical(name)]
        if name not in self._prepared:
            async with self._prepare_lock:
                if name not in self._prepared:
                    with driver_errors(f"prepare tenant {name!r}"):
                        await create_tenant_indexes(db)
                        if name != self.common_db:
                            with contextlib.suppress(DuplicateKeyError):  # another process registered it
                                await self._common[TENANTS].update_one(
                                    {"name": {"$eq": name}}, {"$setOnInsert": {"name": name}}, upsert=True
                                )
                    self._prepared.add(name)
        return db

    async def _atomically(self, action: str, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """``work`` in one transaction when the deployment has them, else as ordered writes."""
        return await atomically(self.client if self._use_transactions else None, action, work)

    async def _set_fields(self, tenant: str, collection: str, key: str, value: str, changes: Mapping[str, Any]) -> bool:
        """``$set`` ``changes`` on the tenant's document whose ``key`` is ``value``; False when there is none."""
        documents = self._tenant_db(tenant)[collection]
        with driver_errors(f"update {collection} {value!r}"):
            if not changes:
                return await documents.count_documents({key: {"$eq": value}}, limit=1) > 0
            result = await documents.update_one({key: {"$eq": value}}, {"$set": changes})
        return result.matched_count > 0

    async def _delete_routed(self, tenant: str, collection: str, route: str, key: str, value: str) -> bool:
        """Delete the tenant's documents whose ``key`` is ``value`` and, when there were some, the route
        (``device_route``, ``user_route``) pointing there, together."""
        route_name = check_tenant(tenant)
        documents = self._tenant_db(route_name)[collection]

        async def work(session: AsyncClientSession | None) -> bool:
            result = await documents.delete_many({key: {"$eq": value}}, session=session)
            if result.deleted_count:
                await self._common[route].delete_one(
                    {key: {"$eq": value}, "db_name": {"$eq": route_name}}, session=session
                )
            return result.deleted_count > 0

        return await self._atomically(f"delete {collection} {value!r}", work)

    async def _list(
        self,
        listing: Listing,
        collection: AsyncCollection,
        query: ListQuery,
        internal: tuple[str, ...] = (),
        fixed: Mapping[str, Scalar] | None = None,
    ) -> Page:
        """A listing method: ``query`` checked against ``listing`` and sorted by its rules; ``fixed``
        equality conditions hold besides."""
        check_listing(query, listing)
        return await find_page(collection, query, listing.order(query), internal, listing.searches, fixed)

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        if self._client is not None:
            return
        client: AsyncMongoClient = AsyncMongoClient(
            self.uri,
            type_registry=type_registry(),
            tz_aware=True,
            appname="specgate",
            **with_default_timeouts(self.uri),
            **self._write_concern,
        )
        if not client.write_concern.acknowledged:
            await client.close()
            raise ConfigError("the MongoDB URI asks for unacknowledged writes (w=0); specgate needs w=1 or more")
        self._client = client
        try:
            with driver_errors("connect to MongoDB"):
                hello = await client.admin.command("hello")
                topology_has_them = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
                has_transactions = topology_has_them and hello.get("maxWireVersion", 0) >= TRANSACTIONS_WIRE_VERSION
                self._use_transactions = has_transactions and self.transactions is not False
                await create_common_indexes(self._common, self.exchange_retention_days, self.dead_letter_retention_days)
                await seed_weighing_counter(self._common)
        except BaseException:
            self._client = None
            await client.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        self._prepared.clear()
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        with driver_errors("ping"):
            await self.client.admin.command("ping")

    # ------------------------------------------------------------------ tenants and routing
    async def add_tenant(self, tenant: str) -> None:
        await self._writable_tenant(tenant)

    async def delete_tenant(self, tenant: str) -> dict[str, int]:
        name = self._tenant_name(tenant)
        db = self._tenant_db(name)
        common = self._common
        with driver_errors(f"delete tenant {name!r}"):
            removed = {key: await db[collection].count_documents({}) for key, collection in _TENANT_COLLECTIONS}
            logins = await common["user_route"].distinct("ID", {"db_name": {"$eq": name}})
            if logins:
                await common["sessions"].update_many({"login_id": {"$in": logins}}, {"$set": {"revoked": True}})
            await common["api_tokens"].update_many({"tenant": {"$eq": name}}, {"$set": {"revoked": True}})
            await common["device_route"].delete_many({"db_name": {"$eq": name}})
            await common["user_route"].delete_many({"db_name": {"$eq": name}})
            await common[TENANTS].delete_many({"name": {"$eq": name}})
            await self.client.drop_database(db.name)
        self._prepared.discard(name)
        return removed

    async def list_tenants(self) -> list[str]:
        """Registered tenants plus every tenant a route names (an existing deployment has no registry)."""
        db = self._common
        with driver_errors("list tenants"):
            names = set(await db[TENANTS].distinct("name"))
            names.update(await db["device_route"].distinct("db_name"))
            names.update(await db["user_route"].distinct("db_name"))
        return sorted(
            name
            for name in names
            if isinstance(name, str) and name not in (COMMON_ROUTE, self.common_db) and TENANT_RE.fullmatch(name)
        )

    async def set_device_route(self, device_uid: str, tenant: str) -> None:
        device_uid = check_identifier("device_uid", device_uid)
        tenant = check_tenant(tenant)
        self._tenant_name(tenant)  # a route to a database the store could never use is refused now
        with driver_errors(f"route device {device_uid!r}"):
            await self._common["device_route"].update_one(
                {"device_uid": {"$eq": device_uid}}, {"$set": {"db_name": tenant}}, upsert=True
            )

    async def get_device_route(self, device_uid: str) -> str | None:
        device_uid = check_identifier("device_uid", device_uid)
        with driver_errors(f"read the route of {device_uid!r}"):
            route = await self._common["device_route"].find_one({"device_uid": {"$eq": device_uid}})
        return None if route is None else route.get("db_name")
