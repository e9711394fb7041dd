"""Logging in and out, and the caller's own account: ``/api/v1/session``, ``/api/v1/me``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.http import JSONResponse, error_response, read_json_object
from core.routing import SESSION_COOKIE, ApiRoute, Forbidden, caller_tenant, client_address
from core.security.accounts import LoginRefused, PasswordRejected, public_user
from core.security.roles import ROLE_LEVELS, Principal

log = logging.getLogger("specgate.web.session")

#: the one answer to every failed login: nobody learns whether the ID exists or the account is disabled
LOGIN_FAILED = "the login ID or the password is not correct, or the account is disabled"

_LOGIN_BODY = {
    "type": "object",
    "required": ["login", "password"],
    "properties": {"login": {"type": "string"}, "password": {"type": "string"}},
}


def user_view(user: dict[str, Any], caller: Principal) -> dict[str, Any]:
    """The account as ``/me`` and login show it."""
    shown = public_user(user)
    shown.update(tenant=caller.tenant, role=caller.role, level=ROLE_LEVELS.get(caller.role, 0))
    shown["system_admin"] = caller.system_admin
    return shown


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    config = request.app.state.config
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.web_session_lifetime),
        path="/",
        httponly=True,
        samesite="lax",
        secure=config.web_secure_cookies,
    )


async def login(request: Request, caller: Principal | None) -> Response:
    body = await read_json_object(request)
    accounts = request.app.state.accounts
    try:
        result = await accounts.login(body.get("login"), body.get("password"), client_address(request))
    except LoginRefused as refused:
        log.info("login %r from %s refused: %s", str(body.get("login"))[:64], client_address(request), refused)
        if refused.throttled:
            return error_response(429, "too_many_attempts", "too many failed logins; wait a few minutes")
        return error_response(401, "login_failed", LOGIN_FAILED)
    if caller is not None and caller.kind == "session":
        await accounts.logout(caller)  # the token presented before this login is not kept: sessions rotate
    response = JSONResponse({"ok": True, "user": user_view(result.user, result.principal), "token": result.token})
    set_session_cookie(request, response, result.token)
    return response


async def logout(request: Request, caller: Principal) -> Response:
    await request.app.state.accounts.logout(caller)
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: Request, caller: Principal) -> Response:
    if caller.kind != "session":
        return JSONResponse({"ok": True, "user": {"ID": caller.login_id, "tenant": caller.tenant, "kind": caller.kind}})
    user = await request.app.state.store.get_user(caller_tenant(caller), caller.login_id)
    if user is None:
        raise Forbidden("this account no longer exists")
    return JSONResponse({"ok": True, "user": user_view(user, caller)})


async def change_password(request: Request, caller: Principal) -> Response:
    body = await read_json_object(request)
    try:
        await request.app.state.accounts.change_password(caller, body.get("current_password"), body.get("new_password"))
    except PasswordRejected as rejected:
        return error_response(400, "password_rejected", str(rejected))
    response = JSONResponse({"ok": True, "message": "password changed; every session ended, log in again"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = [
    ApiRoute(
        "/api/v1/session",
        login,
        methods=["POST"],
        public=True,
        summary="Log in: a session token (also set as the specgate_session cookie)",
        body=_LOGIN_BODY,
        tags=["session"],
    ),
    ApiRoute("/api/v1/session", logout, methods=["DELETE"], permission="self", summary="Log out", tags=["session"]),
    ApiRoute("/api/v1/me", me, methods=["GET"], permission="self", summary="The caller's account", tags=["session"]),
    ApiRoute(
        "/api/v1/me/password",
        change_password,
        methods=["PUT"],
        permission="self",
        summary="Change one's own password (the current one is checked); every session of the user ends",
        body={
            "type": "object",
            "required": ["current_password", "new_password"],
            "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string"}},
        },
        tags=["session"],
    ),
]
