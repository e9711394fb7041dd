"""Self-registration and its review (/api/v1/registrations) on both store backends."""

from __future__ import annotations

import hashlib
import time

from core.config import Config
from core.security.passwords import verify_password
from tests.web.accounts_support import no_password_hash, session
from tests.web.support import PASSWORD, Clock, add_user, app_client

REGISTERED_PASSWORD = "my own good password"


def registration(login: str, tenant: str | None = "gas_a", **fields) -> dict:
    body = {"ID": login, "name": login.title(), "email": f"{login}@example.com", "password": REGISTERED_PASSWORD}
    if tenant is not None:
        body["tenant"] = tenant
    return {**body, **fields}


async def test_anyone_registers_and_waits_disabled(store):
    await add_user(store, "gas_a", "boss", "admin")
    async with app_client(store) as client:
        response = no_password_hash(
            await client.post("/api/v1/registrations", json=registration("newbie", category="company", lang="kor"))
        )
        assert response.status_code == 201, response.text
        assert response.json()["registration"]["ID"] == "newbie"
        stored = await store.get_registration("newbie")
        assert (stored["flag"], stored["tenant"], stored["category"], stored["lang"]) == (
            False,
            "gas_a",
            "company",
            "kor",
        )
        assert stored["regdate"] == "2025-12-18 12:00:00"
        assert verify_password(REGISTERED_PASSWORD, stored["passwd"])
        assert stored["passwd"] != hashlib.sha256(REGISTERED_PASSWORD.encode()).hexdigest()
        refused = await client.post("/api/v1/session", json={"login": "newbie", "password": REGISTERED_PASSWORD})
        assert refused.status_code == 401  # not a user until approved

        pending = await client.post("/api/v1/registrations", json=registration("newbie"))
        taken = await client.post("/api/v1/registrations", json=registration("boss"))
        assert pending.status_code == taken.status_code == 409
        assert pending.json() == taken.json()  # nobody learns whether a user or a registration holds the ID
        for body in (
            registration("bad id"),
            registration("ok1", password="short"),
            registration("ok1", tenant="gas-a"),
            registration("ok1", role="admin"),
            registration("ok1", flag=True),
            {"ID": "ok1"},
        ):
            assert (await client.post("/api/v1/registrations", json=body)).status_code == 400, body


async def test_registrations_are_limited_per_address_and_hour(store):
    clock = Clock(time.time())  # the store forgets attempts older than a day of the real clock
    start = clock.now
    config = Config(web_registrations_per_hour=2)
    async with app_client(store, config=config, clock=clock) as client:
        for login in ("one", "two"):
            assert (await client.post("/api/v1/registrations", json=registration(login))).status_code == 201
        over = await client.post("/api/v1/registrations", json=registration("three"))
        assert over.status_code == 429 and over.json()["ok"] is False
        assert await store.get_registration("three") is None
        async with app_client(store, config=config, clock=clock, client_host="198.51.100.7") as other:
            assert (await other.post("/api/v1/registrations", json=registration("three"))).status_code == 201
        clock.now = start + 3601
        assert (await client.post("/api/v1/registrations", json=registration("four"))).status_code == 201


async def test_an_administrator_sees_the_registrations_naming_its_tenant(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_a", "op_a", "operator")
    await add_user(store, "gas_b", "boss_b", "admin")
    await add_user(store, "gas_sys", "root", "admin", system_admin=True)
    async with app_client(store) as client:
        for login, tenant in (("ann", "gas_a"), ("bob", "gas_b"), ("cid", None), ("dee", "gas_a")):
            assert (await client.post("/api/v1/registrations", json=registration(login, tenant))).status_code == 201
        boss_a, boss_b = await session(client, "boss_a"), await session(client, "boss_b")
        root, operator = await session(client, "root"), await session(client, "op_a")

        def ids(response):
            no_password_hash(response)
            return [item["ID"] for item in response.json()["items"]]

        assert sorted(ids(await client.get("/api/v1/registrations", headers=boss_a))) == ["ann", "dee"]
        assert ids(await client.get("/api/v1/registrations", headers=boss_b)) == ["bob"]
        other = await client.get("/api/v1/registrations", params={"tenant": "gas_b"}, headers=boss_a)
        assert other.status_code == 403
        assert sorted(ids(await client.get("/api/v1/registrations", headers=root))) == ["ann", "bob", "cid", "dee"]
        filtered = await client.get("/api/v1/registrations", params={"tenant": "gas_b"}, headers=root)
        assert ids(filtered) == ["bob"]
        assert (await client.get("/api/v1/registrations", headers=operator)).status_code == 403
        assert (await client.get("/api/v1/registrations")).status_code == 401


async def test_approval_creates_the_user_in_the_callers_tenant(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_sys", "root", "admin", system_admin=True)
    async with app_client(store) as client:
        for body in (
            registration("ann"),
            registration("bob", category="company"),
            registration("cid", tenant="gas_b"),
            registration("dee"),
        ):
            assert (await client.post("/api/v1/registrations", json=body)).status_code == 201
        boss_a, root = await session(client, "boss_a"), await session(client, "root")

        approved = no_password_hash(await client.post("/api/v1/registrations/ann/approve", headers=boss_a))
        assert approved.status_code == 200, approved.text
        assert approved.json()["tenant"] == "gas_a" and approved.json()["user"]["role"] == "viewer"
        tenant, user = await store.find_user("ann")
        assert (tenant, user["role"], user["flag"]) == ("gas_a", "viewer", True)
        assert (await store.get_registration("ann"))["flag"] is True
        assert (await client.post("/api/v1/registrations/ann/approve", headers=boss_a)).status_code == 404
        ann = await session(client, "ann", REGISTERED_PASSWORD)  # the registered password, hash copied
        assert (await client.get("/api/v1/me", headers=ann)).json()["user"]["role"] == "viewer"

        company = await client.post("/api/v1/registrations/bob/approve", json={}, headers=boss_a)
        assert company.json()["user"]["role"] == "user"
        smuggled = await client.post("/api/v1/registrations/dee/approve", json={"tenant": "gas_b"}, headers=boss_a)
        assert smuggled.status_code == 400 and await store.find_user("dee") is None
        chosen = await client.post("/api/v1/registrations/dee/approve", json={"role": "operator"}, headers=boss_a)
        assert chosen.json()["user"]["role"] == "operator" and (await store.find_user("dee"))[0] == "gas_a"

        assert (await client.post("/api/v1/registrations/cid/approve", headers=boss_a)).status_code == 404
        assert (await client.post("/api/v1/registrations/cid/reject", headers=boss_a)).status_code == 404
        assert await store.find_user("cid") is None and await store.get_registration("cid") is not None
        by_root = await client.post("/api/v1/registrations/cid/approve", headers=root)
        assert by_root.status_code == 200 and (await store.find_user("cid"))[0] == "gas_sys"
        assert (await client.post("/api/v1/registrations/nobody/approve", headers=root)).status_code == 404


async def test_an_id_taken_meanwhile_is_a_conflict(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    async with app_client(store) as client:
        assert (await client.post("/api/v1/registrations", json=registration("ann"))).status_code == 201
        await add_user(store, "gas_b", "ann", "user")  # created beside the registration, by the command line
        boss_a = await session(client, "boss_a")
        response = await client.post("/api/v1/registrations/ann/approve", headers=boss_a)
        assert response.status_code == 409
        assert (await store.find_user("ann"))[0] == "gas_b"
        assert (await store.get_registration("ann"))["flag"] is False


async def test_rejection_deletes_the_registration(store):
    await add_user(store, "gas_a", "boss_a", "admin")
    await add_user(store, "gas_a", "op_a", "operator")
    async with app_client(store) as client:
        assert (await client.post("/api/v1/registrations", json=registration("ann"))).status_code == 201
        operator, boss_a = await session(client, "op_a"), await session(client, "boss_a")
        assert (await client.post("/api/v1/registrations/ann/reject", headers=operator)).status_code == 403
        assert (await client.post("/api/v1/registrations/ann/approve", headers=operator)).status_code == 403
        rejected = await client.post("/api/v1/registrations/ann/reject", headers=boss_a)
        assert rejected.status_code == 200
        assert await store.get_registration("ann") is None and await store.find_user("ann") is None
        assert (await client.post("/api/v1/registrations/ann/reject", headers=boss_a)).status_code == 404
        again = await client.post("/api/v1/registrations", json=registration("ann", password=PASSWORD))
        assert again.status_code == 201
