"""The one storage interface of specgate.

Everything the gateway and the web API keep goes through :class:`Store`. Two real implementations exist:
``core.store.sqlite.SQLiteStore`` (embedded default) and ``core.store.mongo.MongoStore``. Both keep the
layout of the original gas-meter system (a common database and one database per tenant, same field names
and types), so the names below are those of the original MongoDB collections:

common database (``gas_common`` by default)
    ``device_route``   device_uid -> db_name (the tenant)
    ``user_route``     ID -> db_name
    ``floating_users`` pending self-registrations
    ``misc_data``      raw exchange log (every TCP exchange, junk included)
    ``dead_letter``    frames that failed to parse, with the error path          (new)
    ``scale_latest``   latest stable reading per scale id                        (new)
    ``scale_weight_log`` committed weighings, with an increasing integer ``id``  (new)
    ``sessions``       server-issued login sessions                              (new)
    ``measurement``    measurements of devices that are not gas meters           (new)
    ``api_tokens``     API tokens (their hashes), per tenant or system-wide      (new)
    ``login_failures`` failed logins per key, for throttling, kept for a day     (new)
one database per tenant (the tenant *is* the database name, e.g. ``gas_demo``)
    ``users``, ``device``, ``data`` (readings), ``subscriber``, ``event`` (new)

Rules every implementation follows (the contract suite in ``tests/store`` checks them):

* Identifiers (tenant, device_uid, login ID, scale_id, customer_no, ...) must be ``str``; anything else,
  and any string starting with ``$`` or containing NUL, raises :class:`~core.errors.InvalidInput`.
  Filter values must be scalars (str, int, float, bool, None); a dict such as ``{"$ne": None}`` raises
  ``InvalidInput`` and is never sent to a database.
* Each listing accepts the filter (and ``any_of``), range, sort and search fields of its entry in
  :data:`core.store.listings.LISTINGS` (appended to the listing method's docstring below); any other
  field raises ``InvalidInput``. A search is a literal, case-insensitive substring match, never a
  pattern.
* Integers of the original layout are stored as 32-bit integers, ``flag`` as a bool.
* A write returns only after it is durably committed. A backend that cannot commit raises
  :class:`~core.errors.StoreUnavailable`.
* Documents returned are plain dicts without backend-internal keys (no ``_id`` ObjectId); ``bytes`` stay
  ``bytes``; decimals stay ``decimal.Decimal``.
* Times passed in as ``float``/``int`` are epoch seconds (UTC).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import tzinfo
from types import TracebackType
from typing import Any, Self, TypeVar

from core.store.documents import LOGIN_FAILURES_KEPT, ReadingRows, Report, check_batch, check_exchange, decide_report
from core.store.listings import LISTINGS, ListQuery, Page, Scalar
from core.store.usage import USAGE_BUCKETS, aggregate_usage

__all__ = ["LIVE_KINDS", "USAGE_BUCKETS", "ListQuery", "Page", "Scalar", "Store"]

#: what the live feed announces (:meth:`Store.follow_live`)
LIVE_KINDS = ("scale", "report", "event", "dead_letter")

_Method = TypeVar("_Method", bound=Callable[..., Any])
_Result = TypeVar("_Result")


def _listing(name: str) -> Callable[[_Method], _Method]:
    """Append the rules of ``LISTINGS[name]`` to the method's docstring, so they are written only once."""

    def document(method: _Method) -> _Method:
        method.__doc__ = f"{method.__doc__ or ''}\n\n        {LISTINGS[name].describe()}"
        return method

    return document


class Store(abc.ABC):
    """Async domain storage: ``async with open_store(url) as store:`` opens it and closes it again
    (or ``await store.open()`` ... ``await store.close()``)."""

    #: ``"sqlite"`` or ``"mongodb"``
    backend: str = ""
    #: how many failures of one key :meth:`note_login_failure` keeps at most (the newest)
    login_failures_kept: int = LOGIN_FAILURES_KEPT

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ lifecycle
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create or migrate the schema and indexes. Idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release every resource."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the backend answers."""

    # ------------------------------------------------------------------ tenants and routing
    @abc.abstractmethod
    async def add_tenant(self, tenant: str) -> None:
        """Register a tenant (its database). Idempotent. Names match ``^[A-Za-z0-9_]{1,63}$``."""

    @abc.abstractmethod
    async def list_tenants(self) -> list[str]:
        """Known tenants, sorted."""

    @abc.abstractmethod
    async def delete_tenant(self, tenant: str) -> dict[str, int]:
        """Remove a tenant and everything it holds: its users, devices, readings, subscribers and events,
        the routes naming it, its users' sessions and its API tokens (revoked). Returns how many of each
        were removed (``users``, ``devices``, ``readings``, ``subscribers``, ``events``); exchanges, dead
        letters, measurements and weighings stay (they age out by retention). The caller decides whether a
        tenant holding data may go (``specgate tenants delete --force``). Unknown tenants give zeros."""

    @abc.abstractmethod
    async def set_device_route(self, device_uid: str, tenant: str) -> None:
        """Route ``device_uid`` to ``tenant`` (``device_route``), replacing any previous route."""

    @abc.abstractmethod
    async def get_device_route(self, device_uid: str) -> str | None:
        """The tenant of ``device_uid`` or None when the device is unknown. ``"none"`` is returned as is."""

    async def get_routed_device(self, device_uid: str) -> tuple[str | None, dict[str, Any] | None]:
        """``(tenant, device)`` of ``device_uid`` in one call, as :meth:`get_device_route` then
        :meth:`get_device` give them: ``(None, None)`` when the device has no route, ``(tenant, None)`` when
        the route names a tenant that holds no such device. A route naming a tenant the store cannot use
        raises ``InvalidInput``, as ``get_device`` does. What a device session looks up first; a backend
        that can read both at once overrides this (SQLite: one query on a reader thread)."""
        tenant = await self.get_device_route(device_uid)
        if tenant is None:
            return None, None
        return tenant, await self.get_device(tenant, device_uid)

    # ------------------------------------------------------------------ devices (tenant ``device``)
    @abc.abstractmethod
    async def add_device(self, tenant: str, device: Mapping[str, Any]) -> None:
        """Insert a device document (``device_uid`` required) and its route. ``Conflict`` if it exists."""

    @abc.abstractmethod
    async def get_device(self, tenant: str, device_uid: str) -> dict[str, Any] | None:
        """The device document, or None."""

    @abc.abstractmethod
    async def update_device(self, tenant: str, device_uid: str, fields: Mapping[str, Any]) -> bool:
        """Set ``fields`` on the device (``$set`` semantics). False when there is no such device."""

    @abc.abstractmethod
    async def delete_device(self, tenant: str, device_uid: str) -> bool:
        """Delete the device and its route. False when there was none."""

    @_listing("devices")
    @abc.abstractmethod
    async def list_devices(self, tenant: str, query: ListQuery) -> Page:
        """The tenant's devices."""

    # ------------------------------------------------------------------ readings (tenant ``data``)
    @abc.abstractmethod
    async def insert_readings(self, tenant: str, readings: Sequence[Mapping[str, Any]] | ReadingRows) -> int:
        """Insert readings ``{device_uid, timestamp, counter_val, year, month, day, hour, wday, week}``, or
        one device's readings as :class:`~core.store.documents.ReadingRows` (rows of those ints).

        A reading whose ``(device_uid, timestamp)`` already exists is skipped silently. Returns how many
        were new.
        """

    @_listing("readings")
    @abc.abstractmethod
    async def list_readings(self, tenant: str, query: ListQuery) -> Page:
        """The tenant's readings."""

    @abc.abstractmethod
    async def readings_for_usage(self, tenant: str, device_uid: str, start: int, end: int) -> list[dict[str, Any]]:
        """Readings with ``start <= timestamp < end`` in ascending order, preceded by the newest reading
        before ``start`` when there is one (the baseline of the first interval)."""

    async def usage(
        self, tenant: str, device_uid: str, bucket: str, start: int, end: int, tz: tzinfo
    ) -> list[dict[str, Any]]:
        """Consumption per calendar bucket, from cumulative counts. Shared by every backend."""
        readings = await self.readings_for_usage(tenant, device_uid, start, end)
        return aggregate_usage(readings, bucket, start, end, tz)

    # ------------------------------------------------------------------ one device report, one commit
    @abc.abstractmethod
    async def record_report(
        self,
        tenant: str,
        device_uid: str,
        device_fields: Mapping[str, Any],
        readings: Sequence[Mapping[str, Any]] | ReadingRows,
        event: Mapping[str, Any] | None = None,
    ) -> int:
        """Everything one uplink reported, committed together before the device is answered:
        insert ``readings`` (as for :meth:`insert_readings`; ``ReadingRows`` must be ``device_uid``'s;
        duplicates skipped) and ``event`` (when given; skipped when its ``event_id``
        is stored already), ``$set device_fields`` on the device. Returns how many readings were new.
        Raises ``StoreUnavailable`` when it could not be committed, in which case the caller must not reply.

        A device whose reply was lost sends the same report again: with the event id derived from the
        report, the resend stores nothing new. Where the backend cannot commit the three writes as one,
        the device's ``$set`` is done last, so a failure never leaves the device claiming a report that is
        not stored, and the resend completes it."""

    async def record_routed_report(
        self,
        device_uid: str,
        decide: Callable[[str | None, dict[str, Any] | None], tuple[_Result, Report | None]],
    ) -> _Result:
        """A device's route and document read, and the report made of them recorded, as one step: what a
        device session does with an uplink when its reply depends on the device document.

        ``decide(tenant, device)`` gets what :meth:`get_routed_device` gives and returns ``(result,
        report)``; a ``report`` (None: nothing to store) is recorded for ``tenant`` as :meth:`record_report`
        records it, and ``result`` is returned once it is durable. ``decide`` must depend on its arguments
        only: a backend may call it more than once (a group commit that runs again) and on another thread.
        A route naming a tenant the store cannot use raises ``InvalidInput``, as for
        :meth:`get_routed_device`, and so does a report for a device with no route.

        This default reads, decides, then records. A backend that can read and write in one transaction
        overrides it (SQLite: the read is done in the report's own unit of the group commit, on the
        writer's connection, whose cache every commit keeps warm)."""
        tenant, device = await self.get_routed_device(device_uid)
        result, report = decide_report(decide, device_uid, tenant, device)
        if report is not None and tenant is not None:
            await self.record_report(tenant, device_uid, *report)
        return result

    # ------------------------------------------------------------------ events (tenant ``event``)
    @abc.abstractmethod
    async def add_event(self, tenant: str, event: Mapping[str, Any]) -> str:
        """Store ``{device_uid, event_time (epoch), event_code (int), event_type, event_message, ...}``;
        returns its ``event_id`` (a string, also present in the stored document). An ``event_id`` given in
        ``event`` is kept (one is generated otherwise); an event whose ``event_id`` the tenant already holds
        is skipped silently (a resent report), and that id is returned."""

    @_listing("events")
    @abc.abstractmethod
    async def list_events(self, tenant: str, query: ListQuery) -> Page:
        """The tenant's events."""

    # ------------------------------------------------------------------ exchange log (common ``misc_data``)
    @abc.abstractmethod
    async def log_exchange(self, entry: Mapping[str, Any]) -> None:
        """Keep one exchange: ``{ip, port, datetime (local string), recv (bytes), recv_len, send (bytes),
        send_len, at (epoch float), device_type}``, optionally attributed with ``device_uid`` (str or None)
        and ``tenant`` (a tenant or None); like every optional key, they come back only when they were
        written (an entry without them is matched by a ``None`` filter). Entries older than the store's
        ``exchange_retention_days`` are removed by the store itself (a TTL index on MongoDB, a periodic
        purge on SQLite)."""

    async def log_exchanges(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Keep several exchanges, each as :meth:`log_exchange` takes it, in one write where the backend can
        (one unit of a group commit on SQLite, one ``insert_many`` on MongoDB). Every entry is checked before
        any is written: one that is not valid refuses the whole batch (``InvalidInput``)."""
        checked = [check_exchange(entry) for entry in check_batch(entries, "exchanges")]
        for entry in checked:
            await self.log_exchange(entry)

    @_listing("exchanges")
    @abc.abstractmethod
    async def list_exchanges(self, query: ListQuery) -> Page:
        """The exchange log, newest first by default."""

    # ------------------------------------------------------------------ dead letters (common ``dead_letter``)
    @abc.abstractmethod
    async def add_dead_letter(self, entry: Mapping[str, Any]) -> str:
        """Keep bytes that failed to parse: ``{device_type, ip, port, at, data (bytes), error, path}``.
        Returns its id. Dead letters older than the store's ``dead_letter_retention_days`` (default 30) are
        removed like the exchange log, so junk from the network cannot grow the store without bound."""

    @abc.abstractmethod
    async def get_dead_letter(self, entry_id: str) -> dict[str, Any] | None:
        """The dead letter ``add_dead_letter`` returned ``entry_id`` for (with its ``id``), or None."""

    @_listing("dead_letters")
    @abc.abstractmethod
    async def list_dead_letters(self, query: ListQuery) -> Page:
        """Dead letters, newest first by default."""

    # ------------------------------------------------------------------ measurements (common ``measurement``)
    @abc.abstractmethod
    async def record_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> int:
        """Keep measurements of devices that are not gas meters, each
        ``{device_type: str, device_id: str, at: epoch, values: {...}, tenant: str | None}`` (``tenant``
        optional, default None; nothing else). ``values`` is a JSON-like mapping whose leaves may also be
        ``Decimal`` or ``bytes``; it comes back exactly (Decimal128 on MongoDB). A measurement whose
        ``(device_type, device_id, at)`` already exists is skipped silently. The batch is one commit;
        returns how many were new."""

    @_listing("measurements")
    @abc.abstractmethod
    async def list_measurements(self, query: ListQuery) -> Page:
        """Measurements ``{device_type, device_id, at, values, tenant}``, newest first by default."""

    # ------------------------------------------------------------------ scales
    @abc.abstractmethod
    async def set_scale_latest(self, scale_id: str, reading: Mapping[str, Any]) -> None:
        """Replace the latest stable reading of ``scale_id``:
        ``{status, weight (Decimal), unit, raw, received_at (epoch float)}`` (any process may read it)."""

    @abc.abstractmethod
    async def get_scale_latest(self, scale_id: str) -> dict[str, Any] | None:
        """``{scale_id, status, weight, unit, raw, received_at}`` or None."""

    @abc.abstractmethod
    async def list_scales(self, tenant: str | None) -> list[dict[str, Any]]:
        """The latest reading of every scale ``tenant`` may see, sorted by ``scale_id``: those of
        ``tenant`` and shared ones (no ``tenant``, or None); with ``tenant`` None, every scale. Scales are
        as few as the listeners feeding them, so the whole list is returned."""

    @abc.abstractmethod
    async def commit_weighing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append to the weighing log: ``{scale_id, cylinder_no, event_type, gross_kg (Decimal),
        raw_line, received_at, committed_at, arrival_shipping_no, move_report_no, tenant}`` (``tenant``
        optional: a tenant or None, returned only when written). Assigns ``id``, an integer increasing
        across all processes sharing the store; returns the stored record."""

    @_listing("weighings")
    @abc.abstractmethod
    async def search_weighings(self, query: ListQuery) -> Page:
        """The weighing log, in ``id`` order by default."""

    # ------------------------------------------------------------------ live feed (common ``live_feed``)
    @abc.abstractmethod
    async def publish_live(self, kind: str, tenant: str | None, data: Mapping[str, Any]) -> None:
        """Announce something that is not stored otherwise (a scale line that is not stable) to every
        process following the feed. ``kind`` is one of :data:`LIVE_KINDS`, ``tenant`` the tenant it belongs
        to (None: shared), ``data`` a storable document. The writes that store what they announce do it
        themselves, in the same commit (so nothing is announced that was not stored): ``record_report``
        (a report, when a reading was new, and its event when new), ``add_event``, ``set_scale_latest``
        (a stable scale line) and ``add_dead_letter``."""

    @abc.abstractmethod
    async def live_position(self) -> Any:
        """Where the feed ends now: give it to :meth:`follow_live` to miss nothing written after this call."""

    @abc.abstractmethod
    def follow_live(self, after: Any = None) -> AsyncIterator[dict[str, Any]]:
        """The feed, written by any process sharing the store, as it grows: ``{kind, tenant, at, data,
        position}`` in commit order, from ``after`` (a ``position`` yielded before; None: from now). Runs
        until the caller stops iterating (``aclose()``) or the store closes (``StoreUnavailable``). The
        feed is bounded (by count on SQLite, by age on MongoDB): a follower far behind misses the oldest."""

    # ------------------------------------------------------------------ users (tenant ``users`` + ``user_route``)
    @abc.abstractmethod
    async def add_user(self, tenant: str, user: Mapping[str, Any]) -> None:
        """Insert a user (``ID`` required) and route ``ID`` to ``tenant``. ``Conflict`` when the ID is
        already routed anywhere (an existing account is never re-pointed)."""

    @abc.abstractmethod
    async def get_user(self, tenant: str, login_id: str) -> dict[str, Any] | None:
        """The tenant's user document, ``passwd`` included (callers strip it)."""

    @abc.abstractmethod
    async def find_user(self, login_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(tenant, user)`` through ``user_route``, or None."""

    @abc.abstractmethod
    async def update_user(self, tenant: str, login_id: str, fields: Mapping[str, Any]) -> bool:
        """``$set`` fields on the user. False when there is no such user."""

    @abc.abstractmethod
    async def delete_user(self, tenant: str, login_id: str) -> bool:
        """Delete the user and its route. False when there was none."""

    @_listing("users")
    @abc.abstractmethod
    async def list_users(self, tenant: str, query: ListQuery) -> Page:
        """The tenant's users, ``passwd`` included (callers strip it)."""

    # ------------------------------------------------------------------ pending registrations (``floating_users``)
    @abc.abstractmethod
    async def add_registration(self, registration: Mapping[str, Any]) -> None:
        """Insert ``{ID, email, name, passwd, lang, category, comment, regdate, flag: False, tenant}``
        (``tenant``, the tenant asked for, optional: a tenant or None). ``Conflict`` when the ID is routed
        to a user or already pending."""

    @abc.abstractmethod
    async def get_registration(self, login_id: str) -> dict[str, Any] | None:
        """The registration, approved or not."""

    @_listing("registrations")
    @abc.abstractmethod
    async def list_registrations(self, query: ListQuery) -> Page:
        """Registrations, approved or not unless ``flag`` is filtered."""

    @abc.abstractmethod
    async def set_registration_flag(self, login_id: str, flag: bool) -> bool:
        """Mark a registration approved (True) or pending. False when there is none."""

    @abc.abstractmethod
    async def delete_registration(self, login_id: str) -> bool:
        """Delete a registration (a rejected one, or one whose user was created). False when there was
        none."""

    # ------------------------------------------------------------------ sessions (common ``sessions``)
    @abc.abstractmethod
    async def create_session(self, session: Mapping[str, Any]) -> None:
        """Store ``{token_hash, login_id, expires_at}`` (required; ``expires_at`` is the absolute expiry,
        epoch seconds) with any of ``idle_expires_at`` (the expiry of an idle session, moved on by
        :meth:`touch_session`), ``created_at``, ``last_seen`` (epoch numbers), ``tenant`` (a tenant),
        ``role``, ``address``, ``kind`` (strings), each None or absent when unknown; other keys are kept
        as given. ``token_hash`` is unique: ``Conflict`` when it exists."""

    @abc.abstractmethod
    async def get_session(self, token_hash: str, now: float) -> dict[str, Any] | None:
        """The session as stored (last touch included) when it exists, is not revoked, ``expires_at >
        now`` and ``idle_expires_at`` is absent, None or ``> now``; else None."""

    @abc.abstractmethod
    async def touch_session(self, token_hash: str, idle_expires_at: float, last_seen: float) -> bool:
        """Set ``idle_expires_at`` and ``last_seen`` on the session when it is live at ``last_seen``
        (as :meth:`get_session` with ``now=last_seen`` would return it): an expired, idle-expired or
        revoked session is never revived. False when there is no such live session. ``expires_at`` is
        never moved, so the absolute expiry still ends the session."""

    @abc.abstractmethod
    async def revoke_session(self, token_hash: str) -> bool:
        """Revoke one session. True when it was revoked now; False when there is none or it was
        revoked already."""

    @abc.abstractmethod
    async def revoke_user_sessions(self, login_id: str) -> int:
        """Revoke every session of a user; returns how many were revoked now."""

    @abc.abstractmethod
    async def purge_sessions(self, before: float) -> int:
        """Delete the sessions that can never be live again at ``before``: revoked ones and those whose
        ``expires_at`` or ``idle_expires_at`` is ``< before``. Returns how many were deleted. Call it
        now and then (with ``before`` the current time or a little earlier), so the table cannot grow
        forever."""

    # ------------------------------------------------------------------ API tokens (common ``api_tokens``)
    @abc.abstractmethod
    async def create_api_token(self, token: Mapping[str, Any]) -> None:
        """Store ``{token_id, token_hash, tenant, name, scopes, created_by, created_at, expires_at}``:
        ``token_id`` the public short id (an identifier), ``token_hash`` the hash of the secret (an
        identifier), ``tenant`` a tenant or None (a system-wide token), ``name`` a label (1 to 200
        characters, no control characters), ``scopes`` a list of identifiers (at most 100),
        ``created_by`` the creator's login ID, ``created_at`` and ``expires_at`` epoch numbers
        (``expires_at`` None: never expires); ``tenant`` and ``expires_at`` default to None, any other key
        is ``InvalidInput``. ``Conflict`` when the token_id or the token_hash exists."""

    @abc.abstractmethod
    async def get_api_token(self, token_hash: str, now: float) -> dict[str, Any] | None:
        """The token as created (``token_hash`` included) when it exists, is not revoked and
        ``expires_at`` is None or ``> now``; else None."""

    @_listing("api_tokens")
    @abc.abstractmethod
    async def list_api_tokens(self, tenant: str | None, query: ListQuery) -> Page:
        """The tokens of ``tenant`` (None: of every tenant, system-wide tokens included), newest first by
        default: ``{token_id, tenant, name, scopes, created_by, created_at, expires_at, revoked}``, never
        ``token_hash``. Expired and revoked tokens are listed (filter ``revoked`` to hide the latter)."""

    @abc.abstractmethod
    async def revoke_api_token(self, token_id: str, tenant: str | None) -> bool:
        """Revoke the token ``token_id``; with ``tenant`` given only when it is that tenant's (None: of
        any tenant, for a system administrator). True when it was revoked now; False when there is no
        such token (in that tenant) or it was revoked already."""

    # ------------------------------------------------------------------ login throttling (common ``login_failures``)
    @abc.abstractmethod
    async def note_login_failure(self, key: str, at: float) -> None:
        """Count one failed login under ``key`` (such as ``account:alice`` or ``address:192.0.2.7``: a
        string of 1 to 200 characters, not starting with ``$``, without control characters) at ``at``
        (epoch). Shared by every process on the store. The store keeps failures for one day (by the
        clock; a TTL index on MongoDB, a purge on each insert on SQLite) and at most the newest
        :attr:`login_failures_kept` (1000) of a key."""

    @abc.abstractmethod
    async def count_login_failures(self, key: str, since: float) -> int:
        """How many failures of ``key`` the store keeps with ``at >= since`` (never those older than its
        one day, even before they are removed)."""

    @abc.abstractmethod
    async def clear_login_failures(self, key: str) -> None:
        """Forget every failure of ``key`` (after a successful login)."""

    # ------------------------------------------------------------------ subscribers (tenant ``subscriber``)
    @abc.abstractmethod
    async def upsert_subscriber(self, tenant: str, subscriber: Mapping[str, Any]) -> bool:
        """Insert or ``$set`` a subscriber keyed by ``customer_no``. True when it was new."""

    @abc.abstractmethod
    async def get_subscriber(self, tenant: str, customer_no: str) -> dict[str, Any] | None:
        """The subscriber, or None."""

    @abc.abstractmethod
    async def delete_subscriber(self, tenant: str, customer_no: str) -> bool:
        """Delete one subscriber. False when there was none."""

    @_listing("subscribers")
    @abc.abstractmethod
    async def list_subscribers(self, tenant: str, query: ListQuery) -> Page:
        """The tenant's subscribers."""

    # ------------------------------------------------------------------ admin explorer
    @abc.abstractmethod
    async def list_collections(self) -> list[dict[str, Any]]:
        """``[{"db": name, "collections": [names...]}]`` for the common database and every tenant,
        sorted; only specgate's own collections (never ``admin``/``config``/``local``)."""

    @abc.abstractmethod
    async def browse(self, db: str, collection: str, query: ListQuery) -> Page:
        """Read-only rows of one collection listed by :meth:`list_collections`; equality filters on any
        top-level field (scalars only), sort on any field. ``NotFound`` for an unlisted collection."""
