"""``MongoStore``: the MongoDB backend assembled from its parts, plus the admin explorer."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput, NotFound
from core.store.listings import ListQuery, Page, sort_order
from core.store.mongo.accounts import AccountMethods
from core.store.mongo.connection import driver_errors
from core.store.mongo.devices import DeviceMethods
from core.store.mongo.live import LiveMethods
from core.store.mongo.logs import LogMethods
from core.store.mongo.measurements import MeasurementMethods
from core.store.mongo.queries import find_page
from core.store.mongo.scales import ScaleMethods
from core.store.mongo.tokens import API_TOKEN_HIDDEN, TokenMethods
from core.store.validation import check_query

TENANT_COLLECTIONS = ("users", "device", "data", "subscriber", "event")
COMMON_COLLECTIONS = (
    "device_route",
    "user_route",
    "floating_users",
    "misc_data",
    "dead_letter",
    "scale_latest",
    "scale_weight_log",
    "sessions",
    "measurement",
    "api_tokens",
    "login_failures",
)
#: Fields the explorer does not show, per collection.
_HIDDEN = {"api_tokens": API_TOKEN_HIDDEN}


class MongoStore(
    DeviceMethods, MeasurementMethods, LogMethods, ScaleMethods, AccountMethods, TokenMethods, LiveMethods
):
    """The store on a MongoDB deployment; its options are those of
    :class:`~core.store.mongo.backend.MongoBackend`."""

    async def list_collections(self) -> list[dict[str, Any]]:
        """specgate's collections that exist, in the common database and every tenant's; never another
        database of the server, nor bookkeeping or collections specgate does not know."""
        listing = []
        with driver_errors("list collections"):
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
        return await find_page(
            self.client[self._physical(db)][collection],
            query,
            sort_order(query, "_id"),
            _HIDDEN.get(collection, ()) if db == self.common_db else (),
        )
