"""/api/v1/devices: listing, one device, PATCH field rules per role, release, installer and tenant limits."""

from __future__ import annotations

from tests.web.support import T0, add_user, app_client, bearer, login

A, B = "acme", "other"


async def seed(store) -> None:
    """Tenant A: admin, operator, two installers, a viewer, a system administrator; tenant B: an admin.
    Devices D1 (installer ina), D2 (inb), D3 (nobody's) in A, X1 in B."""
    await add_user(store, A, "ada", "admin")
    await add_user(store, A, "otto", "operator")
    await add_user(store, A, "ina", "installer")
    await add_user(store, A, "inb", "installer")
    await add_user(store, A, "vic", "viewer")
    await add_user(store, A, "root", "admin", system_admin=True)
    await add_user(store, B, "bob", "admin")
    await store.add_device(
        A,
        {
            "device_uid": "D1",
            "installer_id": "ina",
            "flag": True,
            "customer_no": "C1",
            "meter_id": "M1",
            "ref_interval": 3600,
            "last_timestamp": int(T0) - 3 * 3600,
            "last_count": 77,
            "status": 0,
        },
    )
    await store.add_device(
        A,
        {
            "device_uid": "D2",
            "installer_id": "inb",
            "flag": True,
            "customer_no": "C2",
            "customer_name": "Hong Gildong",
            "ref_interval": 3600,
            "last_timestamp": int(T0) - 3600,
            "status": 1,
        },
    )
    await store.add_device(A, {"device_uid": "D3", "flag": False, "customer_no": "C1", "status": 0})
    await store.add_device(B, {"device_uid": "X1", "installer_id": "bob", "flag": True, "server_ip": "192.0.2.1"})


async def tokens(client, *logins: str) -> dict[str, dict[str, str]]:
    """Bearer headers of each login; the cookie is dropped after each, or the next login would end it."""
    headers = {}
    for name in logins:
        headers[name] = bearer(await login(client, name))
        client.cookies.clear()
    return headers


def uids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["device_uid"] for item in response.json()["items"]]


async def test_listing_filters_searches_sorts_and_pages(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "ada"))["ada"]
        everything = await client.get("/api/v1/devices", headers=h)
        assert uids(everything) == ["D1", "D2", "D3"] and everything.json()["total"] == 3
        assert uids(await client.get("/api/v1/devices?flag=false", headers=h)) == ["D3"]
        assert uids(await client.get("/api/v1/devices?customer_no=C1", headers=h)) == ["D1", "D3"]
        assert uids(await client.get("/api/v1/devices?status=1", headers=h)) == ["D2"]
        assert uids(await client.get("/api/v1/devices?installer_id=inb", headers=h)) == ["D2"]
        assert uids(await client.get("/api/v1/devices?q=gildong", headers=h)) == ["D2"]
        assert uids(await client.get("/api/v1/devices?sort=-device_uid", headers=h)) == ["D3", "D2", "D1"]
        first = await client.get("/api/v1/devices?limit=2", headers=h)
        assert uids(first) == ["D1", "D2"] and first.json()["next"]
        second = await client.get(f"/api/v1/devices?limit=2&cursor={first.json()['next']}", headers=h)
        assert uids(second) == ["D3"] and second.json()["next"] is None
        assert (await client.get("/api/v1/devices?sort=battery", headers=h)).status_code == 400
        assert (await client.get("/api/v1/devices?status=one", headers=h)).status_code == 400


async def test_items_are_the_stored_document_with_reporting_late(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "vic"))["vic"]
        items = {item["device_uid"]: item for item in (await client.get("/api/v1/devices", headers=h)).json()["items"]}
        # D1 last reported three intervals ago, D2 one interval ago, D3 is inactive and never reported
        assert [items[uid]["reporting_late"] for uid in ("D1", "D2", "D3")] == [True, False, False]
        assert items["D1"]["last_count"] == 77 and items["D1"]["meter_id"] == "M1"
        one = await client.get("/api/v1/devices/D1", headers=h)
        assert one.status_code == 200 and one.json()["device"] == items["D1"]
        client.app.state.clock.now = T0 - 2 * 3600  # two intervals after D1's report: not late yet
        assert (await client.get("/api/v1/devices/D1", headers=h)).json()["device"]["reporting_late"] is False


async def test_an_installer_sees_only_its_own_devices(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "ina"))["ina"]
        assert uids(await client.get("/api/v1/devices", headers=h)) == ["D1"]
        # asking for another installer's devices does not lift the restriction
        assert uids(await client.get("/api/v1/devices?installer_id=inb", headers=h)) == []
        assert uids(await client.get("/api/v1/devices?q=D", headers=h)) == ["D1"]
        assert (await client.get("/api/v1/devices/D1", headers=h)).status_code == 200
        assert (await client.get("/api/v1/devices/D2", headers=h)).status_code == 404
        assert (await client.get("/api/v1/devices/D3", headers=h)).status_code == 404


async def test_another_tenant_sees_none_of_the_devices(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "bob"))["bob"]
        assert uids(await client.get("/api/v1/devices", headers=h)) == ["X1"]
        assert uids(await client.get("/api/v1/devices?q=D", headers=h)) == []
        response = await client.get("/api/v1/devices/D1", headers=h)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        patched = await client.patch("/api/v1/devices/D1", json={"meter_id": "stolen"}, headers=h)
        assert patched.status_code == 404
    assert (await store.get_device(A, "D1"))["meter_id"] == "M1"


async def patch(client, headers, uid, body):
    return await client.patch(f"/api/v1/devices/{uid}", json=body, headers=headers)


async def test_patch_field_rules_per_role(store):
    await seed(store)
    async with app_client(store) as client:
        h = await tokens(client, "ada", "otto", "ina", "vic", "root")
        changed = await patch(client, h["ada"], "D3", {"meter_id": "M3", "installer_id": "inb", "flag": True})
        assert changed.status_code == 200, changed.text
        device = changed.json()["device"]
        assert (device["meter_id"], device["installer_id"], device["flag"]) == ("M3", "inb", True)
        assert "reporting_late" in device
        stored = await store.get_device(A, "D3")
        assert (stored["meter_id"], stored["installer_id"], stored["flag"]) == ("M3", "inb", True)

        # the server address is a system administrator's alone, even for the tenant's admin
        refused = await patch(client, h["ada"], "D1", {"server_ip": "203.0.113.66"})
        assert refused.status_code == 400 and "server_ip" in refused.json()["message"]
        assert (await patch(client, h["ada"], "D1", {"server_port": 9999})).status_code == 400
        moved = await patch(client, h["root"], "D1", {"server_ip": "192.0.2.20", "server_port": 5005})
        assert moved.status_code == 200 and (await store.get_device(A, "D1"))["server_ip"] == "192.0.2.20"

        assert (await patch(client, h["otto"], "D1", {"customer_name": "Kim", "addr_city": "Seoul"})).status_code == 200
        operator_installer = await patch(client, h["otto"], "D1", {"installer_id": "inb"})
        assert operator_installer.status_code == 400 and "installer_id" in operator_installer.json()["message"]

        assert (
            await patch(client, h["ina"], "D1", {"meter_id": "M9", "install_date": "2025-12-01"})
        ).status_code == 200
        not_for_installer = await patch(client, h["ina"], "D1", {"customer_name": "Lee"})
        assert not_for_installer.status_code == 400 and "customer_name" in not_for_installer.json()["message"]
        assert (await patch(client, h["ina"], "D2", {"meter_id": "M9"})).status_code == 404
        assert (await patch(client, h["vic"], "D1", {"comment": "hi"})).status_code == 403

        stored = await store.get_device(A, "D1")
        assert (stored["meter_id"], stored["customer_name"], stored["installer_id"]) == ("M9", "Kim", "ina")
        assert stored["install_date"] == "2025-12-01"


async def test_patch_refuses_gateway_fields_unknown_keys_and_bad_values(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "ada"))["ada"]
        for body in (
            {"last_count": 1},
            {"battery": 100},
            {"device_uid": "D9"},
            {"no_such_field": 1},
            {"ref_interval": "43200"},
            {"ref_interval": 2**31},
            {"ref_interval": 0},
            {"ref_interval": 1.5},
            {"minimum": 70000},
            {"initial_count": True},
            {"flag": "true"},
            {"meter_id": 12},
            {"meter_id": "x" * 201},
            {"meter_id": {"$ne": None}},
            {"install_date": "2025-13-01"},
            {"installer_id": "bob"},  # a user of another tenant
            {},
        ):
            response = await patch(client, h, "D1", body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["ok"] is False
        unknown = await patch(client, h, "D1", {"meter_id": "M2", "frobnicate": 1})
        assert "frobnicate" in unknown.json()["message"]
    stored = await store.get_device(A, "D1")
    assert (stored["meter_id"], stored["last_count"], stored["ref_interval"]) == ("M1", 77, 3600)
    assert "battery" not in stored and "no_such_field" not in stored


async def test_release_reports_each_uid(store):
    await seed(store)
    async with app_client(store) as client:
        h = await tokens(client, "ada", "otto")
        body = {
            "devices": ["N1", "N2", "N1", "D1", "X1"],
            "installer_id": "ina",
            "comment": "batch 7",
            "server_ip": "192.0.2.10",
            "server_port": 5004,
            "ref_interval": 43200,
        }
        response = await client.post("/api/v1/devices/release", json=body, headers=h["ada"])
        assert response.status_code == 200, response.text
        assert response.json() == {
            "ok": True,
            "added": ["N1", "N2"],
            "exists": ["D1"],
            "other_tenant": ["X1"],
            "duplicates": ["N1"],
        }
        assert (await client.post("/api/v1/devices/release", json=body, headers=h["otto"])).status_code == 403
    released = await store.get_device(A, "N1")
    assert {k: released[k] for k in ("installer_id", "flag", "comment", "server_ip", "server_port")} == {
        "installer_id": "ina",
        "flag": False,
        "comment": "batch 7",
        "server_ip": "192.0.2.10",
        "server_port": 5004,
    }
    assert released["release_date"] == "2025-12-18" and released["ref_interval"] == 43200
    assert "minimum" not in released  # not given: the gateway's fallback applies
    assert await store.get_device_route("N2") == A
    # the other tenant's device is neither moved nor touched
    assert await store.get_device_route("X1") == B
    assert await store.get_device(B, "X1") == {
        "device_uid": "X1",
        "installer_id": "bob",
        "flag": True,
        "server_ip": "192.0.2.1",
    }
    assert (await store.get_device(A, "D1"))["meter_id"] == "M1"


async def test_release_refuses_bad_requests(store):
    await seed(store)
    async with app_client(store) as client:
        h = (await tokens(client, "ada"))["ada"]
        for body in (
            {"devices": ["N1"], "installer_id": "bob"},  # not a user of this tenant
            {"devices": ["N1"], "installer_id": "nobody"},
            {"devices": ["N1"]},
            {"devices": [], "installer_id": "ina"},
            {"devices": "N1", "installer_id": "ina"},
            {"devices": ["N1", 5], "installer_id": "ina"},
            {"devices": ["$N1"], "installer_id": "ina"},
            {"devices": [f"N{i}" for i in range(1001)], "installer_id": "ina"},
            {"devices": ["N1"], "installer_id": "ina", "server_ip": "example.com"},
            {"devices": ["N1"], "installer_id": "ina", "release_date": "yesterday"},
            {"devices": ["N1"], "installer_id": "ina", "db_name": "other"},
        ):
            response = await client.post("/api/v1/devices/release", json=body, headers=h)
            assert response.status_code == 400, (body, response.text)
    assert await store.get_device_route("N1") is None
