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

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
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
        added = list(SECURITY_HEADERS.items())
        if scope.get("scheme") == "https":
            added.append(HSTS_HEADER)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added:
                    if name not in headers:
                        headers.append(name, value)
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


class WebApp(Starlette):
    """A Starlette app with ``outer`` layers around its whole stack, its own error handler included."""

    def __init__(self, *args: Any, outer: Sequence[Layer] = (), **kwargs: Any) -> None:
        self.outer = list(outer)
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for layer in reversed(self.outer):
            app = layer(app)
        return app
