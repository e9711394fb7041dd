"""Tenants, for system administrators: ``/api/v1/tenants``.

A new tenant comes with its first administrator, who then manages the tenant's users, devices and
tokens through the other routes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.errors import Conflict
from core.http import BadRequest, JSONResponse, PageRequest, error_response, paged_response, read_json_object
from core.routing import PAGE_PARAMS, ApiRoute, Param
from core.security.accounts import PasswordRejected, check_new_password, public_user
from core.security.roles import Principal
from web.api.forms import email_field, lang_field, login_id, new_user, refuse_unknown, tenant_field, text_field
from web.api.users import ensure_login_free


async def list_tenants(request: Request, caller: Principal) -> Response:
    page = PageRequest.from_request(request)
    names = await request.app.state.store.list_tenants()
    if page.search:
        names = [name for name in names if page.search.lower() in name.lower()]
    if page.descending:
        names.reverse()
    items = [{"name": name} for name in names[page.offset : page.offset + page.limit]]
    return paged_response(items, page.offset, page.limit, len(names))


async def create_tenant(request: Request, caller: Principal) -> Response:
    state = request.app.state
    body = await read_json_object(request)
    refuse_unknown(body, ("name", "admin"))
    tenant = tenant_field(body.get("name"), "name")
    admin = body.get("admin")
    if not isinstance(admin, dict):
        raise BadRequest("admin must be the first administrator: {ID, name, email, password}")
    refuse_unknown(admin, ("ID", "name", "email", "password", "lang"))
    login = login_id(admin.get("ID"), "admin.ID")
    name = text_field(admin, "name", required=True)
    email = email_field(admin)
    assert name is not None and email is not None
    lang = lang_field(admin.get("lang", "eng"))
    try:
        password = check_new_password(admin.get("password"))
    except PasswordRejected as rejected:
        return error_response(400, "password_rejected", str(rejected))
    if tenant in await state.store.list_tenants():
        raise Conflict(f"tenant {tenant} exists already")
    await ensure_login_free(state.store, login)
    user = new_user(
        login, name=name, email=email, role="admin", lang=lang, now=state.clock(), tz=state.config.tz, password=password
    )
    await state.store.add_tenant(tenant)
    await state.store.add_user(tenant, user)
    return JSONResponse({"ok": True, "tenant": {"name": tenant}, "admin": public_user(user)}, status_code=201)


ROUTES = [
    ApiRoute(
        "/api/v1/tenants",
        list_tenants,
        methods=["GET"],
        permission="tenants.manage",
        summary="Every tenant",
        query=[
            Param("q", "only tenants whose name contains this"),
            *PAGE_PARAMS,
        ],
        tags=["tenants"],
    ),
    ApiRoute(
        "/api/v1/tenants",
        create_tenant,
        methods=["POST"],
        permission="tenants.manage",
        summary="Create a tenant and its first administrator",
        body={
            "type": "object",
            "required": ["name", "admin"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,63}$"},
                "admin": {
                    "type": "object",
                    "required": ["ID", "name", "email", "password"],
                    "properties": {
                        "ID": {"type": "string"},
                        "name": {"type": "string"},
                        "email": {"type": "string"},
                        "password": {"type": "string", "minLength": 8},
                        "lang": {"type": "string", "enum": ["kor", "eng", "chn"]},
                    },
                },
            },
            "additionalProperties": False,
        },
        tags=["tenants"],
    ),
]
