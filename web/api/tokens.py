"""The tenant's API tokens, for machines (a scale client, a metrics scraper): ``/api/v1/tokens``.

A token grants only the scopes it was created with (``core.security.roles.TOKEN_SCOPES``), in its
tenant, until it expires or is revoked. Its secret is shown once, when it is created; the store keeps
only its hash, and no listing shows either.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.errors import NotFound
from core.http import BadRequest, JSONResponse, PageRequest, paged_response, query_bool, read_json_object
from core.routing import PAGE_PARAMS, ApiRoute, Param, caller_tenant
from core.security.roles import TOKEN_SCOPES, Principal
from web.api.forms import list_query, refuse_unknown, text_field

_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{1,64}$")


def expiry(value: object, now: float, tz: tzinfo) -> float | None:
    """``expires_at`` as epoch seconds: given as epoch seconds or ISO 8601 (without an offset: in ``tz``);
    None: never. It must lie in the future."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"expires_at must be epoch seconds or ISO 8601, got {value!r}") from None
        moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).timestamp()
    else:
        raise BadRequest("expires_at must be epoch seconds or ISO 8601")
    if not math.isfinite(moment) or moment <= now:
        raise BadRequest("expires_at must lie in the future")
    return moment


def shown(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "token_hash"}


async def list_tokens(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    page = PageRequest.from_request(request)
    revoked = query_bool(request, "revoked")
    filters = {} if revoked is None else {"revoked": revoked}
    result = await request.app.state.store.list_api_tokens(tenant, list_query(page, filters=filters))
    return paged_response([shown(item) for item in result.items], page.offset, page.limit, result.total)


async def create_token(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    state = request.app.state
    body = await read_json_object(request)
    refuse_unknown(body, ("name", "scopes", "expires_at"))
    name = text_field(body, "name", required=True)
    assert name is not None
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes or any(scope not in TOKEN_SCOPES for scope in scopes):
        raise BadRequest(f"scopes must be a non-empty list of {', '.join(TOKEN_SCOPES)}")
    expires_at = expiry(body.get("expires_at"), state.clock(), state.config.tz)
    secret, record = await state.accounts.create_api_token(
        tenant, name, sorted(set(scopes)), caller.login_id, expires_at
    )
    return JSONResponse({"ok": True, "token": secret, "record": shown(record)}, status_code=201)


async def revoke_token(request: Request, caller: Principal) -> Response:
    tenant = caller_tenant(caller)
    token_id = request.path_params["token_id"]
    if not _TOKEN_ID_RE.fullmatch(token_id) or not await request.app.state.store.revoke_api_token(token_id, tenant):
        raise NotFound(f"no live token {token_id!r} in your tenant")
    return JSONResponse({"ok": True, "message": f"token {token_id} revoked"})


ROUTES = [
    ApiRoute(
        "/api/v1/tokens",
        list_tokens,
        methods=["GET"],
        permission="tokens.manage",
        summary="The tenant's API tokens (never their secrets), newest first",
        query=[
            Param("revoked", "only revoked (true) or live (false) tokens", {"type": "boolean"}),
            *PAGE_PARAMS,
        ],
        tags=["tokens"],
    ),
    ApiRoute(
        "/api/v1/tokens",
        create_token,
        methods=["POST"],
        permission="tokens.manage",
        summary="Create an API token; its secret is in this answer only",
        body={
            "type": "object",
            "required": ["name", "scopes"],
            "properties": {
                "name": {"type": "string", "maxLength": 200},
                "scopes": {"type": "array", "items": {"type": "string", "enum": list(TOKEN_SCOPES)}, "minItems": 1},
                "expires_at": {
                    "oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
                    "description": "epoch seconds or ISO 8601; left out: never expires",
                },
            },
            "additionalProperties": False,
        },
        tags=["tokens"],
    ),
    ApiRoute(
        "/api/v1/tokens/{token_id}",
        revoke_token,
        methods=["DELETE"],
        permission="tokens.manage",
        summary="Revoke one of the tenant's API tokens",
        tags=["tokens"],
    ),
]
