"""The OpenAPI 3.1 document of the app (``GET /openapi.json``), generated from its routes.

Every :class:`core.routing.ApiRoute` carries what the document says about it: its summary, description,
tags, query parameters, request-body schema, extra responses and the permission it needs. The document
states the two ways to authenticate (the ``specgate_session`` cookie, a bearer token), marks public
operations with an empty ``security`` list, names each operation's permission in ``x-permission`` (and
``x-trusted-networks`` where anonymous callers from ``web.trusted_networks`` hold it), and gives every
authenticated operation the 401 and 403 answers in the one error shape of :mod:`core.http`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute

from core import __version__
from core.routing import SESSION_COOKIE, ApiRoute
from core.security.roles import PERMISSIONS, holders

OPENAPI_VERSION = "3.1.0"
#: methods Starlette adds on its own (HEAD beside GET) are not operations of their own
IMPLICIT_METHODS = frozenset({"HEAD"})

_CONVERTOR = re.compile(r"{(\w+):\w+}")
_PATH_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: a code to switch on and a sentence for people.",
    "required": ["ok", "error", "message"],
    "properties": {
        "ok": {"const": False},
        "error": {"type": "string", "examples": ["unauthorized", "forbidden", "not_found"]},
        "message": {"type": "string"},
    },
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A paged listing: pass `next` back as `cursor` for the following page; null on the last.",
    "required": ["ok", "items", "next", "total"],
    "properties": {
        "ok": {"const": True},
        "items": {"type": "array", "items": {"type": "object"}},
        "next": {"type": ["string", "null"]},
        "total": {"type": "integer", "minimum": 0},
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "Set by POST /api/v1/session; writes with it must come from this site's own pages.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token from POST /api/v1/session, or an API token.",
    },
}
AUTHENTICATED: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def api_routes(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    return [route for route in routes if isinstance(route, ApiRoute)]


def operation_methods(route: ApiRoute) -> list[str]:
    """The methods a route documents: its own, without the HEAD Starlette adds beside GET."""
    return sorted(method for method in route.methods or () if method not in IMPLICIT_METHODS)


def openapi_path(path: str) -> str:
    """``/api/v1/devices/{uid}`` for Starlette's ``/api/v1/devices/{uid:str}``."""
    return _CONVERTOR.sub(r"{\1}", path)


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    convertors = dict(re.findall(r"{(\w+)(?::(\w+))?}", route.path))
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(_PATH_PARAM_SCHEMAS.get(convertors.get(name, ""), {"type": "string"})),
        }
        for name in route.path_params
    ]
    for param in route.query:
        parameters.append(
            {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "description": param.description,
                "schema": dict(param.schema),
            }
        )
    return parameters


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{words}" if words else method.lower()


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when paths differing only in punctuation already took it."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


def operation(route: ApiRoute, method: str) -> dict[str, Any]:
    """The OpenAPI operation object of one method of ``route``."""
    entry: dict[str, Any] = {"operationId": _operation_id(method, openapi_path(route.path)), "summary": route.summary}
    description = route.description
    if route.tags:
        entry["tags"] = list(route.tags)
    parameters = _parameters(route)
    if parameters:
        entry["parameters"] = parameters
    if route.body is not None:
        entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    responses: dict[str, Any] = {"200": {"description": "Done", "content": {"application/json": {}}}}
    if route.public:
        entry["security"] = []
    else:
        permission = route.permission or ""
        rule = PERMISSIONS[permission]
        entry["security"] = AUTHENTICATED
        entry["x-permission"] = permission
        if rule.trusted_networks:
            entry["x-trusted-networks"] = True
        held_by = ", ".join(holders(permission)) or "nobody"
        note = f"Permission `{permission}` ({rule.description}), held by: {held_by}."
        description = f"{description}\n\n{note}" if description else note
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
        responses["403"] = {"$ref": "#/components/responses/Forbidden"}
    if route.body is not None:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    responses.update(route.responses)
    if description:
        entry["description"] = description
    entry["responses"] = responses
    return entry


def openapi_document(routes: Iterable[BaseRoute], title: str = "specgate") -> dict[str, Any]:
    """The OpenAPI 3.1 document describing every ``ApiRoute`` among ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    operation_ids: set[str] = set()
    for route in api_routes(routes):
        item = paths.setdefault(openapi_path(route.path), {})
        for method in operation_methods(route):
            entry = item[method.lower()] = operation(route, method)
            entry["operationId"] = _unique(entry["operationId"], operation_ids)
        tags.update(route.tags)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": __version__,
            "description": "The specgate monitoring API; docs/api.md explains authentication, errors and paging.",
        },
        "tags": [{"name": name} for name in sorted(tags)],
        "security": AUTHENTICATED,
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {"Error": ERROR_SCHEMA, "Page": PAGE_SCHEMA},
            "responses": {
                "BadRequest": _error_response("The request is not valid (its body, a parameter)"),
                "Unauthorized": _error_response("No valid session or token was sent"),
                "Forbidden": _error_response("The caller's role, scope or tenant does not allow this"),
            },
        },
    }
