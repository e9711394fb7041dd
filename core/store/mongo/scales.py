"""MongoDB store methods for scales: the latest reading per scale and the weighing log (common database)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING

from core.store.documents import check_scale_reading, check_weighing
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import scale_entry
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import clean, strip
from core.store.mongo.connection import driver_errors
from core.store.mongo.counters import next_weighing_id
from core.store.validation import check_identifier, check_tenant


class ScaleMethods(MongoBackend):
    """``scale_latest`` and ``scale_weight_log``, whose ``id`` comes from :mod:`core.store.mongo.counters`."""

    # ------------------------------------------------------------------ scales
    async def set_scale_latest(self, scale_id: str, reading: Mapping[str, Any]) -> None:
        doc = check_scale_reading(scale_id, reading)
        doc.pop("_id", None)
        with driver_errors(f"set the latest reading of scale {scale_id!r}"):
            await self._common["scale_latest"].replace_one({"scale_id": {"$eq": doc["scale_id"]}}, doc, upsert=True)
        self._announce(scale_entry(doc))

    async def get_scale_latest(self, scale_id: str) -> dict[str, Any] | None:
        scale_id = check_identifier("scale_id", scale_id)
        with driver_errors(f"read the latest reading of scale {scale_id!r}"):
            return clean(await self._common["scale_latest"].find_one({"scale_id": {"$eq": scale_id}}))

    async def list_scales(self, tenant: str | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if tenant is not None:
            query = {"tenant": {"$in": [None, check_tenant(tenant)]}}  # None also matches a missing field
        with driver_errors("list the scales"):
            found = self._common["scale_latest"].find(query).sort("scale_id", ASCENDING)
            return [strip(doc) async for doc in found]

    async def commit_weighing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        doc = check_weighing(record)
        doc.pop("_id", None)
        with driver_errors("commit a weighing"):
            stored = {**doc, "id": await next_weighing_id(self._common)}
            await self._common["scale_weight_log"].insert_one(dict(stored))
        return stored

    async def search_weighings(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["weighings"], self._common["scale_weight_log"], query)
