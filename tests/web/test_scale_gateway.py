"""The scale-gateway contract (reference: scale-fg150kal.md), read from and written to the store."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import httpx
import pytest

from core.config import Config
from core.errors import StoreUnavailable
from core.plugins import get_plugin_manager
from core.store import ListQuery
from tests.web.support import ORIGIN, T0, add_user, app_client, bearer, login
from web.app import create_app

JSON = {"content-type": "application/json"}


def reading(weight: str, status: str = "ST", unit: str = "kg", at: float = T0) -> dict:
    return {
        "status": status,
        "weight": Decimal(weight),
        "unit": unit,
        "raw": f"{status},+000{weight} kg",
        "received_at": at,
    }


async def test_latest_without_data_is_404_no_data(web):
    response = await web.get("/api/scale-gateway/latest/")
    assert response.status_code == 404
    body = response.json()
    assert (body["ok"], body["error"]) == (False, "no_data") and "default" in body["message"]


async def test_latest_written_by_another_store_instance(web, two_stores, clock):
    writer, _ = two_stores
    await writer.set_scale_latest("default", reading("53.2"))
    clock.now = T0 + 5
    response = await web.get("/api/scale-gateway/latest/")
    assert response.status_code == 200
    assert '"weight":53.20' in response.text
    assert response.json() == {
        "ok": True,
        "scale_id": "default",
        "status": "ST",
        "weight": 53.2,
        "unit": "kg",
        "raw": "ST,+00053.2 kg",
        "received_at": "2025-12-18T12:00:00+09:00",
        "stale": False,
    }


async def test_stale_after_the_idle_timeout(web, two_stores, clock):
    await two_stores[0].set_scale_latest("default", reading("10.05"))
    clock.now = T0 + 10
    assert (await web.get("/api/scale-gateway/latest/")).json()["stale"] is False
    clock.now = T0 + 10.5
    assert (await web.get("/api/scale-gateway/latest/")).json()["stale"] is True


async def test_scale_id_selects_the_scale(web, two_stores):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    await two_stores[0].set_scale_latest("scale-02", reading("2.50"))
    body = (await web.get("/api/scale-gateway/latest/", params={"scale_id": "scale-02"})).json()
    assert (body["scale_id"], body["weight"]) == ("scale-02", 2.5)
    missing = await web.get("/api/scale-gateway/latest/", params={"scale_id": "scale-09"})
    assert missing.status_code == 404 and missing.json()["error"] == "no_data"


async def test_commit_stores_the_latest_weight_before_answering(web, two_stores, clock):
    writer, _ = two_stores
    await writer.set_scale_latest("default", reading("53.26"))
    clock.now = T0 + 60
    response = await web.post(
        "/api/scale-gateway/commit/",
        json={
            "cylinder_no": "CY123456789",
            "event_type": "SHIP",
            "arrival_shipping_no": "AS20251218-0001",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert '"gross_kg":53.26' in response.text
    assert body == {
        "ok": True,
        "id": body["id"],
        "scale_id": "default",
        "cylinder_no": "CY123456789",
        "event_type": "SHIP",
        "gross_kg": 53.26,
        "committed_at": "2025-12-18T12:01:00+09:00",
    }
    log = await writer.search_weighings(ListQuery(filters={"cylinder_no": "CY123456789"}))
    assert log.total == 1
    record = log.items[0]
    assert record["id"] == body["id"] and record["gross_kg"] == Decimal("53.26")
    assert (record["event_type"], record["raw_line"], record["arrival_shipping_no"], record["move_report_no"]) == (
        "SHIP",
        "ST,+00053.26 kg",
        "AS20251218-0001",
        None,
    )
    again = (await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "CY2", "event_type": "RETURN"})).json()
    assert again["id"] > body["id"] and again["event_type"] == "RETURN"


async def test_commit_without_a_stable_weight(web, two_stores):
    response = await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "CY1", "event_type": "SHIP"})
    assert response.status_code == 409 and response.json()["error"] == "no_stable_weight"
    await two_stores[0].set_scale_latest("default", reading("12", status="QT", unit="PC"))
    counted = await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "CY1", "event_type": "SHIP"})
    assert counted.status_code == 409 and "PC, not kg" in counted.json()["message"]
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"event_type": "SHIP"}, "cylinder_no"),
        ({"cylinder_no": "", "event_type": "SHIP"}, "cylinder_no"),
        ({"cylinder_no": 12, "event_type": "SHIP"}, "cylinder_no"),
        ({"cylinder_no": {"$ne": None}, "event_type": "SHIP"}, "cylinder_no"),
        ({"cylinder_no": "CY1", "event_type": "ship"}, "event_type"),
        ({"cylinder_no": "CY1"}, "event_type"),
        ({"cylinder_no": "CY1", "event_type": "SHIP", "move_report_no": 5}, "move_report_no"),
        ({"cylinder_no": "CY1", "event_type": "SHIP", "weight": 99}, "weight"),
        (["CY1"], "JSON object"),
        ("not json", "JSON object"),
    ],
)
async def test_commit_body_is_validated(web, two_stores, body, named):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    if isinstance(body, str):
        response = await web.post(
            "/api/scale-gateway/commit/", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = await web.post("/api/scale-gateway/commit/", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"ok", "error", "message"} and payload["error"] == "invalid_request"
    assert named in payload["message"]
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


async def test_an_oversized_commit_body_is_refused_without_reading_it_all(web, two_stores):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    sent = 0

    async def endless_body():
        nonlocal sent
        for _ in range(1000):  # 64 MiB if the server kept reading
            sent += 65536
            yield b" " * 65536

    response = await web.post("/api/scale-gateway/commit/", content=endless_body(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert sent < 1000 * 65536
    declared = await web.post(
        "/api/scale-gateway/commit/", content=b"{}", headers={**JSON, "content-length": str(10**9)}
    )
    assert declared.status_code == 413 and "at most" in declared.json()["message"]
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/nothing-here", 404, "not_found"),
        ("GET", "/api/scale-gateway/commit/", 405, "method_not_allowed"),
        ("DELETE", "/api/scale-gateway/latest/", 405, "method_not_allowed"),
        ("GET", "/api/scale-gateway/latest/", 404, "no_data"),
    ],
)
async def test_one_error_shape(web, method, path, status, error):
    response = await web.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"ok", "error", "message"}
    assert body["ok"] is False and body["error"] == error and body["message"]


def assert_refused(response, status: int, error: str, named: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"ok", "error", "message"} and (payload["ok"], payload["error"]) == (False, error)
    assert named in payload["message"]


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000,
        "{" + '"a":{' * 3000,
        '{"cylinder_no": "CY1", "event_type": "SHIP", "scale_id": ' + "[" * 33 + "]" * 33 + "}",
    ],
)
async def test_deeply_nested_json_is_a_400_not_a_500(web, two_stores, body):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    response = await web.post("/api/scale-gateway/commit/", content=body, headers=JSON)
    assert_refused(response, 400, "invalid_request", "nested at most 32 levels")
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


async def test_brackets_inside_strings_are_not_nesting(web, two_stores):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    cylinder = '[{"\\' * 12  # 24 brackets, and quotes and backslashes escaped in the JSON text
    nested = "[" * 31 + "]" * 31
    body = '{"cylinder_no": ' + json.dumps(cylinder) + ', "event_type": "SHIP", "scale_id": ' + nested + "}"
    response = await web.post("/api/scale-gateway/commit/", content=body, headers=JSON)
    # 32 deep (the object and 31 arrays) is parsed, then refused for a scale_id that is no string
    assert_refused(response, 400, "invalid_request", "scale_id must be a non-empty string")
    ok = await web.post("/api/scale-gateway/commit/", json={"cylinder_no": cylinder, "event_type": "SHIP"})
    assert ok.status_code == 200 and ok.json()["cylinder_no"] == cylinder


@pytest.mark.parametrize("value", [0, False, "", "   ", [], {}, None, 7])
async def test_a_given_scale_id_must_be_a_non_empty_string(web, two_stores, value):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    response = await web.post(
        "/api/scale-gateway/commit/", json={"cylinder_no": "CY1", "event_type": "SHIP", "scale_id": value}
    )
    assert_refused(response, 400, "invalid_request", "scale_id")
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


@pytest.mark.parametrize("query", ["scale_id=", "scale_id=%20", "scale_id=a&scale_id=b"])
async def test_a_given_scale_id_in_the_query_must_be_one_non_empty_string(web, two_stores, query):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    assert_refused(await web.get(f"/api/scale-gateway/latest/?{query}"), 400, "invalid_request", "scale_id")
    commit = await web.post(f"/api/scale-gateway/commit/?{query}", json={"cylinder_no": "CY1", "event_type": "SHIP"})
    assert_refused(commit, 400, "invalid_request", "scale_id")
    assert (await web.get("/api/scale-gateway/latest/")).json()["scale_id"] == "default"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonp",
    ],
)
async def test_a_commit_body_not_sent_as_json_is_415(web, two_stores, content_type):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    headers = {"content-type": content_type} if content_type else {}
    response = await web.post(
        "/api/scale-gateway/commit/", content=b'{"cylinder_no": "CY1", "event_type": "SHIP"}', headers=headers
    )
    assert_refused(response, 415, "unsupported_media_type", "application/json")
    assert (await two_stores[0].search_weighings(ListQuery())).total == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"])
async def test_json_with_a_utf8_charset_is_accepted(web, two_stores, content_type):
    await two_stores[0].set_scale_latest("default", reading("1.00"))
    response = await web.post(
        "/api/scale-gateway/commit/",
        content=b'{"cylinder_no": "CY1", "event_type": "SHIP"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 200 and response.json()["ok"] is True


class DownStore:
    """A store whose driver fails with the kind of detail a client must never see."""

    detail = "db-7.internal:27017: replica set rs0, topology Unknown, ServerSelectionTimeoutError"

    def __init__(self) -> None:
        self.calls = 0

    async def get_scale_latest(self, scale_id):
        self.calls += 1
        raise StoreUnavailable(self.detail)


async def test_a_store_failure_is_a_fixed_503_and_its_detail_is_logged_once(caplog):
    store = DownStore()
    app = create_app(Config(), store, get_plugin_manager(enabled=["fg150kal"], disabled=[], installed=False))
    with caplog.at_level(logging.WARNING, logger="specgate.web"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as web:
            answers = [await web.get("/api/scale-gateway/latest/") for _ in range(3)]
            answers.append(
                await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "C", "event_type": "SHIP"})
            )
    assert store.calls == 4
    for response in answers:
        assert response.status_code == 503
        assert response.json() == {
            "ok": False,
            "error": "store_unavailable",
            "message": "the store is not reachable; try again later",
        }
        assert "27017" not in response.text and "rs0" not in response.text
    logged = [r.getMessage() for r in caplog.records if "store is unavailable" in r.getMessage()]
    assert len(logged) == 1 and DownStore.detail in logged[0]


# --------------------------------------------------------------------------- who may call, and scale tenancy

TENANT_A, TENANT_B = "gas_a", "gas_b"


async def tenanted_scales(store) -> None:
    """``scale-a`` of tenant A, ``scale-b`` of tenant B, ``shared`` of none (readings written by listeners)."""
    for scale_id, tenant, weight in (("scale-a", TENANT_A, "10.00"), ("scale-b", TENANT_B, "20.00")):
        await store.set_scale_latest(scale_id, {**reading(weight), "tenant": tenant})
    await store.set_scale_latest("shared", {**reading("30.00"), "tenant": None})
    await add_user(store, TENANT_A, "a_operator", "operator")
    await add_user(store, TENANT_A, "a_viewer", "viewer")
    await add_user(store, TENANT_B, "b_operator", "operator")


def commit_body(scale_id: str, cylinder: str = "CY1") -> dict:
    return {"cylinder_no": cylinder, "event_type": "SHIP", "scale_id": scale_id}


async def test_a_tenant_operator_reaches_its_own_and_shared_scales_only(store):
    await tenanted_scales(store)
    async with app_client(store) as client:
        token = await login(client, "a_operator")
        auth = bearer(token)
        for scale_id, weight in (("scale-a", 10.0), ("shared", 30.0)):
            response = await client.get("/api/scale-gateway/latest/", params={"scale_id": scale_id}, headers=auth)
            assert response.status_code == 200 and response.json()["weight"] == weight
        other = await client.get("/api/scale-gateway/latest/", params={"scale_id": "scale-b"}, headers=auth)
        unknown = await client.get("/api/scale-gateway/latest/", params={"scale_id": "scale-x"}, headers=auth)
        assert other.status_code == unknown.status_code == 404
        assert other.json() == {
            "ok": False,
            "error": "no_data",
            "message": "no stable reading from scale 'scale-b' yet",
        }
        assert unknown.json()["message"].replace("scale-x", "scale-b") == other.json()["message"]

        refused = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-b"), headers=auth)
        never = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-x"), headers=auth)
        assert refused.status_code == never.status_code == 409
        assert refused.json() == {
            "ok": False,
            "error": "no_stable_weight",
            "message": "scale 'scale-b' has no stable weight to commit",
        }
        assert (await store.search_weighings(ListQuery())).total == 0

        own = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-a", "CY-A"), headers=auth)
        shared = await client.post("/api/scale-gateway/commit/", json=commit_body("shared", "CY-S"), headers=auth)
        assert own.status_code == shared.status_code == 200
        assert set(own.json()) == {"ok", "id", "scale_id", "cylinder_no", "event_type", "gross_kg", "committed_at"}
    log = await store.search_weighings(ListQuery())
    # a weighing on a shared scale belongs to the tenant that committed it
    assert [(r["cylinder_no"], r["scale_id"], r["tenant"]) for r in log.items] == [
        ("CY-A", "scale-a", TENANT_A),
        ("CY-S", "shared", TENANT_A),
    ]


async def test_the_other_tenant_sees_its_scale_and_not_the_first(store):
    await tenanted_scales(store)
    async with app_client(store) as client:
        auth = bearer(await login(client, "b_operator"))
        mine = await client.get("/api/scale-gateway/latest/", params={"scale_id": "scale-b"}, headers=auth)
        theirs = await client.get("/api/scale-gateway/latest/", params={"scale_id": "scale-a"}, headers=auth)
        assert (mine.status_code, theirs.status_code) == (200, 404)
        committed = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-b"), headers=auth)
        assert committed.status_code == 200
    assert [r["tenant"] for r in (await store.search_weighings(ListQuery())).items] == [TENANT_B]


async def test_anonymous_callers_only_from_a_trusted_network(store):
    await tenanted_scales(store)
    async with app_client(store, client_host="127.0.0.1") as trusted:
        # no tenant: every scale, and a weighing on a shared scale stays shared
        for scale_id in ("scale-a", "scale-b", "shared"):
            response = await trusted.get("/api/scale-gateway/latest/", params={"scale_id": scale_id})
            assert response.status_code == 200, scale_id
        assert (await trusted.post("/api/scale-gateway/commit/", json=commit_body("shared"))).status_code == 200
        assert (await trusted.post("/api/scale-gateway/commit/", json=commit_body("scale-b"))).status_code == 200
        # the weighing listing is not one of the scale gateway's routes
        assert (await trusted.get("/api/v1/weighings")).status_code == 401
    async with app_client(store, client_host="203.0.113.9") as outside:
        latest = await outside.get("/api/scale-gateway/latest/", params={"scale_id": "shared"})
        commit = await outside.post("/api/scale-gateway/commit/", json=commit_body("shared"))
        assert latest.status_code == commit.status_code == 401
        assert latest.json()["error"] == "unauthorized"
    assert [r["tenant"] for r in (await store.search_weighings(ListQuery())).items] == [None, TENANT_B]


async def test_a_token_needs_the_scale_scope(store):
    await tenanted_scales(store)
    async with app_client(store) as client:
        accounts = client.app.state.accounts
        scale_token, _ = await accounts.create_api_token(TENANT_A, "dock", ["scale"], "a_operator", None)
        read_token, _ = await accounts.create_api_token(TENANT_A, "report", ["read"], "a_operator", None)
        allowed = bearer(scale_token)
        assert (await client.get("/api/scale-gateway/latest/?scale_id=scale-a", headers=allowed)).status_code == 200
        assert (await client.get("/api/scale-gateway/latest/?scale_id=scale-b", headers=allowed)).status_code == 404
        committed = await client.post("/api/scale-gateway/commit/", json=commit_body("shared"), headers=allowed)
        assert committed.status_code == 200
        refused = bearer(read_token)
        latest = await client.get("/api/scale-gateway/latest/?scale_id=scale-a", headers=refused)
        commit = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-a"), headers=refused)
        assert latest.status_code == commit.status_code == 403
        assert latest.json()["error"] == "forbidden"
    assert [r["tenant"] for r in (await store.search_weighings(ListQuery())).items] == [TENANT_A]


async def test_a_viewer_may_not_use_the_scale_and_a_cookie_commit_needs_the_own_origin(store):
    await tenanted_scales(store)
    async with app_client(store) as client:
        await login(client, "a_viewer")
        assert (await client.get("/api/scale-gateway/latest/?scale_id=scale-a")).status_code == 403
    async with app_client(store) as client:
        await login(client, "a_operator")  # the client keeps the session cookie
        assert (await client.get("/api/scale-gateway/latest/?scale_id=scale-a")).status_code == 200
        foreign = await client.post(
            "/api/scale-gateway/commit/", json=commit_body("scale-a"), headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        own = await client.post("/api/scale-gateway/commit/", json=commit_body("scale-a"), headers={"Origin": ORIGIN})
        assert own.status_code == 200
    assert (await store.search_weighings(ListQuery())).total == 1
