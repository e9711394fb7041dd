"""The CYNOW scale-gateway contract: ``GET /api/scale-gateway/latest/`` and ``POST /api/scale-gateway/commit/``;
and ``GET /api/v1/scales``, the scales a caller may see (stored readings and configured listeners' scale ids).

Everything is read from and written to the store, so the API answers the same in any process sharing it.
Who may call them: an anonymous client of ``web.trusted_networks`` (loopback by default, as the original
ran behind a firewall for internal apps), a logged-in operator or administrator, or an API token with the
``scale`` scope (``docs/security.md``).

Scales belong to a tenant or are shared (:mod:`plugins.fg150kal.options`). A caller with a tenant reads and
commits only its own tenant's scales and shared ones; another tenant's scale answers exactly as a scale
that never sent a stable reading (404 ``no_data``, 409 ``no_stable_weight``), so nothing about it leaks.
A caller without one (a trusted-network client, a system-wide token) reaches every scale. A weighing
belongs to the scale's tenant; on a shared scale, to the committing caller's tenant (None for a caller
without one, so the record stays shared).
Request errors (``BadRequest``, ``BodyTooLarge``, a body not sent as JSON) and ``StoreUnavailable`` are
left to the web app, which answers each in the one error shape.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import tzinfo
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.api import (
    PAGE_PARAMS,
    ApiRoute,
    BadRequest,
    Config,
    JSONResponse,
    PageRequest,
    Principal,
    error_response,
    iso,
    paged_response,
    read_json_object,
)
from plugins.fg150kal.listeners import default_listener
from plugins.fg150kal.options import DEFAULT_SCALE_ID, DEVICE_TYPE, stale_after

EVENT_TYPES = ("SHIP", "RETURN")
_BODY_FIELDS = ("cylinder_no", "event_type", "arrival_shipping_no", "move_report_no", "scale_id")
_MAX_TEXT = 64
_CENTS = Decimal("0.01")


#: a scale's latest reading is read far more often than it changes: its time is written once
_iso = functools.lru_cache(maxsize=1024)(iso)


def two_decimals(value: Any) -> Decimal:
    return Decimal(value).quantize(_CENTS)


def check_text(value: Any, name: str, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be a non-empty string, got {value!r}")
    value = value.strip()
    if len(value) > _MAX_TEXT or any(ord(c) < 32 for c in value) or value.startswith("$"):
        raise BadRequest(f"{name} must be at most {_MAX_TEXT} printable characters not starting with '$'")
    return value


def _scale_id(request: Request, body: dict[str, Any] | None = None) -> str:
    """The body's ``scale_id``, else the query's; only when neither gives one is it ``default`` (a given
    ``0``, ``false``, ``""`` or ``[]`` is refused, not taken for absent)."""
    if body is None and not request.scope.get("query_string"):
        return DEFAULT_SCALE_ID  # no query to parse (the common GET)
    if body is not None and "scale_id" in body:
        value = body["scale_id"]
    elif "scale_id" in request.query_params:
        values = request.query_params.getlist("scale_id")
        if len(values) > 1:
            raise BadRequest(f"scale_id must be given once, got {len(values)} values")
        value = values[0]
    else:
        return DEFAULT_SCALE_ID
    text = check_text(value, "scale_id", True)
    assert text is not None  # required
    return text


async def _read_body(request: Request) -> dict[str, Any]:
    body = await read_json_object(request)
    unknown = sorted(k for k in body if k not in _BODY_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_BODY_FIELDS)}")
    return body


def _settings(state: Any) -> tuple[tzinfo, float]:
    """The time zone and the staleness age of the app's configuration, worked out once per configuration
    (it is checked once at start-up and not changed afterwards) rather than on every request."""
    config: Config = state.config
    cached = getattr(state, "fg150kal_settings", None)
    if cached is None or cached[0] is not config:
        cached = (config, config.tz, stale_after(config))
        state.fg150kal_settings = cached
    return cached[1], cached[2]


def visible_to(caller: Principal, tenant: str | None) -> bool:
    """Whether ``caller`` may see what belongs to ``tenant`` (None: shared by every tenant)."""
    return caller.tenant is None or tenant is None or tenant == caller.tenant


async def _latest_reading(state: Any, scale_id: str, caller: Principal) -> Mapping[str, Any] | None:
    """The scale's latest reading when the caller may see the scale; None, as for an unknown scale, when not."""
    reading: Mapping[str, Any] | None = await state.store.get_scale_latest(scale_id)
    if reading is None or not visible_to(caller, reading.get("tenant")):
        return None
    return reading


async def latest(request: Request, caller: Principal) -> Response:
    """The latest stable reading of a scale (``?scale_id=``, default ``default``)."""
    state = request.app.state
    scale_id = _scale_id(request)
    reading = await _latest_reading(state, scale_id, caller)
    if reading is None:
        return error_response(404, "no_data", f"no stable reading from scale {scale_id!r} yet")
    return JSONResponse({"ok": True, "scale_id": scale_id, **_reading_view(reading, state)})


async def commit(request: Request, caller: Principal) -> Response:
    """Keep the scale's latest stable weight for a cylinder; answers after the store committed it."""
    state = request.app.state
    body = await _read_body(request)
    cylinder_no = check_text(body.get("cylinder_no"), "cylinder_no", True)
    event_type = body.get("event_type")
    if event_type not in EVENT_TYPES:
        raise BadRequest(f"event_type must be SHIP or RETURN, got {event_type!r}")
    arrival_shipping_no = check_text(body.get("arrival_shipping_no"), "arrival_shipping_no", False)
    move_report_no = check_text(body.get("move_report_no"), "move_report_no", False)
    scale_id = _scale_id(request, body)
    reading = await _latest_reading(state, scale_id, caller)
    if reading is None:
        return error_response(409, "no_stable_weight", f"scale {scale_id!r} has no stable weight to commit")
    unit = reading.get("unit")
    if unit not in (None, "kg"):
        return error_response(
            409, "no_stable_weight", f"the latest stable reading of scale {scale_id!r} is in {unit}, not kg"
        )
    committed_at = state.clock()
    record = await state.store.commit_weighing(
        {
            "scale_id": scale_id,
            "cylinder_no": cylinder_no,
            "event_type": event_type,
            "gross_kg": two_decimals(reading["weight"]),
            "raw_line": reading.get("raw", ""),
            "received_at": float(reading["received_at"]),
            "committed_at": committed_at,
            "arrival_shipping_no": arrival_shipping_no,
            "move_report_no": move_report_no,
            "tenant": reading.get("tenant") or caller.tenant,
        }
    )
    return JSONResponse(
        {
            "ok": True,
            "id": record["id"],
            "scale_id": scale_id,
            "cylinder_no": cylinder_no,
            "event_type": event_type,
            "gross_kg": two_decimals(record.get("gross_kg", reading["weight"])),
            "committed_at": iso(committed_at, state.config.tz),
        }
    )


def configured_scales(config: Config) -> dict[str, str | None]:
    """The scale ids the configuration's fg150kal listeners keep readings under (their ``scale_id`` and
    ``scale_by_peer`` ids), each with the listener's tenant (None: shared). A listener takes the options it
    does not name from the plugin's default one, as the gateway starts it."""
    default = default_listener(config)
    chosen = [default] if config.listeners is None else list(config.listeners)
    replaced = {extra.port for extra in config.extra_listeners if extra.port}  # as --listen replaces them
    found: dict[str, str | None] = {}
    for entry in [*(entry for entry in chosen if entry.port not in replaced), *config.extra_listeners]:
        if entry.device_type != DEVICE_TYPE:
            continue
        options = {**default.options, **entry.options}
        tenant = str(options["tenant"]) if options.get("tenant") else None
        by_peer = options.get("scale_by_peer")
        peers = [str(value) for value in by_peer.values()] if isinstance(by_peer, Mapping) else []
        for scale_id in [str(options.get("scale_id") or DEFAULT_SCALE_ID), *peers]:
            found.setdefault(scale_id, tenant)
    return found


def _scale_item(scale_id: str, tenant: str | None, reading: Mapping[str, Any] | None, state: Any) -> dict[str, Any]:
    """A scale as the listing shows it: its latest reading's fields (None without one) and ``stale``."""
    if reading is None:
        empty = dict.fromkeys(("status", "weight", "unit", "raw", "received_at"))
        return {"scale_id": scale_id, "tenant": tenant, **empty, "stale": True}
    return {"scale_id": scale_id, "tenant": reading.get("tenant"), **_reading_view(reading, state)}


def _reading_view(reading: Mapping[str, Any], state: Any) -> dict[str, Any]:
    """A stored latest reading as the API shows it, with ``stale`` by the configured age."""
    tz, max_age = _settings(state)
    received_at = float(reading["received_at"])
    return {
        "status": reading.get("status"),
        "weight": two_decimals(reading["weight"]),
        "unit": reading.get("unit"),
        "raw": reading.get("raw", ""),
        "received_at": _iso(received_at, tz),
        "stale": state.clock() - received_at > max_age,
    }


async def list_scales(request: Request, caller: Principal) -> Response:
    """The scales the caller may see, by id: those with a stored reading and those configured here."""
    state = request.app.state
    page = PageRequest.from_request(request)
    if page.sort is not None or page.search is not None:
        raise BadRequest("the scales are listed by scale_id only: sort and q are not supported")
    readings = {doc["scale_id"]: doc for doc in await state.store.list_scales(caller.tenant)}
    configured = {
        scale_id: tenant
        for scale_id, tenant in configured_scales(state.config).items()
        if scale_id not in readings and visible_to(caller, tenant)
    }
    ids = sorted({*readings, *configured})
    items = [
        _scale_item(scale_id, configured.get(scale_id), readings.get(scale_id), state)
        for scale_id in ids[page.offset : page.offset + page.limit]
    ]
    return paged_response(items, page.offset, page.limit, len(ids))


_SCALES_DESCRIPTION = (
    "The configured fg150kal listeners' scale ids and every scale with a stored reading, by scale_id: a "
    "caller with a tenant sees its tenant's scales and the shared ones. Each item has scale_id, tenant, "
    "status, weight, unit, raw and received_at of the latest stable reading (all None before the first one) "
    "and stale, as GET /api/scale-gateway/latest/ gives them."
)


def routes() -> list[ApiRoute]:
    """The scale-gateway routes (trailing slashes as in the contract)."""
    return [
        ApiRoute(
            "/api/scale-gateway/latest/",
            latest,
            methods=["GET"],
            permission="scale.read",
            summary="The latest stable reading of a scale (?scale_id=, default 'default')",
            tags=["scale gateway"],
        ),
        ApiRoute(
            "/api/scale-gateway/commit/",
            commit,
            methods=["POST"],
            permission="scale.commit",
            summary="Commit the scale's latest stable weight for a cylinder into the weighing log",
            tags=["scale gateway"],
        ),
        ApiRoute(
            "/api/v1/scales",
            list_scales,
            methods=["GET"],
            permission="scale.read",
            summary="The scales the caller may see, each with its latest stable reading and whether it is stale",
            description=_SCALES_DESCRIPTION,
            query=PAGE_PARAMS,
            tags=["scales"],
        ),
    ]
