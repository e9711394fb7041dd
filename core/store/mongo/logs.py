"""MongoDB store methods for what the listeners log: the exchange log and dead letters (common database,
expired by TTL indexes on ``at_date``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId

from core.store.documents import check_batch, check_dead_letter, check_exchange
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import dead_letter_entry
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import clean, epoch_date
from core.store.mongo.connection import driver_errors
from core.store.validation import check_identifier


def _exchange_doc(entry: Mapping[str, Any]) -> dict[str, Any]:
    doc = check_exchange(entry)
    doc.pop("_id", None)
    doc["at_date"] = epoch_date(doc["at"])  # the TTL index needs a BSON date
    return doc


class LogMethods(MongoBackend):
    """``misc_data`` and ``dead_letter``; ``at_date`` is internal, for the TTL index, and never returned."""

    # ------------------------------------------------------------------ exchange log
    async def log_exchange(self, entry: Mapping[str, Any]) -> None:
        doc = _exchange_doc(entry)
        with driver_errors("log an exchange"):
            await self._common["misc_data"].insert_one(doc)

    async def log_exchanges(self, entries: Sequence[Mapping[str, Any]]) -> None:
        docs = [_exchange_doc(entry) for entry in check_batch(entries, "exchanges")]
        if docs:
            with driver_errors("log exchanges"):
                await self._common["misc_data"].insert_many(docs, ordered=False)

    async def list_exchanges(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["exchanges"], self._common["misc_data"], query, internal=("at_date",))

    # ------------------------------------------------------------------ dead letters
    async def add_dead_letter(self, entry: Mapping[str, Any]) -> str:
        doc = check_dead_letter(entry)
        doc.pop("_id", None)
        doc["id"] = str(ObjectId())
        doc["at_date"] = epoch_date(doc["at"])  # the TTL index needs a BSON date
        with driver_errors("add a dead letter"):
            await self._common["dead_letter"].insert_one(doc)
        self._announce(dead_letter_entry(doc["id"], doc))
        return doc["id"]

    async def get_dead_letter(self, entry_id: str) -> dict[str, Any] | None:
        entry_id = check_identifier("id", entry_id)
        with driver_errors("read a dead letter"):
            found = clean(await self._common["dead_letter"].find_one({"id": {"$eq": entry_id}}))
        if found is not None:
            found.pop("at_date", None)
        return found

    async def list_dead_letters(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["dead_letters"], self._common["dead_letter"], query, internal=("at_date",))
