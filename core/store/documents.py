"""Document helpers shared by the backends: value checks for the fixed-shape records, and the JSON encoding
the SQLite backend uses for flexible documents.

The JSON encoding keeps Python types exact: ``bytes`` are stored as ``{"$bytes": base64}``, ``Decimal`` as
``{"$decimal": "61.250"}`` and ``datetime`` as ``{"$date": isoformat}``. Stored documents never contain a
key starting with ``$`` (:func:`core.store.validation.check_document` refuses them), so a tagged object
cannot be confused with data.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import orjson

from core.errors import InvalidInput
from core.store.validation import (
    check_document,
    check_field_name,
    check_identifier,
    check_key,
    check_optional_tenant,
    check_tenant,
)
from core.timeutil import CALENDAR_FIELDS

_Result = TypeVar("_Result")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
READING_REQUIRED = ("device_uid", "timestamp", "counter_val")
READING_FIELDS = READING_REQUIRED + CALENDAR_FIELDS
#: what each row of :class:`ReadingRows` holds, in this order: every reading field but the device uid
READING_ROW_FIELDS = READING_FIELDS[1:]
#: Login failures: how long the store keeps one, and how many of one key at most (the newest).
LOGIN_FAILURE_RETENTION_S = 86400
LOGIN_FAILURES_KEPT = 1000


# ---------------------------------------------------------------------------- scalar checks
def check_int(name: str, value: Any) -> int:
    """A real ``int`` (not ``bool``) that fits in 64 bits."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer, got {type(value).__name__}: {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"{name} does not fit in 64 bits: {value!r}")
    return value


def check_number(name: str, value: Any) -> int | float:
    """Epoch seconds and the like: a finite ``int`` or ``float`` (not ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{name} must be finite, got {value!r}")
    if isinstance(value, int):
        check_int(name, value)
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false, got {type(value).__name__}: {value!r}")
    return value


def check_bytes(name: str, value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"{name} must be bytes, got {type(value).__name__}: {value!r}")
    return bytes(value)


def check_decimal(name: str, value: Any) -> Decimal:
    """Weights are exact: a ``Decimal`` (an ``int`` is converted); a float is refused as inexact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidInput(f"{name} must be a decimal.Decimal, got {type(value).__name__}: {value!r}")


def check_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    return value


# ---------------------------------------------------------------------------- record checks
_READING_KEYS = frozenset(READING_FIELDS)
_READING_INTS = READING_FIELDS[1:]


def is_plain_reading(reading: Any) -> bool:
    """The common case, checked fast (a gateway writes thousands of readings a second)."""
    if type(reading) is not dict or len(reading) < 3 or not reading.keys() <= _READING_KEYS:
        return False
    if "timestamp" not in reading or "counter_val" not in reading:
        return False
    for name, value in reading.items():
        if name == "device_uid":
            if type(value) is not str or not 0 < len(value) <= 256 or value[0] == "$" or "\x00" in value:
                return False
        elif type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
            return False
    return True


def check_reading(reading: Any) -> dict[str, Any]:
    """``{device_uid, timestamp, counter_val}`` plus optional calendar fields, all ints; nothing else."""
    if is_plain_reading(reading):
        return dict(reading)
    _check_keys(reading, "reading", READING_FIELDS, READING_REQUIRED)
    out: dict[str, Any] = {"device_uid": check_identifier("device_uid", reading["device_uid"])}
    for name in READING_FIELDS[1:]:
        if name in reading:
            out[name] = check_int(f"reading {name}", reading[name])
    return out


def _check_keys(record: Any, what: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    """A fixed-shape record: a mapping with every ``required`` key and no key outside ``allowed``."""
    if not isinstance(record, Mapping):
        raise InvalidInput(f"a {what} must be an object, got {type(record).__name__}: {record!r}")
    unknown = sorted(str(key) for key in record if key not in allowed)
    if unknown:
        raise InvalidInput(f"unknown {what} fields {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    missing = [name for name in required if name not in record]
    if missing:
        raise InvalidInput(f"a {what} needs {', '.join(missing)}: {record!r}")


def check_batch(batch: Any, what: str = "readings") -> Sequence[Any]:
    """The container of a batch (readings, measurements, exchanges): a list or tuple (a str, bytes or
    mapping is refused)."""
    if type(batch) is list or type(batch) is tuple:
        return batch  # the usual batch, without the abstract base classes' checks below
    if isinstance(batch, (str, bytes, Mapping)) or not isinstance(batch, Sequence):
        raise InvalidInput(f"{what} must be a list of {what}, got {type(batch).__name__}")
    return batch


class ReadingRows(NamedTuple):
    """Readings of one device as rows of ints, each in :data:`READING_ROW_FIELDS` order (timestamp,
    counter_val, then the six calendar fields). What a gateway plugin makes of a meter's count table: the
    store checks the rows in one pass and writes them without a dict per reading."""

    device_uid: str
    rows: Sequence[tuple[int, ...]]

    def docs(self) -> list[dict[str, Any]]:
        """The readings as documents (``{device_uid, timestamp, counter_val, year, ...}``)."""
        uid = self.device_uid
        return [{"device_uid": uid, **dict(zip(READING_ROW_FIELDS, row, strict=True))} for row in self.rows]


class Report(NamedTuple):
    """What one uplink reported, as :meth:`~core.store.base.Store.record_report` takes it: the device's
    ``$set``, its readings and the event it carried (or None)."""

    device_fields: Mapping[str, Any]
    readings: Sequence[Mapping[str, Any]] | ReadingRows
    event: Mapping[str, Any] | None = None


def decide_report(
    decide: Callable[[str | None, dict[str, Any] | None], tuple[_Result, Report | None]],
    device_uid: str,
    tenant: str | None,
    device: dict[str, Any] | None,
) -> tuple[_Result, Report | None]:
    """``decide(tenant, device)`` for :meth:`~core.store.base.Store.record_routed_report`; a report for a
    device with no route is refused (``InvalidInput``)."""
    result, report = decide(tenant, device)
    if report is not None and tenant is None:
        raise InvalidInput(f"a report of device {device_uid!r}, which has no route")
    return result, report


_ONLY_TUPLE, _ONLY_INT = {tuple}, {int}
_ROW_LENGTH = {len(READING_ROW_FIELDS)}


def check_reading_rows(readings: ReadingRows, device_uid: str | None = None) -> Sequence[tuple[int, ...]]:
    """The rows of ``readings``, each a tuple of exactly :data:`READING_ROW_FIELDS` ints (checked as a whole
    with C-level operations; the first bad row is named), of ``device_uid`` when given. An int beyond 64 bits
    is refused where it is written, as in a batch of documents (by sqlite3 when binding; by
    :func:`check_readings` for MongoDB)."""
    uid = check_identifier("device_uid", readings.device_uid)
    if device_uid is not None and uid != device_uid:
        raise InvalidInput(f"readings of device {uid!r} in the report of {device_uid!r}")
    rows = check_batch(readings.rows)
    if not rows or (
        set(map(type, rows)) == _ONLY_TUPLE
        and set(map(len, rows)) == _ROW_LENGTH
        and set(map(type, itertools.chain.from_iterable(rows))) == _ONLY_INT
    ):
        return rows
    for index, row in enumerate(rows):
        if type(row) is not tuple or len(row) != len(READING_ROW_FIELDS):
            raise InvalidInput(
                f"reading row {index} must be a tuple of {len(READING_ROW_FIELDS)} integers"
                f" ({', '.join(READING_ROW_FIELDS)}), got {row!r}"
            )
        _check_row_values(index, row)
    return rows  # ints of a subclass of int (an IntEnum, say): each passed alone


def _check_row_values(index: int, row: tuple[Any, ...]) -> None:
    for name, value in zip(READING_ROW_FIELDS, row, strict=True):
        check_int(f"reading {index} {name}", value)


def check_readings(readings: Any, device_uid: str | None = None) -> list[dict[str, Any]]:
    """Readings (a list of reading documents, or :class:`ReadingRows`) as checked documents."""
    if type(readings) is ReadingRows:
        for index, row in enumerate(check_reading_rows(readings, device_uid)):
            if not (min(row) >= INT64_MIN and max(row) <= INT64_MAX):
                _check_row_values(index, row)
        return readings.docs()
    return [check_reading(reading) for reading in check_batch(readings)]


MEASUREMENT_REQUIRED = ("device_type", "device_id", "at", "values")
MEASUREMENT_FIELDS = MEASUREMENT_REQUIRED + ("tenant",)


def check_measurement(measurement: Any) -> dict[str, Any]:
    """``{device_type, device_id, at, values, tenant}`` with ``tenant`` None when not given; nothing else.
    ``values`` may nest mappings and lists; every key at every depth must be a plain field name."""
    _check_keys(measurement, "measurement", MEASUREMENT_FIELDS, MEASUREMENT_REQUIRED)
    values = measurement["values"]
    if not isinstance(values, Mapping):
        raise InvalidInput(f"measurement values must be an object, got {type(values).__name__}: {values!r}")
    _check_nested_keys(values)
    check_storable(values, "values")
    tenant = measurement.get("tenant")
    return {
        "device_type": check_identifier("device_type", measurement["device_type"]),
        "device_id": check_identifier("device_id", measurement["device_id"]),
        "at": check_number("at", measurement["at"]),
        "tenant": None if tenant is None else check_tenant(tenant),
        "values": values,
    }


def _check_nested_keys(value: Any) -> None:
    """Keys inside lists too: a ``{"$bytes": ...}`` deep in a list would otherwise read back as bytes."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_field_name(key)
            _check_nested_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_nested_keys(item)


def check_fields(fields: Any, what: str, key: str, key_value: str | None = None) -> dict[str, Any]:
    """A ``$set`` document; its key field, when present, may not change."""
    doc = check_document(fields, what)
    if key in doc and key_value is not None and doc[key] != key_value:
        raise InvalidInput(f"{what} may not change {key} ({key_value!r} -> {doc[key]!r})")
    check_storable(doc)
    return doc


def check_event(event: Any) -> dict[str, Any]:
    doc = check_document(event, "event")
    check_identifier("device_uid", doc.get("device_uid"))
    check_number("event_time", doc.get("event_time"))
    if "event_code" in doc:
        check_int("event_code", doc["event_code"])
    if "event_id" in doc:
        check_identifier("event_id", doc["event_id"])
    check_storable(doc)
    return doc


def check_exchange(entry: Any) -> dict[str, Any]:
    doc = check_document(entry, "exchange")
    check_number("at", doc.get("at"))
    for name in ("recv", "send"):
        if name in doc:
            doc[name] = check_bytes(name, doc[name])
    for name in ("port", "recv_len", "send_len"):
        if name in doc:
            check_int(name, doc[name])
    for name in ("ip", "device_type", "datetime"):
        if name in doc:
            check_text(name, doc[name])
    if doc.get("device_uid") is not None:
        check_identifier("device_uid", doc["device_uid"])
    if "tenant" in doc:
        check_optional_tenant(doc["tenant"])
    check_storable(doc)
    return doc


def check_dead_letter(entry: Any) -> dict[str, Any]:
    doc = check_document(entry, "dead letter")
    check_number("at", doc.get("at"))
    if "data" in doc:
        doc["data"] = check_bytes("data", doc["data"])
    for name in ("ip", "device_type", "error", "path"):
        if name in doc:
            check_text(name, doc[name])
    check_storable(doc)
    return doc


def check_scale_reading(scale_id: Any, reading: Any) -> dict[str, Any]:
    check_identifier("scale_id", scale_id)
    doc = check_document(reading, "scale reading")
    doc.pop("scale_id", None)
    if "weight" in doc:
        doc["weight"] = check_decimal("weight", doc["weight"])
    if "received_at" in doc:
        check_number("received_at", doc["received_at"])
    if "tenant" in doc:
        check_optional_tenant(doc["tenant"])
    check_storable(doc)
    return {"scale_id": scale_id, **doc}


def check_weighing(record: Any) -> dict[str, Any]:
    doc = check_document(record, "weighing")
    doc.pop("id", None)
    check_identifier("scale_id", doc.get("scale_id"))
    check_identifier("cylinder_no", doc.get("cylinder_no"))
    check_text("event_type", doc.get("event_type"))
    check_number("committed_at", doc.get("committed_at"))
    if "gross_kg" in doc:
        doc["gross_kg"] = check_decimal("gross_kg", doc["gross_kg"])
    if "received_at" in doc:
        check_number("received_at", doc["received_at"])
    if "tenant" in doc:
        check_optional_tenant(doc["tenant"])
    check_storable(doc)
    return doc


SESSION_TIMES = ("created_at", "last_seen", "idle_expires_at")
SESSION_TEXTS = ("role", "address", "kind")


def check_session(session: Any) -> dict[str, Any]:
    """``{token_hash, login_id, expires_at}`` plus optional ``idle_expires_at``, ``created_at``,
    ``last_seen`` (numbers), ``tenant`` (a tenant), ``role``, ``address``, ``kind`` (strings), each of
    them None or absent when unknown; ``revoked`` is the store's own and dropped."""
    doc = check_document(session, "session")
    check_identifier("token_hash", doc.get("token_hash"))
    check_identifier("login_id", doc.get("login_id"))
    check_number("expires_at", doc.get("expires_at"))
    for name in SESSION_TIMES:
        if doc.get(name) is not None:
            check_number(name, doc[name])
    for name in SESSION_TEXTS:
        if doc.get(name) is not None:
            check_text(name, doc[name])
    if "tenant" in doc:
        check_optional_tenant(doc["tenant"])
    doc.pop("revoked", None)
    check_storable(doc)
    return doc


API_TOKEN_REQUIRED = ("token_id", "token_hash", "name", "scopes", "created_by", "created_at")
API_TOKEN_FIELDS = API_TOKEN_REQUIRED + ("tenant", "expires_at")
MAX_SCOPES = 100


def check_api_token(token: Any) -> dict[str, Any]:
    """``{token_id, token_hash, tenant, name, scopes, created_by, created_at, expires_at}`` with ``tenant``
    and ``expires_at`` None when not given; nothing else (``revoked`` is the store's own)."""
    _check_keys(token, "API token", API_TOKEN_FIELDS, API_TOKEN_REQUIRED)
    scopes = token["scopes"]
    if isinstance(scopes, (str, bytes, Mapping)) or not isinstance(scopes, Sequence):
        raise InvalidInput(f"API token scopes must be a list of strings, got {type(scopes).__name__}: {scopes!r}")
    if len(scopes) > MAX_SCOPES:
        raise InvalidInput(f"an API token may have at most {MAX_SCOPES} scopes, got {len(scopes)}")
    expires_at = token.get("expires_at")
    return {
        "token_id": check_identifier("token_id", token["token_id"]),
        "token_hash": check_identifier("token_hash", token["token_hash"]),
        "tenant": check_optional_tenant(token.get("tenant")),
        "name": check_key("API token name", token["name"]),
        "scopes": [check_identifier("scope", scope) for scope in scopes],
        "created_by": check_identifier("created_by", token["created_by"]),
        "created_at": check_number("created_at", token["created_at"]),
        "expires_at": None if expires_at is None else check_number("expires_at", expires_at),
    }


def check_keyed(document: Any, what: str, key: str) -> dict[str, Any]:
    """A flexible document (device, user, registration, subscriber) whose ``key`` is an identifier."""
    doc = check_document(document, what)
    check_identifier(key, doc.get(key))
    if "flag" in doc and doc["flag"] is not None:
        check_bool(f"{what} flag", doc["flag"])
    check_storable(doc)
    return doc


def check_registration(registration: Any) -> dict[str, Any]:
    """A pending registration: keyed by ``ID``; its ``tenant``, when given, is None or a tenant."""
    doc = check_keyed(registration, "registration", "ID")
    if "tenant" in doc:
        check_optional_tenant(doc["tenant"])
    return doc


# ---------------------------------------------------------------------------- storable values and JSON
#: value types every backend stores exactly, whatever the value
_STORABLE_AS_IS = frozenset({type(None), bool, str, bytes, bytearray, Decimal, datetime})


def check_storable(value: Any, path: str = "value") -> None:
    """Refuse values no backend can store exactly (sets, objects, NaN, ints beyond 64 bits)."""
    if type(value) is dict:
        # the usual document is flat: its plain values are checked here, the rest (and errors) below
        for key, item in value.items():
            kind = type(item)
            if kind in _STORABLE_AS_IS or (kind is int and INT64_MIN <= item <= INT64_MAX):
                continue
            if kind is float and math.isfinite(item):
                continue
            check_storable(item, f"{path}.{key}")
        return
    if value is None or isinstance(value, (bool, str, bytes, bytearray, Decimal, datetime)):
        return
    if isinstance(value, int):
        check_int(path, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path} must be finite, got {value!r}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_storable(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]")
    else:
        raise InvalidInput(f"{path} cannot be stored: {type(value).__name__} {value!r}")


def _tag(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}
    raise InvalidInput(f"cannot store {type(value).__name__}: {value!r}")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "$bytes":
            return base64.b64decode(value)
        if key == "$decimal":
            return Decimal(value)
        if key == "$date":
            return datetime.fromisoformat(value)
    return obj


#: datetimes and dataclasses go to ``_tag`` (orjson would write them itself), as with ``json.dumps``
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def to_json(doc: Mapping[str, Any]) -> str:
    """Encode a checked document; bytes, Decimal and datetime are tagged so they round-trip exactly.

    orjson writes it (the hot path); what orjson refuses (an integer beyond 64 bits, a non-string key) or
    may have written differently (a text with null in it) is left to the standard encoder, which writes it
    or gives the error."""
    try:
        encoded = orjson.dumps(doc, default=_tag, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, InvalidInput):
            raise exc.__cause__ from None
    else:
        # orjson writes NaN and infinities as null, which the standard encoder refuses: without a null
        # anywhere in the text there was none
        if b"null" not in encoded:
            return encoded.decode("utf-8")
    try:
        return json.dumps(doc, default=_tag, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"document cannot be stored: {exc}") from exc


def _untag_all(value: Any) -> Any:
    """What ``object_hook=_untag`` makes of a decoded value: every object untagged, innermost first."""
    if type(value) is dict:
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _untag_all(item)
        return _untag(value)
    if type(value) is list:
        return [_untag_all(item) for item in value]
    return value


def from_json(text: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN or Infinity, which only another client could have written: the standard decoder reads them
        # (an integer beyond 64 bits, which orjson would read as a float, is never stored: check_storable)
        return json.loads(text, object_hook=_untag)
    # only a text with a "$..." key can hold a tagged value
    if '"$' in text or "\\u0024" in text:
        return _untag_all(doc)  # type: ignore[no-any-return]
    return doc
