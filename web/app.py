"""The Starlette app: plugin routes (the scale gateway first), ``/-/plugins`` and ``/-/metrics``.

Every error, from a route or from Starlette itself (404, 405, 500), has one JSON shape:
``{"ok": false, "error": "<code>", "message": "<sentence>"}``. Handlers read ``request.app.state``:
``config``, ``store`` (opened by whoever runs the app), ``pm``, ``clock`` and, when the gateway runs in the
same process, ``gateway`` (for ``/-/metrics``).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import pluggy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core import jsonutil

log = logging.getLogger("specgate.web")

_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request"}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data: Any) -> str:
    """Compact JSON text; a ``Decimal`` is written as an exact JSON number (``53.20`` stays ``53.20``)."""
    return jsonutil.dumps(data, default=_json_default, ensure_ascii=False, separators=(",", ":"))


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def error_response(status: int, error: str, message: str) -> JSONResponse:
    """The one error shape of the API."""
    return JSONResponse({"ok": False, "error": error, "message": message}, status_code=status)


class BodyTooLarge(Exception):
    """A request body over the route's limit; answered 413 before the rest is read."""


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (``BodyTooLarge``) as soon as it is known to exceed ``limit`` bytes, so a
    huge upload is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body must be at most {limit} bytes, got {declared}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _ERROR_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        detail = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    response = error_response(exc.status_code, code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle the request; see its log")


async def plugins_endpoint(request: Request) -> Response:
    from core.cli.plugins_command import describe_plugins

    return JSONResponse(describe_plugins(request.app.state.pm))


async def metrics_endpoint(request: Request) -> Response:
    gateway = getattr(request.app.state, "gateway", None)
    return JSONResponse(gateway.metrics() if gateway is not None else {"listeners": []})


def plugin_routes(config: Any, pm: pluggy.PluginManager) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for result in reversed(pm.hook.specgate_register_routes(config=config)):
        routes.extend(result or [])
    return routes


def create_app(
    config: Any,
    store: Any,
    pm: pluggy.PluginManager | None = None,
    *,
    gateway: Any = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The web app over an opened ``store``; ``clock`` decides what "now" is (staleness, commit times)."""
    if pm is None:
        from core.plugins import get_plugin_manager

        pm = get_plugin_manager(config.plugins, config.disable_plugins)
    routes = plugin_routes(config, pm) + [
        Route("/-/plugins", plugins_endpoint, methods=["GET"]),
        Route("/-/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.config = config
    app.state.store = store
    app.state.pm = pm
    app.state.gateway = gateway
    app.state.clock = clock
    return app
