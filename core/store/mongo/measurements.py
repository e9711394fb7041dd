"""MongoDB store methods for measurements of devices that are not gas meters (common ``measurement``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.store.documents import check_batch, check_measurement
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.mongo.backend import MongoBackend
from core.store.mongo.connection import driver_errors
from core.store.mongo.queries import insert_new


class MeasurementMethods(MongoBackend):
    """Unique on ``(device_type, device_id, at)``; Decimal values are Decimal128 through the client codec."""

    async def record_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> int:
        docs = [check_measurement(m) for m in check_batch(measurements, "measurements")]
        with driver_errors("record measurements"):
            return await insert_new(self._common["measurement"], docs, "record measurements")

    async def list_measurements(self, query: ListQuery) -> Page:
        return await self._list(LISTINGS["measurements"], self._common["measurement"], query)
