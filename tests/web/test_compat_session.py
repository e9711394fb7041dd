"""login, logout and register of the compatible endpoint (§3.2, §3.5, §5.4)."""

from __future__ import annotations

import hashlib
import time

from core.security.passwords import is_legacy_hash, verify_password
from tests.web.support import PASSWORD, Clock, add_user, app_client
from tests.web.test_compat import TENANT, call, compat_login, envelope, seed_devices

REGISTRATION = {
    "page": "users",
    "format": "json",
    "action": "register",
    "ID": "newuser",
    "password": "a longer password",
    "name": "New User",
    "email": "new@example.com",
    "language": "kor",
    "category": "company",
    "comment": "ACME gas",
}


async def test_login_answers_the_user_with_db_name_userseq_and_level(store):
    await add_user(
        store, TENANT, "hanskim", "admin", code="U24110319484920", name="Hans Kim", email="hanskimvz@gmail.com"
    )
    async with app_client(store) as client:
        response = await client.post("/api/login", json={"id": "hanskim", "password": PASSWORD, "format": "json"})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200
    data = body["data"]
    token = data.pop("userseq")
    assert data == {
        "ID": "hanskim",
        "code": "U24110319484920",
        "email": "hanskimvz@gmail.com",
        "flag": True,
        "lang": "eng",
        "name": "Hans Kim",
        "regdate": "2025-03-06 00:00:00",
        "role": "admin",
        "db_name": TENANT,
        "level": 16,
    }
    assert len(token) >= 32 and token != hashlib.md5(b"hanskimhanskim").hexdigest()


async def test_every_login_gets_a_new_session_token(store):
    await add_user(store, TENANT, "hanskim", "admin")
    async with app_client(store) as client:
        first, second = await compat_login(client, "hanskim"), await compat_login(client, "hanskim")
    assert first["userseq"] != second["userseq"]


async def test_login_codes_for_a_missing_id_or_password(store):
    async with app_client(store) as client:
        for body, answer in (
            ({"password": "x"}, {"code": 102, "description": "no_id"}),
            ({"id": "", "password": "x"}, {"code": 102, "description": "no_id"}),
            ({"id": "hanskim"}, {"code": 103, "description": "no_password"}),
        ):
            response = await client.post("/api/login", json={"format": "json", **body})
            assert response.status_code == 200
            assert response.json() == answer


async def test_unknown_id_wrong_password_and_disabled_account_look_alike(store):
    """The original told them apart (104/105, 106, 107): user enumeration (§8.14)."""
    await add_user(store, TENANT, "hanskim", "admin")
    await add_user(store, TENANT, "retired", "user", flag=False)
    async with app_client(store) as client:
        answers = [
            (await client.post("/api/login", json={"id": login_id, "password": password})).json()
            for login_id, password in (("nobody", PASSWORD), ("hanskim", "wrong password"), ("retired", PASSWORD))
        ]
    assert answers == [{"code": 106, "description": "password_not_match"}] * 3


async def test_login_is_throttled_after_repeated_failures(store):
    await add_user(store, TENANT, "hanskim", "admin")
    async with app_client(store, clock=Clock(time.time())) as client:  # the store keeps failures by the wall clock
        for _ in range(5):
            await client.post("/api/login", json={"id": "hanskim", "password": "wrong password"})
        response = await client.post("/api/login", json={"id": "hanskim", "password": PASSWORD})
    assert response.json() == {"code": 429, "description": "too_many_attempts"}


async def test_a_legacy_sha256_hash_logs_in_once_and_is_upgraded(store):
    legacy = hashlib.sha256(PASSWORD.encode()).hexdigest()
    await add_user(store, TENANT, "hanskim", "admin", passwd=legacy)
    async with app_client(store) as client:
        data = await compat_login(client, "hanskim")
        assert "passwd" not in data
        stored = (await store.get_user(TENANT, "hanskim"))["passwd"]
        assert not is_legacy_hash(stored) and stored.startswith("scrypt$")
        assert verify_password(PASSWORD, stored)
        await compat_login(client, "hanskim")
        assert (await store.get_user(TENANT, "hanskim"))["passwd"] == stored


async def test_logout_ends_the_session(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await client.post(
            "/api/logout", json={"format": "json", "login_id": "admin", "session_token": admin["userseq"]}
        )
        assert response.status_code == 200
        assert response.json() == {"code": 200, "data": {"logout_time": "2025-12-18 12:00:00"}}
        response = await call(client, "device", admin, action="list")
        assert response.status_code == 403


async def test_logout_needs_the_login_id_and_a_live_token(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await client.post("/api/logout", json={"format": "json", "session_token": admin["userseq"]})
        assert response.json() == {"code": 400, "message": "로그인 ID와 세션 토큰이 필요합니다."}
        response = await client.post("/api/logout", json={"login_id": "viewer", "userseq": admin["userseq"]})
        assert response.status_code == 403
        assert (await call(client, "device", admin, action="list")).json()["code"] == 200
        response = await client.post("/api/logout", json=envelope(admin))
        assert response.json()["code"] == 200


async def test_register_creates_a_pending_registration_with_a_salted_hash(store):
    await store.add_tenant(TENANT)
    async with app_client(store) as client:
        response = await client.post("/api/register", json={**REGISTRATION, "db_name": TENANT})
        assert response.status_code == 200
        assert response.json() == {"code": 200, "message": "user_registered"}
        again = await client.post("/api/register", json=REGISTRATION)
        assert again.json() == {"code": 400, "message": "user_already_exists"}
    registration = await store.get_registration("newuser")
    assert registration["flag"] is False
    assert registration["tenant"] == TENANT
    assert (registration["email"], registration["lang"], registration["category"]) == (
        "new@example.com",
        "kor",
        "company",
    )
    assert registration["passwd"].startswith("scrypt$") and verify_password("a longer password", registration["passwd"])
    assert await store.find_user("newuser") is None


async def test_register_refuses_weak_passwords_and_missing_fields(store):
    async with app_client(store) as client:
        weak = await client.post("/api/register", json={**REGISTRATION, "password": "pw"})
        assert weak.json()["code"] == 400
        missing = await client.post("/api/register", json={key: v for key, v in REGISTRATION.items() if key != "email"})
        assert missing.json() == {"code": 400, "message": "email is required"}
        operator = await client.post("/api/register", json={**REGISTRATION, "ID": {"$ne": None}})
        assert operator.json()["code"] == 400
    assert await store.get_registration("newuser") is None


async def test_register_is_rate_limited_per_address(store):
    async with app_client(store, clock=Clock(time.time())) as client:
        answers = [
            (await client.post("/api/register", json={**REGISTRATION, "ID": f"user{n}"})).json() for n in range(6)
        ]
    assert [answer["code"] for answer in answers] == [200] * 5 + [429]
    assert await store.get_registration("user5") is None


async def test_register_for_an_unknown_tenant_names_none(store):
    async with app_client(store) as client:
        response = await client.post("/api/register", json={**REGISTRATION, "db_name": "gas_nowhere"})
    assert response.json()["code"] == 200
    assert (await store.get_registration("newuser"))["tenant"] is None
