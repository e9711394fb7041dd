"""The endpoint of the original web and Flutter clients: ``POST /api/<script>``.

One route, ``/api/{script}``: a single path segment, so ``/api/v1/...`` and the plugins' routes are never
shadowed, and ``/api/login/query`` (which the original routed to ``query`` without any authentication)
matches nothing and is answered 404. The route is public for the app; each script authenticates itself
from the body's ``userseq`` (:func:`web.compat.context.authenticate`) and checks the permission
:data:`web.compat.scripts.OPERATIONS` names for it, with the same rules as ``/api/v1``.
``docs/compatibility.md`` lists every script and what differs from the original.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from core.config import Config
from core.errors import Conflict, InvalidInput, NotFound
from core.http import BodyTooLarge, RequestError
from core.routing import ApiRoute
from core.security.roles import Principal
from web.compat.context import Call, Exchange, authenticate
from web.compat.envelope import NOT_FOUND, Refused, Reply, respond, unsupported_action
from web.compat.inputs import read_body
from web.compat.scripts import OPERATIONS, PUBLIC, SCRIPT_NAMES, route

#: request bodies larger than this are refused (an import or insert of many rows is the largest)
BODY_LIMIT = 2 * 1024 * 1024
_SMALL_BODY_LIMIT = 64 * 1024
_LARGE_SCRIPTS = frozenset({"insert", "subscriber", "update"})


async def script_endpoint(request: Request, caller: Principal | None) -> Response:
    """Every script: the session comes from the body, never from the app's cookie (a browser would send
    that on its own, from any site)."""
    started = time.monotonic()
    script = request.path_params["script"]
    try:
        limit = BODY_LIMIT if script in _LARGE_SCRIPTS else _SMALL_BODY_LIMIT
        try:
            body = await read_body(request, limit)
        except Refused as refused:
            return respond(refused.reply, status=400)
        except BodyTooLarge as too_large:
            return respond({"code": 413, "message": str(too_large)}, status=413)
        reply = await _run(Exchange(request, body, started), script)
    except Refused as refused:
        reply = refused.reply
    return respond(reply)


async def _run(exchange: Exchange, script: str) -> Reply:
    public = PUBLIC.get(script)
    if public is not None:
        return await _answer(public(exchange))
    script, action = route(script, exchange.body)
    caller = await authenticate(exchange)
    operation = OPERATIONS.get((script, action))
    if operation is None:
        raise unsupported_action(action)
    call = Call(exchange.request, exchange.body, exchange.started, caller)
    call.require(operation.permission)
    return await _answer(operation.run(call))


async def _answer(pending: Awaitable[Reply]) -> Reply:
    """The handler's reply, with the store's and the request checks' refusals in the envelope (a
    ``StoreUnavailable`` is left to the app, which answers 503)."""
    try:
        return await pending
    except InvalidInput as invalid:
        return {"code": 400, "message": str(invalid)}
    except RequestError as error:
        return {"code": error.status, "message": str(error)}
    except NotFound:
        return dict(NOT_FOUND)
    except Conflict as conflict:
        return {"code": 409, "message": str(conflict)}


class ScriptRoute(ApiRoute):
    """``/api/{script}`` matching only the scripts of :data:`web.compat.scripts.SCRIPT_NAMES`: any other
    one-segment path under ``/api/`` stays the app's 404 for every method, as before the endpoint."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and child["path_params"].get("script") not in SCRIPT_NAMES:
            return Match.NONE, {}
        return match, child


def compat_routes(config: Config) -> list[BaseRoute]:
    """The route of the endpoint (CORS, when ``web.cors_origins`` names origins, is the app's layer around
    every route, preflight included)."""
    return [
        ScriptRoute(
            "/api/{script}",
            script_endpoint,
            methods=["POST"],
            public=True,
            summary="The original clients' endpoint (login, query, update, device, user, ...)",
            description="Each script authenticates itself from the body's userseq; see docs/compatibility.md.",
            body={"type": "object"},
            tags=["compatibility"],
        )
    ]
