"""How each collection is stored in SQLite (its :class:`Table`) and how one page of it is selected."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from core.store.documents import CALENDAR_FIELDS, from_json
from core.store.listings import ListQuery, Page, Scalar
from core.store.sqlite.connection import FOLD_FUNCTION, fold_text

Row = Sequence[Any]


def _json_field(name: str) -> str:
    return f"json_extract(doc, '$.{name}')"


@dataclass(frozen=True)
class Table:
    """How one collection is stored: its table, whether rows are per tenant, field expressions, row shape."""

    name: str
    per_tenant: bool
    select: str
    to_doc: Callable[[Row], dict[str, Any]]
    columns: Mapping[str, str] = field(default_factory=dict)
    json_doc: bool = True

    def expression(self, name: str, params: list[Any]) -> str:
        """SQL for field ``name``: a real column, a literal JSON path (index-friendly) or a bound one."""
        if name in self.columns:
            return self.columns[name]
        if not self.json_doc:
            return "NULL"
        if '"' in name or "\\" in name:
            raise InvalidInput(f"field name {name!r} may not contain quotes or backslashes")
        params.append(f'$."{name}"')
        return "json_extract(doc, ?)"


def _doc(row: Row) -> dict[str, Any]:
    return from_json(row[0])


def reading_doc(row: Row) -> dict[str, Any]:
    """A ``data`` row (the columns of :data:`READING_COLUMNS`) as a reading."""
    out = {"device_uid": row[0], "timestamp": row[1], "counter_val": row[2]}
    for name, value in zip(CALENDAR_FIELDS, row[3:], strict=False):
        if value is not None:
            out[name] = value
    return out


def _with_id(row: Row) -> dict[str, Any]:
    return {**from_json(row[0]), "id": str(row[1])}


def _with_int_id(row: Row) -> dict[str, Any]:
    return {**from_json(row[0]), "id": row[1]}


def _session(row: Row) -> dict[str, Any]:
    return {**from_json(row[0]), "revoked": bool(row[1])}


def api_token_item(row: Row) -> dict[str, Any]:
    """An ``api_tokens`` row (``doc, revoked``) as listed: the doc holds everything but the hash."""
    return {**from_json(row[0]), "revoked": bool(row[1])}


_JSON_FIELDS = ("meter_id", "customer_no", "installer_id", "last_timestamp", "regdate", "bind_device_id", "tenant")
_INDEXED = {name: _json_field(name) for name in _JSON_FIELDS}
READING_COLUMNS = ("device_uid", "timestamp", "counter_val") + CALENDAR_FIELDS

TABLES: dict[str, Table] = {
    "device_route": Table(
        "device_route",
        False,
        "device_uid, db_name",
        lambda r: {"device_uid": r[0], "db_name": r[1]},
        {"device_uid": "device_uid", "db_name": "db_name"},
        json_doc=False,
    ),
    "user_route": Table(
        "user_route",
        False,
        "ID, db_name",
        lambda r: {"ID": r[0], "db_name": r[1]},
        {"ID": "ID", "db_name": "db_name"},
        json_doc=False,
    ),
    "floating_users": Table(
        "floating_users", False, "doc", _doc, {"ID": "ID", "regdate": _INDEXED["regdate"], "tenant": _INDEXED["tenant"]}
    ),
    "misc_data": Table(
        "misc_data",
        False,
        "doc",
        _doc,
        {c: c for c in ("at", "ip", "port", "device_type", "device_uid", "tenant")},
    ),
    "dead_letter": Table("dead_letter", False, "doc, id", _with_id, {"at": "at", "id": "id"}),
    "scale_latest": Table("scale_latest", False, "doc", _doc, {"scale_id": "scale_id"}),
    "scale_weight_log": Table(
        "scale_weight_log",
        False,
        "doc, id",
        _with_int_id,
        {
            "id": "id",
            "scale_id": "scale_id",
            "cylinder_no": "cylinder_no",
            "event_type": "event_type",
            "committed_at": "committed_at",
            "tenant": "tenant",
        },
    ),
    "sessions": Table(
        "sessions",
        False,
        "doc, revoked",
        _session,
        {c: c for c in ("token_hash", "login_id", "expires_at", "idle_expires_at", "revoked")},
    ),
    "api_tokens": Table(
        "api_tokens",
        False,
        "doc, revoked",
        api_token_item,
        {c: c for c in ("token_id", "tenant", "name", "created_at", "expires_at", "revoked")},
    ),
    "login_failures": Table(
        "login_failures",
        False,
        "key, at",
        lambda r: {"key": r[0], "at": r[1]},
        {"id": "id", "key": "key", "at": "at"},
        json_doc=False,
    ),
    "users": Table("users", True, "doc", _doc, {"ID": "ID"}),
    "device": Table(
        "device",
        True,
        "doc",
        _doc,
        {
            "device_uid": "device_uid",
            **{k: _INDEXED[k] for k in ("meter_id", "customer_no", "installer_id", "last_timestamp")},
        },
    ),
    "data": Table(
        "data", True, ", ".join(READING_COLUMNS), reading_doc, {c: c for c in READING_COLUMNS}, json_doc=False
    ),
    "subscriber": Table(
        "subscriber",
        True,
        "doc",
        _doc,
        {"customer_no": "customer_no", "meter_id": _INDEXED["meter_id"], "bind_device_id": _INDEXED["bind_device_id"]},
    ),
    "event": Table(
        "event", True, "doc", _doc, {"event_id": "event_id", "device_uid": "device_uid", "event_time": "event_time"}
    ),
    "measurement": Table(
        "measurement",
        False,
        "doc",
        _doc,
        {"device_type": "device_type", "device_id": "device_id", "at": "at", "tenant": "tenant"},
    ),
}
COMMON_COLLECTIONS = (
    "api_tokens",
    "dead_letter",
    "device_route",
    "floating_users",
    "login_failures",
    "measurement",
    "misc_data",
    "scale_latest",
    "scale_weight_log",
    "sessions",
    "user_route",
)
TENANT_COLLECTIONS = ("data", "device", "event", "subscriber", "users")


def _one_of(table: Table, name: str, values: Sequence[Scalar], params: list[Any]) -> str:
    """``name`` is one of ``values``; a None among them matches NULL (a missing field)."""
    present = [value for value in values if value is not None]
    parts = []
    if present:
        parts.append(f"{table.expression(name, params)} IN ({', '.join('?' * len(present))})")
        params.extend(present)
    if len(present) < len(values):
        parts.append(f"{table.expression(name, params)} IS NULL")
    return f"({' OR '.join(parts)})" if parts else "0"


def _search(table: Table, fields: Sequence[str], text: str, params: list[Any]) -> str:
    """One of ``fields`` holds ``text`` whatever the case, taken literally (``instr``, no LIKE pattern);
    a field that is not a string never matches."""
    needle = fold_text(text)
    parts = []
    for name in fields:
        parts.append(f"instr({FOLD_FUNCTION}({table.expression(name, params)}), ?) > 0")
        params.append(needle)
    return f"({' OR '.join(parts)})"


def select_page(
    conn: sqlite3.Connection,
    table: Table,
    tenant: str | None,
    query: ListQuery,
    order: tuple[str, bool],
    searches: Sequence[str] = (),
    fixed: Mapping[str, Scalar] | None = None,
) -> Page:
    """One page and the total of ``table`` under ``query`` (already checked) sorted by ``order``
    (``(field, descending)``, the field may be ``rowid``), in one read snapshot. ``searches`` are the
    fields a ``query.search`` looks into; ``fixed`` are equality conditions the store itself adds."""
    where: list[str] = []
    params: list[Any] = []
    if table.per_tenant:
        where.append("tenant = ?")
        params.append(tenant)
    for name, value in (fixed or {}).items():
        where.append(f"{table.expression(name, params)} IS ?")
        params.append(value)
    for name, value in query.filters.items():
        where.append(f"{table.expression(name, params)} IS ?")
        params.append(value)
    for name, values in query.any_of.items():
        where.append(_one_of(table, name, values, params))
    if query.search:
        where.append(_search(table, searches, query.search, params))
    for name, (low, high) in query.ranges.items():
        if low is not None:
            where.append(f"{table.expression(name, params)} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{table.expression(name, params)} < ?")
            params.append(high)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sort_params: list[Any] = []
    sort, descending = order
    sort_sql = "rowid" if sort == "rowid" else table.expression(sort, sort_params)
    direction = "DESC" if descending else "ASC"
    conn.execute("BEGIN")
    try:
        total = conn.execute(f"SELECT COUNT(*) FROM {table.name}{clause}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {table.select} FROM {table.name}{clause} ORDER BY {sort_sql} {direction}, rowid {direction}"
            " LIMIT ? OFFSET ?",
            params + sort_params + [query.limit, query.offset],
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return Page(items=[table.to_doc(row) for row in rows], total=total)
