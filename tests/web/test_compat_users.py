"""user and floating_user of the compatible endpoint, and the v2 users page (§3.8, §5.4, §6.3)."""

from __future__ import annotations

import hashlib

from core.security.passwords import verify_password
from tests.web.support import PASSWORD, add_user, app_client
from tests.web.test_compat import OTHER, TENANT, call, compat_login, envelope, seed_devices
from tests.web.test_compat_session import REGISTRATION

USER_FIELDS = ["code", "ID", "email", "name", "lang", "role", "groups", "regdate", "flag", "comment"]
NEW_USER = {
    "ID": "user1",
    "name": "User One",
    "email": "user1@example.com",
    "password": "a longer password",
    "role": "user",
    "lang": "kor",
    "flag": True,
    "comment": "",
}


async def test_user_list_of_an_administrator_never_shows_a_hash(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "user", admin, action="list", fields=USER_FIELDS)
        everything = await call(client, "user", admin, action="list", fields=[])
    body = response.json()
    assert set(body) == {"code", "data", "total_records", "elasped_time"}
    assert (body["code"], body["total_records"]) == (200, 3)
    rows = {row["ID"]: row for row in body["data"]}
    assert set(rows) == {"admin", "installer", "viewer"}
    assert rows["viewer"] == {
        "code": None,
        "ID": "viewer",
        "email": "viewer@example.com",
        "name": "Viewer",
        "lang": "eng",
        "role": "viewer",
        "groups": None,
        "regdate": "2025-03-06 00:00:00",
        "flag": True,
        "comment": None,
    }
    for row in everything.json()["data"]:
        assert "passwd" not in row and "userseq" not in row
        assert row["ID"] in rows


async def test_anyone_else_sees_only_itself(store):
    await seed_devices(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        listed = await call(client, "query", viewer, page="users", fields=["ID"], user_id="admin")
        assert listed.json()["data"] == [{"ID": "viewer"}]
        own = await call(client, "user", viewer, action="view", user_id="viewer", fields=["ID", "passwd"])
        assert own.json() == {"code": 200, "data": {"ID": "viewer"}}
        other = await call(client, "user", viewer, action="view", user_id="admin")
        assert other.status_code == 403


async def test_v3_add_creates_a_user_with_a_salted_hash(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "user", admin, action="add", data=NEW_USER)
        assert response.json() == {
            "code": 200,
            "data": {"user_id": "user1", "user_name": "User One", "user_role": "user", "created": True},
        }
        again = await call(client, "user", admin, action="add", data=NEW_USER)
        assert again.json() == {"code": 400, "message": "user id already exists."}
        same_mail = await call(client, "user", admin, action="add", data={**NEW_USER, "ID": "user2"})
        assert same_mail.json() == {"code": 400, "message": "email already exists."}
        missing = await call(client, "user", admin, action="add", data={"ID": "user3", "name": "x"})
        assert missing.json() == {"code": 400, "message": "database name, user id, name, password are required."}
        bad_role = await call(client, "user", admin, action="add", data={**NEW_USER, "ID": "u4", "role": "root"})
        assert bad_role.json()["code"] == 400
        await compat_login(client, "user1", "a longer password")
    user = await store.get_user(TENANT, "user1")
    assert user["passwd"].startswith("scrypt$") and verify_password("a longer password", user["passwd"])
    assert (user["level"], user["flag"], user["regdate"]) == (2, True, "2025-12-18 12:00:00")
    assert user["code"].startswith("U251218120000") and len(user["code"]) == 15
    assert "userseq" not in user and "system_admin" not in user


async def test_v3_modify_changes_the_profile_and_role_and_ends_the_sessions(store):
    await seed_devices(store)
    modify = {
        "code": "U25031006262465",
        "ID": "viewer",
        "name": "Viewer Two",
        "email": "v2@example.com",
        "user_role": "operator",
        "lang": "kor",
        "groups": "",
        "flag": True,
        "comment": "promoted",
    }
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        admin = await compat_login(client, "admin")
        response = await call(client, "user", admin, action="modify", data=modify)
        assert response.json() == {
            "code": 200,
            "data": {"update_result": {"n": 1, "nModified": 1, "ok": 1.0, "updatedExisting": True}},
        }
        assert (await call(client, "device", viewer, action="list")).status_code == 403
        missing = await call(client, "user", admin, action="modify", data={"ID": "viewer", "name": "x"})
        assert missing.json() == {"code": 400, "message": "데이터베이스 이름, 사용자 ID, 수정할 데이터가 필요합니다."}
        nobody = await call(client, "user", admin, action="modify", data={**modify, "ID": "other_admin"})
        assert nobody.json()["data"]["update_result"]["n"] == 0
    user = await store.get_user(TENANT, "viewer")
    assert (user["name"], user["email"], user["role"], user["comment"]) == (
        "Viewer Two",
        "v2@example.com",
        "operator",
        "promoted",
    )
    assert (await store.get_user(OTHER, "other_admin"))["name"] == "Other_Admin"


async def test_nobody_raises_its_own_role(store):
    await seed_devices(store)
    own = {"ID": "viewer", "name": "V", "email": "v@example.com", "lang": "kor", "flag": True}
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        raised = await call(client, "user", viewer, action="modify", data={**own, "user_role": "admin"})
        assert raised.status_code == 403
        other = await call(client, "user", viewer, action="modify", data={**own, "ID": "admin", "user_role": "viewer"})
        assert other.status_code == 403
        profile = await call(client, "user", viewer, action="modify", data={**own, "user_role": "guest"})
        assert profile.json()["code"] == 200
        v2 = await call(
            client,
            "update",
            viewer,
            page="users",
            ID="viewer",
            name="V2",
            email="v@example.com",
            lang="kor",
            role="admin",
        )
        assert v2.status_code == 403
        admin = await compat_login(client, "admin")
        demote = {**own, "ID": "admin", "user_role": "viewer"}
        assert (await call(client, "user", admin, action="modify", data=demote)).json()["code"] == 400
    assert (await store.get_user(TENANT, "viewer"))["role"] == "viewer"  # guest is stored as viewer
    assert (await store.get_user(TENANT, "admin"))["role"] == "admin"


async def test_v2_password_change_of_the_caller_itself(store):
    await seed_devices(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        wrong = await call(
            client,
            "update",
            viewer,
            page="users",
            user_id="viewer",
            ID="viewer",
            currentPassword="not it",
            newPassword="another long password",
        )
        assert (wrong.json()["code"], wrong.json()["message"]) == (400, "Current password is incorrect")
        theirs = await call(
            client,
            "update",
            viewer,
            page="users",
            user_id="viewer",
            ID="admin",
            currentPassword=PASSWORD,
            newPassword="another long password",
        )
        assert theirs.status_code == 403
        response = await call(
            client,
            "update",
            viewer,
            page="users",
            user_id="viewer",
            ID="viewer",
            currentPassword=PASSWORD,
            newPassword="another long password",
        )
        assert response.json() == {
            "data": [],
            "elasped_time": response.json()["elasped_time"],
            "code": 200,
            "message": "User updated",
        }
        assert (await call(client, "device", viewer, action="list")).status_code == 403
        await compat_login(client, "viewer", "another long password")
    assert verify_password(PASSWORD, (await store.get_user(TENANT, "admin"))["passwd"])


async def test_v2_profile_change_and_unknown_user(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(
            client,
            "update",
            admin,
            page="users",
            user_id="admin",
            ID="viewer",
            name="Renamed",
            email="r@example.com",
            lang="chn",
            role="user",
        )
        assert response.json()["message"] == "User updated"
        missing = await call(client, "update", admin, page="users", ID="nobody", name="x")
        assert missing.json() == {"data": [], "elasped_time": 0, "code": 400, "message": "User not found"}
    user = await store.get_user(TENANT, "viewer")
    assert (user["name"], user["email"], user["lang"], user["role"]) == ("Renamed", "r@example.com", "chn", "user")


async def test_delete_removes_one_user_of_the_tenant_and_its_sessions(store):
    await seed_devices(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        admin = await compat_login(client, "admin")
        response = await call(client, "user", admin, action="delete", data={"code": "", "ID": "viewer"})
        assert response.json() == {"code": 200, "data": {"deleted_count": 1}}
        assert (await call(client, "device", viewer, action="list")).status_code == 403
        other = await call(client, "user", admin, action="delete", data={"code": None, "ID": "other_admin"})
        assert other.json() == {"code": 200, "data": {"deleted_count": 0}}
        operator = await call(client, "user", admin, action="delete", data={"ID": {"$ne": None}})
        assert operator.json()["code"] == 400
        itself = await call(client, "user", admin, action="delete", data={"ID": "admin"})
        assert itself.json()["code"] == 400
        installer = await compat_login(client, "installer")
        assert (await call(client, "user", installer, action="delete", data={"ID": "admin"})).status_code == 403
    assert await store.find_user("viewer") is None
    assert await store.find_user("other_admin") is not None and await store.find_user("admin") is not None


async def test_registrations_are_listed_and_approved_by_the_tenant_s_administrator(store):
    await seed_devices(store)
    async with app_client(store) as client:
        await client.post("/api/register", json={**REGISTRATION, "db_name": TENANT})
        await client.post("/api/register", json={**REGISTRATION, "ID": "elsewhere", "db_name": OTHER, "category": "x"})
        admin = await compat_login(client, "admin")
        listed = await call(
            client,
            "floating_user",
            admin,
            action="list",
            fields=["ID", "email", "name", "regdate", "comment", "passwd"],
        )
        assert listed.json() == {
            "code": 200,
            "data": [
                {
                    "ID": "newuser",
                    "email": "new@example.com",
                    "name": "New User",
                    "regdate": "2025-12-18 12:00:00",
                    "comment": "ACME gas",
                }
            ],
            "total_records": 1,
        }
        v2_list = await call(client, "query", admin, page="users", action="list_floating_users", fields=["ID"])
        assert v2_list.json()["data"] == [{"ID": "newuser"}]
        theirs = await call(client, "floating_user", admin, action="approve", user_id="elsewhere")
        assert theirs.json() == {"data": [], "elasped_time": 0, "code": 400, "message": "user_not_found"}
        response = await call(client, "floating_user", admin, action="approve", user_id="newuser")
        assert response.json() == {"code": 200, "data": {"approved": True, "user_id": "newuser"}}
        again = await call(client, "floating_user", admin, action="approve", user_id="newuser")
        assert again.json()["code"] == 400
        session = await compat_login(client, "newuser", "a longer password")
        assert (session["db_name"], session["role"], session["level"]) == (TENANT, "user", 2)
        installer = await compat_login(client, "installer")
        refused = await call(client, "floating_user", installer, action="list")
        assert refused.status_code == 403
    assert (await store.get_registration("newuser"))["flag"] is True
    assert (await store.get_registration("elsewhere"))["flag"] is False
    assert await store.find_user("elsewhere") is None


async def test_v2_and_flutter_approvals(store):
    await seed_devices(store)
    async with app_client(store) as client:
        await client.post("/api/register", json={**REGISTRATION, "db_name": TENANT, "category": "person"})
        await client.post("/api/register", json={**REGISTRATION, "ID": "second", "db_name": TENANT})
        admin = await compat_login(client, "admin")
        v2 = await call(
            client, "update", admin, page="users", action="update_floating_user", ID="newuser", user_id="admin"
        )
        assert v2.json() == {"data": [], "elasped_time": v2.json()["elasped_time"], "code": 200}
        body = {**envelope(admin), "action": "approve", "code": "", "ID": "second", "db_name": "", "flag": True}
        flutter = await client.post("/api/user", json=body)
        assert flutter.json()["code"] == 200
    tenant, user = await store.find_user("newuser")
    assert (tenant, user["role"], user["flag"]) == (TENANT, "viewer", True)
    assert "passwd" in user and user["passwd"] != hashlib.sha256(b"a longer password").hexdigest()
    assert (await store.find_user("second"))[1]["role"] == "user"


async def test_an_approval_never_repoints_an_existing_account(store):
    """§8.12: the original's approval upserted user_route and moved an account to another tenant."""
    await seed_devices(store)
    async with app_client(store) as client:
        await client.post("/api/register", json={**REGISTRATION, "db_name": TENANT})
        await add_user(store, OTHER, "newuser", "viewer")
        admin = await compat_login(client, "admin")
        response = await call(client, "floating_user", admin, action="approve", user_id="newuser")
    assert response.json()["code"] == 400
    assert (await store.find_user("newuser"))[0] == OTHER


async def test_a_system_administrator_also_sees_registrations_naming_no_tenant(store):
    await seed_devices(store)
    await add_user(store, TENANT, "root", "admin", system_admin=True)
    async with app_client(store) as client:
        await client.post("/api/register", json=REGISTRATION)
        admin = await compat_login(client, "admin")
        assert (await call(client, "floating_user", admin, action="list")).json()["data"] == []
        root = await compat_login(client, "root")
        assert [row["ID"] for row in (await call(client, "floating_user", root, action="list")).json()["data"]] == [
            "newuser"
        ]


async def test_a_system_administrator_s_account_is_changed_only_by_a_system_administrator(store):
    """As in the REST API: a tenant's administrator may not rename, demote, or delete it."""
    await seed_devices(store)
    await add_user(store, TENANT, "root", "admin", system_admin=True)
    modify = {"ID": "root", "name": "Mine now", "email": "r@example.com", "user_role": "viewer", "lang": "kor"}
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        v3 = await call(client, "user", admin, action="modify", data=modify)
        v2 = await call(client, "update", admin, page="users", ID="root", name="Mine now")
        deleted = await call(client, "user", admin, action="delete", data={"ID": "root"})
        root = await compat_login(client, "root")
        by_root = await call(client, "user", root, action="modify", data={**modify, "ID": "viewer"})
    assert (v3.status_code, v2.status_code, deleted.status_code) == (403, 403, 403)
    user = await store.get_user(TENANT, "root")
    assert (user["name"], user["role"], user["system_admin"]) == ("Root", "admin", True)
    assert by_root.json()["data"]["update_result"]["n"] == 1


async def test_login_ids_roles_languages_and_mails_follow_the_rest_api_s_rules(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        for change in (
            {"ID": "two words"},
            {"ID": "$where"},
            {"lang": "xx"},
            {"email": "not-a-mail"},
            {"role": "root"},
        ):
            response = await call(client, "user", admin, action="add", data={**NEW_USER, **change})
            assert response.json()["code"] == 400, change
        registered = await client.post("/api/register", json={**REGISTRATION, "ID": "two words"})
        assert registered.json()["code"] == 400
        guest = await call(client, "user", admin, action="add", data={**NEW_USER, "role": "guest"})
        assert guest.json()["data"]["user_role"] == "viewer"
    assert (await store.get_user(TENANT, "user1"))["level"] == 1
    assert await store.get_registration("two words") is None
