"""GET /api/v1/weighings and GET /api/v1/cylinders/{no}/weighings: search, paging, tenancy, anomaly flags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.web.support import T0, add_user, app_client, bearer, login

TENANT_A, TENANT_B = "gas_a", "gas_b"
DAY = 86400.0


async def weigh(store, cylinder: str, gross: str, *, event_type="SHIP", tenant=None, at=T0, scale_id="default"):
    return await store.commit_weighing(
        {
            "scale_id": scale_id,
            "cylinder_no": cylinder,
            "event_type": event_type,
            "gross_kg": Decimal(gross),
            "raw_line": f"ST,+000{gross} kg",
            "received_at": at - 5,
            "committed_at": at,
            "arrival_shipping_no": "AS20251218-0001" if event_type == "SHIP" else None,
            "move_report_no": None,
            "tenant": tenant,
        }
    )


@pytest.fixture
async def people(store):
    await add_user(store, TENANT_A, "a_operator", "operator")
    await add_user(store, TENANT_A, "a_viewer", "viewer")
    await add_user(store, TENANT_B, "b_operator", "operator")
    return store


async def listing(client, auth, **params) -> dict:
    response = await client.get("/api/v1/weighings", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def cylinders(body: dict) -> list[str]:
    return [item["cylinder_no"] for item in body["items"]]


async def test_a_tenant_sees_its_own_and_shared_weighings_not_another_tenants(people):
    store = people
    await weigh(store, "CY-A1", "53.20", tenant=TENANT_A, at=T0)
    await weigh(store, "CY-B1", "51.00", tenant=TENANT_B, at=T0 + 1)
    await weigh(store, "CY-S1", "50.00", tenant=None, at=T0 + 2)
    async with app_client(store) as client:
        for login_id in ("a_operator", "a_viewer"):
            body = await listing(client, bearer(await login(client, login_id)))
            assert (cylinders(body), body["total"]) == (["CY-S1", "CY-A1"], 2)
        b_body = await listing(client, bearer(await login(client, "b_operator")))
        assert cylinders(b_body) == ["CY-S1", "CY-B1"]
        assert cylinders(await listing(client, bearer(await login(client, "a_operator")), cylinder_no="CY-B1")) == []


async def test_an_item_is_the_record_with_exact_weights_and_iso_times(people):
    store = people
    stored = await weigh(store, "CY123456789", "53.20", tenant=TENANT_A, at=T0 + 60)
    async with app_client(store) as client:
        response = await client.get("/api/v1/weighings", headers=bearer(await login(client, "a_operator")))
    assert '"gross_kg":53.20' in response.text
    assert response.json() == {
        "ok": True,
        "items": [
            {
                "id": stored["id"],
                "scale_id": "default",
                "cylinder_no": "CY123456789",
                "event_type": "SHIP",
                "gross_kg": 53.2,
                "raw_line": "ST,+00053.20 kg",
                "received_at": "2025-12-18T12:00:55+09:00",
                "committed_at": "2025-12-18T12:01:00+09:00",
                "arrival_shipping_no": "AS20251218-0001",
                "move_report_no": None,
                "tenant": TENANT_A,
            }
        ],
        "next": None,
        "total": 1,
    }


async def test_search_by_cylinder_event_type_scale_and_time(people):
    store = people
    await weigh(store, "CY1", "53.00", at=T0)
    await weigh(store, "CY10", "52.00", at=T0 + DAY, scale_id="scale-02")
    await weigh(store, "cy1", "15.00", event_type="RETURN", at=T0 + 2 * DAY, tenant=TENANT_A)
    await weigh(store, "XY77", "14.00", event_type="RETURN", at=T0 + 3 * DAY, scale_id="scale-02")
    async with app_client(store) as client:
        auth = bearer(await login(client, "a_operator"))
        assert cylinders(await listing(client, auth, cylinder_no="CY1")) == ["CY1"]
        assert cylinders(await listing(client, auth, q="Y1")) == ["cy1", "CY10", "CY1"]
        assert cylinders(await listing(client, auth, event_type="RETURN")) == ["XY77", "cy1"]
        assert cylinders(await listing(client, auth, scale_id="scale-02")) == ["XY77", "CY10"]
        assert cylinders(await listing(client, auth, scale_id="scale-02", q="cy")) == ["CY10"]
        # from is inclusive, to exclusive; dates are in the configured zone (+09:00)
        assert cylinders(await listing(client, auth, **{"from": "2025-12-19", "to": "2025-12-21"})) == ["cy1", "CY10"]
        assert cylinders(await listing(client, auth, **{"from": str(T0 + 3 * DAY)})) == ["XY77"]
        assert cylinders(await listing(client, auth, to="2025-12-18T12:00:00+09:00")) == []
        assert cylinders(await listing(client, auth, to="2025-12-18T12:00:01+09:00")) == ["CY1"]


async def test_the_log_is_paged_newest_first(people):
    store = people
    ids = [(await weigh(store, f"CY{n}", "50.00", at=T0 + n))["id"] for n in range(5)]
    async with app_client(store) as client:
        auth = bearer(await login(client, "a_operator"))
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = await listing(client, auth, **params)
            assert body["total"] == 5
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["next"]
            if cursor is None:
                break
        assert (seen, pages) == (ids[::-1], 3)
        assert [item["id"] for item in (await listing(client, auth, sort="id", limit=3))["items"]] == ids[:3]
        by_time = await listing(client, auth, sort="-committed_at", limit=2)
        assert [item["id"] for item in by_time["items"]] == [ids[4], ids[3]]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sort=gross_kg", "sort"),
        ("event_type=ship", "event_type"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("cursor=not-ours", "cursor"),
        ("cylinder_no=%24ne", "cylinder_no"),
    ],
)
async def test_bad_queries_are_400(people, query, named):
    async with app_client(people) as client:
        response = await client.get(f"/api/v1/weighings?{query}", headers=bearer(await login(client, "a_operator")))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request" and named in response.json()["message"]


async def test_who_may_read_the_log(people):
    store = people
    await weigh(store, "CY-A1", "53.20", tenant=TENANT_A)
    await weigh(store, "CY-B1", "53.20", tenant=TENANT_B)
    async with app_client(store) as client:
        assert (await client.get("/api/v1/weighings")).status_code == 401
        assert (await client.get("/api/v1/cylinders/CY-A1/weighings")).status_code == 401
        accounts = client.app.state.accounts
        read_token, _ = await accounts.create_api_token(TENANT_A, "report", ["read"], "a_operator", None)
        scale_token, _ = await accounts.create_api_token(TENANT_A, "dock", ["scale"], "a_operator", None)
        assert cylinders(await listing(client, bearer(read_token))) == ["CY-A1"]
        assert (await client.get("/api/v1/weighings", headers=bearer(scale_token))).status_code == 403
        everywhere, _ = await accounts.create_api_token(None, "audit", ["read"], "root", None)
        assert cylinders(await listing(client, bearer(everywhere))) == ["CY-B1", "CY-A1"]
    async with app_client(store, client_host="127.0.0.1") as trusted:
        assert (await trusted.get("/api/v1/weighings")).status_code == 401


# --------------------------------------------------------------------------- a cylinder's history

CYLINDER = "CY123456789"


async def history(client, auth, cylinder=CYLINDER, **params) -> dict:
    response = await client.get(f"/api/v1/cylinders/{cylinder}/weighings", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def cylinder_story(store) -> None:
    """Tenant A's cylinder: three usual SHIPs, a light one; three RETURNs, one coming back full. A weighing of
    tenant B (a wild one) and a shared one of the same number."""
    ships = ("53.20", "53.30", "53.25", "50.00")
    returns = ("15.10", "15.00", "14.90", "53.00")
    for n, (ship, back) in enumerate(zip(ships, returns, strict=True)):
        await weigh(store, CYLINDER, ship, tenant=TENANT_A, at=T0 + n * 2 * DAY)
        await weigh(store, CYLINDER, back, event_type="RETURN", tenant=TENANT_A, at=T0 + (n * 2 + 1) * DAY)
    await weigh(store, CYLINDER, "99.00", tenant=TENANT_B, at=T0 + 0.5 * DAY)
    # committed later (another process) but weighed at the start of the story: time order, not id order
    await weigh(store, CYLINDER, "53.10", tenant=None, at=T0 - DAY)


async def test_a_cylinders_weighings_in_time_order_with_anomaly_flags(people):
    store = people
    await cylinder_story(store)
    async with app_client(store) as client:
        body = await history(client, bearer(await login(client, "a_operator")))
    items = body["items"]
    assert body["total"] == 9 and body["cylinder_no"] == CYLINDER and body["next"] is None
    assert [(item["event_type"], item["gross_kg"]) for item in items] == [
        ("SHIP", 53.1),
        ("SHIP", 53.2),
        ("RETURN", 15.1),
        ("SHIP", 53.3),
        ("RETURN", 15.0),
        ("SHIP", 53.25),
        ("RETURN", 14.9),
        ("SHIP", 50.0),
        ("RETURN", 53.0),
    ]
    assert 99.0 not in [item["gross_kg"] for item in items]  # tenant B's weighing is neither shown nor compared
    assert [item["anomaly"] for item in items] == [False] * 7 + [True, True]
    assert [item["baseline"] is None for item in items] == [True] * 5 + [False, True, False, False]
    # SHIP: earlier 53.10, 53.20, 53.30, 53.25 -> median 53.225, 5 % = 2.66125 -> 2.67; 50.00 is 3.225 below
    assert items[7]["anomaly_reason"] == (
        "50.00 kg is 3.225 kg below the median 53.225 kg of the last 4 SHIP weighings (tolerance 2.67 kg)"
    )
    assert items[7]["deviation_kg"] == -3.225 and items[7]["baseline"]["tolerance_kg"] == 2.67
    # RETURN: earlier 15.10, 15.00, 14.90 -> median 15.00, tolerance 1.00 (the floor)
    assert items[8]["anomaly_reason"].startswith("53.00 kg is 38.00 kg above the median 15.00 kg of the last 3 RETURN")
    assert items[5]["anomaly"] is False and items[5]["anomaly_reason"] is None
    assert body["usual"]["SHIP"] == {
        "count": 5,
        "basis": 5,
        "median_kg": 53.2,
        "mad_kg": 0.1,
        "tolerance_kg": 2.66,
        "low_kg": 50.54,
        "high_kg": 55.86,
    }
    assert (body["usual"]["RETURN"]["count"], body["usual"]["RETURN"]["median_kg"]) == (4, 15.05)


async def test_another_tenants_cylinder_looks_unknown(people):
    store = people
    await weigh(store, "CY-B", "53.00", tenant=TENANT_B)
    async with app_client(store) as client:
        auth = bearer(await login(client, "a_operator"))
        theirs = await history(client, auth, "CY-B")
        unknown = await history(client, auth, "CY-NEVER")
        assert {**theirs, "cylinder_no": None} == {**unknown, "cylinder_no": None}
        assert (theirs["items"], theirs["total"], theirs["usual"]["SHIP"]["count"]) == ([], 0, 0)
        b_view = await history(client, bearer(await login(client, "b_operator")), "CY-B")
        assert b_view["total"] == 1 and b_view["usual"]["SHIP"]["count"] == 1


async def test_a_history_is_paged_and_filtered_without_changing_the_flags(people):
    store = people
    await cylinder_story(store)
    async with app_client(store) as client:
        auth = bearer(await login(client, "a_operator"))
        first = await history(client, auth, limit=4)
        second = await history(client, auth, limit=4, cursor=first["next"])
        third = await history(client, auth, limit=4, cursor=second["next"])
        assert [len(page["items"]) for page in (first, second, third)] == [4, 4, 1] and third["next"] is None
        whole = await history(client, auth)
        assert first["items"] + second["items"] + third["items"] == whole["items"]
        newest = await history(client, auth, sort="-committed_at", limit=2)
        assert newest["items"] == whole["items"][::-1][:2]
        ships = await history(client, auth, event_type="SHIP")
        assert [item["gross_kg"] for item in ships["items"]] == [53.1, 53.2, 53.3, 53.25, 50.0]
        assert [item["anomaly"] for item in ships["items"]] == [False] * 4 + [True] and ships["total"] == 5
        assert ships["usual"] == whole["usual"]


@pytest.mark.parametrize(
    ("query", "named"), [("sort=id", "sort"), ("q=CY", "query parameter q"), ("event_type=FILL", "event_type")]
)
async def test_bad_history_queries_are_400(people, query, named):
    async with app_client(people) as client:
        auth = bearer(await login(client, "a_operator"))
        response = await client.get(f"/api/v1/cylinders/{CYLINDER}/weighings?{query}", headers=auth)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]
