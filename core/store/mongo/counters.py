"""The weighing log's id counter: one document in the common database's ``specgate_counters``."""

from __future__ import annotations

from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.errors import StoreUnavailable
from core.store.mongo.connection import TRANSIENT_ATTEMPTS
from core.store.mongo.indexes import COUNTERS

_WEIGHINGS = {"_id": "scale_weight_log"}


async def next_weighing_id(common: AsyncDatabase) -> int:
    """An atomic ``$inc`` on one counter document: ids increase across every process sharing the
    deployment. Two first upserts may race (one gets a duplicate key or, on some servers, no document):
    the counter exists then, so the increment is simply repeated."""
    counters = common[COUNTERS]
    for _ in range(TRANSIENT_ATTEMPTS):
        try:
            counter = await counters.find_one_and_update(
                _WEIGHINGS,
                {"$inc": {"seq": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            continue
        if counter is not None:
            return int(counter["seq"])
    raise StoreUnavailable("commit a weighing: the weighing id counter could not be incremented")


async def seed_weighing_counter(common: AsyncDatabase) -> None:
    """Make the counter exist, and never behind the log (a log restored without its counter)."""
    newest = await common["scale_weight_log"].find_one({}, {"id": 1}, sort=[("id", DESCENDING)])
    highest = newest.get("id") if newest else None
    seq = highest if isinstance(highest, int) and not isinstance(highest, bool) else 0
    await common[COUNTERS].update_one(_WEIGHINGS, {"$max": {"seq": seq}}, upsert=True)
