"""The MongoDB client's defaults, driver errors as store errors, and writes made atomic with transactions
when the deployment has them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidDocument,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from core.errors import Conflict, InvalidInput, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

DUPLICATE_KEY = 11000
TRANSIENT_ATTEMPTS = 3
_TRANSACTION_ATTEMPTS = 8  # write conflicts between reports of one device: bounded, backoff under ~1.3 s total
_RETRY_BACKOFF_S = 0.005
TRANSACTIONS_WIRE_VERSION = 8  # MongoDB 4.2: transactions on replica sets and sharded clusters

# Client options that make a down server surface within seconds instead of pymongo's 30 s default;
# a URI that sets one of them wins.
_DEFAULT_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 3000,
    "connectTimeoutMS": 3000,
    "socketTimeoutMS": 15000,
}


def with_default_timeouts(uri: str) -> dict[str, Any]:
    """The default timeouts ``uri`` does not set itself, as client keyword arguments."""
    given = {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}
    return {key: value for key, value in _DEFAULT_TIMEOUTS_MS.items() if key.lower() not in given}


class RetryTransaction(Exception):
    """Raised inside a transaction whose reads were overtaken by a concurrent commit: run it again."""


@contextlib.contextmanager
def driver_errors(action: str) -> Iterator[None]:
    """Turn driver errors into the store's: unreachable or failing backend -> ``StoreUnavailable``."""
    try:
        yield
    except DuplicateKeyError as exc:
        key = (exc.details or {}).get("keyValue", "")
        raise Conflict(f"{action}: a record with the same key {key} exists") from exc
    except (ConnectionFailure, WriteConcernError, WTimeoutError, ExecutionTimeout) as exc:
        raise StoreUnavailable(f"{action}: MongoDB unavailable: {exc}") from exc
    except InvalidDocument as exc:
        raise InvalidInput(f"{action}: value cannot be stored: {exc}") from exc
    except RetryTransaction as exc:
        raise StoreUnavailable(f"{action}: concurrent writes kept overtaking the transaction: {exc}") from exc
    except PyMongoError as exc:
        raise StoreUnavailable(f"{action}: MongoDB failed: {exc}") from exc


async def atomically(
    client: AsyncMongoClient | None,
    action: str,
    work: Callable[[AsyncClientSession | None], Awaitable[T]],
) -> T:
    """Run ``work`` in one transaction on ``client``, or as ordered writes when ``client`` is None (the
    deployment has no transactions).

    Transient transaction errors (write conflicts, elections) are retried a few times; anything else
    surfaces at once, so a device is never answered for a write that did not commit.
    """
    if client is None:
        with driver_errors(action):
            return await work(None)
    attempt = 1
    while True:
        with driver_errors(action):
            async with client.start_session() as session:
                try:
                    await session.start_transaction()
                    result = await work(session)
                    await session.commit_transaction()
                    return result
                except BaseException as exc:
                    if session.in_transaction:
                        with contextlib.suppress(PyMongoError):
                            await session.abort_transaction()
                    # a write conflict or an election is worth another try; a server that could
                    # not be selected has already had the whole selection timeout
                    transient = isinstance(exc, RetryTransaction) or (
                        isinstance(exc, PyMongoError)
                        and not isinstance(exc, (DuplicateKeyError, ServerSelectionTimeoutError))
                        and exc.has_error_label("TransientTransactionError")
                    )
                    if not transient or attempt >= _TRANSACTION_ATTEMPTS:
                        raise
                    log.info("%s: transient transaction error, retrying: %s", action, exc)
        # conflicting writers back off by different amounts, so they stop meeting again
        await asyncio.sleep(random.uniform(0, _RETRY_BACKOFF_S * 2**attempt))
        attempt += 1
