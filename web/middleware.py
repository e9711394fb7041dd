"""The layers around every request: request counting, security headers and (when configured) CORS.

They are pure ASGI layers and sit outside Starlette's own error handler (:class:`WebApp`), so the 500
answer of an unexpected failure is counted and carries the headers too.

Every response gets a Content-Security-Policy that allows only this site's own resources and no framing,
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and ``Referrer-Policy: same-origin``; under
HTTPS also ``Strict-Transport-Security``. A route that sets one of these headers itself keeps its own.
CORS is off unless ``web.cors_origins`` names origins; then exactly those may call the API from their pages,
with credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.prometheus import RequestCounts

SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
#: sent under HTTPS only: a browser that saw it refuses plain HTTP to this host for a year
HSTS_HEADER = ("strict-transport-security", "max-age=31536000")

#: the raw (ASGI) headers added to a response over HTTP and over HTTPS
_HTTP_HEADERS = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items())
_HTTPS_HEADERS = (*_HTTP_HEADERS, (HSTS_HEADER[0].encode("latin-1"), HSTS_HEADER[1].encode("latin-1")))

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CORS_HEADERS = ("Content-Type", "Authorization")

Layer = Callable[[ASGIApp], ASGIApp]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and HSTS under HTTPS) to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = _HTTPS_HEADERS if scope.get("scheme") == "https" else _HTTP_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in added if header[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestCounting:
    """Counts every HTTP request by method, the path template of the route that answered it, and status."""

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # the router leaves the route it chose in the scope (a path template, so the labels stay few)
            self.counts.add(scope["method"], getattr(scope.get("route"), "path", None), status)


def cors_layer(origins: Sequence[str]) -> Layer:
    def wrap(app: ASGIApp) -> ASGIApp:
        return CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_credentials=True,
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
        )

    return wrap


def outer_layers(cors_origins: Sequence[str], counts: RequestCounts) -> list[Layer]:
    """The layers of :class:`WebApp`, outermost first."""
    layers: list[Layer] = [lambda app: RequestCounting(app, counts), SecurityHeaders]
    if cors_origins:
        layers.append(cors_layer(cors_origins))
    return layers


#: the methods a path is tried with when the route index is built
_INDEX_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class IndexedRouter(Router):
    """A ``Router`` that finds the routes of a fixed path (no path parameters) with one dict lookup instead of
    trying every route in turn, which with the app's forty-odd routes was most of a request's own time.

    It picks the route the linear scan would: a path is indexed only when no route before its last route
    of that path matches it otherwise (a route with parameters, a mount), and a request none of the
    indexed routes answers in full (another method: 405, a redirect, 404) goes through the scan."""

    _index: dict[str, list[BaseRoute]] | None = None
    _indexed: list[BaseRoute] | None = None

    def _route_index(self) -> dict[str, list[BaseRoute]]:
        if self._index is not None and self._indexed == self.routes:
            return self._index
        fixed: dict[str, list[tuple[int, BaseRoute]]] = {}
        for position, route in enumerate(self.routes):
            if isinstance(route, Route) and not route.param_convertors:
                fixed.setdefault(route.path, []).append((position, route))
        index: dict[str, list[BaseRoute]] = {}
        for path, entries in fixed.items():
            last = entries[-1][0]
            own = {id(route) for _, route in entries}
            if not any(id(other) not in own and _matches_path(other, path) for other in self.routes[:last]):
                index[path] = [route for _, route in entries]
        self._index, self._indexed = index, list(self.routes)
        return index

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self._route_index().get(get_route_path(scope), ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _matches_path(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` answers ``path`` (in full or but for the method) for any method."""
    for method in _INDEX_METHODS:
        probe: Scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
        if route.matches(probe)[0] is not Match.NONE:
            return True
    return False


class WebApp(Starlette):
    """A Starlette app with ``outer`` layers around its whole stack, its own error handler included, and
    the :class:`IndexedRouter`."""

    def __init__(self, *args: Any, outer: Sequence[Layer] = (), **kwargs: Any) -> None:
        self.outer = list(outer)
        super().__init__(*args, **kwargs)
        self.router = IndexedRouter(self.router.routes, lifespan=self.router.lifespan_context)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for layer in reversed(self.outer):
            app = layer(app)
        return app
