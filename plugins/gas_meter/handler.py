"""What the server does with one gas-meter report: what to store and what to reply.

:func:`plan_report` is pure (packet values + device document + time -> :class:`ReportPlan`);
:class:`GasMeterHandler` checks the packet and returns an ``Outcome`` whose ``store`` callable looks the
device up, plans and commits in one ``record_routed_report`` call (the plan runs inside the store's unit)
and then sets the reply, so the runtime replies only after the commit.
See ``docs/gas-meter.md`` for the reply table.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from core.api import (
    Decoded,
    FrameError,
    InvalidInput,
    Outcome,
    ReadingRows,
    Report,
    Session,
    Store,
    calendar_values,
    count,
    local_string,
)
from plugins.gas_meter.options import GasMeterOptions, options_for
from plugins.gas_meter.protocol import (
    EID_EVENT,
    EID_INIT,
    EID_NORMAL,
    EID_TIMESTAMP,
    INT32_MAX,
    RC_INIT,
    RC_NORMAL,
    RC_STOP,
    RC_TIME_SYNC,
    TS_IMMEDIATELY,
    TS_STOP,
    U16_MAX,
    U32_MAX,
    as_int,
    as_ipv4,
    describe_event,
    is_valid_uid,
)

log = logging.getLogger("specgate.gas_meter")

REPLY_MESSAGE = "reply"
NO_HOST = "0.0.0.0"
KNOWN_EIDS = (EID_NORMAL, EID_TIMESTAMP, EID_EVENT, EID_INIT)


#: distinct (slot timestamp, zone) pairs whose calendar fields are kept: a report repeats the 23 hours of the
#: one before, and meters on hourly slots share the same hours, so nearly every slot is a hit
CALENDAR_CACHE_SIZE = 16384


@functools.lru_cache(maxsize=CALENDAR_CACHE_SIZE)
def slot_calendar(ts: int, tz: tzinfo) -> tuple[int, ...]:
    """``calendar_values(ts, tz)`` (year, month, day, hour, wday, week), computed once per slot hour."""
    return calendar_values(ts, tz)


@functools.lru_cache(maxsize=256)
def local_second(now: int, tz: tzinfo) -> str:
    """``local_string(now, tz)``, computed once per second (every session of that second stamps it)."""
    return local_string(now, tz)


@dataclass
class ReportPlan:
    """The decision for one packet: the reply values and what to commit before replying."""

    reply: dict[str, Any]
    #: None = store nothing (unknown or inactive device)
    device_fields: dict[str, Any] | None = None
    #: the rows of the readings to store: (timestamp, counter_val, year, month, day, hour, wday, week)
    readings: list[tuple[int, ...]] = field(default_factory=list)
    event: dict[str, Any] | None = None
    #: why fields were left out or replaced (logged)
    warnings: list[str] = field(default_factory=list)


_TS_COUNT = operator.itemgetter("ts", "count")
_first = operator.itemgetter(0)
_ONLY_INT = {int}


def valid_slots(counts: list[Mapping[str, Any]], warnings: list[str] | None = None) -> list[tuple[int, int]]:
    """The non-empty ``(ts, count)`` slots that fit the int32 store, in packet order (newest first),
    each timestamp once."""
    fast = _plain_slots(counts)
    if fast is not None:
        return fast
    slots: list[tuple[int, int]] = []
    seen: set[int] = set()
    for index, slot in enumerate(counts or []):
        ts, count = slot.get("ts"), slot.get("count")
        if ts == 0:
            continue
        ts_ok, count_ok = as_int(ts, 1, INT32_MAX), as_int(count, 0, INT32_MAX)
        if ts_ok is None or count_ok is None:
            if warnings is not None:
                warnings.append(f"slot {index} (ts={ts!r}, count={count!r}) does not fit int32: not stored")
            continue
        if ts_ok in seen:
            continue
        seen.add(ts_ok)
        slots.append((ts_ok, count_ok))
    return slots


def _plain_slots(counts: Any) -> list[tuple[int, int]] | None:
    """:func:`valid_slots` of a table as the decoder gives it (every slot int timestamps and counts that fit,
    no timestamp twice), checked with C-level operations over the whole table; None for any other table."""
    if type(counts) is not list:
        return None
    try:
        pairs = list(map(_TS_COUNT, counts))
    except (KeyError, TypeError):
        return None
    if 0 in map(_first, pairs):
        pairs = [pair for pair in pairs if pair[0] != 0]
    if not pairs:
        return pairs
    stamps, values = zip(*pairs, strict=True)
    if (
        set(map(type, stamps)) == _ONLY_INT
        and set(map(type, values)) == _ONLY_INT
        and min(stamps) > 0
        and max(stamps) <= INT32_MAX
        and min(values) >= 0
        and max(values) <= INT32_MAX
        and len(set(stamps)) == len(stamps)
    ):
        return pairs
    return None


def newest_count(counts: list[Mapping[str, Any]]) -> int:
    """The count of the slot with the largest timestamp (0 for a packet with only empty slots)."""
    best_ts, best_count = 0, 0
    for slot in counts or []:
        ts, count = slot.get("ts", 0), slot.get("count", 0)
        if isinstance(ts, int) and ts > best_ts and isinstance(count, int):
            best_ts, best_count = ts, count
    return best_count if 0 <= best_count <= U32_MAX else 0


def _reply(
    uid: str,
    rc: Mapping[str, bool],
    now: int,
    ts_next: int,
    count: int,
    device: Mapping[str, Any] | None,
    warnings: list[str] | None,
) -> dict[str, Any]:
    """Reply values; min/max and host/port come from the device document when they are usable.

    ``warnings`` None marks a stop reply: its return code stays 0xC0 whatever the document holds.
    """
    device = device or {}
    rc = dict(rc)
    minimum = as_int(device.get("minimum"), 0, U16_MAX)
    maximum = as_int(device.get("maximum"), 0, U16_MAX)
    if minimum is None or maximum is None:
        if warnings is not None:
            warnings.append(
                f"minimum/maximum {device.get('minimum')!r}/{device.get('maximum')!r} unusable: min/max bit cleared"
            )
            rc.pop("minmax", None)
        minimum = maximum = 0
    host = as_ipv4(device.get("server_ip"))
    if host is None:
        if warnings is not None:
            warnings.append(f"server_ip {device.get('server_ip')!r} is not an IPv4 address: sent {NO_HOST}")
        host = NO_HOST
    port = as_int(device.get("server_port"), 0, U16_MAX)
    if port is None:
        if warnings is not None:
            warnings.append(f"server_port {device.get('server_port')!r} unusable: sent 0")
        port = 0
    return {
        "rc": rc,
        "uid": uid,
        "ts_now": now,
        "ts_next": ts_next,
        "count": count,
        "min": minimum,
        "max": maximum,
        "host": host,
        "port": port,
    }


def stop_plan(uid: str, values: Mapping[str, Any], now: int, device: Mapping[str, Any] | None = None) -> ReportPlan:
    """Unknown or inactive device: RC 0xC0, TS next 0xFFFFFFFF, nothing stored."""
    reply = _reply(uid, RC_STOP, now, TS_STOP, newest_count(values.get("counts", [])), device, None)
    return ReportPlan(reply=reply)


def _ref_interval(device: Mapping[str, Any], options: GasMeterOptions, now: int, warnings: list[str]) -> int:
    interval = as_int(device.get("ref_interval"), 1, INT32_MAX)
    if interval is None:
        warnings.append(
            f"ref_interval {device.get('ref_interval')!r} unusable: default {options.default_ref_interval} s used"
        )
        interval = options.default_ref_interval
    return min(interval, TS_STOP - 1 - now)


def _status_fields(values: Mapping[str, Any], now: int, options: GasMeterOptions) -> dict[str, Any]:
    fields: dict[str, Any] = {"last_access": local_second(now, options.tz)}
    battery = as_int(values.get("battery"), 0, 255)
    if battery is not None:
        fields["battery"] = battery
    uptime = as_int(values.get("uptime"), 0, INT32_MAX)
    if uptime is not None:
        fields["uptime"] = uptime
    return fields


def event_id(uid: str, code: int, newest_ts: int, uptime: int) -> str:
    """The id of the event an ``E0`` report carries, derived from the packet alone, so a meter that resends
    the report after a lost reply names the same event and the store keeps it once.

    The packet has no event time of its own (``event_time`` is the gateway's clock, different on a resend),
    so the report is identified by what the meter put in it: the uid, the event code, the newest slot
    timestamp (the hour of the count table) and the uptime (the meter's own clock in seconds, which tells
    two events of one hour apart)."""
    return f"{uid}-E0-{code}-{newest_ts}-{uptime}"


def _event(
    uid: str, values: Mapping[str, Any], now: int, device: Mapping[str, Any], slots: list[tuple[int, int]]
) -> dict[str, Any]:
    code, event_type, level, message = describe_event(values.get("event_code"))
    seconds = as_int(values.get("seconds_per_rotation"), 0, INT32_MAX)
    newest_ts = max(slots)[0] if slots else 0
    uptime = as_int(values.get("uptime"), 0, U32_MAX) or 0
    event: dict[str, Any] = {
        "event_id": event_id(uid, code, newest_ts, uptime),
        "device_uid": uid,
        "event_time": now,
        "event_code": code,
        "event_type": event_type,
        "event_level": level,
        "event_status": "active",
        "event_message": message,
        "event_value": seconds,
        "seconds_per_rotation": seconds,
    }
    if isinstance(device.get("customer_no"), str):
        event["customer_no"] = device["customer_no"]
    return event


def plan_report(
    uid: str, values: Mapping[str, Any], device: Mapping[str, Any], now: int, options: GasMeterOptions
) -> ReportPlan:
    """The decision for an active device's packet (see the reply table in ``docs/gas-meter.md``)."""
    warnings: list[str] = []
    eid = values.get("eid")
    if eid not in KNOWN_EIDS:
        raise FrameError(f"unknown gas meter event id {eid!r}", path="report -> eid", expected=KNOWN_EIDS, found=eid)
    counts = values.get("counts", [])
    fields = _status_fields(values, now, options)
    event = None
    if eid == EID_INIT:
        initial = as_int(device.get("initial_count"), 0, INT32_MAX)
        rc = dict(RC_INIT)
        if initial is None:
            warnings.append(f"initial_count {device.get('initial_count')!r} unusable: count bit cleared")
            rc.pop("count")
            count = newest_count(counts)
        else:
            count = initial
            fields["last_count"] = initial
        fields["initial_access"] = local_second(now, options.tz)
        reply = _reply(uid, rc, now, TS_IMMEDIATELY, count, device, warnings)
        return ReportPlan(reply=reply, device_fields=fields, warnings=warnings)

    interval = _ref_interval(device, options, now, warnings)
    ts_next = options.checkin.next_report(uid, now, interval)
    if eid == EID_TIMESTAMP:
        reply = _reply(uid, RC_TIME_SYNC, now, ts_next, newest_count(counts), device, warnings)
        return ReportPlan(reply=reply, device_fields=fields, warnings=warnings)

    # normal (A0) and event (E0) reports carry the same count table and update the device alike
    left_out = len(warnings)
    slots = valid_slots(counts, warnings)
    reply_count = None
    if slots:
        last_ts, last_count = max(slots)
        fields["last_timestamp"] = last_ts
        fields["last_count"] = last_count
        if len(warnings) == left_out:
            reply_count = last_count  # every slot kept: the newest is the table's newest, no second pass
    tz = options.tz
    readings = [(ts, count) + slot_calendar(ts, tz) for ts, count in slots]
    if eid == EID_EVENT:
        event = _event(uid, values, now, device, slots)
    if reply_count is None:
        reply_count = newest_count(counts)
    reply = _reply(uid, RC_NORMAL, now, ts_next, reply_count, device, warnings)
    return ReportPlan(reply=reply, device_fields=fields, readings=readings, event=event, warnings=warnings)


class GasMeterHandler:
    """Routes a packet's device, plans the answer and returns the runtime's ``Outcome``.

    Time comes from the session's clock (``session.now()``).

    :param options: overrides the options taken from the session's configuration and listener.
    """

    def __init__(self, options: GasMeterOptions | None = None) -> None:
        self.options = options
        #: the options worked out last, with the configuration and listener options they came from (both
        #: are checked at start-up and not changed afterwards, so one listener's sessions share them)
        self._derived: tuple[object, object, GasMeterOptions] | None = None

    def options_for(self, session: Session) -> GasMeterOptions:
        if self.options is not None:
            return self.options
        config, listener_options = session.config, session.listener.options
        derived = self._derived
        if derived is not None and derived[0] is config and derived[1] is listener_options:
            return derived[2]
        options = options_for(config, listener_options)
        self._derived = (config, listener_options, options)
        return options

    def handle(self, session: Session, message: Decoded) -> Outcome:
        values = message.values
        uid = values.get("uid")
        if not is_valid_uid(uid):
            raise FrameError(
                f"device uid {uid!r} is not 8 characters from 0-9A-F",
                path="report -> uid",
                expected="8 characters 0-9A-F",
                found=uid,
            )
        if values.get("eid") not in KNOWN_EIDS:
            raise FrameError(
                f"unknown gas meter event id {values.get('eid')!r}",
                path="report -> eid",
                expected=KNOWN_EIDS,
                found=values.get("eid"),
            )
        session.device_id, session.tenant = uid, None
        outcome = Outcome(reply_message=REPLY_MESSAGE, close=True)
        outcome.store = _Recording(session, uid, values, int(session.now()), self.options_for(session), outcome).run
        return outcome


@dataclass(slots=True)
class _Recording:
    """One report's store step: the device looked up and the report planned and recorded in one store call
    (:meth:`~core.api.Store.record_routed_report`), then the outcome's reply set from the plan."""

    session: Session
    uid: str
    values: Mapping[str, Any]
    now: int
    options: GasMeterOptions
    outcome: Outcome

    def decide(
        self, tenant: str | None, device: dict[str, Any] | None
    ) -> tuple[tuple[str | None, dict[str, Any] | None, ReportPlan | None], Report | None]:
        """The plan for the device the store found (None for an unknown or inactive one) and what to record."""
        if tenant is None or device is None or device.get("flag") is not True:
            return (tenant, device, None), None
        plan = plan_report(self.uid, self.values, device, self.now, self.options)
        readings = ReadingRows(self.uid, plan.readings)
        return (tenant, device, plan), Report(plan.device_fields or {}, readings, plan.event)

    async def run(self, store: Store) -> None:
        session, uid, outcome = self.session, self.uid, self.outcome
        try:
            tenant, device, plan = await store.record_routed_report(uid, self.decide)
        except InvalidInput as exc:
            # a route naming an impossible tenant is an administration error, not the meter's: no reply,
            # so the meter retries later instead of being told to stop for good
            log.error("gas meter %s from %s: unusable route or report, no reply: %s", uid, session.peer_host, exc)
            return
        # the exchange is the tenant's only when the tenant holds the device: a bare route is not enough
        session.tenant = tenant if device is not None else None
        if plan is None:
            why = "unknown device" if device is None else "inactive device"
            # one line per report at DEBUG; INFO has the listener's periodic summary with this counter
            log.debug("gas meter %s from %s: %s, told to stop", uid, session.peer_host, why)
            count(session, "told_to_stop")
            outcome.reply = stop_plan(uid, self.values, self.now, device).reply
            return
        for warning in plan.warnings:
            log.warning("gas meter %s (tenant %s): %s", uid, tenant, warning)
        outcome.reply = plan.reply
