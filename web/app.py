"""The Starlette app: the REST API (``web/api``), the plugins' routes, the operations routes (:mod:`web.ops`:
OpenAPI, health, Prometheus metrics), ``/-/plugins`` and ``/-/metrics``, the dashboard (:mod:`web.pages`); around them the security headers,
the request counting and CORS of :mod:`web.middleware`.

Every route is a :class:`core.routing.ApiRoute` declaring the permission it needs, checked before its
handler runs (``docs/security.md`` has the role matrix).

Every error, from a route or from Starlette itself (404, 405, 500), has the one JSON shape of
:mod:`core.http`; a request error (:class:`core.http.RequestError`) or a ``StoreUnavailable`` that escapes a
route is answered here, the latter with a fixed sentence (the driver's detail goes to the log only). Handlers read ``request.app.state``: ``config``, ``store`` (opened by whoever runs the
app; its calls timed by :mod:`core.observability`), ``pm``, ``clock``, ``metrics`` (:mod:`web.prometheus`)
and, when the gateway runs in the same process, ``gateway`` (for the metrics).
Build it through :class:`core.app.Application`, which opens the store and starts the gateway beside it.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from core.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from core.http import JSONResponse, RequestError, error_response
from core.observability import timed_store
from core.plugins import describe_plugins, get_plugin_manager
from core.routing import ApiRoute
from core.security.accounts import Accounts, AuthSettings
from web import ops, pages
from web.api import ROUTES as API_ROUTES
from web.compat import compat_routes
from web.live import ROUTES as LIVE_ROUTES
from web.middleware import WebApp, outer_layers
from web.prometheus import WebMetrics

if TYPE_CHECKING:
    from core.config import Config
    from core.gateway.runtime import Gateway
    from core.store import Store

log = logging.getLogger("specgate.web")

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "store_unavailable",
}

STORE_UNAVAILABLE_MESSAGE = "the store is not reachable; try again later"
#: at most one store-failure line per this many seconds, however many requests fail
STORE_FAILURE_LOG_INTERVAL = 10.0


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


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return error_response(exc.status, exc.code, str(exc))


class _StoreFailureLog:
    """Logs a store failure's detail (host, port, topology: never sent to a client) at most once per
    ``interval`` seconds, counting the ones it left out."""

    def __init__(self, interval: float = STORE_FAILURE_LOG_INTERVAL) -> None:
        self.interval = interval
        self._next = 0.0
        self._left_out = 0

    async def __call__(self, request: Request, exc: Exception) -> Response:
        now = time.monotonic()
        if now >= self._next:
            more = f" ({self._left_out} more since the last such line)" if self._left_out else ""
            log.warning("%s %s: the store is unavailable: %s%s", request.method, request.url.path, exc, more)
            self._next = now + self.interval
            self._left_out = 0
        else:
            self._left_out += 1
        return error_response(503, "store_unavailable", STORE_UNAVAILABLE_MESSAGE)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found", str(exc) or "no such record")


async def _conflict(request: Request, exc: Exception) -> Response:
    return error_response(409, "conflict", str(exc))


async def _invalid_input(request: Request, exc: Exception) -> Response:
    return error_response(400, "invalid_request", str(exc))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle the request; see its log")


async def plugins_endpoint(request: Request, caller: object) -> Response:
    return JSONResponse(describe_plugins(request.app.state.pm))


async def metrics_endpoint(request: Request, caller: object) -> Response:
    gateway = getattr(request.app.state, "gateway", None)
    return JSONResponse(gateway.metrics() if gateway is not None else {"listeners": []})


def plugin_routes(config: Config, pm: pluggy.PluginManager) -> list[BaseRoute]:
    """The plugins' routes; each must be an ``ApiRoute``, so none is served without its access rule."""
    routes: list[BaseRoute] = []
    for result in reversed(pm.hook.specgate_register_routes(config=config)):
        for route in result or []:
            if not isinstance(route, ApiRoute):
                path = getattr(route, "path", route)
                raise TypeError(f"plugin route {path} must be a core.api.ApiRoute naming who may call it")
            routes.append(route)
    return routes


def create_app(
    config: Config,
    store: Store,
    pm: pluggy.PluginManager | None = None,
    *,
    gateway: Gateway | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The web app over an opened ``store``; ``clock`` decides what "now" is (staleness, commit times)."""
    if pm is None:
        pm = get_plugin_manager(config.plugins, config.disable_plugins)
    routes = [
        *API_ROUTES,
        *LIVE_ROUTES,
        *plugin_routes(config, pm),
        *ops.ROUTES,
        *pages.routes(config, pm),
        ApiRoute(
            "/-/plugins",
            plugins_endpoint,
            methods=["GET"],
            permission="plugins.read",
            summary="The plugins, device types and specs this server runs",
            tags=["operations"],
        ),
        ApiRoute(
            "/-/metrics",
            metrics_endpoint,
            methods=["GET"],
            permission="metrics.read",
            summary="The device listeners' counters as JSON",
            tags=["operations"],
        ),
        *(compat_routes(config) if config.web_compatible_api else []),
    ]
    app = WebApp(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            RequestError: _request_error,
            StoreUnavailable: _StoreFailureLog(),
            NotFound: _not_found,
            Conflict: _conflict,
            InvalidInput: _invalid_input,
            Exception: _server_error,
        },
    )
    metrics = app.state.metrics = WebMetrics(app.state)
    app.outer = outer_layers(config.web_cors_origins, metrics.requests)
    store = timed_store(store)
    app.state.config = config
    app.state.store = store
    app.state.pm = pm
    app.state.gateway = gateway
    app.state.clock = clock
    app.state.accounts = Accounts(store, auth_settings(config), clock)
    app.state.trusted_networks = [ipaddress.ip_network(name, strict=False) for name in config.web_trusted_networks]
    return app


def auth_settings(config: Config) -> AuthSettings:
    return AuthSettings(
        session_idle_timeout=config.web_session_idle_timeout,
        session_lifetime=config.web_session_lifetime,
        max_account_failures=config.web_login_max_failures,
        max_address_failures=config.web_login_max_address_failures,
        registrations_per_hour=config.web_registrations_per_hour,
    )
