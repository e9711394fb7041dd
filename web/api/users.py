"""The tenant's users, managed by its administrators: ``/api/v1/users``.

Everything happens in the caller's own tenant. The password hash is never shown. A changed role and a
disabled account end every session of that user at once (its next request is refused), since a session
carries the role it was opened with. Users are disabled, never deleted, so their login ID stays taken.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.errors import Conflict, NotFound
from core.http import (
    BadRequest,
    JSONResponse,
    PageRequest,
    error_response,
    paged_response,
    query_bool,
    query_str,
    read_json_object,
)
from core.routing import PAGE_PARAMS, ApiRoute, Forbidden, Param, caller_tenant
from core.security.accounts import PasswordRejected, check_new_password, public_user
from core.security.roles import ROLE_LEVELS, ROLES, Principal, canonical_role
from core.store import Store
from web.api.forms import (
    bool_field,
    email_field,
    is_login_id,
    lang_field,
    list_query,
    login_id,
    new_user,
    refuse_unknown,
    role_field,
    text_field,
)

_CREATE_FIELDS = ("ID", "name", "email", "role", "password", "lang", "system_admin")
_UPDATE_FIELDS = ("name", "email", "lang", "role", "flag")


async def ensure_login_free(store: Store, login: str) -> None:
    """``Conflict`` when ``login`` belongs to a user of any tenant or to a pending registration."""
    if await store.find_user(login) is not None:
        raise Conflict(f"login ID {login} is already in use")
    registration = await store.get_registration(login)
    if registration is not None and registration.get("flag") is not True:
        raise Conflict(f"login ID {login} is already in use by a pending registration")


async def tenant_user(request: Request, tenant: str) -> tuple[str, dict[str, Any]]:
    """The ``{login}`` of the path and its user in ``tenant``; 404 when the tenant has no such user."""
    login = request.path_params["login"]
    user = await request.app.state.store.get_user(tenant, login) if is_login_id(login) else None
    if user is None:
        raise NotFound(f"no user {login!r} in your tenant")
    return login, user


def check_may_change(caller: Principal, login: str, user: dict[str, Any]) -> None:
    if user.get("system_admin") is True and not caller.system_admin:
        raise Forbidden(f"only a system administrator may change the account of {login}, a system administrator")


def password_refused(rejected: PasswordRejected) -> Response:
    return error_response(400, "password_rejected", str(rejected))


async def list_users(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    filters: dict[str, Any] = {}
    any_of: dict[str, tuple[Any, ...]] = {}
    role = query_str(request, "role", 32)
    if role is not None:
        role = role_field(role)
        if role == "viewer":
            any_of["role"] = ("viewer", "guest")  # the original's name for it, still stored on old accounts
        else:
            filters["role"] = role
    flag = query_bool(request, "flag")
    if flag is not None:
        filters["flag"] = flag
    result = await request.app.state.store.list_users(tenant, list_query(page, filters=filters, any_of=any_of))
    return paged_response([public_user(user) for user in result.items], page.offset, page.limit, result.total)


async def create_user(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    state = request.app.state
    body = await read_json_object(request)
    refuse_unknown(body, _CREATE_FIELDS)
    system_admin = bool_field(body, "system_admin") is True
    if system_admin and not caller.system_admin:
        raise Forbidden("only a system administrator may create a system administrator")
    login = login_id(body.get("ID"))
    name = text_field(body, "name", required=True)
    email = email_field(body)
    assert name is not None and email is not None
    role = role_field(body.get("role"))
    lang = lang_field(body.get("lang", "eng"))
    try:
        password = check_new_password(body.get("password"))
    except PasswordRejected as rejected:
        return password_refused(rejected)
    await ensure_login_free(state.store, login)
    user = new_user(
        login, name=name, email=email, role=role, lang=lang, now=state.clock(), tz=state.config.tz, password=password
    )
    if system_admin:
        user["system_admin"] = True
    await state.store.add_user(tenant, user)
    return JSONResponse({"ok": True, "user": public_user(user)}, status_code=201)


async def get_user(request: Request, caller: Principal) -> Response:
    _, user = await tenant_user(request, caller_tenant(caller))
    return JSONResponse({"ok": True, "user": public_user(user)})


async def update_user(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    store = request.app.state.store
    login, user = await tenant_user(request, tenant)
    body = await read_json_object(request)
    refuse_unknown(body, _UPDATE_FIELDS)
    if not body:
        raise BadRequest("give at least one field to change")
    check_may_change(caller, login, user)
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = text_field(body, "name", required=True)
    if "email" in body:
        fields["email"] = email_field(body)
    if "lang" in body:
        fields["lang"] = lang_field(body["lang"])
    if "flag" in body:
        if not isinstance(body["flag"], bool):
            raise BadRequest("flag must be true or false")
        fields["flag"] = body["flag"]
    role_changed = False
    if "role" in body:
        role = role_field(body["role"])
        role_changed = role != canonical_role(user.get("role"))
        fields.update(role=role, level=ROLE_LEVELS[role])
    disabled = fields.get("flag") is False and user.get("flag") is not False
    if login == caller.login_id and (role_changed or fields.get("flag") is False):
        raise Forbidden("you cannot demote or disable your own account")
    await store.update_user(tenant, login, fields)
    if role_changed or disabled:
        await request.app.state.accounts.end_sessions(login)
    return JSONResponse({"ok": True, "user": public_user(await store.get_user(tenant, login) or {})})


async def set_user_password(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    login, user = await tenant_user(request, tenant)
    body = await read_json_object(request)
    refuse_unknown(body, ("password",))
    check_may_change(caller, login, user)
    try:
        await request.app.state.accounts.set_password(tenant, login, body.get("password"))
    except PasswordRejected as rejected:
        return password_refused(rejected)
    return JSONResponse({"ok": True, "message": f"password of {login} set; every session of {login} ended"})


async def disable_user(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    store = request.app.state.store
    login, user = await tenant_user(request, tenant)
    if login == caller.login_id:
        raise Forbidden("you cannot disable your own account")
    check_may_change(caller, login, user)
    await store.update_user(tenant, login, {"flag": False})
    await request.app.state.accounts.end_sessions(login)
    return JSONResponse({"ok": True, "user": public_user(await store.get_user(tenant, login) or {})})


_USER_FIELDS = {
    "ID": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
    "name": {"type": "string", "maxLength": 200},
    "email": {"type": "string", "maxLength": 254},
    "role": {"type": "string", "enum": list(ROLES)},
    "lang": {"type": "string", "enum": ["kor", "eng", "chn"]},
}

ROUTES = [
    ApiRoute(
        "/api/v1/users",
        list_users,
        methods=["GET"],
        permission="users.manage",
        summary="The tenant's users (never their password hashes)",
        query=[
            Param("role", "only users of this role"),
            Param("flag", "only enabled (true) or disabled (false) users", {"type": "boolean"}),
            Param("q", "search the login ID, name and e-mail"),
            *PAGE_PARAMS,
        ],
        tags=["users"],
    ),
    ApiRoute(
        "/api/v1/users",
        create_user,
        methods=["POST"],
        permission="users.manage",
        summary="Create an enabled user in the tenant",
        body={
            "type": "object",
            "required": ["ID", "name", "email", "role", "password"],
            "properties": {**_USER_FIELDS, "password": {"type": "string", "minLength": 8}},
            "additionalProperties": False,
        },
        tags=["users"],
    ),
    ApiRoute(
        "/api/v1/users/{login}",
        get_user,
        methods=["GET"],
        permission="users.manage",
        summary="One user",
        tags=["users"],
    ),
    ApiRoute(
        "/api/v1/users/{login}",
        update_user,
        methods=["PATCH"],
        permission="users.manage",
        summary="Change a user's name, e-mail, language, role or flag; a new role or a disabled account ends its "
        "sessions",
        body={
            "type": "object",
            "properties": {
                key: value for key, value in {**_USER_FIELDS, "flag": {"type": "boolean"}}.items() if key != "ID"
            },
            "additionalProperties": False,
        },
        tags=["users"],
    ),
    ApiRoute(
        "/api/v1/users/{login}/password",
        set_user_password,
        methods=["POST"],
        permission="users.manage",
        summary="Set a user's password; every session of the user ends",
        body={"type": "object", "required": ["password"], "properties": {"password": {"type": "string"}}},
        tags=["users"],
    ),
    ApiRoute(
        "/api/v1/users/{login}",
        disable_user,
        methods=["DELETE"],
        permission="users.manage",
        summary="Disable a user (it is kept, its login ID stays taken) and end its sessions",
        tags=["users"],
    ),
]
