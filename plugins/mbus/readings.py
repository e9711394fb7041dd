"""What a decoded M-Bus frame or wireless telegram means: one measurement of its meter, or a count."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from core.api import Decoded, KeyRing, Outcome, Session, Store, count

log = logging.getLogger("specgate.mbus")

#: what a stored record keeps of the decoded one
RECORD_FIELDS = ("function", "storage", "tariff", "subunit", "quantity", "unit", "value")


def plain(value: Any) -> Any:
    """A value the store keeps exactly: a NaN or infinite 32-bit real of a meter becomes None."""
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def measurement_values(message: Decoded) -> dict[str, Any] | None:
    """``{header, records, flags}`` of a data telegram, or None for a frame of no meter."""
    values = message.values
    records = values.get("records") or []  # none when the records stayed encrypted (the flags say why)
    header = values.get("header")
    if not isinstance(records, list) or not isinstance(header, dict) or not header.get("id"):
        return None
    kept = []
    for record in records:
        item = {key: plain(record.get(key)) for key in RECORD_FIELDS}
        if record.get("manufacturer_data") is not None:
            item["data"] = bytes(record["manufacturer_data"])
        kept.append(item)
    return {"header": {k: plain(v) for k, v in header.items()}, "records": kept, "flags": list(message.flags)}


def undecrypted(message: Decoded) -> bool:
    return any("encrypted (" in flag for flag in message.flags)


async def with_stored_key(session: Session, message: Decoded, meter_id: str) -> tuple[Decoded, str | None]:
    """The message decoded again with the key in the meter's device document (``aes_key``), when the
    options had none for it; and the tenant the meter is routed to (None when it has no route)."""
    tenant, device = await session.store.get_routed_device(meter_id)
    if device and undecrypted(message) and device.get("aes_key"):
        try:
            ring = KeyRing.of({meter_id: str(device["aes_key"])})
        except ValueError:
            log.warning("meter %s: its stored aes_key is not an AES-128 key", meter_id)
        else:
            message = session.spec.decode(message.raw, keys=ring)
    return message, tenant


async def handle_message(session: Session, message: Decoded) -> Outcome:
    """A data telegram is stored as one measurement of its meter; anything else is counted."""
    header = message.values.get("header")
    meter_id = str(header.get("id")) if isinstance(header, dict) and header.get("id") else None
    if meter_id is None:  # an acknowledgement, a short frame, a control frame
        count(session, f"{message.message}_frames")
        return Outcome()
    message, tenant = await with_stored_key(session, message, meter_id)
    values = measurement_values(message)
    if values is None:
        count(session, "not_stored")
        return Outcome()
    if undecrypted(message):
        count(session, "encrypted_no_key")
    measurement = {
        "device_type": session.device_type,
        "device_id": meter_id,
        "at": session.now(),
        "values": values,
        "tenant": tenant,
    }

    async def keep(store: Store) -> None:
        await store.record_measurements([measurement])
        count(session, "telegrams_stored")

    return Outcome(store=keep)
