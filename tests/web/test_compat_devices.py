"""device and the v2 device pages of the compatible endpoint (§5.1, §5.2, §6.2)."""

from __future__ import annotations

from core.store import ListQuery
from tests.web.support import add_user, app_client
from tests.web.test_compat import OTHER, TENANT, call, compat_login, seed_devices

LIST_FIELDS = ["device_uid", "meter_id", "last_count", "last_access", "flag"]
#: §5.2, the example request of updateDeviceInfo (login fields are added from the session)
UPDATE_DEVICE_INFO = {
    "page": "device_info",
    "device_uid": "D4245A98",
    "meter_id": "202465478965",
    "meter_id_org": "365478965162",
    "customer_no": "S12547896",
    "customer_name": "이순신",
    "initial_count": "2543",
    "ref_interval": "43200",
    "flag": True,
}
#: §5.2, the sample body of updateInstallDeviceInfo
INSTALL_DEVICE_INFO = {
    "page": "install_device_info",
    "device_uid": "D4245A98",
    "meter_id": "202465478965",
    "install_date": "2025-03-06",
    "initial_count": 0,
    "ref_interval": 43200,
    "flag": "inactive",
    "comment": "",
    "customer_name": "이순신",
    "customer_no": "S12547896",
    "subscriber_no": "1204365785",
}


async def seed_subscribers(store) -> None:
    await store.upsert_subscriber(
        TENANT,
        {
            "customer_no": "S12547896",
            "meter_id": "202465478965",
            "customer_name": "이순신",
            "subscriber_no": "1204365785",
            "addr_city": "서울시",
            "binded": False,
        },
    )
    await store.upsert_subscriber(
        TENANT,
        {"customer_no": "S32649713", "meter_id": "365478965162", "bind_device_id": "D4245A98", "binded": True},
    )


async def test_v2_device_list_answers_the_requested_fields_of_the_tenant(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "query", admin, page="device_info", fields=LIST_FIELDS, user_id="admin")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "data", "total_records", "elasped_time"}
    assert (body["code"], body["total_records"]) == (200, 2)
    assert isinstance(body["elasped_time"], float)
    rows = {row["device_uid"]: row for row in body["data"]}
    assert rows["D4245A98"] == {
        "device_uid": "D4245A98",
        "meter_id": "202465478965",
        "last_count": 1234,
        "last_access": "2025-03-06 15:30:22",
        "flag": True,
    }
    assert rows["A149490D"] == {
        "device_uid": "A149490D",
        "meter_id": None,
        "last_count": None,
        "last_access": None,
        "flag": False,
    }


async def test_an_installer_lists_only_its_own_devices_whatever_it_claims(store):
    """§3.7/§8.4: the original trusted role, user_id and filter from the body."""
    await seed_devices(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        for fields in (
            {},
            {"role": "admin"},
            {"user_id": "someone_else"},
            {"filter": {"installer_id": "someone_else"}},
        ):
            response = await call(client, "device", installer, action="list", fields=["device_uid"], **fields)
            assert response.json()["data"] == [{"device_uid": "D4245A98"}], fields
        response = await call(client, "device", installer, action="view", device_uid="A149490D")
        assert response.json() == {"code": 200, "data": None}


async def test_device_list_filters_are_equality_only(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        ok = await call(client, "device", admin, action="list", fields=["device_uid"], filter={"flag": True})
        assert ok.json()["data"] == [{"device_uid": "D4245A98"}]
        for bad in ({"flag": {"$ne": None}}, {"$where": "1"}, {"server_ip": "x"}):
            response = await call(client, "device", admin, action="list", filter=bad)
            assert response.json()["code"] == 400, bad


async def test_device_view_by_uid_or_meter(store):
    await seed_devices(store)
    async with app_client(store) as client:
        viewer = await compat_login(client, "viewer")
        by_uid = await call(client, "device", viewer, action="view", device_uid="D4245A98", fields=["meter_id"])
        assert by_uid.json() == {"code": 200, "data": {"meter_id": "202465478965"}}
        by_meter = await call(client, "device", viewer, action="view", meter_id="202465478965")
        assert by_meter.json()["data"]["device_uid"] == "D4245A98"
        assert (await call(client, "device", viewer, action="view")).json() == {"code": 200, "data": {}}
        other = await call(client, "device", viewer, action="view", device_uid="B0000001")
        assert other.json() == {"code": 200, "data": None}


async def test_v2_update_device_info_writes_the_device_and_rebinds_subscribers(store):
    await seed_devices(store)
    await seed_subscribers(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "update", admin, **UPDATE_DEVICE_INFO)
    body = response.json()
    assert set(body) == {"code", "elasped_time", "data"}
    assert (body["code"], body["data"]) == (200, {"modified_count": 1})
    device = await store.get_device(TENANT, "D4245A98")
    assert (device["initial_count"], device["ref_interval"], device["customer_no"]) == (2543, 43200, "S12547896")
    assert device["customer_name"] == "이순신" and device["flag"] is True
    assert not {"login_id", "userseq", "page", "format", "meter_id_org", "role", "level"} & set(device)
    bound = await store.get_subscriber(TENANT, "S12547896")
    assert (bound["bind_device_id"], bound["binded"]) == ("D4245A98", True) and bound["bind_date"] is not None
    unbound = await store.get_subscriber(TENANT, "S32649713")
    assert (unbound["bind_device_id"], unbound["bind_date"], unbound["binded"]) == (None, None, False)


async def test_v3_modify_takes_data_and_keeps_to_the_role_s_fields(store):
    await seed_devices(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        ok = await call(
            client, "device", installer, action="modify", data={"device_uid": "D4245A98", "comment": "kitchen"}
        )
        assert ok.json() == {"code": 200, "elasped_time": ok.json()["elasped_time"], "data": {"modified_count": 1}}
        redirect = await call(
            client, "device", installer, action="modify", device_uid="D4245A98", data={"server_ip": "203.0.113.66"}
        )
        assert redirect.status_code == 403 and redirect.json() == {"code": 403, "message": "Permission denied"}
        reassign = await call(
            client, "device", installer, action="modify", device_uid="D4245A98", data={"installer_id": "installer"}
        )
        assert reassign.status_code == 403
        unknown = await call(client, "device", installer, action="modify", device_uid="D4245A98", data={"x": 1})
        assert unknown.json() == {"code": 400, "message": "unknown device fields: x"}
        reported = await call(
            client, "device", installer, action="modify", device_uid="D4245A98", data={"last_count": 1, "battery": 2}
        )
        assert reported.json()["data"] == {"modified_count": 0}
        theirs = await call(client, "device", installer, action="modify", device_uid="A149490D", data={"comment": "x"})
        assert theirs.json()["data"] == {"modified_count": 0}
        missing = await call(client, "device", installer, action="modify", data={"device_uid": "D4245A98"})
        assert missing.json() == {"code": 400, "message": "데이터베이스 이름, 장치 ID, 수정할 데이터가 필요합니다."}
        viewer = await compat_login(client, "viewer")
        refused = await call(client, "device", viewer, action="modify", device_uid="D4245A98", data={"comment": "y"})
        assert refused.status_code == 403
        admin = await compat_login(client, "admin")
        thresholds = {"minimum": 1, "maximum": "9", "installer_id": "installer"}
        configured = await call(client, "device", admin, action="modify", device_uid="D4245A98", data=thresholds)
        assert configured.json()["data"] == {"modified_count": 1}
        nobody = await call(client, "device", admin, action="modify", device_uid="D4245A98", data={"installer_id": "x"})
        assert nobody.json()["code"] == 400
        # where a meter reports to is a system administrator's, as in the REST API
        redirect = await call(
            client, "device", admin, action="modify", device_uid="D4245A98", data={"server_ip": "192.0.2.9"}
        )
        assert redirect.status_code == 403
        await add_user(store, TENANT, "root", "admin", system_admin=True)
        root = await compat_login(client, "root")
        address = {"server_ip": "192.0.2.10", "server_port": "5004"}
        moved = await call(client, "device", root, action="modify", device_uid="D4245A98", data=address)
        assert moved.json()["data"] == {"modified_count": 1}
        bad_ip = await call(client, "device", root, action="modify", device_uid="D4245A98", data={"server_ip": 1})
        assert bad_ip.json()["code"] == 400
    device = await store.get_device(TENANT, "D4245A98")
    assert (device["comment"], device["last_count"], device["installer_id"]) == ("kitchen", 1234, "installer")
    assert (device["server_ip"], device["server_port"], device["minimum"], device["maximum"]) == (
        "192.0.2.10",
        5004,
        1,
        9,
    )
    assert (await store.get_device(TENANT, "A149490D")).get("comment") is None


async def test_v2_install_inactive_turns_the_device_off(store):
    await seed_devices(store)
    await seed_subscribers(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        response = await call(client, "update", installer, **INSTALL_DEVICE_INFO)
    body = response.json()
    assert (body["code"], body["data"]) == (200, {"bind_date": None, "binded": False})
    assert "elasped_time" in body
    assert (await store.get_device(TENANT, "D4245A98"))["flag"] is False
    assert (await store.get_subscriber(TENANT, "S32649713"))["binded"] is False


async def test_install_and_bind_record_the_install_and_bind_the_meter_s_subscriber(store):
    await seed_devices(store)
    await seed_subscribers(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        response = await call(client, "update", installer, **{**INSTALL_DEVICE_INFO, "flag": "active"})
        assert response.json()["data"] == {"bind_date": "2025-12-18 12:00:00", "binded": True}
        device = await store.get_device(TENANT, "D4245A98")
        assert (device["flag"], device["install_date"], device["initial_count"]) == (True, "2025-03-06", 0)
        assert (device["subscriber_no"], device["meter_id"]) == ("1204365785", "202465478965")
        assert (device["customer_no"], device["addr_city"]) == ("S12547896", "서울시")  # the subscriber's own data
        assert (await store.get_subscriber(TENANT, "S12547896"))["bind_device_id"] == "D4245A98"
        assert (await store.get_subscriber(TENANT, "S32649713"))["bind_device_id"] is None
        v3 = {"device_uid": "D4245A98", "meter_id": "365478965162", "install_date": "2025-03-10", "initial_count": 2543}
        response = await call(client, "device", installer, action="bind", data={**v3, "ref_interval": 43200})
        assert response.json() == {
            "code": 200,
            "elasped_time": response.json()["elasped_time"],
            "data": {"bind_date": "2025-12-18 12:00:00", "binded": True},
        }
        assert (await store.get_subscriber(TENANT, "S32649713"))["bind_device_id"] == "D4245A98"
        assert (await store.get_subscriber(TENANT, "S12547896"))["binded"] is False
        no_meter = await call(client, "device", installer, action="bind", data={"device_uid": "D4245A98"})
        assert no_meter.json() == {"code": 400, "message": "데이터베이스 이름, 장치 ID, 미터 ID가 필요합니다."}
        theirs = await call(client, "device", installer, action="bind", data={**v3, "device_uid": "A149490D"})
        assert theirs.status_code == 404
        unbind = await call(client, "device", installer, action="unbind", data={"device_uid": "D4245A98"})
        assert unbind.json() == {"code": 200, "data": {"unbinded": True}}
    assert (await store.get_device(TENANT, "D4245A98"))["flag"] is False
    assert (await store.get_subscriber(TENANT, "S32649713"))["binded"] is False


async def test_delete_is_an_administrator_s_and_stays_in_the_tenant(store):
    await seed_devices(store)
    await seed_subscribers(store)
    async with app_client(store) as client:
        installer = await compat_login(client, "installer")
        refused = await call(client, "device", installer, action="delete", device_uid="D4245A98")
        assert refused.status_code == 403
        admin = await compat_login(client, "admin")
        other = await call(client, "device", admin, action="delete", device_uid="B0000001")
        assert other.json() == {"code": 200, "data": {"deleted_count": 0}}
        response = await call(client, "device", admin, action="delete", device_uid="D4245A98")
        assert response.json() == {"code": 200, "data": {"deleted_count": 1}}
    assert await store.get_device(TENANT, "D4245A98") is None and await store.get_device_route("D4245A98") is None
    assert await store.get_device(OTHER, "B0000001") is not None
    assert (await store.get_subscriber(TENANT, "S32649713"))["binded"] is False


async def test_v3_release_creates_inactive_devices_for_an_installer_of_the_tenant(store):
    await seed_devices(store)
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(
            client,
            "device",
            admin,
            action="release",
            device_uids=["C0000001", "B0000001", "C0000001"],
            installer_id="installer",
        )
        assert response.json() == {
            "code": 200,
            "data": {
                "release_date": "2025-12-18",
                "released_count": 1,
                "released_devices": ["C0000001"],
                "installer_id": "installer",
                "exist": ["B0000001"],
            },
        }
        unknown = await call(client, "device", admin, action="release", device_uids=["C2"], installer_id="other_admin")
        assert unknown.json() == {"code": 1004, "description": "no_user_id"}
        missing = await call(client, "device", admin, action="release", device_uids=["C2"])
        assert missing.json()["code"] == 400
        for bad in (["bad uid"], ["$where"], [7]):
            response = await call(client, "device", admin, action="release", device_uids=bad, installer_id="installer")
            assert response.json()["code"] == 400, bad
    device = await store.get_device(TENANT, "C0000001")
    assert device == {
        "device_uid": "C0000001",
        "release_date": "2025-12-18",
        "installer_id": "installer",
        "comment": "",
        "flag": False,
    }
    assert await store.get_device_route("B0000001") == OTHER
    assert await store.get_device(OTHER, "B0000001") is not None
    assert await store.get_device_route("C2") is None


async def test_v2_release_product(store):
    await seed_devices(store)
    body = {
        "page": "releaseproduct",
        "installer_id": "installer",
        "db_name": "",
        "usnList": ["A149490D", "D5000001"],
        "release_date": "2025-03-06",
        "comment": "lot 7",
    }
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        response = await call(client, "update", admin, **body)
        assert response.json()["code"] == 200
        assert response.json()["data"] == {"exist": ["A149490D"], "added": ["D5000001"]}
        assert "elasped_time" in response.json()
        again = await call(client, "update", admin, **body)
        assert (again.json()["code"], again.json()["data"]) == (0, {"exist": ["A149490D", "D5000001"], "added": []})
        nobody = await call(client, "update", admin, **{**body, "installer_id": "nobody", "usnList": ["D5000002"]})
        assert nobody.json() == {"code": 1004, "description": "no_user_id"}
        installer = await compat_login(client, "installer")
        refused = await call(client, "update", installer, **{**body, "usnList": ["D5000003"]})
        assert refused.status_code == 403
    released = await store.get_device(TENANT, "D5000001")
    assert (released["release_date"], released["comment"], released["flag"]) == ("2025-03-06", "lot 7", False)
    listed = await store.list_devices(TENANT, ListQuery())
    assert sorted(device["device_uid"] for device in listed.items) == ["A149490D", "D4245A98", "D5000001"]


async def test_a_binding_moves_the_subscriber_s_data_with_it(store):
    """The REST API's rule: the device a subscriber leaves no longer carries its data."""
    await seed_devices(store)
    await seed_subscribers(store)
    bind = {"customer_no": "S12547896", "meter_id": "202465478965"}
    async with app_client(store) as client:
        admin = await compat_login(client, "admin")
        await call(client, "subscriber", admin, action="bind", device_uid="D4245A98", **bind)
        first = await store.get_device(TENANT, "D4245A98")
        assert (first["customer_no"], first["customer_name"]) == ("S12547896", "이순신")
        assert (await store.get_subscriber(TENANT, "S32649713"))["binded"] is False
        await call(client, "subscriber", admin, action="bind", device_uid="A149490D", **bind)
        left = await store.get_device(TENANT, "D4245A98")
        assert (left.get("customer_no"), left.get("customer_name"), left.get("subscriber_no")) == (None, None, None)
        assert (await store.get_device(TENANT, "A149490D"))["customer_name"] == "이순신"
        assert (await store.get_subscriber(TENANT, "S12547896"))["bind_device_id"] == "A149490D"
        await call(client, "device", admin, action="unbind", data={"device_uid": "A149490D"})
    unbound = await store.get_device(TENANT, "A149490D")
    assert (unbound["flag"], unbound.get("customer_no"), unbound.get("customer_name")) == (False, None, None)
    assert (await store.get_subscriber(TENANT, "S12547896"))["binded"] is False
