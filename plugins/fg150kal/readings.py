"""What one decoded scale line means: a stable reading to keep, or a diagnostic to log and count."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from core.api import Decoded, Outcome, Session, Store, StoreUnavailable, count
from plugins.fg150kal.options import DEFAULT_SCALE_ID, DEVICE_TYPE

#: headers of stable values: ST stable weight, WT stable weight (other A&D setting), QT stable count
STABLE_HEADERS = ("ST", "WT", "QT")

log = logging.getLogger("specgate.fg150kal")


def scale_id_for(session: Session) -> str:
    """The scale a session belongs to: by peer IP (``scale_by_peer``), else the listener's ``scale_id``."""
    options = session.listener.options
    by_peer = options.get("scale_by_peer") or {}
    if not by_peer:
        by_peer = session.config.device_options(DEVICE_TYPE).get("scale_by_peer") or {}
    return str(by_peer.get(session.peer_host) or options.get("scale_id") or DEFAULT_SCALE_ID)


def tenant_for(session: Session) -> str | None:
    """The tenant a session's scale belongs to: the listener's ``tenant`` option; None (shared by every
    tenant) without one."""
    tenant = session.listener.options.get("tenant")
    return str(tenant) if tenant else None


def line_text(message: Decoded) -> str:
    """The line for the ``raw`` field: from the header on, as received (a converter heartbeat glued in front
    is left out; the framer already masked bit 7 and stripped CR and NUL)."""
    text = message.values.get("text")
    if isinstance(text, str) and text:
        return text
    raw = getattr(message, "raw", b"") or b""
    return raw.decode("ascii", "replace").strip()


def reading_from(message: Decoded, received_at: float, tenant: str | None = None) -> dict[str, Any] | None:
    """The latest-reading document of a stable weight or count line, or None for any other line. It names
    the scale's ``tenant`` (None: shared), so every process serving it knows whom it belongs to."""
    if message.message != "weight":
        return None
    values = message.values
    header = values.get("header")
    if header not in STABLE_HEADERS or values.get("overload") or values.get("value") is None:
        return None
    return {
        "status": header,
        "weight": Decimal(values["weight"]),
        "unit": values.get("unit"),
        "raw": line_text(message),
        "received_at": received_at,
        "tenant": tenant,
    }


def handle_message(session: Session, message: Decoded) -> Outcome:
    """Stable lines replace the scale's latest reading; US and OL lines are counted and announced on the live
    feed, replies and info lines only counted."""
    scale_id = scale_id_for(session)
    reading = reading_from(message, session.now(), tenant_for(session))
    if reading is not None:
        log.debug("scale %s: stable %s %s (%s)", scale_id, reading["weight"], reading["unit"], reading["raw"])

        async def keep(store: Store) -> None:
            await store.set_scale_latest(scale_id, reading)
            count(session, "stable")  # counted once stored: a reader that sees the count sees the reading

        return Outcome(store=keep)
    values = message.values
    if message.message == "weight" and values.get("overload"):
        kind = "overload"
    elif message.message == "weight":
        kind = "unstable"
    elif message.message == "reply":
        kind = "command_reply"
    else:
        kind = "info"
    count(session, kind)
    log.log(
        logging.DEBUG if kind == "unstable" else logging.INFO,
        "scale %s from %s: %s line %r",
        scale_id,
        session.peer_host,
        kind,
        line_text(message),
    )
    if message.message == "weight":
        return Outcome(store=_announce(scale_id, tenant_for(session), values, session.now()))
    return Outcome()


def _announce(scale_id: str, tenant: str | None, values: dict[str, Any], received_at: float) -> Any:
    """A line that is not kept (unstable, overload) still reaches the live feed of every process."""
    line = {
        "scale_id": scale_id,
        "status": values.get("header"),
        "weight": None if values.get("overload") else values.get("weight"),
        "unit": values.get("unit"),
        "received_at": received_at,
        "stable": False,
    }

    async def announce(store: Store) -> None:
        try:
            await store.publish_live("scale", tenant, line)
        except StoreUnavailable as exc:  # live views miss one passing line; the stream need not close for it
            log.debug("scale %s: unstable line not announced: %s", scale_id, exc)

    return announce
