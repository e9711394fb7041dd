"""Gas-meter test helpers: packets and replies built with ``struct`` (independently of the spec), a fixed
clock, device provisioning and a minimal Session. (A uniquely named module: test folders have no
``__init__.py``, so pytest puts this folder on ``sys.path``.)"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from typing import Any

from core.config import Config
from core.gateway.types import ListenerConfig, Session
from core.store import Store
from core.timeutil import tz_from_offset

#: 2025-03-05 16:00:00 UTC = 2025-03-06 01:00:00 KST (a Thursday, ISO week 10)
NOW = 1741190400
#: NOW as the meters' local time, as device documents and exchanges keep it
NOW_LOCAL = "2025-03-06 01:00:00"
#: the calendar fields of a reading taken at NOW (local time)
NOW_CALENDAR = {"year": 2025, "month": 3, "day": 6, "hour": 1, "wday": 4, "week": 10}
KST = tz_from_offset(32400)
TENANT = "gas_demo"
UID = "D4245A98"
EID = {"normal": 0xA0, "timestamp": 0xB0, "event": 0xE0, "init": 0xE1}

DEVICE = {
    "meter_id": "365478965162",
    "flag": True,
    "ref_interval": 43200,
    "minimum": 10,
    "maximum": 600,
    "initial_count": 5000,
    "server_ip": "192.0.2.10",
    "server_port": 5004,
    "customer_no": "S32649713",
}


def report_bytes(
    eid: str,
    uid: str = UID,
    slots: Iterable[tuple[int, int]] = (),
    battery: int = 87,
    uptime: int = 123456,
    event_code: int = 0,
    seconds_per_rotation: int = 0,
) -> bytes:
    """A 256-byte upstream packet, laid out by hand from the protocol table."""
    slots = list(slots)
    table = b"".join(struct.pack(">II", ts, count) for ts, count in slots) + b"\0" * 8 * (24 - len(slots))
    packet = (
        struct.pack(">B8s", EID[eid], uid.encode("ascii"))
        + table
        + struct.pack(">BIBH", battery, uptime, event_code, seconds_per_rotation)
        + b"\xff" * 47
    )
    assert len(packet) == 256
    return packet


def reply_bytes(
    rc: int,
    uid: str,
    ts_now: int,
    ts_next: int,
    count: int,
    minimum: int,
    maximum: int,
    host: str,
    port: int,
) -> bytes:
    """A 32-byte downstream packet, laid out by hand (IO flag 0xFF as the original server sent)."""
    return struct.pack(
        ">B8sIIIHH4sHB",
        rc,
        uid.encode("ascii"),
        ts_now,
        ts_next,
        count,
        minimum,
        maximum,
        socket.inet_aton(host),
        port,
        0xFF,
    )


def hourly_slots(newest: int, first_count: int = 10000, n: int = 24, per_hour: int = 7) -> list[tuple[int, int]]:
    """``n`` hourly (ts, count) snapshots, newest first."""
    return [(newest - i * 3600, first_count + (n - 1 - i) * per_hour) for i in range(n)]


async def provision(store: Any, uid: str = UID, tenant: str = TENANT, **overrides: Any) -> dict[str, Any]:
    """Add the tenant and an active device (fields of ``DEVICE`` overridden by ``overrides``; a value of
    None removes the field)."""
    await store.add_tenant(tenant)
    device = {"device_uid": uid, **DEVICE, **overrides}
    device = {k: v for k, v in device.items() if v is not None}
    await store.add_device(tenant, device)
    return device


def make_config() -> Config:
    return Config(
        tz_offset=32400,
        listeners=[ListenerConfig("gas_meter", port=0, host="127.0.0.1")],
        web_enabled=False,
        shutdown_grace=2.0,
    )


def make_session(store: Any, config: Config | None = None, spec: Any = None) -> Session:
    config = config or make_config()
    return Session(
        device_type="gas_meter",
        peer_host="127.0.0.1",
        peer_port=40000,
        listen_port=5004,
        listener=ListenerConfig("gas_meter", port=5004),
        spec=spec,
        store=store,
        config=config,
        opened_at=NOW,
        clock=lambda: NOW,
    )


LEGACY_UID = "A149490D"
#: a legacy device document as the C server and the v2 web server wrote it (integers fit int32, so BSON int32)
LEGACY_DEVICE = {
    "device_uid": LEGACY_UID,
    "release_date": "2025-01-10",
    "installer_id": "installer1",
    "comment": "",
    "flag": True,
    "meter_id": "202465478965",
    "install_date": "2025-01-12",
    "initial_count": 2543,
    "ref_interval": 43200,
    "minimum": 10,
    "maximum": 7200,
    "server_ip": "192.0.2.10",
    "server_port": 5004,
    "last_access": "2025-03-05 13:00:00",
    "last_timestamp": NOW - 12 * 3600,
    "last_count": 10000 + 11 * 7,
    "battery": 90,
    "uptime": 1000,
    "error_count": 0,
    "status": 0,
    "customer_name": "이순신",
    "customer_no": "S12547896",
    "addr_city": "서울시",
}


class StoreWrapper:
    """The real store, but for the methods a subclass replaces (to fail as an unreachable backend does)."""

    #: the interface's own lookup-decide-record, so a subclass's get_routed_device and record_report are
    #: what a session's report goes through (the wrapped store's would call its own)
    record_routed_report = Store.record_routed_report

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
