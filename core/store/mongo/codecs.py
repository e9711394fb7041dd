"""BSON types as the original system has them: Decimal as Decimal128, the original integer fields as
integers, epoch seconds as BSON dates where a TTL index needs them, and documents returned without ``_id``."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import Decimal128
from bson.codec_options import TypeCodec, TypeRegistry

from core.errors import InvalidInput
from core.store.documents import check_int

#: Integer fields of the original layout (the C server read them as int32), per kind of document: kept
#: as BSON integers, never floats or strings (a float with an integral value is converted).
DEVICE_INTS = frozenset(
    {
        "initial_count",
        "ref_interval",
        "minimum",
        "maximum",
        "server_port",
        "last_timestamp",
        "last_count",
        "battery",
        "uptime",
        "error_count",
        "status",
    }
)
USER_INTS = frozenset({"level"})


class DecimalCodec(TypeCodec):
    """``decimal.Decimal`` <-> BSON ``Decimal128`` (weights keep every digit)."""

    python_type = decimal.Decimal
    bson_type = Decimal128

    def transform_python(self, value: decimal.Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> decimal.Decimal:
        return value.to_decimal()


def type_registry() -> TypeRegistry:
    """The codecs the store's client is opened with."""
    return TypeRegistry([DecimalCodec()])


def epoch_date(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def original_types(doc: dict[str, Any], ints: frozenset[str]) -> dict[str, Any]:
    """Integer fields of the original layout stay integers and ``server_ip`` a dotted string, so the
    original C server (``bson_iter_int32``, ``bson_iter_utf8``) keeps reading what specgate writes."""
    for name in ints & doc.keys():
        value = doc[name]
        if isinstance(value, float) and value.is_integer():
            doc[name] = value = int(value)
        if value is not None:
            check_int(name, value)
    server_ip = doc.get("server_ip")
    if server_ip is not None and not isinstance(server_ip, str):
        raise InvalidInput(f"server_ip must be a dotted IPv4 string, got {type(server_ip).__name__}: {server_ip!r}")
    doc.pop("_id", None)
    return doc


def strip(doc: Mapping[str, Any], internal: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored document as the interface returns it: no ``_id``, no bookkeeping fields."""
    return {key: value for key, value in doc.items() if key != "_id" and key not in internal}


def clean(doc: Mapping[str, Any] | None, *internal: str) -> dict[str, Any] | None:
    """:func:`strip` for a lookup that may have found nothing."""
    return None if doc is None else strip(doc, internal)
