"""MongoDB store methods for gas meters: devices, readings, whole reports and events (tenant databases)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from core.errors import Conflict, InvalidInput
from core.store.documents import ReadingRows, check_event, check_fields, check_int, check_keyed, check_readings
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.live import event_entry, report_entry
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import DEVICE_INTS, clean, original_types
from core.store.mongo.connection import driver_errors
from core.store.mongo.queries import insert_absent_readings, insert_event, insert_new
from core.store.validation import check_identifier, check_tenant


class DeviceMethods(MongoBackend):
    """``device`` (and its ``device_route``), ``data``, reports in one transaction, and ``event``."""

    # ------------------------------------------------------------------ devices
    async def add_device(self, tenant: str, device: Mapping[str, Any]) -> None:
        route_name = check_tenant(tenant)
        doc = original_types(check_keyed(device, "device", "device_uid"), DEVICE_INTS)
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
        with driver_errors(f"read device {device_uid!r}"):
            return clean(await db["device"].find_one({"device_uid": {"$eq": device_uid}}))

    def _device_changes(self, device_uid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        changes = original_types(check_fields(fields, "device fields", "device_uid", device_uid), DEVICE_INTS)
        changes.pop("device_uid", None)
        if "flag" in changes and changes["flag"] is not None and not isinstance(changes["flag"], bool):
            raise InvalidInput(f"device flag must be true or false, got {changes['flag']!r}")
        return changes

    async def update_device(self, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        device_uid = check_identifier("device_uid", device_uid)
        changes = self._device_changes(device_uid, fields)
        return await self._set_fields(tenant, "device", "device_uid", device_uid, changes)

    async def delete_device(self, tenant: str, device_uid: str) -> bool:
        device_uid = check_identifier("device_uid", device_uid)
        return await self._delete_routed(tenant, "device", "device_route", "device_uid", device_uid)

    async def list_devices(self, tenant: str, query: ListQuery) -> Page:
        return await self._list(LISTINGS["devices"], self._tenant_db(tenant)["device"], query)

    # ------------------------------------------------------------------ readings
    async def insert_readings(self, tenant: str, readings: Sequence[Mapping[str, Any]] | ReadingRows) -> int:
        docs = check_readings(readings)
        db = await self._writable_tenant(tenant)
        with driver_errors("insert readings"):
            return await insert_new(db["data"], docs, "insert readings")

    async def list_readings(self, tenant: str, query: ListQuery) -> Page:
        return await self._list(LISTINGS["readings"], self._tenant_db(tenant)["data"], query)

    async def readings_for_usage(self, tenant: str, device_uid: str, start: int, end: int) -> list[dict[str, Any]]:
        device_uid = check_identifier("device_uid", device_uid)
        check_int("start", start)
        check_int("end", end)
        data = self._tenant_db(tenant)["data"]
        projection = {"_id": 0}
        with driver_errors(f"read the readings of {device_uid!r}"):
            baseline = await data.find_one(
                {"device_uid": {"$eq": device_uid}, "timestamp": {"$lt": start}},
                projection,
                sort=[("timestamp", DESCENDING)],
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
        readings: Sequence[Mapping[str, Any]] | ReadingRows,
        event: Mapping[str, Any] | None = None,
    ) -> int:
        device_uid = check_identifier("device_uid", device_uid)
        changes = self._device_changes(device_uid, device_fields)
        docs = check_readings(readings, device_uid)
        for doc in docs:
            if doc["device_uid"] != device_uid:
                raise InvalidInput(f"a reading of device {doc['device_uid']!r} in the report of {device_uid!r}")
        event_doc = self._event(event, device_uid) if event is not None else None
        db = await self._writable_tenant(tenant)

        async def work(session: AsyncClientSession | None) -> int:
            # Without a transaction each write commits on its own, so the order matters: what the report
            # carries (readings, the event: inserts a resend skips) first, the device's $set (last_count,
            # last_timestamp, last_access ...) last. A failure between them leaves the device as it was,
            # never claiming a report that is not stored, and the meter's resend completes the rest.
            if session is None:
                new = await insert_new(db["data"], docs, "insert readings")
            else:
                new = await insert_absent_readings(db["data"], device_uid, docs, session)
            announce.clear()
            if event_doc is not None and await insert_event(db["event"], event_doc, session):
                announce.append(event_entry(tenant, event_doc))
            if changes:
                await db["device"].update_one({"device_uid": {"$eq": device_uid}}, {"$set": changes}, session=session)
            if new:
                announce.append(report_entry(tenant, device_uid, docs))
            return new

        announce: list[Any] = []
        new = await self._atomically(f"record the report of {device_uid!r}", work)
        self._announce(*announce)
        return new

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event(event: Any, device_uid: str | None = None) -> dict[str, Any]:
        if device_uid is not None and isinstance(event, Mapping) and "device_uid" not in event:
            event = {**event, "device_uid": device_uid}
        doc = check_event(event)
        doc.pop("_id", None)
        doc.setdefault("event_id", str(ObjectId()))
        return doc

    async def add_event(self, tenant: str, event: Mapping[str, Any]) -> str:
        doc = self._event(event)
        db = await self._writable_tenant(tenant)
        with driver_errors("add an event"):
            new = await insert_event(db["event"], doc, None)
        if new:
            self._announce(event_entry(tenant, doc))
        return doc["event_id"]

    async def list_events(self, tenant: str, query: ListQuery) -> Page:
        return await self._list(LISTINGS["events"], self._tenant_db(tenant)["event"], query)
