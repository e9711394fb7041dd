"""The indexes the MongoDB store creates: per tenant on the first write to it, in the common database at
``open()``. Creation is idempotent and keeps an operator's own index on the same keys."""

from __future__ import annotations

import logging

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from core.errors import StoreError
from core.store.documents import LOGIN_FAILURE_RETENTION_S
from core.store.mongo.connection import DUPLICATE_KEY

log = logging.getLogger(__name__)

_INDEX_ALREADY_THERE = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict: same keys, other name/options

#: specgate's bookkeeping in the common database, not domain data: not listed by the explorer.
COUNTERS = "specgate_counters"
TENANTS = "specgate_tenants"


async def ensure_indexes(collection: AsyncCollection, models: list[IndexModel]) -> None:
    """Create ``models`` one by one; an index already there in another form is kept."""
    for model in models:
        try:
            await collection.create_indexes([model])
        except OperationFailure as exc:
            if exc.code in _INDEX_ALREADY_THERE:
                # an operator's index on the same keys under another name or options: keep theirs
                log.info(
                    "index %s on %s already exists in another form: %s",
                    model.document.get("name"),
                    collection.full_name,
                    exc,
                )
                continue
            if exc.code == DUPLICATE_KEY:
                raise StoreError(
                    f"cannot create unique index {model.document.get('name')} on {collection.full_name}: "
                    f"the collection holds duplicates ({exc}); remove them, then restart"
                ) from exc
            raise


async def ensure_ttl(collection: AsyncCollection, seconds: int) -> None:
    """TTL on the BSON date ``at_date``; a changed retention is applied to the existing index."""
    try:
        await collection.create_index([("at_date", ASCENDING)], expireAfterSeconds=seconds)
    except OperationFailure as exc:
        if exc.code not in _INDEX_ALREADY_THERE:
            raise
        await collection.database.command(
            "collMod", collection.name, index={"keyPattern": {"at_date": 1}, "expireAfterSeconds": seconds}
        )


async def create_tenant_indexes(db: AsyncDatabase) -> None:
    await ensure_indexes(
        db["data"],
        [
            IndexModel([("device_uid", ASCENDING), ("timestamp", ASCENDING)], unique=True),
        ],
    )
    await ensure_indexes(db["device"], [IndexModel([("device_uid", ASCENDING)])])
    await ensure_indexes(db["users"], [IndexModel([("ID", ASCENDING)])])
    await ensure_indexes(db["subscriber"], [IndexModel([("customer_no", ASCENDING)])])
    await ensure_indexes(
        db["event"],
        [
            IndexModel([("device_uid", ASCENDING), ("event_time", ASCENDING)]),
            IndexModel([("event_time", ASCENDING)]),
            # a resent report names the same event; events written before ids existed have none
            IndexModel(
                [("event_id", ASCENDING)], unique=True, partialFilterExpression={"event_id": {"$type": "string"}}
            ),
        ],
    )


async def create_common_indexes(
    db: AsyncDatabase, exchange_retention_days: float, dead_letter_retention_days: float
) -> None:
    await ensure_indexes(db["device_route"], [IndexModel([("device_uid", ASCENDING)], unique=True)])
    await ensure_indexes(db["user_route"], [IndexModel([("ID", ASCENDING)], unique=True)])
    await ensure_indexes(db["floating_users"], [IndexModel([("ID", ASCENDING)]), IndexModel([("tenant", ASCENDING)])])
    await ensure_ttl(db["misc_data"], int(exchange_retention_days * 86400))
    await ensure_indexes(
        db["misc_data"],
        [
            IndexModel([("at", DESCENDING)]),
            IndexModel([("tenant", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("device_uid", ASCENDING), ("at", DESCENDING)]),
        ],
    )
    await ensure_ttl(db["dead_letter"], int(dead_letter_retention_days * 86400))
    await ensure_indexes(db["dead_letter"], [IndexModel([("at", DESCENDING)])])
    await ensure_indexes(db["scale_latest"], [IndexModel([("scale_id", ASCENDING)], unique=True)])
    await ensure_indexes(
        db["scale_weight_log"],
        [
            IndexModel([("id", ASCENDING)], unique=True),
            IndexModel([("cylinder_no", ASCENDING)]),
            IndexModel([("committed_at", ASCENDING)]),
            IndexModel([("tenant", ASCENDING), ("id", ASCENDING)]),
        ],
    )
    await ensure_indexes(
        db["sessions"],
        [
            IndexModel([("token_hash", ASCENDING)], unique=True),
            IndexModel([("login_id", ASCENDING)]),
            IndexModel([("expires_at", ASCENDING)]),
        ],
    )
    await ensure_indexes(
        db["api_tokens"],
        [
            IndexModel([("token_id", ASCENDING)], unique=True),
            IndexModel([("token_hash", ASCENDING)], unique=True),
            IndexModel([("created_at", DESCENDING)]),
            IndexModel([("tenant", ASCENDING), ("created_at", DESCENDING)]),
        ],
    )
    await ensure_ttl(db["login_failures"], LOGIN_FAILURE_RETENTION_S)
    await ensure_indexes(
        db["login_failures"], [IndexModel([("key", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)])]
    )
    await ensure_indexes(
        db["measurement"],
        [
            IndexModel([("device_type", ASCENDING), ("device_id", ASCENDING), ("at", ASCENDING)], unique=True),
            IndexModel([("at", DESCENDING)]),
            IndexModel([("tenant", ASCENDING), ("at", DESCENDING)]),
        ],
    )
    await ensure_indexes(db[TENANTS], [IndexModel([("name", ASCENDING)], unique=True)])
