"""API tokens (/api/v1/tokens): creation, scopes, revocation and expiry, on both store backends."""

from __future__ import annotations

from tests.web.accounts_support import session
from tests.web.support import T0, Clock, add_user, app_client, bearer

LATEST = "/api/scale-gateway/latest/"


async def test_a_token_authenticates_for_its_scopes_until_revoked(store):
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        assert (await client.get(LATEST)).status_code == 401  # this client is not on a trusted network
        created = await client.post("/api/v1/tokens", json={"name": "scale PC", "scopes": ["scale"]}, headers=admin)
        assert created.status_code == 201, created.text
        body = created.json()
        secret, record = body["token"], body["record"]
        assert secret.startswith("sgt_") and "token_hash" not in record
        assert (record["tenant"], record["name"], record["scopes"], record["created_by"]) == (
            "gas_a",
            "scale PC",
            ["scale"],
            "boss",
        )
        assert (record["created_at"], record["expires_at"], record["revoked"]) == (T0, None, False)

        latest = await client.get(LATEST, headers=bearer(secret))
        assert latest.status_code == 404 and latest.json()["error"] == "no_data"
        assert (await client.get("/api/v1/tokens", headers=bearer(secret))).status_code == 403
        assert (await client.get("/api/v1/users", headers=bearer(secret))).status_code == 403

        reader = await client.post("/api/v1/tokens", json={"name": "dashboard", "scopes": ["read"]}, headers=admin)
        assert (await client.get(LATEST, headers=bearer(reader.json()["token"]))).status_code == 403

        listing = await client.get("/api/v1/tokens", headers=admin)
        assert secret not in listing.text and "token_hash" not in listing.text
        items = listing.json()["items"]
        assert sorted(item["name"] for item in items) == ["dashboard", "scale PC"]
        assert listing.json()["total"] == 2

        revoked = await client.delete(f"/api/v1/tokens/{record['token_id']}", headers=admin)
        assert revoked.status_code == 200
        assert (await client.get(LATEST, headers=bearer(secret))).status_code == 401
        assert (await client.delete(f"/api/v1/tokens/{record['token_id']}", headers=admin)).status_code == 404
        live = (await client.get("/api/v1/tokens", params={"revoked": "false"}, headers=admin)).json()
        assert [item["name"] for item in live["items"]] == ["dashboard"]


async def test_a_token_expires(store):
    clock = Clock()
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store, clock=clock) as client:
        admin = await session(client, "boss")
        by_epoch = {"name": "one hour", "scopes": ["scale"], "expires_at": T0 + 3600}
        by_iso = {"name": "two hours", "scopes": ["scale", "scale"], "expires_at": "2025-12-18T14:00:00"}
        first = (await client.post("/api/v1/tokens", json=by_epoch, headers=admin)).json()
        second = (await client.post("/api/v1/tokens", json=by_iso, headers=admin)).json()
        assert first["record"]["expires_at"] == T0 + 3600
        assert second["record"]["expires_at"] == T0 + 7200 and second["record"]["scopes"] == ["scale"]
        clock.now = T0 + 3599
        assert (await client.get(LATEST, headers=bearer(first["token"]))).status_code == 404
        clock.now = T0 + 3601
        assert (await client.get(LATEST, headers=bearer(first["token"]))).status_code == 401
        assert (await client.get(LATEST, headers=bearer(second["token"]))).status_code == 404
        clock.now = T0 + 7201
        assert (await client.get(LATEST, headers=bearer(second["token"]))).status_code == 401


async def test_token_requests_are_checked(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    async with app_client(store) as client:
        admin, operator = await session(client, "boss"), await session(client, "op1")
        for body in (
            {"name": "x", "scopes": ["root"]},
            {"name": "x", "scopes": []},
            {"name": "x", "scopes": "scale"},
            {"name": "", "scopes": ["scale"]},
            {"scopes": ["scale"]},
            {"name": "x", "scopes": ["scale"], "expires_at": T0 - 1},
            {"name": "x", "scopes": ["scale"], "expires_at": "tomorrow"},
            {"name": "x", "scopes": ["scale"], "expires_at": True},
            {"name": "x", "scopes": ["scale"], "tenant": "gas_b"},
        ):
            response = await client.post("/api/v1/tokens", json=body, headers=admin)
            assert response.status_code == 400, (body, response.text)
        assert (await client.get("/api/v1/tokens", headers=admin)).json()["total"] == 0
        assert (await client.get("/api/v1/tokens", headers=operator)).status_code == 403
        made = await client.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]}, headers=operator)
        assert made.status_code == 403
        assert (await client.delete("/api/v1/tokens/abc123", headers=admin)).status_code == 404


async def test_another_tenants_tokens_are_not_found(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_b", "boss_b", "admin")
    async with app_client(store) as client:
        admin_a, admin_b = await session(client, "boss_a"), await session(client, "boss_b")
        created = await client.post("/api/v1/tokens", json={"name": "a's", "scopes": ["scale"]}, headers=admin_a)
        token_id, secret = created.json()["record"]["token_id"], created.json()["token"]
        assert (await client.get("/api/v1/tokens", headers=admin_b)).json()["total"] == 0
        assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=admin_b)).status_code == 404
        assert (await client.get(LATEST, headers=bearer(secret))).status_code == 404  # still live
        assert (await client.get("/api/v1/tokens", headers=admin_a)).json()["total"] == 1
