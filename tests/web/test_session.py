"""Logging in and out: server-issued sessions with idle and absolute expiry, rotation, revocation, throttling,
the cookie's attributes, and the upgrade of the original system's unsalted password hashes."""

from __future__ import annotations

import hashlib
import time

from core.config import Config
from core.routing import SESSION_COOKIE
from core.security.accounts import legacy_userseq
from core.security.passwords import is_legacy_hash, verify_password
from tests.web.support import PASSWORD, Clock, add_user, app_client, bearer, login

T = "gas_demo"


async def test_login_returns_a_token_and_an_httponly_lax_cookie_and_me_answers_with_either(store):
    await add_user(store, T, "hanskim", "admin")
    async with app_client(store) as client:
        response = await client.post("/api/v1/session", json={"login": "hanskim", "password": PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is True and body["user"]["ID"] == "hanskim" and body["user"]["tenant"] == T
        assert body["user"]["role"] == "admin" and body["user"]["level"] == 16
        assert "passwd" not in response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}={body['token']};")
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
        assert "secure" not in lowered  # plain HTTP here; under HTTPS it is set (tests/web/test_https.py)
        by_cookie = await client.get("/api/v1/me")
        assert by_cookie.status_code == 200 and by_cookie.json()["user"]["ID"] == "hanskim"
        client.cookies.clear()
        assert (await client.get("/api/v1/me")).status_code == 401
        by_bearer = await client.get("/api/v1/me", headers=bearer(body["token"]))
        assert by_bearer.json()["user"]["role"] == "admin"


async def test_every_failed_login_gets_the_same_answer(store):
    await add_user(store, T, "alice", "user")
    await add_user(store, T, "bob", "user", flag=False)
    async with app_client(store) as client:
        answers = [
            await client.post("/api/v1/session", json=body)
            for body in (
                {"login": "alice", "password": "wrong password"},
                {"login": "nobody", "password": PASSWORD},
                {"login": "bob", "password": PASSWORD},
            )
        ]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert answers[0].status_code == 401 and answers[0].json()["error"] == "login_failed"


async def test_sessions_rotate_at_login_and_logout_ends_the_session_everywhere(store):
    await add_user(store, T, "alice", "user")
    async with app_client(store) as client, app_client(store) as other_process:
        first = await login(client, "alice")
        second = await login(client, "alice")  # the client sends its first token's cookie along
        assert first != second
        assert (await other_process.get("/api/v1/me", headers=bearer(first))).status_code == 401
        assert (await other_process.get("/api/v1/me", headers=bearer(second))).status_code == 200
        assert (await client.delete("/api/v1/session", headers=bearer(second))).status_code == 200
        assert (await other_process.get("/api/v1/me", headers=bearer(second))).status_code == 401


async def test_a_session_ends_after_its_idle_timeout_and_at_its_absolute_expiry(store):
    await add_user(store, T, "alice", "user")
    clock = Clock()
    config = Config(web_session_idle_timeout=600, web_session_lifetime=3600)
    async with app_client(store, config, clock=clock) as client:
        token = await login(client, "alice")
        client.cookies.clear()
        for _ in range(6):  # active every 9 minutes: the idle expiry moves on, up to the absolute one
            clock.now += 540
            assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        clock.now += 540  # 63 minutes after login: past the absolute expiry
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
        idle = await login(client, "alice")
        client.cookies.clear()
        clock.now += 601
        assert (await client.get("/api/v1/me", headers=bearer(idle))).status_code == 401


async def test_a_password_change_checks_the_current_password_and_ends_every_session(store):
    await add_user(store, T, "alice", "user")
    async with app_client(store) as client:
        token = await login(client, "alice")
        client.cookies.clear()  # else the second login rotates the first session away
        other = await login(client, "alice")
        client.cookies.clear()
        wrong = await client.put(
            "/api/v1/me/password",
            json={"current_password": "not it", "new_password": "a new long password"},
            headers=bearer(token),
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "password_rejected"
        changed = await client.put(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "a new long password"},
            headers=bearer(token),
        )
        assert changed.status_code == 200
        assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 401
        assert (await client.post("/api/v1/session", json={"login": "alice", "password": PASSWORD})).status_code == 401
        await login(client, "alice", "a new long password")


async def test_failed_logins_are_throttled_per_account_across_processes(store):
    await add_user(store, T, "alice", "user")
    clock = Clock(float(int(time.time())))  # failures are kept a day of real time, like the exchange log
    config = Config(web_login_max_failures=3)
    async with app_client(store, config, clock=clock) as one, app_client(store, config, clock=clock) as two:
        for client in (one, two, one):
            assert (
                await client.post("/api/v1/session", json={"login": "alice", "password": "guess"})
            ).status_code == 401
        throttled = await two.post("/api/v1/session", json={"login": "alice", "password": PASSWORD})
        assert throttled.status_code == 429 and throttled.json()["error"] == "too_many_attempts"
        clock.now += 15 * 60 + 1
        await login(two, "alice")


async def test_failed_logins_are_throttled_per_address_over_many_accounts(store):
    config = Config(web_login_max_address_failures=4)
    await add_user(store, T, "alice", "user")
    clock = Clock(float(int(time.time())))
    async with (
        app_client(store, config, clock=clock) as client,
        app_client(store, config, clock=clock, client_host="198.51.100.4") as elsewhere,
    ):
        for n in range(4):
            await client.post("/api/v1/session", json={"login": f"guess{n}", "password": "x"})
        assert (await client.post("/api/v1/session", json={"login": "alice", "password": PASSWORD})).status_code == 429
        await login(elsewhere, "alice")


async def test_a_legacy_sha256_hash_logs_in_once_and_is_replaced_by_a_salted_one(store):
    legacy = hashlib.sha256(PASSWORD.encode()).hexdigest()
    await add_user(store, T, "hanskim", "admin", passwd=legacy)
    async with app_client(store) as client:
        await login(client, "hanskim")
    stored = (await store.get_user(T, "hanskim"))["passwd"]
    assert stored != legacy and not is_legacy_hash(stored) and verify_password(PASSWORD, stored)
    async with app_client(store) as client:
        await login(client, "hanskim")


async def test_the_original_forgeable_token_is_not_a_session(store):
    await add_user(store, T, "hanskim", "admin")
    async with app_client(store) as client:
        forged = await client.get("/api/v1/me", headers=bearer(legacy_userseq("hanskim")))
    assert forged.status_code == 401


async def test_a_stale_token_does_not_keep_anyone_from_logging_in(store):
    await add_user(store, T, "alice", "user")
    async with app_client(store) as client:
        response = await client.post(
            "/api/v1/session", json={"login": "alice", "password": PASSWORD}, headers=bearer("x" * 40)
        )
    assert response.status_code == 200


async def test_guest_of_the_original_is_a_viewer(store):
    await add_user(store, T, "visitor", "guest")
    async with app_client(store) as client:
        await login(client, "visitor")
        me = (await client.get("/api/v1/me")).json()["user"]
    assert me["role"] == "viewer" and me["level"] == 1
