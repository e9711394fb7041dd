"""What the listeners logged: the raw exchange log (``/api/v1/exchanges``) and dead letters
(``/api/v1/dead-letters``).

A tenant's caller sees only the exchanges the gateway attributed to its tenant (a plugin names the tenant
of the device it recognised: ``Session.tenant``); the filter is forced, and ``?tenant=`` is refused (403)
from anyone but a system administrator, who sees every exchange, unattributed junk included, and may narrow
them with ``tenant`` or ``unattributed=true``. Dead letters, which belong to no tenant, are for system
administrators only.

Bytes are answered as lowercase hex. Each exchange also carries ``decoded``: its received frame decoded with
the spec of its ``device_type`` (``{message, values, flags}``), or ``null`` with ``decode_error`` saying why.
The specs are loaded from the app's plugins once, on first use, and kept on ``app.state``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from core.http import BadRequest, PageRequest, paged_response, query_bool, query_str
from core.plugins import load_specs
from core.routing import PAGE_PARAMS, ApiRoute, Forbidden, Param, caller_tenant
from core.security.roles import Principal
from web.api.data import list_query, time_range

if TYPE_CHECKING:
    from core.spec import Spec

log = logging.getLogger("specgate.web.logs")

_SPECS = "decoding_specs"
_SPECS_LOCK = "decoding_specs_lock"


async def decoding_specs(request: Request) -> dict[str, Spec]:
    """The plugins' specs by device type, loaded once per app (off the event loop: compiling takes a while)."""
    state = request.app.state
    specs: dict[str, Spec] | None = getattr(state, _SPECS, None)
    if specs is not None:
        return specs
    lock = getattr(state, _SPECS_LOCK, None)
    if lock is None:
        lock = asyncio.Lock()
        setattr(state, _SPECS_LOCK, lock)
    async with lock:
        specs = getattr(state, _SPECS, None)
        if specs is None:
            try:
                specs = await asyncio.to_thread(load_specs, state.pm)
            except Exception:
                # a broken spec file stays broken: exchanges are still listed, each saying it was not decoded
                log.exception("could not load the plugins' specs to decode exchanges")
                specs = {}
            setattr(state, _SPECS, specs)
    return specs


def _hex(value: Any) -> str | None:
    return None if value is None else bytes(value).hex()


def decode_exchange(entry: dict[str, Any], specs: dict[str, Spec]) -> dict[str, Any]:
    """The entry as answered: bytes as hex, ``decoded`` (or ``decoded: null`` and ``decode_error``)."""
    shown = {**entry, "recv": _hex(entry.get("recv")), "send": _hex(entry.get("send"))}
    spec = specs.get(entry.get("device_type") or "")
    received = entry.get("recv")
    if spec is None:
        return {**shown, "decoded": None, "decode_error": f"no spec for device type {entry.get('device_type')!r}"}
    if not received:
        return {**shown, "decoded": None, "decode_error": "nothing was received"}
    try:
        decoded = spec.decode(bytes(received))
    except Exception as exc:
        return {**shown, "decoded": None, "decode_error": str(exc) or type(exc).__name__}
    return {**shown, "decoded": {"message": decoded.message, "values": decoded.values, "flags": decoded.flags}}


def _exchange_tenant_filter(request: Request, caller: Principal) -> dict[str, Any]:
    """The tenant filter of an exchanges listing: the caller's own tenant, or what a system administrator asks."""
    asked = query_str(request, "tenant", 63)
    unattributed = query_bool(request, "unattributed")
    if not caller.system_admin:
        if asked is not None or unattributed is not None:
            raise Forbidden("only a system administrator may choose the tenant of the exchanges listed")
        return {"tenant": caller_tenant(caller)}
    if unattributed:
        if asked is not None:
            raise BadRequest("give tenant or unattributed=true, not both")
        return {"tenant": None}
    return {"tenant": asked} if asked else {}


async def list_exchanges(request: Request, caller: Principal) -> Response:
    filters = _exchange_tenant_filter(request, caller)
    page = PageRequest.from_request(request)
    query = list_query(
        page,
        {"device_uid": query_str(request, "device_uid"), "device_type": query_str(request, "device_type")},
        {"at": time_range(request)},
    )
    # after list_query, which leaves out None: a system administrator's ``tenant: None`` is a filter
    query = dataclasses.replace(query, filters={**query.filters, **filters})
    found = await request.app.state.store.list_exchanges(query)
    specs = await decoding_specs(request)
    items = await asyncio.to_thread(lambda: [decode_exchange(entry, specs) for entry in found.items])
    return paged_response(items, page.offset, page.limit, found.total)


async def list_dead_letters(request: Request, caller: Principal) -> Response:
    page = PageRequest.from_request(request)
    query = list_query(
        page,
        {"device_type": query_str(request, "device_type"), "ip": query_str(request, "ip")},
        {"at": time_range(request)},
    )
    found = await request.app.state.store.list_dead_letters(query)
    items = [{**entry, "data": _hex(entry.get("data"))} for entry in found.items]
    return paged_response(items, page.offset, page.limit, found.total)


_PAGING = [
    Param("from", "from this time (epoch seconds or ISO 8601), included"),
    Param("to", "until this time (epoch seconds or ISO 8601), excluded"),
    Param("sort", "at or -at (default: newest first)"),
    *PAGE_PARAMS,
]

ROUTES = [
    ApiRoute(
        "/api/v1/exchanges",
        list_exchanges,
        methods=["GET"],
        permission="exchanges.read",
        summary="The raw exchanges of the tenant's devices, bytes as hex, each decoded with its device type's spec",
        query=[
            Param("device_uid", "only this device's exchanges"),
            Param("device_type", "only exchanges of this device type"),
            Param("tenant", "system administrators only: only this tenant's exchanges"),
            Param("unattributed", "system administrators only: only exchanges of no tenant", {"type": "boolean"}),
            *_PAGING,
        ],
        tags=["logs"],
    ),
    ApiRoute(
        "/api/v1/dead-letters",
        list_dead_letters,
        methods=["GET"],
        permission="dead_letters.read",
        summary="Bytes that failed to parse, as hex, with the error and its path (system administrators)",
        query=[Param("device_type", "only this device type"), Param("ip", "only from this address"), *_PAGING],
        tags=["logs"],
    ),
]
