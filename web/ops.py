"""The operations surface: ``/openapi.json``, ``/healthz``, ``/readyz`` and the Prometheus ``/metrics``.

``/healthz`` answers as long as the process serves requests; ``/readyz`` also asks the store, and answers
503 in the one error shape (with the fixed sentence of an unavailable store, never the driver's detail)
when it does not answer within :data:`READY_TIMEOUT` seconds. Both are public so that a load balancer
or an orchestrator can probe them; they say nothing beyond up or down.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from core.errors import StoreUnavailable
from core.http import JSONResponse
from core.routing import ApiRoute
from core.security.roles import Principal
from web.openapi import openapi_document
from web.prometheus import CONTENT_TYPE_LATEST

#: seconds the store has to answer a readiness probe
READY_TIMEOUT = 5.0


async def openapi_endpoint(request: Request, caller: Principal | None) -> Response:
    return JSONResponse(openapi_document(request.app.routes))


async def healthz(request: Request, caller: Principal | None) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request, caller: Principal | None) -> Response:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await request.app.state.store.ping()
    except TimeoutError:
        raise StoreUnavailable(f"the store did not answer a ping within {READY_TIMEOUT:g} s") from None
    # any StoreUnavailable goes to the app's handler: logged, and answered 503 without its detail
    return JSONResponse({"ok": True})


async def prometheus_endpoint(request: Request, caller: Principal) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    ApiRoute(
        "/openapi.json",
        openapi_endpoint,
        methods=["GET"],
        public=True,
        summary="This API described as an OpenAPI 3.1 document",
        tags=["operations"],
    ),
    ApiRoute(
        "/healthz",
        healthz,
        methods=["GET"],
        public=True,
        summary="Liveness: the process serves requests",
        tags=["operations"],
    ),
    ApiRoute(
        "/readyz",
        readyz,
        methods=["GET"],
        public=True,
        summary="Readiness: the store answers (503 when it does not)",
        tags=["operations"],
        responses={
            "503": {
                "description": "The store does not answer",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    ),
    ApiRoute(
        "/metrics",
        prometheus_endpoint,
        methods=["GET"],
        permission="metrics.read",
        summary="Listener, store and HTTP metrics in the Prometheus text format",
        tags=["operations"],
        responses={"200": {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
    ),
]
