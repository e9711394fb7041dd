"""The compatible endpoint POST /api/<script>: routing, the envelope, and authentication from the body.

The helpers here are shared by the other test_compat_* modules.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.config import Config
from core.security.accounts import legacy_userseq
from tests.web.support import PASSWORD, add_user, app_client
from web.compat.scripts import OPERATIONS

TENANT = "gas_demo"
OTHER = "gas_samchully"


async def compat_login(client, login_id: str, password: str = PASSWORD) -> dict:
    """POST /api/login as the Flutter client does; returns the login answer's ``data``."""
    response = await client.post("/api/login", json={"format": "json", "id": login_id, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["code"] == 200, response.text
    return response.json()["data"]


def envelope(session: dict, **fields) -> dict:
    """The keys every original client adds to a body (§5), from its login answer."""
    return {
        "format": "json",
        "login_id": session["ID"],
        "userseq": session["userseq"],
        "db_name": session["db_name"],
        "role": session["role"],
        "level": str(session["level"]),
        **fields,
    }


async def call(client, script: str, session: dict, **fields):
    return await client.post(f"/api/{script}", json=envelope(session, **fields))


async def seed_devices(store) -> None:
    """Two tenants with an administrator, an installer and a viewer each, and devices in both."""
    for tenant, prefix in ((TENANT, ""), (OTHER, "other_")):
        await add_user(store, tenant, f"{prefix}admin", "admin")
        await add_user(store, tenant, f"{prefix}installer", "installer")
        await add_user(store, tenant, f"{prefix}viewer", "viewer")
    await store.add_device(
        TENANT,
        {
            "device_uid": "D4245A98",
            "meter_id": "202465478965",
            "last_count": 1234,
            "last_access": "2025-03-06 15:30:22",
            "flag": True,
            "installer_id": "installer",
        },
    )
    await store.add_device(TENANT, {"device_uid": "A149490D", "flag": False, "installer_id": "someone_else"})
    await store.add_device(OTHER, {"device_uid": "B0000001", "flag": True, "installer_id": "other_installer"})


# --------------------------------------------------------------------------- routing


async def test_paths_with_more_segments_reach_no_script(store):
    """The original routed /api/login/query to ``query`` without authentication (§3.6)."""
    await seed_devices(store)
    async with app_client(store) as client:
        for path in ("/api/login/query", "/api/login/device", "/api/register/database", "/api/x/y/query"):
            response = await client.post(path, json={"page": "database", "action": "get_db_tree", "format": "json"})
            assert response.status_code == 404, path
            assert "data" not in response.json()


async def test_unknown_scripts_and_pages_are_not_found(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        for method in ("GET", "POST"):
            response = await client.request(method, "/api/webconfig", json=envelope(admin))
            assert response.status_code == 404
            assert response.json()["error"] == "not_found"
        assert (await client.get("/api/login")).status_code == 405
        for fields in ({"page": "webconfig"}, {}, {"page": "recv_data"}):
            response = await call(client, "update" if fields.get("page") == "recv_data" else "query", admin, **fields)
            assert response.status_code == 404
            assert response.json() == {"code": 404, "message": "Not found"}
        response = await call(client, "device", admin, action="add")
        assert response.status_code == 200
        assert response.json() == {"code": 400, "message": "지원하지 않는 액션: add"}


async def test_the_endpoint_is_served_only_when_configured(store):
    await seed_devices(store)
    config = Config()
    config.web_compatible_api = False
    async with app_client(store, config=config) as client:
        response = await client.post("/api/login", json={"id": "admin", "password": PASSWORD})
    assert response.status_code == 404


async def test_it_does_not_shadow_the_rest_api(store):
    await seed_devices(store)
    async with app_client(store) as client:
        response = await client.post("/api/v1/session", json={"login": "admin", "password": PASSWORD})
        assert response.status_code == 200
        assert response.json()["ok"] is True


async def test_bodies_that_are_not_json_objects_are_refused_with_the_original_answer(store):
    async with app_client(store) as client:
        for content in (b"{nope", b"[1, 2]", b'"text"', b"[" * 40 + b"]" * 40):
            response = await client.post("/api/query", content=content, headers={"Content-Type": "application/json"})
            assert response.status_code == 400
            assert response.json() == {"code": 400, "message": "Invalid JSON"}
        response = await client.post("/api/query", content=b"{" + b" " * 70_000 + b"}")
        assert response.status_code == 413


async def test_a_body_sent_as_text_plain_is_read_too(store):
    """The original read any body; Dart's http sends text/plain when a client forgets the header."""
    await seed_devices(store)
    async with app_client(store) as client:
        body = json.dumps({"format": "json", "id": "admin", "password": PASSWORD})
        response = await client.post("/api/login", content=body, headers={"Content-Type": "text/plain"})
    assert response.json()["code"] == 200
    assert response.headers["content-type"] == "application/json"


async def test_cors_only_for_configured_origins(store):
    """The original sent Access-Control-Allow-Origin: * on everything; the app's CORS layer covers the
    endpoint for the configured origins only."""
    await seed_devices(store)
    config = Config()
    config.web_cors_origins = ["https://app.example.com"]
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    body = {"format": "json", "id": "admin", "password": PASSWORD}
    async with app_client(store, config=config) as client:
        response = await client.options("/api/login", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "POST" in response.headers["access-control-allow-methods"]
        response = await client.post("/api/login", json=body, headers={"Origin": "https://app.example.com"})
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        response = await client.post("/api/login", json=body, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    async with app_client(store) as client:
        response = await client.options("/api/login", headers=preflight)
        assert response.status_code == 405
        assert "access-control-allow-origin" not in response.headers


# --------------------------------------------------------------------------- authentication from the body


async def test_a_forged_md5_userseq_is_refused(store):
    """The original's token was md5(ID + "hanskim"): anyone could compute it (§3.3)."""
    await seed_devices(store)
    forged = legacy_userseq("admin")
    assert forged == hashlib.md5(b"adminhanskim").hexdigest()
    body = {"format": "json", "page": "device_info", "db_name": TENANT, "login_id": "admin", "role": "admin"}
    async with app_client(store) as client:
        for script, extra in (("query", {}), ("device", {"action": "list"}), ("database", {"action": "list"})):
            response = await client.post(f"/api/{script}", json={**body, **extra, "userseq": forged, "fields": []})
            assert response.status_code == 403
            assert response.json() == {"code": 403, "message": "Unauthorized"}


async def test_action_login_or_register_in_a_body_bypasses_nothing(store):
    """§3.4: the original skipped authentication for a body with action login or register."""
    await seed_devices(store)
    async with app_client(store) as client:
        for action in ("login", "register"):
            body = {"format": "json", "action": action, "page": "database", "db": TENANT, "table": "users"}
            for script in ("query", "database", "device", "user"):
                response = await client.post(f"/api/{script}", json=body)
                assert response.status_code == 403, script
                assert response.json() == {"code": 403, "message": "Unauthorized"}, script


async def test_the_session_cookie_of_the_rest_api_is_not_a_compatible_session(store):
    """Only the body's userseq counts: a browser sends the cookie by itself, from any page."""
    await seed_devices(store)
    async with app_client(store) as client:
        response = await client.post("/api/v1/session", json={"login": "admin", "password": PASSWORD})
        assert client.cookies.get("specgate_session")
        response = await client.post("/api/device", json={"format": "json", "action": "list", "fields": []})
    assert response.status_code == 403
    assert response.json() == {"code": 403, "message": "Unauthorized"}


async def test_claims_in_the_body_must_be_the_sessions(store):
    """db_name and login_id of another tenant or user are refused, not followed (§4.1, §8.4)."""
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        for claim in ({"db_name": OTHER}, {"login_id": "other_admin"}):
            body = {**envelope(admin, action="list", fields=[]), **claim}
            response = await client.post("/api/device", json=body)
            assert response.status_code == 403
            assert response.json() == {"code": 403, "message": "Unauthorized"}
        response = await call(client, "device", admin, action="list", fields=["device_uid"], db_name="")
        assert sorted(row["device_uid"] for row in response.json()["data"]) == ["A149490D", "D4245A98"]


async def test_a_role_claimed_in_the_body_grants_nothing(store):
    await seed_devices(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        claimed = {**viewer, "role": "admin", "level": 16}
        for script, fields in (
            ("database", {"action": "list"}),
            ("user", {"action": "add", "data": {"ID": "x", "name": "X", "email": "x@e", "password": PASSWORD}}),
            ("device", {"action": "release", "device_uids": ["C0000001"], "installer_id": "installer"}),
        ):
            response = await call(client, script, claimed, **fields)
            assert response.status_code == 403, script
            assert response.json() == {"code": 403, "message": "Permission denied"}, script
        assert await store.get_user(TENANT, "x") is None
        assert await store.get_device_route("C0000001") is None


async def test_an_expired_or_ended_session_is_refused(store, clock):
    await seed_devices(store)
    async with app_client(store, clock=clock) as client:
        admin = await compat_login(client, "admin")
        assert (await call(client, "device", admin, action="list")).json()["code"] == 200
        clock.now += 13 * 3600
        response = await call(client, "device", admin, action="list")
    assert response.status_code == 403


@pytest.mark.parametrize("token", [None, "", 12345, "x" * 500, {"$ne": None}])
async def test_malformed_tokens_are_refused(store, token):
    await seed_devices(store)
    async with app_client(store) as client:
        response = await client.post("/api/device", json={"format": "json", "action": "list", "userseq": token})
    assert response.status_code == 403
    assert response.json() == {"code": 403, "message": "Unauthorized"}


def test_the_documented_table_is_the_table_the_endpoint_runs():
    text = (Path(__file__).parents[2] / "docs" / "compatibility.md").read_text(encoding="utf-8")
    documented = set()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[2].startswith("`"):
            documented.add((cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`")))
    assert documented == {(script, action, op.permission) for (script, action), op in OPERATIONS.items()}
