"""The users API (/api/v1/users) and the tenants API (/api/v1/tenants) on both store backends."""

from __future__ import annotations

from core.security.passwords import verify_password
from tests.web.accounts_support import no_password_hash, session
from tests.web.support import PASSWORD, add_user, app_client

NEW_PASSWORD = "another good password"


def new_user(login: str, role: str = "operator") -> dict:
    return {"ID": login, "name": login.title(), "email": f"{login}@example.com", "role": role, "password": PASSWORD}


async def test_create_list_and_read_users(store):
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        created = no_password_hash(await client.post("/api/v1/users", json=new_user("op1"), headers=admin))
        assert created.status_code == 201, created.text
        user = created.json()["user"]
        assert (user["ID"], user["role"], user["level"], user["flag"], user["lang"]) == (
            "op1",
            "operator",
            8,
            True,
            "eng",
        )
        assert user["code"].startswith("U2512181200") and user["regdate"] == "2025-12-18 12:00:00"
        stored = await store.get_user("gas_a", "op1")
        assert verify_password(PASSWORD, stored["passwd"]) and stored["passwd"].startswith("scrypt$")
        for login, role in (("inst1", "installer"), ("view1", "guest")):
            assert (await client.post("/api/v1/users", json=new_user(login, role), headers=admin)).status_code == 201
        assert (await store.get_user("gas_a", "view1"))["role"] == "viewer"

        listing = no_password_hash(await client.get("/api/v1/users", headers=admin)).json()
        assert [item["ID"] for item in listing["items"]] == ["boss", "inst1", "op1", "view1"]
        assert listing["total"] == 4 and listing["next"] is None
        by_role = (await client.get("/api/v1/users", params={"role": "viewer"}, headers=admin)).json()
        assert [item["ID"] for item in by_role["items"]] == ["view1"]
        searched = (await client.get("/api/v1/users", params={"q": "INST1@"}, headers=admin)).json()
        assert [item["ID"] for item in searched["items"]] == ["inst1"]
        first = (await client.get("/api/v1/users", params={"limit": 3}, headers=admin)).json()
        assert len(first["items"]) == 3 and first["next"]
        rest = (await client.get("/api/v1/users", params={"limit": 3, "cursor": first["next"]}, headers=admin)).json()
        assert [item["ID"] for item in rest["items"]] == ["view1"] and rest["next"] is None

        one = no_password_hash(await client.get("/api/v1/users/op1", headers=admin))
        assert one.json()["user"]["email"] == "op1@example.com"
        assert (await client.get("/api/v1/users/nobody", headers=admin)).status_code == 404
        assert (await session(client, "op1")) is not None  # the new user logs in with its password


async def test_create_refuses_bad_users(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_b", "elsewhere", "user")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        for body, status in (
            (new_user("boss"), 409),
            (new_user("elsewhere"), 409),
            (new_user("bad id!"), 400),
            (new_user("x" * 65), 400),
            ({**new_user("ok1"), "role": "king"}, 400),
            ({**new_user("ok1"), "password": "short"}, 400),
            ({**new_user("ok1"), "email": "not an address"}, 400),
            ({**new_user("ok1"), "tenant": "gas_b"}, 400),
            ({**new_user("ok1"), "lang": "fra"}, 400),
            ({**new_user("ok1"), "system_admin": True}, 403),
        ):
            response = await client.post("/api/v1/users", json=body, headers=admin)
            assert response.status_code == status, (body, response.text)
        assert await store.find_user("ok1") is None


async def test_only_an_administrator_manages_users(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    async with app_client(store) as client:
        operator = await session(client, "op1")
        assert (await client.get("/api/v1/users", headers=operator)).status_code == 403
        assert (await client.post("/api/v1/users", json=new_user("x1"), headers=operator)).status_code == 403
        assert (await client.patch("/api/v1/users/boss", json={"name": "X"}, headers=operator)).status_code == 403
        assert (await client.get("/api/v1/users")).status_code == 401


async def test_a_new_role_ends_the_sessions_of_the_user(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        operator = await session(client, "op1")
        renamed = await client.patch("/api/v1/users/op1", json={"name": "Olga", "lang": "kor"}, headers=admin)
        assert renamed.status_code == 200 and renamed.json()["user"]["name"] == "Olga"
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 200  # a new name keeps sessions
        same_role = await client.patch("/api/v1/users/op1", json={"role": "operator"}, headers=admin)
        assert same_role.status_code == 200
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 200
        demoted = no_password_hash(await client.patch("/api/v1/users/op1", json={"role": "viewer"}, headers=admin))
        assert (demoted.json()["user"]["role"], demoted.json()["user"]["level"]) == ("viewer", 1)
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 401
        viewer = await session(client, "op1")
        me = (await client.get("/api/v1/me", headers=viewer)).json()["user"]
        assert me["role"] == "viewer"
        for body in ({"ID": "op2"}, {"passwd": "x"}, {}, {"flag": "no"}, {"role": "root"}, {"name": ""}):
            assert (await client.patch("/api/v1/users/op1", json=body, headers=admin)).status_code == 400, body


async def test_disabling_a_user_ends_its_live_session_at_once(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    await add_user(store, "gas_a", "op2", "operator")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        first, second = await session(client, "op1"), await session(client, "op2")
        disabled = await client.delete("/api/v1/users/op1", headers=admin)
        assert disabled.status_code == 200 and disabled.json()["user"]["flag"] is False
        assert (await client.get("/api/v1/me", headers=first)).status_code == 401
        patched = await client.patch("/api/v1/users/op2", json={"flag": False}, headers=admin)
        assert patched.status_code == 200
        assert (await client.get("/api/v1/me", headers=second)).status_code == 401
        refused = await client.post("/api/v1/session", json={"login": "op1", "password": PASSWORD})
        assert refused.status_code == 401
        assert (await store.get_user("gas_a", "op1"))["flag"] is False  # kept, not deleted
        enabled = await client.patch("/api/v1/users/op1", json={"flag": True}, headers=admin)
        assert enabled.status_code == 200
        assert await session(client, "op1")


async def test_an_administrator_cannot_demote_or_disable_itself(store):
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        for body in ({"role": "operator"}, {"flag": False}):
            assert (await client.patch("/api/v1/users/boss", json=body, headers=admin)).status_code == 403
        assert (await client.delete("/api/v1/users/boss", headers=admin)).status_code == 403
        assert (await client.patch("/api/v1/users/boss", json={"name": "Big Boss"}, headers=admin)).status_code == 200
        assert (await client.get("/api/v1/me", headers=admin)).status_code == 200
        user = await store.get_user("gas_a", "boss")
        assert (user["role"], user["flag"], user["name"]) == ("admin", True, "Big Boss")


async def test_an_administrator_sets_a_password(store):
    await add_user(store, "gas_a", "boss", "admin")
    await add_user(store, "gas_a", "op1", "operator")
    async with app_client(store) as client:
        admin = await session(client, "boss")
        operator = await session(client, "op1")
        weak = await client.post("/api/v1/users/op1/password", json={"password": "short"}, headers=admin)
        assert weak.status_code == 400 and weak.json()["error"] == "password_rejected"
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 200
        done = await client.post("/api/v1/users/op1/password", json={"password": NEW_PASSWORD}, headers=admin)
        assert done.status_code == 200
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 401
        assert (await client.post("/api/v1/session", json={"login": "op1", "password": PASSWORD})).status_code == 401
        assert await session(client, "op1", NEW_PASSWORD)


async def test_only_a_system_administrator_changes_a_system_administrator(store):
    await add_user(store, "gas_a", "sysop", "admin", system_admin=True)
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        admin, root = await session(client, "boss"), await session(client, "sysop")
        for method, path, body in (
            ("PATCH", "/api/v1/users/sysop", {"flag": False}),
            ("POST", "/api/v1/users/sysop/password", {"password": NEW_PASSWORD}),
            ("DELETE", "/api/v1/users/sysop", None),
        ):
            response = await client.request(method, path, json=body, headers=admin)
            assert response.status_code == 403, (method, path)
        assert (await client.get("/api/v1/me", headers=root)).status_code == 200
        made = await client.post("/api/v1/users", json={**new_user("root2"), "system_admin": True}, headers=root)
        assert made.status_code == 201 and (await store.get_user("gas_a", "root2"))["system_admin"] is True
        assert (await client.patch("/api/v1/users/boss", json={"role": "user"}, headers=root)).status_code == 200


async def test_another_tenants_users_are_not_found(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_a", "op_a", "operator")
    await add_user(store, "gas_b", "boss_b", "admin")
    async with app_client(store) as client:
        admin_b = await session(client, "boss_b")
        for method, path, body in (
            ("GET", "/api/v1/users/op_a", None),
            ("PATCH", "/api/v1/users/op_a", {"role": "viewer"}),
            ("POST", "/api/v1/users/op_a/password", {"password": NEW_PASSWORD}),
            ("DELETE", "/api/v1/users/op_a", None),
        ):
            response = await client.request(method, path, json=body, headers=admin_b)
            assert response.status_code == 404, (method, path, response.text)
        listing = (await client.get("/api/v1/users", headers=admin_b)).json()
        assert [item["ID"] for item in listing["items"]] == ["boss_b"]
        user = await store.get_user("gas_a", "op_a")
        assert (user["role"], user["flag"]) == ("operator", True)


# --------------------------------------------------------------------------- tenants


async def test_a_system_administrator_creates_a_tenant_and_its_administrator(store):
    await add_user(store, "gas_sys", "root", "admin", system_admin=True)
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        root, boss = await session(client, "root"), await session(client, "boss")
        admin = {"ID": "newboss", "name": "New Boss", "email": "nb@example.com", "password": PASSWORD}
        body = {"name": "gas_new", "admin": admin}
        assert (await client.post("/api/v1/tenants", json=body, headers=boss)).status_code == 403
        assert (await client.get("/api/v1/tenants", headers=boss)).status_code == 403
        created = no_password_hash(await client.post("/api/v1/tenants", json=body, headers=root))
        assert created.status_code == 201, created.text
        assert created.json()["tenant"] == {"name": "gas_new"} and created.json()["admin"]["role"] == "admin"
        assert await store.find_user("newboss") == ("gas_new", await store.get_user("gas_new", "newboss"))
        again = {"name": "gas_new", "admin": {**admin, "ID": "secondboss"}}
        assert (await client.post("/api/v1/tenants", json=again, headers=root)).status_code == 409
        assert await store.find_user("secondboss") is None
        taken = {"name": "gas_other", "admin": {**admin, "ID": "boss"}}
        assert (await client.post("/api/v1/tenants", json=taken, headers=root)).status_code == 409
        assert "gas_other" not in await store.list_tenants()
        for bad in (
            {"name": "bad-name", "admin": admin},
            {"name": "gas_x"},
            {**body, "name": "gas_y", "extra": 1},
            {"name": "gas_z", "admin": {**admin, "ID": "z1", "password": "short"}},
        ):
            assert (await client.post("/api/v1/tenants", json=bad, headers=root)).status_code == 400, bad
        listing = (await client.get("/api/v1/tenants", headers=root)).json()
        assert [item["name"] for item in listing["items"]] == ["gas_a", "gas_new", "gas_sys"]
        assert listing["total"] == 3
        searched = (await client.get("/api/v1/tenants", params={"q": "NEW"}, headers=root)).json()
        assert [item["name"] for item in searched["items"]] == ["gas_new"]
        newboss = await session(client, "newboss")
        me = (await client.get("/api/v1/me", headers=newboss)).json()["user"]
        assert (me["tenant"], me["role"]) == ("gas_new", "admin")
