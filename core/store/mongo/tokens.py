"""MongoDB store methods for credentials other than sessions: API tokens and login throttling counters
(common collections ``api_tokens`` and ``login_failures``, the latter expired by a TTL index on
``at_date``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo import DESCENDING

from core.store.documents import (
    LOGIN_FAILURE_RETENTION_S,
    check_api_token,
    check_number,
)
from core.store.listings import LISTINGS, ListQuery, Page
from core.store.mongo.backend import MongoBackend
from core.store.mongo.codecs import clean, epoch_date
from core.store.mongo.connection import driver_errors
from core.store.validation import check_identifier, check_key, check_optional_tenant

#: Fields of an ``api_tokens`` document that no listing returns.
API_TOKEN_HIDDEN = ("token_hash",)


class TokenMethods(MongoBackend):
    """``api_tokens`` (unique ``token_id`` and ``token_hash``) and ``login_failures`` (one document per
    failure; ``at_date`` is internal, for the TTL index)."""

    # ------------------------------------------------------------------ API tokens
    async def create_api_token(self, token: Mapping[str, Any]) -> None:
        doc = {**check_api_token(token), "revoked": False}
        with driver_errors(f"create API token {doc['token_id']!r}"):
            await self._common["api_tokens"].insert_one(doc)

    async def get_api_token(self, token_hash: str, now: float) -> dict[str, Any] | None:
        token_hash = check_identifier("token_hash", token_hash)
        check_number("now", now)
        with driver_errors("read an API token"):
            doc = await self._common["api_tokens"].find_one(
                {
                    "token_hash": {"$eq": token_hash},
                    "revoked": {"$ne": True},
                    "$or": [{"expires_at": {"$eq": None}}, {"expires_at": {"$gt": now}}],
                }
            )
        return clean(doc, "revoked")

    async def list_api_tokens(self, tenant: str | None, query: ListQuery) -> Page:
        check_optional_tenant(tenant)
        fixed = None if tenant is None else {"tenant": tenant}
        return await self._list(
            LISTINGS["api_tokens"], self._common["api_tokens"], query, internal=API_TOKEN_HIDDEN, fixed=fixed
        )

    async def revoke_api_token(self, token_id: str, tenant: str | None) -> bool:
        token_id = check_identifier("token_id", token_id)
        check_optional_tenant(tenant)
        spec: dict[str, Any] = {"token_id": {"$eq": token_id}, "revoked": {"$ne": True}}
        if tenant is not None:
            spec["tenant"] = {"$eq": tenant}
        with driver_errors(f"revoke API token {token_id!r}"):
            result = await self._common["api_tokens"].update_one(spec, {"$set": {"revoked": True}})
        return result.matched_count > 0

    # ------------------------------------------------------------------ login throttling
    async def note_login_failure(self, key: str, at: float) -> None:
        key = check_key("key", key)
        check_number("at", at)
        failures = self._common["login_failures"]
        with driver_errors("note a login failure"):
            await failures.insert_one({"key": key, "at": at, "at_date": epoch_date(at)})
            # the newest failure beyond the bound goes with every older one; concurrent callers may
            # each do it, and none removes a failure that has fewer than the bound newer than it
            beyond = await failures.find_one(
                {"key": {"$eq": key}},
                {"at": 1},
                sort=[("at", DESCENDING), ("_id", DESCENDING)],
                skip=self.login_failures_kept,
            )
            if beyond is not None:
                await failures.delete_many(
                    {
                        "key": {"$eq": key},
                        "$or": [
                            {"at": {"$lt": beyond["at"]}},
                            {"at": {"$eq": beyond["at"]}, "_id": {"$lte": beyond["_id"]}},
                        ],
                    }
                )

    async def count_login_failures(self, key: str, since: float) -> int:
        key = check_key("key", key)
        check_number("since", since)
        since = max(since, time.time() - LOGIN_FAILURE_RETENTION_S)  # the TTL monitor may lag behind
        with driver_errors("count login failures"):
            return await self._common["login_failures"].count_documents({"key": {"$eq": key}, "at": {"$gte": since}})

    async def clear_login_failures(self, key: str) -> None:
        key = check_key("key", key)
        with driver_errors("clear login failures"):
            await self._common["login_failures"].delete_many({"key": {"$eq": key}})
