"""Self-registration and its review: ``/api/v1/registrations``.

Anyone may register (a limited number of times per client address and hour); the registration waits,
disabled, until an administrator approves it into the administrator's own tenant or rejects it. A tenant
administrator sees only the registrations that name its tenant; a system administrator sees all. The
tenant a user ends up in is always the approving administrator's, never one a request names.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.errors import Conflict, NotFound
from core.http import JSONResponse, PageRequest, error_response, paged_response, query_str, read_json_object
from core.routing import PAGE_PARAMS, ApiRoute, Forbidden, Param, caller_tenant, client_address
from core.security.accounts import PasswordRejected, check_new_password, public_user
from core.security.passwords import hash_password
from core.security.roles import ROLES, Principal
from core.timeutil import local_string
from web.api.forms import (
    LANGUAGES,
    email_field,
    is_login_id,
    lang_field,
    list_query,
    login_id,
    new_user,
    optional_json_object,
    refuse_unknown,
    role_field,
    tenant_field,
    text_field,
)

_FIELDS = ("ID", "name", "email", "password", "lang", "category", "comment", "tenant")
#: the one answer to a login ID that is taken, whoever holds it
ID_TAKEN = "this login ID cannot be registered; choose another"


async def register(request: Request, caller: Principal | None) -> Response:
    state = request.app.state
    body = await read_json_object(request)
    if not await state.accounts.registration_allowed(client_address(request)):
        return error_response(429, "too_many_requests", "too many registrations from your address; try again later")
    refuse_unknown(body, _FIELDS)
    login = login_id(body.get("ID"))
    name = text_field(body, "name", required=True)
    email = email_field(body)
    tenant = tenant_field(body["tenant"]) if body.get("tenant") is not None else None
    try:
        password = check_new_password(body.get("password"))
    except PasswordRejected as rejected:
        return error_response(400, "password_rejected", str(rejected))
    now = state.clock()
    registration = {
        "ID": login,
        "email": email,
        "name": name,
        "passwd": hash_password(password),
        "lang": lang_field(body.get("lang", "eng")),
        "category": text_field(body, "category", max_length=64) or "",
        "comment": text_field(body, "comment", max_length=1000) or "",
        "regdate": local_string(now, state.config.tz),
        "flag": False,
        "tenant": tenant,
    }
    try:
        await state.store.add_registration(registration)
    except Conflict:
        return error_response(409, "conflict", ID_TAKEN)
    return JSONResponse(
        {
            "ok": True,
            "message": "registration received; an administrator will review it",
            "registration": public_user(registration),
        },
        status_code=201,
    )


async def list_registrations(request: Request, caller: Principal) -> Response:
    page = PageRequest.from_request(request)
    filters: dict[str, Any] = {"flag": False}
    asked = query_str(request, "tenant", 63)
    if caller.system_admin:
        if asked:
            filters["tenant"] = tenant_field(asked)
    else:
        own = caller_tenant(caller)
        if asked and asked != own:
            raise Forbidden("you may only see the registrations that name your own tenant")
        filters["tenant"] = own
    result = await request.app.state.store.list_registrations(list_query(page, filters=filters))
    return paged_response([public_user(item) for item in result.items], page.offset, page.limit, result.total)


async def pending_registration(request: Request, caller: Principal) -> tuple[str, dict[str, Any]]:
    """The ``{registration}`` of the path when it is pending and the caller may review it; else 404."""
    login = request.path_params["registration"]
    registration = await request.app.state.store.get_registration(login) if is_login_id(login) else None
    if (
        registration is None
        or registration.get("flag") is not False
        or (not caller.system_admin and registration.get("tenant") != caller_tenant(caller))
    ):
        raise NotFound(f"no pending registration {login!r} for your tenant")
    return login, registration


async def approve(request: Request, caller: Principal) -> Response:
    state = request.app.state
    tenant = caller_tenant(caller)
    login, registration = await pending_registration(request, caller)
    body = await optional_json_object(request)
    refuse_unknown(body, ("role",))
    default_role = "user" if registration.get("category") == "company" else "viewer"
    role = role_field(body["role"]) if body.get("role") is not None else default_role
    lang = registration.get("lang")
    user = new_user(
        login,
        name=str(registration.get("name") or login),
        email=str(registration.get("email") or ""),
        role=role,
        lang=lang if isinstance(lang, str) and lang in LANGUAGES else "eng",
        now=state.clock(),
        tz=state.config.tz,
        passwd=str(registration.get("passwd") or ""),
    )
    await state.store.add_user(tenant, user)  # Conflict (409) when the ID was taken in the meantime
    await state.store.set_registration_flag(login, True)
    return JSONResponse({"ok": True, "tenant": tenant, "user": public_user(user)})


async def reject(request: Request, caller: Principal) -> Response:
    login, _ = await pending_registration(request, caller)
    await request.app.state.store.delete_registration(login)
    return JSONResponse({"ok": True, "message": f"registration {login} rejected and deleted"})


ROUTES = [
    ApiRoute(
        "/api/v1/registrations",
        register,
        methods=["POST"],
        public=True,
        summary="Register: an account that waits, disabled, for an administrator's approval",
        body={
            "type": "object",
            "required": ["ID", "name", "email", "password"],
            "properties": {
                "ID": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
                "name": {"type": "string", "maxLength": 200},
                "email": {"type": "string", "maxLength": 254},
                "password": {"type": "string", "minLength": 8},
                "lang": {"type": "string", "enum": list(LANGUAGES)},
                "category": {"type": "string", "maxLength": 64, "description": "'company' is approved as a user"},
                "comment": {"type": "string", "maxLength": 1000},
                "tenant": {"type": "string", "description": "the tenant asked to join"},
            },
            "additionalProperties": False,
        },
        tags=["registrations"],
    ),
    ApiRoute(
        "/api/v1/registrations",
        list_registrations,
        methods=["GET"],
        permission="registrations.manage",
        summary="Pending registrations naming the caller's tenant (a system administrator: all)",
        query=[
            Param("tenant", "only those naming this tenant (a system administrator's filter)"),
            *PAGE_PARAMS,
        ],
        tags=["registrations"],
    ),
    ApiRoute(
        "/api/v1/registrations/{registration}/approve",
        approve,
        methods=["POST"],
        permission="registrations.manage",
        summary="Approve a registration: an enabled user in the caller's tenant",
        body={
            "type": "object",
            "properties": {
                "role": {
                    "type": "string",
                    "enum": list(ROLES),
                    "description": "default: user for the category 'company', else viewer",
                }
            },
            "additionalProperties": False,
        },
        tags=["registrations"],
    ),
    ApiRoute(
        "/api/v1/registrations/{registration}/reject",
        reject,
        methods=["POST"],
        permission="registrations.manage",
        summary="Reject a registration (it is deleted, its login ID free again)",
        tags=["registrations"],
    ),
]
