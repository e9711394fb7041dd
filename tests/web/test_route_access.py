"""Every route of the app refuses anonymous, wrong-role and other-tenant callers, unless it is meant to be
public: this test walks the app's routes (core's, the REST API's, the plugins') and builds those calls for
each, so a route added later is covered without anyone writing its access test.

* anonymous (no credentials, from an address outside ``web.trusted_networks``): 401;
* a wrong role: for each tenant role the permission table does not grant, a session of that role: 403;
  where every role holds it, an API token without the permission's scope: 403;
* another tenant: a session of tenant B (of a role that holds the permission) on the path parameters of
  tenant A's records: a write is refused (4xx), and no answer holds any of tenant A's identifiers beyond
  those the caller sent in the path.

No call may fail with a 500. Routes that are public on purpose are listed in ``PUBLIC``; a route not listed
there that lets an anonymous caller in fails, and so does a route whose path parameter has no sample below.
"""

from __future__ import annotations

import json

import pytest
from starlette.routing import Route, WebSocketRoute

from core.config import Config
from core.routing import ApiRoute
from core.security.roles import PERMISSIONS, ROLES
from core.store import ListQuery, open_store
from tests.web.support import T0, Clock, add_user, app_client, bearer, stored_session

#: WebSocket routes, whose access tests are their own (an HTTP call cannot reach them)
WEBSOCKETS = {"/api/v1/live"}
PUBLIC = {
    ("POST", "/api/v1/session"),
    ("POST", "/api/v1/registrations"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("POST", "/api/{script}"),
    # the dashboard's page shell and scripts: code, never data (every page reads the API as its user)
    ("GET", "/"),
    ("GET", "/static/{path:path}"),
    # the drop-in test plugin's greeting is not loaded here; listed so the set documents every public route
}
TENANT_A, TENANT_B = "gas_ta", "gas_tb"
DEVICE_A, DEVICE_B = "A0000001", "B0000001"
SAMPLES = {
    "uid": DEVICE_A,
    "device_id": DEVICE_A,
    "login": "ta_user",
    "registration": "ta_pending",
    "customer_no": "CA0001",
    "no": "CYA0001",
    "scale_id": "scale-a",
    "name": TENANT_A,
    "device_type": "gas_meter",
    "script": "query",
    "path:path": "js/app.js",
}
#: what must never appear in an answer to tenant B
MARKERS_A = [
    DEVICE_A,
    "ta_admin",
    "ta_operator",
    "ta_installer",
    "ta_viewer",
    "ta_pending",
    "CA0001",
    "CYA0001",
    "scale-a",
]


def api_routes(app) -> list[tuple[str, ApiRoute]]:
    found = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute) and route.path in WEBSOCKETS:
            continue  # refuses callers in its handshake, with close codes: tests/web/test_live.py
        assert isinstance(route, Route), f"{route!r} is not a route this test knows how to check"
        assert isinstance(route, ApiRoute), f"{route.path} is not an ApiRoute: it declares no access rule"
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route))
    return found


async def session_token(store, tenant: str, login: str, role: str, system_admin: bool = False) -> str:
    return await stored_session(store, tenant, login, role, system_admin, now=T0)


async def seed(store) -> dict:
    """Two tenants with a user of every role, a device, a reading, an event, a subscriber, a weighing, a
    scale's latest reading, an exchange, a pending registration and an API token each."""
    tokens = {}
    for tenant, prefix, uid in ((TENANT_A, "ta", DEVICE_A), (TENANT_B, "tb", DEVICE_B)):
        for role in ROLES:
            await add_user(store, tenant, f"{prefix}_{role}", role)
        await store.add_device(
            tenant,
            {"device_uid": uid, "installer_id": f"{prefix}_installer", "flag": True, "ref_interval": 3600},
        )
        await store.insert_readings(tenant, [{"device_uid": uid, "timestamp": int(T0) - 3600, "counter_val": 7}])
        await store.add_event(
            tenant, {"device_uid": uid, "event_time": T0 - 60, "event_code": 1, "event_type": "tamper_detected"}
        )
        await store.upsert_subscriber(tenant, {"customer_no": f"C{prefix[1].upper()}0001", "meter_id": "M" + uid})
        await store.add_registration(
            {"ID": f"{prefix}_pending", "email": "p@example.com", "name": "P", "passwd": "x", "flag": False}
            | {"tenant": tenant, "regdate": "2025-03-06 00:00:00"}
        )
        _, record = await _api_token(store, tenant, f"{prefix}-token")
        tokens[tenant] = record
        await store.log_exchange(
            {"ip": "198.51.100.1", "port": 5004, "datetime": "2025-12-18 12:00:00", "recv": b"\xa0", "recv_len": 1}
            | {"send": b"", "send_len": 0, "at": T0 - 30, "device_type": "gas_meter"}
            | {"device_uid": uid, "tenant": tenant}
        )
        await store.commit_weighing(
            {"scale_id": f"scale-{prefix[1]}", "cylinder_no": f"CY{prefix[1].upper()}0001", "event_type": "SHIP"}
            | {"gross_kg": 53, "raw_line": "ST,+00053.00 kg", "received_at": T0 - 10, "committed_at": T0 - 5}
            | {"arrival_shipping_no": None, "move_report_no": None, "tenant": tenant}
        )
        await store.set_scale_latest(
            f"scale-{prefix[1]}",
            {"status": "ST", "weight": 53, "unit": "kg", "raw": "ST,+00053.00 kg", "received_at": T0 - 10}
            | {"tenant": tenant},
        )
    return tokens


async def _api_token(store, tenant: str, name: str, scopes: tuple[str, ...] = ()) -> tuple[str, dict]:
    from core.security.accounts import Accounts, AuthSettings

    return await Accounts(store, AuthSettings(), Clock()).create_api_token(tenant, name, list(scopes), "seed", None)


def fill(path: str, samples: dict) -> str:
    for name, value in samples.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{path}: a path parameter has no sample in this test (add one to SAMPLES)"
    return path


async def call(client, method: str, path: str, headers: dict | None = None):
    kwargs = {"headers": headers or {}}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["content"] = b"{}"
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
    response = await client.request(method, path, **kwargs)
    assert response.status_code != 500, f"{method} {path}: {response.text}"
    return response


@pytest.fixture
async def world(tmp_path):
    async with open_store(f"sqlite:///{tmp_path / 'access.db'}") as store:
        tokens = await seed(store)
        samples = dict(SAMPLES, token_id=tokens[TENANT_A]["token_id"])
        page = await store.list_events(TENANT_A, ListQuery())
        samples["event_id"] = page.items[0]["event_id"]
        async with app_client(store, Config(), clock=Clock()) as client:
            yield store, client, samples


async def test_every_route_refuses_anonymous_wrong_role_and_other_tenant_callers(world):
    store, client, samples = world
    routes = api_routes(client.app)
    assert len(routes) > 20  # the REST API, the plugins' and core's routes are all there
    public = {(method, route.path) for method, route in routes if route.public}
    assert public <= PUBLIC, f"routes public without being listed as meant to be: {sorted(public - PUBLIC)}"
    problems = []
    for method, route in routes:
        path = fill(route.path, samples)
        anonymous = await call(client, method, path)
        if route.public:
            continue
        if anonymous.status_code != 401:
            problems.append(f"{method} {route.path}: anonymous got {anonymous.status_code}")
        problems += await _wrong_roles(store, client, method, route, path)
        problems += await _other_tenant(store, client, method, route, path)
    assert problems == [], "\n".join(problems)


async def _wrong_roles(store, client, method: str, route: ApiRoute, path: str) -> list[str]:
    rule = PERMISSIONS[route.permission]
    problems = []
    refused = [role for role in ROLES if role not in rule.roles]
    for role in refused:
        token = await session_token(store, TENANT_A, f"ta_{role}", role)
        response = await call(client, method, path, bearer(token))
        if response.status_code != 403:
            problems.append(f"{method} {route.path}: role {role} got {response.status_code}")
    if not refused:
        other_scopes = tuple(scope for scope in ("scale", "read", "metrics") if scope != rule.scope)
        token, _ = await _api_token(store, TENANT_A, "wrong-scope", other_scopes)
        response = await call(client, method, path, bearer(token))
        if response.status_code != 403:
            problems.append(f"{method} {route.path}: a token of scopes {other_scopes} got {response.status_code}")
    return problems


async def _other_tenant(store, client, method: str, route: ApiRoute, path: str) -> list[str]:
    rule = PERMISSIONS[route.permission]
    holders = [role for role in ROLES if role in rule.roles]
    if not holders:
        return []  # only a system administrator holds it, and it sees every tenant by design
    role = holders[0]
    token = await session_token(store, TENANT_B, f"tb_{role}", role)
    response = await call(client, method, path, bearer(token))
    text = response.text
    # an identifier the caller sent in the path may be echoed back: that tells it nothing
    leaked = [marker for marker in MARKERS_A if marker in text and marker not in path]
    if route.path_params and method != "GET" and response.status_code not in (400, 403, 404, 409, 422):
        return [f"{method} {route.path}: tenant B's {role} got {response.status_code} writing tenant A's record"]
    if leaked:
        return [f"{method} {route.path}: tenant B's {role} saw {leaked}: {text[:200]}"]
    return []


async def test_a_route_without_an_access_rule_is_refused_when_the_app_is_built(store):
    from core.plugins import get_plugin_manager
    from web.app import create_app

    class Plugin:
        from core.api import hookimpl

        @hookimpl
        def specgate_register_routes(self, config):
            async def open_door(request):
                raise AssertionError("never served")

            return [Route("/open-door", open_door)]

    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    pm.register(Plugin(), name="careless")
    with pytest.raises(TypeError, match=r"/open-door must be a core\.api\.ApiRoute"):
        create_app(Config(), store, pm)


async def test_a_cookie_write_from_another_site_is_refused_and_one_from_this_site_passes(world):
    store, client, _ = world
    token = await session_token(store, TENANT_A, "ta_admin", "admin")
    client.cookies.set("specgate_session", token)
    body = json.dumps({"name": "renamed"})
    headers = {"Content-Type": "application/json"}
    cross = await client.patch(
        "/api/v1/users/ta_user", content=body, headers={**headers, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "this site's own pages" in cross.json()["message"]
    fetch = await client.patch(
        "/api/v1/users/ta_user", content=body, headers={**headers, "Sec-Fetch-Site": "cross-site"}
    )
    assert fetch.status_code == 403
    same = await client.patch(
        "/api/v1/users/ta_user", content=body, headers={**headers, "Origin": "http://specgate.test"}
    )
    assert same.status_code == 200, same.text
    # a bearer token is not sent by a browser on its own: no origin check
    client.cookies.clear()
    other = await client.patch(
        "/api/v1/users/ta_user", content=body, headers={**headers, **bearer(token), "Origin": "https://evil.example"}
    )
    assert other.status_code == 200
