"""The MongoDB client's defaults, driver errors as store errors, and writes made atomic with transactions
when the deployment has them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
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

from core.errors import ConfigError, Conflict, InvalidInput, StoreUnavailable

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


#: What "acknowledged" means by default: on a majority of the replica set's members, in their journals
DEFAULT_WRITE_CONCERN: dict[str, Any] = {"w": "majority", "j": True, "wtimeout_ms": 10000}
_WRITE_CONCERN_KEYS = {"w", "j", "wtimeout_ms"}
_URI_WRITE_CONCERN = {"w", "journal", "wtimeoutms"}


def write_concern_options(uri: str, write_concern: Any) -> dict[str, Any]:
    """The client keyword arguments for the store option ``write_concern`` (``{w, j, wtimeout_ms}``).

    None: :data:`DEFAULT_WRITE_CONCERN`, unless the URI sets a write concern of its own (``w``,
    ``journal``, ``wtimeoutMS``), which is then used as it is. A mapping: its keys, over the default's
    (``w`` a positive int or a mode name such as ``"majority"``, ``j`` a bool, ``wtimeout_ms`` an int >= 0,
    0 meaning no limit); it wins over the URI. Anything else raises ``ConfigError``."""
    if write_concern is None:
        given = {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}
        if given & _URI_WRITE_CONCERN:
            return {}
        write_concern = {}
    if not isinstance(write_concern, Mapping):
        raise ConfigError(f"write_concern must be a mapping such as {{w: majority, j: true}}, got {write_concern!r}")
    unknown = set(write_concern) - _WRITE_CONCERN_KEYS
    if unknown:
        raise ConfigError(
            f"write_concern: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: w, j, wtimeout_ms"
        )
    chosen = {**DEFAULT_WRITE_CONCERN, **write_concern}
    w, j, wtimeout = chosen["w"], chosen["j"], chosen["wtimeout_ms"]
    if isinstance(w, bool) or not ((isinstance(w, int) and w >= 1) or (isinstance(w, str) and w.strip())):
        raise ConfigError(
            f"write_concern.w must be a number of members >= 1 or a mode name such as 'majority', got {w!r}"
            " (w: 0, unacknowledged writes, is refused: a device is answered only for committed data)"
        )
    if not isinstance(j, bool):
        raise ConfigError(f"write_concern.j must be true or false, got {j!r}")
    if isinstance(wtimeout, bool) or not isinstance(wtimeout, int) or wtimeout < 0:
        raise ConfigError(f"write_concern.wtimeout_ms must be an integer >= 0 (0: no limit), got {wtimeout!r}")
    return {"w": w, "journal": j, "wTimeoutMS": wtimeout}


class RetryTransaction(Exception):
    """Raised inside a transaction whose reads were overtaken by a concurrent commit: run it again."""


def short_driver_error(exc: BaseException) -> str:
    """The driver's message without its timeout settings and topology dump (kept on the exception)."""
    text = str(exc)
    for tail in (", Timeout: ", " (configured timeouts:"):
        text = text.split(tail, 1)[0]
    return text


@contextlib.contextmanager
def driver_errors(action: str) -> Iterator[None]:
    """Turn driver errors into the store's: unreachable or failing backend -> ``StoreUnavailable``."""
    try:
        yield
    except DuplicateKeyError as exc:
        key = (exc.details or {}).get("keyValue", "")
        raise Conflict(f"{action}: a record with the same key {key} exists") from exc
    except (ConnectionFailure, WriteConcernError, WTimeoutError, ExecutionTimeout) as exc:
        raise StoreUnavailable(f"{action}: MongoDB unavailable: {short_driver_error(exc)}") from exc
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
