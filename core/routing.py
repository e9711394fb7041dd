"""HTTP routes that declare who may call them: :class:`ApiRoute`.

Every route of the app, core's and the plugins', is an ``ApiRoute``: it names the permission of
:mod:`core.security.roles` it needs (or ``public=True``), and this module checks it before the handler
runs, so authorisation is decided in one place. A handler receives the caller as its second argument;
its tenant and role come from the session or token, never from the request.

A caller is identified by ``Authorization: Bearer TOKEN`` or the ``specgate_session`` cookie. A bearer
header that is present but unknown is refused even if a cookie would do. Writes authenticated by the cookie
(which a browser sends on its own) must come from the app's own origin (``Sec-Fetch-Site``/``Origin``) or
a configured CORS origin. The route also carries what the OpenAPI document says about it.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from core.http import RequestError
from core.security.roles import PERMISSIONS, Principal, allowed

SESSION_COOKIE = "specgate_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[Request, Any], Awaitable[Response]]


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Param:
    """A query parameter as the OpenAPI document describes it (path parameters come from the path)."""

    name: str
    description: str
    schema: dict[str, Any] = dataclasses.field(default_factory=lambda: {"type": "string"})
    required: bool = False


#: the query parameters of every paged listing (``core.http.PageRequest`` reads them)
PAGE_PARAMS = (
    Param("limit", "page size (at most 1000)", {"type": "integer"}),
    Param("cursor", "the next page, as the previous page's 'next' gives it"),
)


class ApiRoute(Route):
    """A route with its access rule and its documentation.

    ``permission`` names an entry of :data:`core.security.roles.PERMISSIONS`; ``public=True`` lets anyone
    in (the caller, if any, is still passed). ``body`` is the JSON schema of the request body, ``query`` its
    query parameters; ``summary`` is one line for the OpenAPI document.
    """

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        methods: Sequence[str],
        summary: str,
        permission: str | None = None,
        public: bool = False,
        query: Sequence[Param] = (),
        body: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        name: str | None = None,
        description: str = "",
        responses: dict[str, Any] | None = None,
    ) -> None:
        if public == (permission is not None):
            raise ValueError(f"route {path}: give exactly one of permission= or public=True")
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"route {path}: unknown permission {permission!r}")
        self.handler = handler
        self.permission = permission
        self.public = public
        self.summary = summary
        self.description = description
        self.query = tuple(query)
        self.body = body
        self.tags = tuple(tags)
        self.responses = responses or {}

        async def endpoint(request: Request) -> Response:
            if public:
                try:
                    caller = await identify(request)
                except Unauthorized:
                    caller = None  # a stale token must not keep anyone from a public route (the login)
            else:
                caller = authorize(request, await identify(request), permission or "")
            return await handler(request, caller)

        super().__init__(path, endpoint, methods=list(methods), name=name or f"{methods[0]} {path}")
        self.path_params = list(compile_path(path)[2])


# --------------------------------------------------------------------------- who is calling


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
    return value.strip()


async def identify(request: Request) -> Principal | None:
    """The caller of ``request`` from its bearer token or session cookie; None when it sent neither (or a
    cookie that is no longer valid: the browser is simply logged out). An unknown bearer token is 401."""
    cached = request.scope.get("specgate.caller")
    if cached is not None:
        return cached[0]
    accounts = request.app.state.accounts
    token = _bearer(request)
    via = "bearer"
    if token is None:
        token, via = request.cookies.get(SESSION_COOKIE), "cookie"
    caller = await accounts.authenticate(token) if token else None
    if caller is None and via == "bearer":
        raise Unauthorized("the bearer token is not valid (unknown, expired or revoked)")
    if caller is not None:
        caller = dataclasses.replace(caller, via=via)
    request.scope["specgate.caller"] = (caller,)
    return caller


def from_trusted_network(request: Request) -> bool:
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = request.app.state.trusted_networks
    return _in_networks(client_address(request), tuple(networks))


@functools.lru_cache(maxsize=4096)
def _in_networks(host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    # the same few clients call again and again: each address is parsed and looked up once
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


TRUSTED_CALLER = Principal(login_id="anonymous", tenant=None, role="trusted", kind="trusted")


def authorize(request: Request, caller: Principal | None, permission: str) -> Principal:
    """``caller`` when it holds ``permission``; otherwise 401 (nobody) or 403 (not allowed)."""
    if caller is None:
        if PERMISSIONS[permission].trusted_networks and from_trusted_network(request):
            return TRUSTED_CALLER
        raise Unauthorized("log in first (POST /api/v1/session), or send a bearer token")
    if not allowed(caller, permission):
        raise Forbidden(f"your role may not do this ({permission})")
    if caller.via == "cookie" and request.method not in SAFE_METHODS:
        check_same_origin(request)
    return caller


def check_same_origin(request: Request) -> None:
    """Refuse a cookie-authenticated write sent from another site (CSRF)."""
    allowed_origins = set(request.app.state.config.web_cors_origins)
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none") and origin not in allowed_origins:
        raise Forbidden("a write with the session cookie must come from this site's own pages")
    if origin is not None and origin != own and origin not in allowed_origins:
        raise Forbidden(f"a write with the session cookie must come from this site's own pages, not {origin}")


def caller_tenant(caller: Principal) -> str:
    """The caller's tenant; 403 for a caller that has none (a trusted-network client, a token of no tenant)."""
    if caller.tenant is None:
        raise Forbidden("this route works on a tenant's data, and your caller has no tenant")
    return caller.tenant


def client_address(request: Request) -> str:
    """The client's IP address as the server saw it (after a trusted proxy's forwarded header)."""
    return request.client.host if request.client else "unknown"
