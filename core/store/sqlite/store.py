"""``SQLiteStore``: the SQLite backend assembled from its parts, plus the admin explorer over every table."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput, NotFound
from core.store.listings import ListQuery, Page, sort_order
from core.store.sqlite.accounts import AccountMethods
from core.store.sqlite.devices import DeviceMethods
from core.store.sqlite.live import LiveMethods
from core.store.sqlite.logs import LogMethods
from core.store.sqlite.measurements import MeasurementMethods
from core.store.sqlite.queries import COMMON_COLLECTIONS, TENANT_COLLECTIONS
from core.store.sqlite.scales import ScaleMethods
from core.store.sqlite.tokens import TokenMethods
from core.store.validation import check_query


class SQLiteStore(
    DeviceMethods, MeasurementMethods, LogMethods, ScaleMethods, AccountMethods, TokenMethods, LiveMethods
):
    """The embedded default backend (see :mod:`core.store.sqlite`)."""

    async def list_collections(self) -> list[dict[str, Any]]:
        tenants = await self.list_tenants()
        listing = [{"db": self.common_db, "collections": list(COMMON_COLLECTIONS)}]
        listing += [{"db": tenant, "collections": list(TENANT_COLLECTIONS)} for tenant in tenants]
        return sorted(listing, key=lambda entry: entry["db"])

    async def browse(self, db: str, collection: str, query: ListQuery) -> Page:
        for name, value in (("db", db), ("collection", collection)):
            if not isinstance(value, str):
                raise InvalidInput(f"{name} must be a string, got {type(value).__name__}: {value!r}")
        check_query(query, (), any_field=True)
        order = sort_order(query, "rowid")
        if db == self.common_db and collection in COMMON_COLLECTIONS:
            return await self._page(collection, None, query, order)
        if collection in TENANT_COLLECTIONS and db in await self.list_tenants():
            return await self._page(collection, db, query, order)
        raise NotFound(f"no collection {collection!r} in database {db!r}")
