"""What both backends' live feeds share: the check of an entry and the entries each announcing write makes.

An entry is ``(kind, tenant, data)`` (see :meth:`core.store.base.Store.follow_live`); ``data`` holds what
the web process needs to build its message without reading the store again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidInput
from core.store.base import LIVE_KINDS
from core.store.documents import CALENDAR_FIELDS, check_document, check_storable
from core.store.validation import check_tenant

Entry = tuple[str, "str | None", dict[str, Any]]

_READING_FIELDS = ("device_uid", "timestamp", "counter_val", *CALENDAR_FIELDS)


def check_live(kind: Any, tenant: Any, data: Any) -> dict[str, Any]:
    """The checked ``data`` of an entry given to ``publish_live``."""
    if kind not in LIVE_KINDS:
        raise InvalidInput(f"live kind must be one of {', '.join(LIVE_KINDS)}, got {kind!r}")
    if tenant is not None:
        check_tenant(tenant)
    doc = check_document(data, "live entry")
    check_storable(doc)
    return doc


def scale_entry(doc: Mapping[str, Any]) -> Entry:
    """A stable line kept by ``set_scale_latest`` (``doc`` as checked there)."""
    data = {name: doc.get(name) for name in ("scale_id", "status", "weight", "unit", "received_at")}
    return "scale", doc.get("tenant"), {**data, "stable": True}


def report_entry(tenant: str, device_uid: str, readings: Sequence[Mapping[str, Any]]) -> Entry:
    """A report whose readings were stored: its newest reading."""
    newest = max(readings, key=lambda reading: reading["timestamp"])
    reading = {name: newest[name] for name in _READING_FIELDS if newest.get(name) is not None}
    return "report", tenant, {"device_uid": device_uid, "reading": reading}


def event_entry(tenant: str, event: Mapping[str, Any]) -> Entry:
    """An event stored for the first time."""
    return "event", tenant, {"device_uid": event.get("device_uid"), "event": dict(event)}


def dead_letter_entry(entry_id: str, doc: Mapping[str, Any]) -> Entry:
    """A dead letter (never a tenant's: only system administrators see them)."""
    data = {name: doc.get(name) for name in ("device_type", "ip", "port", "at", "error", "path")}
    return "dead_letter", None, {"id": entry_id, **data}
