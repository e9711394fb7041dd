"""``GET /openapi.json`` describes every route of the fully built app, and ``docs/api.md`` lists them all."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate
from starlette.routing import WebSocketRoute

from core.config import Config
from core.hookspecs import hookimpl
from core.http import JSONResponse
from core.plugins import get_plugin_manager
from core.routing import ApiRoute, Param
from tests.web.support import Clock, app_client
from web.app import create_app
from web.openapi import api_routes, openapi_document, openapi_path, operation_methods

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\|\s*([A-Z]+)\s*\|\s*`([^`]+)`\s*\|\s*`?([\w.]+)`?\s*\|", re.MULTILINE)


def full_app(store):
    """The app with the built-in plugins and every optional surface switched on."""
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    return create_app(Config(web_compatible_api=True), store, pm, clock=Clock())


def app_operations(app) -> set[tuple[str, str, str]]:
    """``(method, path, permission or "public")`` of every ApiRoute of ``app``."""
    return {
        (method, openapi_path(route.path), "public" if route.public else str(route.permission))
        for route in api_routes(app.routes)
        for method in operation_methods(route)
    }


async def test_the_document_is_valid_openapi_3_1_and_served_to_anyone(store):
    async with app_client(store) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_every_route_of_the_full_app_is_documented_with_its_methods(store):
    app = full_app(store)
    # the live WebSocket is no HTTP operation: docs/api.md points to docs/live.md, which describes it
    others = [route for route in app.routes if not isinstance(route, ApiRoute)]
    assert [(type(route), route.path) for route in others] == [(WebSocketRoute, "/api/v1/live")]
    document = openapi_document(app.routes)
    validate(document)
    documented = {
        (method.upper(), path, entry.get("x-permission", "public"))
        for path, item in document["paths"].items()
        for method, entry in item.items()
    }
    assert documented == app_operations(app)
    assert {"/openapi.json", "/healthz", "/readyz", "/metrics", "/api/v1/session"} <= set(document["paths"])


async def test_access_is_described_per_operation(store):
    document = openapi_document(full_app(store).routes)
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "specgate_session",
        "description": schemes["session"]["description"],
    }
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    health = document["paths"]["/healthz"]["get"]
    assert health["security"] == [] and "x-permission" not in health and "401" not in health["responses"]
    metrics = document["paths"]["/metrics"]["get"]
    assert metrics["security"] == [{"session": []}, {"bearer": []}]
    assert (metrics["x-permission"], metrics["x-trusted-networks"]) == ("metrics.read", True)
    assert metrics["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    assert metrics["responses"]["403"] == {"$ref": "#/components/responses/Forbidden"}
    assert "system administrator" in metrics["description"]
    me = document["paths"]["/api/v1/me"]["get"]
    assert me["x-permission"] == "self" and "x-trusted-networks" not in me
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["ok", "error", "message"]
    forbidden = document["components"]["responses"]["Forbidden"]
    assert forbidden["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


class DocumentedRoutes:
    @hookimpl
    def specgate_register_routes(self, config):
        async def handler(request, caller):
            return JSONResponse({"ok": True})

        body = {"type": "object", "properties": {"name": {"type": "string"}}}
        return [
            ApiRoute(
                "/api/v1/things/{uid}",
                handler,
                methods=["GET", "PATCH"],
                permission="devices.update",
                summary="A thing",
                description="Longer words.",
                query=[Param("limit", "at most this many", {"type": "integer"}, required=True)],
                body=body,
                tags=["things"],
            ),
            ApiRoute("/api/v1/count/{n:int}", handler, methods=["GET"], public=True, summary="Counted"),
        ]


async def test_parameters_body_tags_and_descriptions_come_from_the_route(store):
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(DocumentedRoutes(), name="documented")
    document = openapi_document(create_app(Config(), store, pm, clock=Clock()).routes)
    validate(document)
    item = document["paths"]["/api/v1/things/{uid}"]
    assert set(item) == {"get", "patch"}  # no HEAD beside GET
    patch = item["patch"]
    assert patch["summary"] == "A thing" and patch["tags"] == ["things"]
    assert patch["description"].startswith("Longer words.\n\nPermission `devices.update`")
    assert patch["parameters"] == [
        {"name": "uid", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "limit",
            "in": "query",
            "required": True,
            "description": "at most this many",
            "schema": {"type": "integer"},
        },
    ]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["properties"] == {"name": {"type": "string"}}
    assert patch["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    assert item["get"]["operationId"] != patch["operationId"]
    counted = document["paths"]["/api/v1/count/{n}"]["get"]
    assert counted["parameters"][0]["schema"] == {"type": "integer"}
    assert {"name": "things"} in document["tags"]


# --------------------------------------------------------------------------- docs/api.md


def documented_routes() -> set[tuple[str, str, str]]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = text.split("\n## Routes", 1)[1].split("\n## ", 1)[0]
    return {(method, path, permission) for method, path, permission in _ROW.findall(table)}


async def test_the_route_table_in_the_docs_lists_every_route_and_no_other(store):
    in_app, in_docs = app_operations(full_app(store)), documented_routes()
    missing = sorted(in_app - in_docs)
    extra = sorted(in_docs - in_app)
    rows = "\n".join(f"| {method} | `{path}` | `{permission}` | ... |" for method, path, permission in missing)
    assert not missing, f"docs/api.md (## Routes) lacks these rows:\n{rows}"
    assert not extra, f"docs/api.md (## Routes) lists routes the app does not have: {extra}"
