"""``login``, ``logout`` and ``register``: the scripts that need no session.

Login answers exactly as the original (§3.2 of the contract): the user document without its password
hash, ``db_name`` (the tenant), ``userseq`` and ``level``. ``userseq`` is now a new server-issued session
token (the original's was ``md5(ID + "hanskim")``, which anyone could compute), and every refused login,
whatever the reason, gets the one answer ``{"code": 106, "description": "password_not_match"}``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from core.errors import Conflict, InvalidInput
from core.routing import client_address
from core.security.accounts import LoginRefused, PasswordRejected, check_new_password
from core.security.passwords import hash_password
from core.security.roles import ROLE_LEVELS
from core.timeutil import local_string
from web.api.forms import email_field, lang_field
from web.api.forms import login_id as checked_login_id
from web.compat.context import Exchange, authenticate
from web.compat.envelope import Reply, bad_request, failure, shown
from web.compat.inputs import text

log = logging.getLogger("specgate.web.compat")

#: the one answer to every refused login: an unknown ID, a wrong password and a disabled account look alike
LOGIN_REFUSED: Reply = {"code": 106, "description": "password_not_match"}
LOGIN_THROTTLED: Reply = {"code": 429, "description": "too_many_attempts"}


async def login(exchange: Exchange) -> Reply:
    body = exchange.body
    login_id, password = body.get("id"), body.get("password")
    if not login_id:
        return {"code": 102, "description": "no_id"}
    if not password:
        return {"code": 103, "description": "no_password"}
    address = client_address(exchange.request)
    try:
        result = await exchange.accounts.login(login_id, password, address)
    except LoginRefused as refused:
        log.info("compatible login %r from %s refused: %s", str(login_id)[:64], address, refused)
        return LOGIN_THROTTLED if refused.throttled else LOGIN_REFUSED
    principal = result.principal
    user: dict[str, Any] = shown(result.user, exchange.tz)
    user.update(db_name=principal.tenant, userseq=result.token, level=ROLE_LEVELS[principal.role])
    return {"code": 200, "data": user}


async def logout(exchange: Exchange) -> Reply:
    """Ends the session for real (the original answered and invalidated nothing). Like the original it
    wants ``login_id`` and the token (``session_token``, or ``userseq`` as every other script sends it)."""
    body = exchange.body
    token = body.get("session_token") or body.get("userseq")
    if not body.get("login_id") or not token:
        return {"code": 400, "message": "로그인 ID와 세션 토큰이 필요합니다."}
    caller = await authenticate(Exchange(exchange.request, {**body, "userseq": token}, exchange.started))
    await exchange.accounts.logout(caller)
    return {"code": 200, "data": {"logout_time": local_string(exchange.now(), exchange.tz)}}


async def register(exchange: Exchange) -> Reply:
    """A pending self-registration (``floating_users``), approved later by an administrator of the tenant
    it names (``db_name``; none: only a system administrator sees it)."""
    body = exchange.body
    login_id = checked_login_id(text(body, "ID", required=True))
    email = email_field(body)
    name = text(body, "name", required=True)
    try:
        password = check_new_password(body.get("password"))
    except PasswordRejected as rejected:
        raise bad_request(str(rejected)) from None
    tenant = await _asked_tenant(exchange, body.get("db_name"))
    if not await exchange.accounts.registration_allowed(client_address(exchange.request)):
        return {"code": 429, "message": "too_many_registrations"}
    registration = {
        "ID": login_id,
        "email": email,
        "name": name,
        "passwd": hash_password(password),
        "lang": lang_field(text(body, "language") or text(body, "lang") or "kor"),
        "category": text(body, "category") or "",
        "comment": text(body, "comment", max_length=1000) or "",
        "regdate": datetime.fromtimestamp(exchange.now(), UTC),
        "flag": False,
        "tenant": tenant,
    }
    try:
        await exchange.store.add_registration(registration)
    except Conflict:
        return {"code": 400, "message": "user_already_exists"}
    except InvalidInput as invalid:
        raise failure(400, f"user_registration_failed: {invalid}") from None
    return {"code": 200, "message": "user_registered"}


async def _asked_tenant(exchange: Exchange, name: object) -> str | None:
    """The tenant a registration asks for, when it names one that exists (anything else is kept as none,
    so the answer does not tell which tenants exist)."""
    if not isinstance(name, str) or not name:
        return None
    return name if name in await exchange.store.list_tenants() else None
