"""``GET /api/v1/scales``: the scales a caller may see (stored readings and the configured listeners' scale
ids), each with its latest reading and stale flag, paged like the other v1 listings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.config import Config, ListenerConfig
from tests.web.support import T0, Clock, add_user, app_client, bearer, login

TENANT_A, TENANT_B = "gas_a", "gas_b"


def reading(weight: str, tenant: str | None) -> dict:
    doc = {"status": "ST", "weight": Decimal(weight), "unit": "kg", "raw": f"ST,+{weight} kg", "received_at": T0}
    return {**doc, "tenant": tenant}


async def seed(store) -> None:
    """``scale-a`` of tenant A, ``scale-b`` of tenant B, ``shared`` of none, and an operator of each."""
    for scale_id, tenant, weight in (("scale-a", TENANT_A, "10.00"), ("scale-b", TENANT_B, "20.5")):
        await store.set_scale_latest(scale_id, reading(weight, tenant))
    await store.set_scale_latest("shared", reading("30.00", None))
    await add_user(store, TENANT_A, "a_operator", "operator")
    await add_user(store, TENANT_A, "a_viewer", "viewer")
    await add_user(store, TENANT_B, "b_operator", "operator")


async def auth(client, login_id: str) -> dict[str, str]:
    """The bearer header of a new session of ``login_id`` (the client drops the cookie, so logins add up)."""
    token = await login(client, login_id)
    client.cookies.clear()
    return bearer(token)


def ids(body: dict) -> list[str]:
    return [item["scale_id"] for item in body["items"]]


async def test_each_tenant_lists_its_own_and_shared_scales_with_their_readings(store):
    await seed(store)
    clock = Clock(T0 + 5)
    async with app_client(store, clock=clock) as client:
        a = await auth(client, "a_operator")
        b = await auth(client, "b_operator")
        mine = await client.get("/api/v1/scales", headers=a)
        assert mine.status_code == 200, mine.text
        body = mine.json()
        # the default listener's scale (shared, no reading yet) is listed too
        assert ids(body) == ["default", "scale-a", "shared"] and body["total"] == 3 and body["next"] is None
        assert body["items"][1] == {
            "scale_id": "scale-a",
            "tenant": TENANT_A,
            "status": "ST",
            "weight": 10.0,
            "unit": "kg",
            "raw": "ST,+10.00 kg",
            "received_at": "2025-12-18T12:00:00+09:00",
            "stale": False,
        }
        assert '"weight":10.00' in mine.text  # exact decimals, as the scale gateway writes them
        assert body["items"][0] == {
            "scale_id": "default",
            "tenant": None,
            "status": None,
            "weight": None,
            "unit": None,
            "raw": None,
            "received_at": None,
            "stale": True,
        }
        theirs = await client.get("/api/v1/scales", headers=b)
        assert ids(theirs.json()) == ["default", "scale-b", "shared"]
        assert "scale-a" not in theirs.text and "10.00" not in theirs.text
        clock.now = T0 + 10.5
        stale = (await client.get("/api/v1/scales", headers=a)).json()["items"]
        assert [item["stale"] for item in stale] == [True, True, True]


async def test_configured_scales_of_another_tenant_stay_hidden(store):
    await seed(store)
    config = Config(
        listeners=[
            ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "dock-a", "tenant": TENANT_A}),
            ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "dock-b", "tenant": TENANT_B}),
            ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_by_peer": {"192.0.2.7": "gate"}}),
            ListenerConfig("gas_meter", 0, "127.0.0.1", options={"scale_id": "not-a-scale"}),
        ]
    )
    async with app_client(store, config) as client:
        a = await auth(client, "a_operator")
        b = await auth(client, "b_operator")
        listed_a = (await client.get("/api/v1/scales", headers=a)).json()
        assert ids(listed_a) == ["default", "dock-a", "gate", "scale-a", "shared"]
        assert listed_a["items"][1]["tenant"] == TENANT_A and listed_a["items"][1]["weight"] is None
        assert ids((await client.get("/api/v1/scales", headers=b)).json()) == [
            "default",
            "dock-b",
            "gate",
            "scale-b",
            "shared",
        ]
    async with app_client(store, config, client_host="127.0.0.1") as trusted:
        # a trusted-network client has no tenant: every scale
        everything = (await trusted.get("/api/v1/scales")).json()
        assert ids(everything) == ["default", "dock-a", "dock-b", "gate", "scale-a", "scale-b", "shared"]


async def test_the_listing_is_paged_with_the_next_cursor(store):
    await seed(store)
    async with app_client(store) as client:
        a = await auth(client, "a_operator")
        first = (await client.get("/api/v1/scales", params={"limit": 2}, headers=a)).json()
        assert ids(first) == ["default", "scale-a"] and first["total"] == 3 and first["next"]
        second = (await client.get("/api/v1/scales", params={"limit": 2, "cursor": first["next"]}, headers=a)).json()
        assert ids(second) == ["shared"] and second["next"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"limit": "many"}, "limit must be an integer"),
        ({"cursor": "not-ours"}, "cursor is not one this server issued"),
        ({"sort": "-scale_id"}, "sort and q are not supported"),
        ({"q": "dock"}, "sort and q are not supported"),
    ],
)
async def test_a_bad_page_request_is_refused_with_400(store, params, message):
    await seed(store)
    async with app_client(store) as client:
        response = await client.get("/api/v1/scales", params=params, headers=await auth(client, "a_operator"))
        assert response.status_code == 400
        assert response.json()["ok"] is False and message in response.json()["message"]


async def test_anonymous_viewers_and_tokens_without_the_scale_scope_are_refused(store):
    await seed(store)
    async with app_client(store) as client:
        assert (await client.get("/api/v1/scales")).status_code == 401
        assert (await client.get("/api/v1/scales", headers=await auth(client, "a_viewer"))).status_code == 403
        accounts = client.app.state.accounts
        scale_token, _ = await accounts.create_api_token(TENANT_A, "dock", ["scale"], "a_operator", None)
        read_token, _ = await accounts.create_api_token(TENANT_A, "report", ["read"], "a_operator", None)
        assert (await client.get("/api/v1/scales", headers=bearer(read_token))).status_code == 403
        allowed = await client.get("/api/v1/scales", headers=bearer(scale_token))
        assert allowed.status_code == 200 and ids(allowed.json()) == ["default", "scale-a", "shared"]


def test_the_configured_scales_follow_the_listeners_as_the_gateway_starts_them():
    from core.config import load_config
    from plugins.fg150kal.routes import configured_scales

    assert configured_scales(Config()) == {"default": None}
    added = load_config(env={}, listen=["fg150kal:4002:scale_id=dock"])
    assert configured_scales(added) == {"default": None, "dock": None}
    # a --listen flag on the default listener's port replaces it
    config = load_config(env={}, listen=["fg150kal:4001:scale_id=gate"])
    assert configured_scales(config) == {"gate": None}
    # a configured listener without a scale_id takes the default one, and keeps its own tenant
    config.listeners = [ListenerConfig("fg150kal", 4003, options={"tenant": TENANT_A})]
    assert configured_scales(config) == {"default": TENANT_A, "gate": None}
