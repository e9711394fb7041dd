"""The MongoDB backend of :class:`~core.store.base.Store`, on ``pymongo.AsyncMongoClient``.

Physical databases are ``db_prefix + common_db`` (``gas_common``) and ``db_prefix + tenant`` (``gas_demo``):
with the default empty prefix an existing deployment of the original system is used as it is. Every value
is validated by :mod:`core.store.validation` before a query is built from it, so a value shaped like an
operator (``{"$ne": None}``) is refused instead of being executed.

Parts: :mod:`~core.store.mongo.codecs` (BSON types), :mod:`~core.store.mongo.connection` (client defaults,
error mapping, transactions), :mod:`~core.store.mongo.indexes`, :mod:`~core.store.mongo.counters` (the
weighing id), :mod:`~core.store.mongo.queries` (filters, pages, bulk inserts),
:mod:`~core.store.mongo.backend` (client, tenant databases, lifecycle) and one mixin per domain, assembled
in :mod:`~core.store.mongo.store`.
"""

from __future__ import annotations

from core.store.mongo.backend import COMMON_ROUTE
from core.store.mongo.codecs import DEVICE_INTS, USER_INTS, DecimalCodec
from core.store.mongo.connection import DUPLICATE_KEY
from core.store.mongo.indexes import COUNTERS, TENANTS
from core.store.mongo.store import COMMON_COLLECTIONS, TENANT_COLLECTIONS, MongoStore

__all__ = [
    "COMMON_COLLECTIONS",
    "COMMON_ROUTE",
    "COUNTERS",
    "DEVICE_INTS",
    "DUPLICATE_KEY",
    "TENANTS",
    "TENANT_COLLECTIONS",
    "USER_INTS",
    "DecimalCodec",
    "MongoStore",
]
