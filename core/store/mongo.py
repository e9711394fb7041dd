"""The MongoDB backend of :class:`~core.store.base.Store`, on ``pymongo.AsyncMongoClient``.

Physical databases are ``db_prefix + common_db`` (``gas_common``) and ``db_prefix + tenant`` (``gas_demo``):
with the default empty prefix an existing deployment of the original system is used as it is. Every value
is validated by :mod:`core.store.validation` before a query is built from it, so a value shaped like an
operator (``{"$ne": None}``) is refused instead of being executed.
"""
from __future__ import annotations

import asyncio
import contextlib
import decimal
import logging
import random
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import parse_qsl, urlsplit

from bson import Decimal128, ObjectId
from bson.codec_options import TypeCodec, TypeRegistry
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidDocument,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from core.errors import Conflict, ConfigError, InvalidInput, NotFound, StoreError, StoreUnavailable
from core.store.base import ListQuery, Page, Store
from core.store.documents import (
    check_bool,
    check_dead_letter,
    check_event,
    check_exchange,
    check_fields,
    check_int,
    check_keyed,
    check_number,
    check_readings,
    check_scale_reading,
    check_session,
    check_weighing,
)
from core.store.validation import TENANT_RE, check_identifier, check_query, check_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")

DUPLICATE_KEY = 11000
_INDEX_ALREADY_THERE = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict: same keys, other name/options
_TRANSIENT_ATTEMPTS = 3
_TRANSACTION_ATTEMPTS = 8  # write conflicts between reports of one device: bounded, backoff under ~1.3 s total
_RETRY_BACKOFF_S = 0.005
_TRANSACTIONS_WIRE_VERSION = 8  # MongoDB 4.2: transactions on replica sets and sharded clusters

# Client options that make a down server surface within seconds instead of pymongo's 30 s default;
# a URI that sets one of them wins.
_DEFAULT_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 3000,
    "connectTimeoutMS": 3000,
    "socketTimeoutMS": 15000,
}

_SERVER_DATABASES = frozenset({"admin", "config", "local"})
_MAX_DB_NAME = 63

#: The tenant route value that means "the common database" (original behaviour).
COMMON_ROUTE = "none"

TENANT_COLLECTIONS = ("users", "device", "data", "subscriber", "event")
COMMON_COLLECTIONS = (
    "device_route", "user_route", "floating_users", "misc_data", "dead_letter",
    "scale_latest", "scale_weight_log", "sessions",
)
#: specgate's bookkeeping in the common database, not domain data: not listed by the explorer.
COUNTERS = "specgate_counters"
TENANTS = "specgate_tenants"

#: Integer fields of the original layout (the C server read them as int32), per kind of document: kept
#: as BSON integers, never floats or strings (a float with an integral value is converted).
DEVICE_INTS = frozenset({
    "initial_count", "ref_interval", "minimum", "maximum", "server_port", "last_timestamp", "last_count",
    "battery", "uptime", "error_count", "status",
})
USER_INTS = frozenset({"level"})


class _DecimalCodec(TypeCodec):
    """``decimal.Decimal`` <-> BSON ``Decimal128`` (weights keep every digit)."""

    python_type = decimal.Decimal
    bson_type = Decimal128

    def transform_python(self, value: decimal.Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> decimal.Decimal:
        return value.to_decimal()


def _with_default_timeouts(uri: str) -> dict[str, Any]:
    given = {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}
    return {key: value for key, value in _DEFAULT_TIMEOUTS_MS.items() if key.lower() not in given}


def _epoch_date(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _original_types(doc: dict[str, Any], ints: frozenset[str]) -> dict[str, Any]:
    """Integer fields of the original layout stay integers and ``server_ip`` a dotted string, so the
    original C server (``bson_iter_int32``, ``bson_iter_utf8``) keeps reading what specgate writes."""
    for name in ints & doc.keys():
        value = doc[name]
        if isinstance(value, float) and value.is_integer():
            doc[name] = value = int(value)
        if value is not None:
            check_int(name, value)
    server_ip = doc.get("server_ip")
    if server_ip is not None and not isinstance(server_ip, str):
        raise InvalidInput(f"server_ip must be a dotted IPv4 string, got {type(server_ip).__name__}: {server_ip!r}")
    doc.pop("_id", None)
    return doc


def _strip(doc: Mapping[str, Any], internal: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored document as the interface returns it: no ``_id``, no bookkeeping fields."""
    return {key: value for key, value in doc.items() if key != "_id" and key not in internal}


def _clean(doc: Mapping[str, Any] | None, *internal: str) -> dict[str, Any] | None:
    return None if doc is None else _strip(doc, internal)


def _filter(query: ListQuery) -> dict[str, Any]:
    """An equality/range filter from an already checked query: values are scalars, never operators."""
    spec: dict[str, Any] = {}
    for name, value in query.filters.items():
        spec[name] = {"$eq": value}
    for name, (low, high) in query.ranges.items():
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["$gte"] = low
        if high is not None:
            bounds["$lt"] = high
        if bounds:
            spec.setdefault(name, {}).update(bounds)
    return spec


class _RetryTransaction(Exception):
    """Raised inside a transaction whose reads were overtaken by a concurrent commit: run it again."""


class MongoStore(Store):
    """The store on a MongoDB deployment (standalone, replica set or sharded cluster).

    :param uri: ``mongodb://`` or ``mongodb+srv://`` URI; its write concern must acknowledge writes.
    :param common_db: logical name of the common database.
    :param db_prefix: prepended to every physical database name (several deployments or tests on one server).
    :param exchange_retention_days: TTL of the ``misc_data`` exchange log.
    :param transactions: None uses multi-document transactions when the deployment has them (replica set,
        sharded cluster); False always uses ordered, individually acknowledged writes.
    """

    backend = "mongodb"

    def __init__(
        self,
        uri: str,
        common_db: str = "gas_common",
        db_prefix: str = "",
        exchange_retention_days: float = 30,
        transactions: bool | None = None,
        dead_letter_retention_days: float = 30,
        **_ignored: Any,
    ) -> None:
        try:
            check_tenant(common_db)
        except InvalidInput as exc:
            raise ConfigError(f"common_db {common_db!r} is not a usable database name: {exc}") from exc
        if not isinstance(db_prefix, str) or (db_prefix and not TENANT_RE.fullmatch(db_prefix)):
            raise ConfigError(f"db_prefix {db_prefix!r} may hold only letters, digits and underscore")
        for name, days in (("exchange_retention_days", exchange_retention_days),
                           ("dead_letter_retention_days", dead_letter_retention_days)):
            if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
                raise ConfigError(f"{name} must be a positive number, got {days!r}")
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

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn driver errors into the store's: unreachable or failing backend -> ``StoreUnavailable``."""
        try:
            yield
        except DuplicateKeyError as exc:
            key = (exc.details or {}).get("keyValue", "")
            raise Conflict(f"{action}: a record with the same key {key} exists") from exc
        except (ConnectionFailure, WriteConcernError, WTimeoutError, ExecutionTimeout) as exc:
            raise StoreUnavailable(f"{action}: MongoDB unavailable: {exc}") from exc
        except InvalidDocument as exc:
            raise InvalidInput(f"{action}: value cannot be stored: {exc}") from exc
        except _RetryTransaction as exc:
            raise StoreUnavailable(f"{action}: concurrent writes kept overtaking the transaction: {exc}") from exc
        except PyMongoError as exc:
            raise StoreUnavailable(f"{action}: MongoDB failed: {exc}") from exc

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
                    with self._errors(f"prepare tenant {name!r}"):
                        await self._create_tenant_indexes(db)
                        if name != self.common_db:
                            with contextlib.suppress(DuplicateKeyError):  # another process registered it
                                await self._common[TENANTS].update_one(
                                    {"name": {"$eq": name}}, {"$setOnInsert": {"name": name}}, upsert=True
                                )
                    self._prepared.add(name)
        return db

    async def _ensure_indexes(self, collection: AsyncCollection, models: list[IndexModel]) -> None:
        for model in models:
            try:
                await collection.create_indexes([model])
            except OperationFailure as exc:
                if exc.code in _INDEX_ALREADY_THERE:
                    # an operator's index on the same keys under another name or options: keep theirs
                    log.info("index %s on %s already exists in another form: %s",
                             model.document.get("name"), collection.full_name, exc)
                    continue
                if exc.code == DUPLICATE_KEY:
                    raise StoreError(
                        f"cannot create unique index {model.document.get('name')} on {collection.full_name}: "
                        f"the collection holds duplicates ({exc}); remove them, then restart"
                    ) from exc
                raise

    async def _create_tenant_indexes(self, db: AsyncDatabase) -> None:
        await self._ensure_indexes(db["data"], [
            IndexModel([("device_uid", ASCENDING), ("timestamp", ASCENDING)], unique=True),
        ])
        await self._ensure_indexes(db["device"], [IndexModel([("device_uid", ASCENDING)])])
        await self._ensure_indexes(db["users"], [IndexModel([("ID", ASCENDING)])])
        await self._ensure_indexes(db["subscriber"], [IndexModel([("customer_no", ASCENDING)])])
        await self._ensure_indexes(db["event"], [
            IndexModel([("device_uid", ASCENDING), ("event_time", ASCENDING)]),
            IndexModel([("event_time", ASCENDING)]),
        ])

    async def _create_common_indexes(self) -> None:
        db = self._common
        await self._ensure_indexes(db["device_route"], [IndexModel([("device_uid", ASCENDING)], unique=True)])
        await self._ensure_indexes(db["user_route"], [IndexModel([("ID", ASCENDING)], unique=True)])
        await self._ensure_indexes(db["floating_users"], [IndexModel([("ID", ASCENDING)])])
        await self._ensure_ttl(db["misc_data"], int(self.exchange_retention_days * 86400))
        await self._ensure_indexes(db["misc_data"], [IndexModel([("at", DESCENDING)])])
        await self._ensure_ttl(db["dead_letter"], int(self.dead_letter_retention_days * 86400))
        await self._ensure_indexes(db["dead_letter"], [IndexModel([("at", DESCENDING)])])
        await self._ensure_indexes(db["scale_latest"], [IndexModel([("scale_id", ASCENDING)], unique=True)])
        await self._ensure_indexes(db["scale_weight_log"], [
            IndexModel([("id", ASCENDING)], unique=True),
            IndexModel([("cylinder_no", ASCENDING)]),
            IndexModel([("committed_at", ASCENDING)]),
        ])
        await self._ensure_indexes(db["sessions"], [
            IndexModel([("token_hash", ASCENDING)], unique=True),
            IndexModel([("login_id", ASCENDING)]),
        ])
        await self._ensure_indexes(db[TENANTS], [IndexModel([("name", ASCENDING)], unique=True)])

    async def _ensure_ttl(self, collection: AsyncCollection, seconds: int) -> None:
        """TTL on the BSON date ``at_date``; a changed retention is applied to the existing index."""
        try:
            await collection.create_index([("at_date", ASCENDING)], expireAfterSeconds=seconds)
        except OperationFailure as exc:
            if exc.code not in _INDEX_ALREADY_THERE:
                raise
            await collection.database.command(
                "collMod", collection.name, index={"keyPattern": {"at_date": 1}, "expireAfterSeconds": seconds}
            )

    async def _atomically(self, action: str, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction when the deployment has them, else as ordered writes.

        Transient transaction errors (write conflicts, elections) are retried a few times; anything else
        surfaces at once, so a device is never answered for a write that did not commit.
        """
        if not self._use_transactions:
            with self._errors(action):
                return await work(None)
        attempt = 1
        while True:
            with self._errors(action):
                async with self.client.start_session() as session:
                    try:
                        await session.start_transaction()
                        result = await work(session)
                        await session.commit_transaction()
                        return result
                    except BaseException as exc:
                        if session.in_transaction:
                            with contextlib.suppress(PyMongoError):
                                await session.abort_transaction()
                        # a write conflict or an election is worth another try; a server that could
                        # not be selected has already had the whole selection timeout
                        transient = isinstance(exc, _RetryTransaction) or (
                            isinstance(exc, PyMongoError)
                            and not isinstance(exc, (DuplicateKeyError, ServerSelectionTimeoutError))
                            and exc.has_error_label("TransientTransactionError")
                        )
                        if not transient or attempt >= _TRANSACTION_ATTEMPTS:
                            raise
                        log.info("%s: transient transaction error, retrying: %s", action, exc)
            # conflicting writers back off by different amounts, so they stop meeting again
            await asyncio.sleep(random.uniform(0, _RETRY_BACKOFF_S * 2 ** attempt))
            attempt += 1

    async def _page(
        self,
        collection: AsyncCollection,
        query: ListQuery,
        default_sort: str,
        default_descending: bool = False,
        internal: tuple[str, ...] = (),
    ) -> Page:
        """One page of a checked query; ``_id`` breaks ties so pages never overlap."""
        spec = _filter(query)
        field = query.sort or default_sort
        descending = query.descending if query.sort else (query.descending or default_descending)
        direction = DESCENDING if descending else ASCENDING
        sort = [(field, direction)] + ([("_id", direction)] if field != "_id" else [])
        with self._errors(f"list {collection.name}"):
            total = await collection.count_documents(spec)
            items: list[dict[str, Any]] = []
            if query.limit:
                cursor = collection.find(spec).sort(sort).skip(query.offset).limit(query.limit)
                items = [_strip(doc, internal) async for doc in cursor]
        return Page(items=items, total=total)

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        if self._client is not None:
            return
        client: AsyncMongoClient = AsyncMongoClient(
            self.uri,
            type_registry=TypeRegistry([_DecimalCodec()]),
            tz_aware=True,
            appname="specgate",
            **_with_default_timeouts(self.uri),
        )
        if not client.write_concern.acknowledged:
            await client.close()
            raise ConfigError("the MongoDB URI asks for unacknowledged writes (w=0); specgate needs w=1 or more")
        self._client = client
        try:
            with self._errors("connect to MongoDB"):
                hello = await client.admin.command("hello")
                topology_has_them = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
                has_transactions = topology_has_them and hello.get("maxWireVersion", 0) >= _TRANSACTIONS_WIRE_VERSION
                self._use_transactions = has_transactions and self.transactions is not False
                await self._create_common_indexes()
                await self._seed_weighing_counter()
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
        with self._errors("ping"):
            await self.client.admin.command("ping")

    # ------------------------------------------------------------------ tenants and routing
    async def add_tenant(self, tenant: str) -> None:
        await self._writable_tenant(tenant)

    async def list_tenants(self) -> list[str]:
        """Registered tenants plus every tenant a route names (an existing deployment has no registry)."""
        db = self._common
        with self._errors("list tenants"):
            names = set(await db[TENANTS].distinct("name"))
            names.update(await db["device_route"].distinct("db_name"))
            names.update(await db["user_route"].distinct("db_name"))
        return sorted(
            name for name in names
            if isinstance(name, str) and name not in (COMMON_ROUTE, self.common_db) and TENANT_RE.fullmatch(name)
        )

    async def set_device_route(self, device_uid: str, tenant: str) -> None:
        device_uid = check_identifier("device_uid", device_uid)
        tenant = check_tenant(tenant)
        self._tenant_name(tenant)  # a route to a database the store could never use is refused now
        with self._errors(f"route device {device_uid!r}"):
            await self._common["device_route"].update_one(
                {"device_uid": {"$eq": device_uid}}, {"$set": {"db_name": tenant}}, upsert=True
            )

    async def get_device_route(self, device_uid: str) -> str | None:
        device_uid = check_identifier("device_uid", device_uid)
        with self._errors(f"read the route of {device_uid!r}"):
            route = await self._common["device_route"].find_one({"device_uid": {"$eq": device_uid}})
        return None if route is None else route.get("db_name")

    # ------------------------------------------------------------------ devices
    async def add_device(self, tenant: str, device: Mapping[str, Any]) -> None:
        route_name = check_tenant(tenant)
        doc = _original_types(check_keyed(device, "device", "device_uid"), DEVICE_INTS)
        device_uid = doc["device_uid"]
        db = await self._writable_tenant(route_name)
        routes = self._common["device_route"]

        async def work(session: AsyncClientSession | None) -> None:
            if await db["device"].find_one({"device_uid": {"$eq": device_uid}}, session=session):
                raise Conflict(f"device {device_uid!r} already exists in tenant {route_name!r}")
            route = await routes.find_one({"device_uid": {"$eq": device_uid}}, session=session)
            if route is not None and route.get("db_name") != route_name:
                raise Conflict(f"device {device_uid!r} is already routed to tenant {route.get('db_name')!r}")
            await db["device"].insert_one(dict(doc), session=session)
            await routes.update_one(
                {"device_uid": {"$eq": device_uid}}, {"$set": {"db_name": route_name}}, upsert=True, session=session
            )

        await self._atomically(f"add device {device_uid!r}", work)

    async def get_device(self, tenant: str, device_uid: str) -> dict[str, Any] | None:
        device_uid = check_identifier("device_uid", device_uid)
        db = self._tenant_db(tenant)
        with self._errors(f"read device {device_uid!r}"):
            return _clean(await db["device"].find_one({"device_uid": {"$eq": device_uid}}))

    def _device_changes(self, device_uid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        changes = _original_types(check_fields(fields, "device fields", "device_uid", device_uid), DEVICE_INTS)
        changes.pop("device_uid", None)
        if "flag" in changes and changes["flag"] is not None and not isinstance(changes["flag"], bool):
            raise InvalidInput(f"device flag must be true or false, got {changes['flag']!r}")
        return changes

    async def update_device(self, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        device_uid = check_identifier("device_uid", device_uid)
        changes = self._device_changes(device_uid, fields)
        db = self._tenant_db(tenant)
        with self._errors(f"update device {device_uid!r}"):
            if not changes:
                return await db["device"].count_documents({"device_uid": {"$eq": device_uid}}, limit=1) > 0
            result = await db["device"].update_one({"device_uid": {"$eq": device_uid}}, {"$set": changes})
        return result.matched_count > 0

    async def delete_device(self, tenant: str, device_uid: str) -> bool:
        device_uid = check_identifier("device_uid", device_uid)
        route_name = check_tenant(tenant)
        db = self._tenant_db(route_name)

        async def work(session: AsyncClientSession | None) -> bool:
            result = await db["device"].delete_many({"device_uid": {"$eq": device_uid}}, session=session)
            if result.deleted_count:
                await self._common["device_route"].delete_one(
                    {"device_uid": {"$eq": device_uid}, "db_name": {"$eq": route_name}}, session=session
                )
            return result.deleted_count > 0

        return await self._atomically(f"delete device {device_uid!r}", work)

    async def list_devices(self, tenant: str, query: ListQuery) -> Page:
        fields = ("device_uid", "meter_id", "installer_id", "flag", "customer_no", "status")
        check_query(query, fields, sorts=fields + ("last_timestamp", "last_access"))
        return await self._page(self._tenant_db(tenant)["device"], query, "device_uid")

    # ------------------------------------------------------------------ readings
    @staticmethod
    async def _insert_new(collection: AsyncCollection, docs: list[dict[str, Any]]) -> int:
        """Unordered bulk insert; duplicates of (device_uid, timestamp) are skipped, any other error raises."""
        if not docs:
            return 0
        try:
            result = await collection.insert_many([dict(doc) for doc in docs], ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            others = [error for error in details.get("writeErrors", []) if error.get("code") != DUPLICATE_KEY]
            if others:
                raise StoreUnavailable(
                    f"insert readings: {len(others)} refused by MongoDB, first: {others[0].get('errmsg')}"
                ) from exc
            if details.get("writeConcernErrors"):
                raise StoreUnavailable(f"insert readings: write concern failed: {details['writeConcernErrors']}") from exc
            return int(details.get("nInserted", 0))
        return len(result.inserted_ids)

    @staticmethod
    async def _insert_absent(
        collection: AsyncCollection, device_uid: str, docs: list[dict[str, Any]], session: AsyncClientSession
    ) -> int:
        """Inside a transaction a duplicate-key error aborts everything: read which timestamps exist, then
        insert the others (one find and one insert; faster than an upsert per reading)."""
        if not docs:
            return 0
        timestamps = [doc["timestamp"] for doc in docs]
        cursor = collection.find(
            {"device_uid": {"$eq": device_uid}, "timestamp": {"$in": timestamps}}, {"timestamp": 1, "_id": 0},
            session=session,
        )
        seen = {doc["timestamp"] async for doc in cursor}
        new = []
        for doc in docs:
            if doc["timestamp"] not in seen:
                seen.add(doc["timestamp"])
                new.append(dict(doc))
        if not new:
            return 0
        try:
            await collection.insert_many(new, ordered=True, session=session)
        except (BulkWriteError, DuplicateKeyError) as exc:
            details = getattr(exc, "details", None) or {}
            codes = {error.get("code") for error in details.get("writeErrors", [])} | {getattr(exc, "code", None)}
            if DUPLICATE_KEY in codes:  # a concurrent report of the same device committed these first
                raise _RetryTransaction(str(exc)) from exc
            raise
        return len(new)

    async def insert_readings(self, tenant: str, readings: Sequence[Mapping[str, Any]]) -> int:
        docs = check_readings(readings)
        db = await self._writable_tenant(tenant)
        with self._errors("insert readings"):
            return await self._insert_new(db["data"], docs)

    async def list_readings(self, tenant: str, query: ListQuery) -> Page:
        check_query(query, ("device_uid",), ranges=("timestamp",), sorts=("timestamp",))
        return await self._page(self._tenant_db(tenant)["data"], query, "timestamp")

    async def readings_for_usage(self, tenant: str, device_uid: str, start: int, end: int) -> list[dict[str, Any]]:
        device_uid = check_identifier("device_uid", device_uid)
        check_int("start", start)
        check_int("end", end)
        data = self._tenant_db(tenant)["data"]
        projection = {"_id": 0}
        with self._errors(f"read the readings of {device_uid!r}"):
            baseline = await data.find_one(
                {"device_uid": {"$eq": device_uid}, "timestamp": {"$lt": start}},
                projection, sort=[("timestamp", DESCENDING)],
            )
            cursor = data.find(
                {"device_uid": {"$eq": device_uid}, "timestamp": {"$gte": start, "$lt": end}}, projection
            ).sort("timestamp", ASCENDING)
            rows = [doc async for doc in cursor]
        return ([baseline] if baseline else []) + rows

    # ------------------------------------------------------------------ one report
    async def record_report(
        self,
        tenant: str,
        device_uid: str,
        device_fields: Mapping[str, Any],
        readings: Sequence[Mapping[str, Any]],
        event: Mapping[str, Any] | None = None,
    ) -> int:
        device_uid = check_identifier("device_uid", device_uid)
        changes = self._device_changes(device_uid, device_fields)
        docs = check_readings(readings)
        for doc in docs:
            if doc["device_uid"] != device_uid:
                raise InvalidInput(f"a reading of device {doc['device_uid']!r} in the report of {device_uid!r}")
        event_doc = self._event(event, device_uid) if event is not None else None
        db = await self._writable_tenant(tenant)

        async def work(session: AsyncClientSession | None) -> int:
            if changes:
                await db["device"].update_one({"device_uid": {"$eq": device_uid}}, {"$set": changes}, session=session)
            if session is None:
                new = await self._insert_new(db["data"], docs)
            else:
                new = await self._insert_absent(db["data"], device_uid, docs, session)
            if event_doc is not None:
                await db["event"].insert_one(dict(event_doc), session=session)
            return new

        return await self._atomically(f"record the report of {device_uid!r}", work)

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event(event: Any, device_uid: str | None = None) -> dict[str, Any]:
        if device_uid is not None and isinstance(event, Mapping) and "device_uid" not in event:
            event = {**event, "device_uid": device_uid}
        doc = check_event(event)
        doc.pop("_id", None)
        doc["event_id"] = str(ObjectId())
        return doc

    async def add_event(self, tenant: str, event: Mapping[str, Any]) -> str:
        doc = self._event(event)
        db = await self._writable_tenant(tenant)
        with self._errors("add an event"):
            await db["event"].insert_one(dict(doc))
        return doc["event_id"]

    async def list_events(self, tenant: str, query: ListQuery) -> Page:
        check_query(query, ("device_uid", "event_type", "event_status"), ranges=("event_time",), sorts=("event_time",))
        return await self._page(self._tenant_db(tenant)["event"], query, "event_time")

    # ------------------------------------------------------------------ exchange log
    async def log_exchange(self, entry: Mapping[str, Any]) -> None:
        doc = check_exchange(entry)
        doc.pop("_id", None)
        doc["at_date"] = _epoch_date(doc["at"])  # the TTL index needs a BSON date
        with self._errors("log an exchange"):
            await self._common["misc_data"].insert_one(doc)

    async def list_exchanges(self, query: ListQuery) -> Page:
        check_query(query, ("ip", "port", "device_type"), ranges=("at", "datetime"), sorts=("at",))
        return await self._page(self._common["misc_data"], query, "at", default_descending=True, internal=("at_date",))

    async def purge_exchanges(self, older_than: float) -> int:
        check_number("older_than", older_than)
        with self._errors("purge exchanges"):
            result = await self._common["misc_data"].delete_many({"at": {"$lt": older_than}})
        return result.deleted_count

    # ------------------------------------------------------------------ dead letters
    async def add_dead_letter(self, entry: Mapping[str, Any]) -> str:
        doc = check_dead_letter(entry)
        doc.pop("_id", None)
        doc["id"] = str(ObjectId())
        doc["at_date"] = _epoch_date(doc["at"])  # the TTL index needs a BSON date
        with self._errors("add a dead letter"):
            await self._common["dead_letter"].insert_one(doc)
        return doc["id"]

    async def list_dead_letters(self, query: ListQuery) -> Page:
        check_query(query, ("device_type", "ip"), ranges=("at",), sorts=("at",))
        return await self._page(self._common["dead_letter"], query, "at", default_descending=True, internal=("at_date",))

    # ------------------------------------------------------------------ scales
    async def set_scale_latest(self, scale_id: str, reading: Mapping[str, Any]) -> None:
        doc = check_scale_reading(scale_id, reading)
        doc.pop("_id", None)
        with self._errors(f"set the latest reading of scale {scale_id!r}"):
            await self._common["scale_latest"].replace_one({"scale_id": {"$eq": doc["scale_id"]}}, doc, upsert=True)

    async def get_scale_latest(self, scale_id: str) -> dict[str, Any] | None:
        scale_id = check_identifier("scale_id", scale_id)
        with self._errors(f"read the latest reading of scale {scale_id!r}"):
            return _clean(await self._common["scale_latest"].find_one({"scale_id": {"$eq": scale_id}}))

    async def commit_weighing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        doc = check_weighing(record)
        doc.pop("_id", None)
        with self._errors("commit a weighing"):
            stored = {**doc, "id": await self._next_weighing_id()}
            await self._common["scale_weight_log"].insert_one(dict(stored))
        return stored

    async def _next_weighing_id(self) -> int:
        """An atomic ``$inc`` on one counter document: ids increase across every process sharing the
        deployment. Two first upserts may race (one gets a duplicate key or, on some servers, no document):
        the counter exists then, so the increment is simply repeated."""
        counters = self._common[COUNTERS]
        for _ in range(_TRANSIENT_ATTEMPTS):
            try:
                counter = await counters.find_one_and_update(
                    {"_id": "scale_weight_log"}, {"$inc": {"seq": 1}}, upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            if counter is not None:
                return int(counter["seq"])
        raise StoreUnavailable("commit a weighing: the weighing id counter could not be incremented")

    async def _seed_weighing_counter(self) -> None:
        """Make the counter exist, and never behind the log (a log restored without its counter)."""
        newest = await self._common["scale_weight_log"].find_one({}, {"id": 1}, sort=[("id", DESCENDING)])
        highest = newest.get("id") if newest else None
        seq = highest if isinstance(highest, int) and not isinstance(highest, bool) else 0
        await self._common[COUNTERS].update_one({"_id": "scale_weight_log"}, {"$max": {"seq": seq}}, upsert=True)

    async def search_weighings(self, query: ListQuery) -> Page:
        check_query(query, ("cylinder_no", "event_type", "scale_id"), ranges=("committed_at",), sorts=("id",))
        return await self._page(self._common["scale_weight_log"], query, "id")

    # ------------------------------------------------------------------ users
    async def add_user(self, tenant: str, user: Mapping[str, Any]) -> None:
        route_name = check_tenant(tenant)
        doc = _original_types(check_keyed(user, "user", "ID"), USER_INTS)
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
        with self._errors(f"read user {login_id!r}"):
            return _clean(await db["users"].find_one({"ID": {"$eq": login_id}}))

    async def find_user(self, login_id: str) -> tuple[str, dict[str, Any]] | None:
        login_id = check_identifier("ID", login_id)
        with self._errors(f"route user {login_id!r}"):
            route = await self._common["user_route"].find_one({"ID": {"$eq": login_id}})
        tenant = None if route is None else route.get("db_name")
        if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
            return None
        user = await self.get_user(tenant, login_id)
        return None if user is None else (tenant, user)

    async def update_user(self, tenant: str, login_id: str, fields: Mapping[str, Any]) -> bool:
        login_id = check_identifier("ID", login_id)
        changes = _original_types(check_fields(fields, "user fields", "ID", login_id), USER_INTS)
        changes.pop("ID", None)
        db = self._tenant_db(tenant)
        with self._errors(f"update user {login_id!r}"):
            if not changes:
                return await db["users"].count_documents({"ID": {"$eq": login_id}}, limit=1) > 0
            result = await db["users"].update_one({"ID": {"$eq": login_id}}, {"$set": changes})
        return result.matched_count > 0

    async def delete_user(self, tenant: str, login_id: str) -> bool:
        login_id = check_identifier("ID", login_id)
        route_name = check_tenant(tenant)
        db = self._tenant_db(route_name)

        async def work(session: AsyncClientSession | None) -> bool:
            result = await db["users"].delete_many({"ID": {"$eq": login_id}}, session=session)
            if result.deleted_count:
                await self._common["user_route"].delete_one(
                    {"ID": {"$eq": login_id}, "db_name": {"$eq": route_name}}, session=session
                )
            return result.deleted_count > 0

        return await self._atomically(f"delete user {login_id!r}", work)

    async def list_users(self, tenant: str, query: ListQuery) -> Page:
        check_query(query, ("ID", "role", "flag", "email"), sorts=("ID",))
        return await self._page(self._tenant_db(tenant)["users"], query, "ID")

    # ------------------------------------------------------------------ registrations
    async def add_registration(self, registration: Mapping[str, Any]) -> None:
        doc = check_keyed(registration, "registration", "ID")
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
        with self._errors(f"read registration {login_id!r}"):
            return _clean(await self._common["floating_users"].find_one({"ID": {"$eq": login_id}}))

    async def list_registrations(self, query: ListQuery) -> Page:
        check_query(query, ("flag", "category"), sorts=("regdate",))
        return await self._page(self._common["floating_users"], query, "regdate")

    async def set_registration_flag(self, login_id: str, flag: bool) -> bool:
        login_id = check_identifier("ID", login_id)
        check_bool("flag", flag)
        with self._errors(f"flag registration {login_id!r}"):
            result = await self._common["floating_users"].update_many({"ID": {"$eq": login_id}}, {"$set": {"flag": flag}})
        return result.matched_count > 0

    # ------------------------------------------------------------------ sessions
    async def create_session(self, session: Mapping[str, Any]) -> None:
        doc = check_session(session)
        doc.pop("_id", None)
        doc["revoked"] = False
        with self._errors("create a session"):
            try:
                await self._common["sessions"].insert_one(doc)
            except DuplicateKeyError as exc:
                raise Conflict("a session with this token hash already exists") from exc

    async def get_session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        token_hash = check_identifier("token_hash", token_hash)
        check_number("now", now)
        with self._errors("read a session"):
            doc = await self._common["sessions"].find_one(
                {"token_hash": {"$eq": token_hash}, "revoked": {"$ne": True}, "expires_at": {"$gt": now}}
            )
        return _clean(doc, "revoked")

    async def revoke_session(self, token_hash: str) -> bool:
        token_hash = check_identifier("token_hash", token_hash)
        with self._errors("revoke a session"):
            result = await self._common["sessions"].update_one(
                {"token_hash": {"$eq": token_hash}, "revoked": {"$ne": True}}, {"$set": {"revoked": True}}
            )
        return result.matched_count > 0

    async def revoke_user_sessions(self, login_id: str) -> int:
        login_id = check_identifier("login_id", login_id)
        with self._errors(f"revoke the sessions of {login_id!r}"):
            result = await self._common["sessions"].update_many(
                {"login_id": {"$eq": login_id}, "revoked": {"$ne": True}}, {"$set": {"revoked": True}}
            )
        return result.modified_count

    # ------------------------------------------------------------------ subscribers
    async def upsert_subscriber(self, tenant: str, subscriber: Mapping[str, Any]) -> bool:
        doc = check_keyed(subscriber, "subscriber", "customer_no")
        customer_no = doc["customer_no"]
        fields = {key: value for key, value in doc.items() if key not in ("customer_no", "_id")}
        db = await self._writable_tenant(tenant)
        update: dict[str, Any] = {"$setOnInsert": {"customer_no": customer_no}}
        if fields:
            update["$set"] = fields
        with self._errors(f"upsert subscriber {customer_no!r}"):
            result = await db["subscriber"].update_one({"customer_no": {"$eq": customer_no}}, update, upsert=True)
        return result.upserted_id is not None

    async def get_subscriber(self, tenant: str, customer_no: str) -> dict[str, Any] | None:
        customer_no = check_identifier("customer_no", customer_no)
        db = self._tenant_db(tenant)
        with self._errors(f"read subscriber {customer_no!r}"):
            return _clean(await db["subscriber"].find_one({"customer_no": {"$eq": customer_no}}))

    async def delete_subscriber(self, tenant: str, customer_no: str) -> bool:
        customer_no = check_identifier("customer_no", customer_no)
        db = self._tenant_db(tenant)
        with self._errors(f"delete subscriber {customer_no!r}"):
            result = await db["subscriber"].delete_many({"customer_no": {"$eq": customer_no}})
        return result.deleted_count > 0

    async def list_subscribers(self, tenant: str, query: ListQuery) -> Page:
        check_query(query, ("customer_no", "meter_id", "subscriber_no", "bind_device_id", "binded"), sorts=("customer_no",))
        return await self._page(self._tenant_db(tenant)["subscriber"], query, "customer_no")

    # ------------------------------------------------------------------ admin explorer
    async def list_collections(self) -> list[dict[str, Any]]:
        """specgate's collections that exist, in the common database and every tenant's; never another
        database of the server, nor bookkeeping or collections specgate does not know."""
        listing = []
        with self._errors("list collections"):
            for name in sorted({self.common_db, *await self.list_tenants()}):
                known = COMMON_COLLECTIONS + TENANT_COLLECTIONS if name == self.common_db else TENANT_COLLECTIONS
                present = set(await self.client[self._physical(name)].list_collection_names())
                listing.append({"db": name, "collections": sorted(present.intersection(known))})
        return listing

    async def browse(self, db: str, collection: str, query: ListQuery) -> Page:
        if not isinstance(db, str) or not isinstance(collection, str):
            raise InvalidInput(f"db and collection must be strings, got {db!r} and {collection!r}")
        check_query(query, (), any_field=True)
        listed = {(entry["db"], name) for entry in await self.list_collections() for name in entry["collections"]}
        if (db, collection) not in listed:
            raise NotFound(f"no collection {collection!r} in database {db!r}")
        return await self._page(self.client[self._physical(db)][collection], query, "_id")
