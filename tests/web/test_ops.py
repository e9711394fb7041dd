"""The operations surface: /healthz, /readyz, the Prometheus /metrics, the security headers and CORS."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import Config, ListenerConfig
from core.errors import StoreUnavailable
from core.gateway.runtime import Gateway
from core.hookspecs import hookimpl
from core.http import JSONResponse
from core.observability import StoreTimings, store_operations, store_timings, timed_store
from core.plugins import get_plugin_manager
from core.routing import ApiRoute
from tests.gateway.doubles import DEVICE_TYPE, EchoPlugin, LineSpec, connect, eventually, read_line
from tests.web.support import ORIGIN, Clock, add_user, app_client, bearer, login
from web.app import STORE_UNAVAILABLE_MESSAGE, create_app
from web.middleware import HSTS_HEADER, SECURITY_HEADERS
from web.prometheus import WebMetrics

ROOT = Path(__file__).resolve().parents[2]
TRUSTED = "127.0.0.1"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# --------------------------------------------------------------------------- health and readiness


async def test_healthz_and_readyz_answer_anyone(store):
    async with app_client(store) as client:
        health, ready = await client.get("/healthz"), await client.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"ok": True})
    assert (ready.status_code, ready.json()) == (200, {"ok": True})


class UnreachableStore:
    """A store whose ping fails as a driver's would, naming the host it could not reach."""

    def __init__(self, store) -> None:
        self.store = store

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def ping(self) -> None:
        raise StoreUnavailable("no server at db-7.internal:27017 (ServerSelectionTimeoutError, topology ...)")


async def test_readyz_is_503_without_the_driver_detail_when_the_store_does_not_answer(store):
    async with app_client(UnreachableStore(store)) as client:
        ready, health = await client.get("/readyz"), await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"ok": False, "error": "store_unavailable", "message": STORE_UNAVAILABLE_MESSAGE}
    assert "db-7" not in ready.text and "27017" not in ready.text
    assert health.status_code == 200  # alive, only not ready


async def test_readyz_is_503_for_a_closed_store(backend_url):
    from core.store import open_store

    url, options = backend_url
    closed = open_store(url, **options)
    await closed.open()
    await closed.close()
    async with app_client(closed) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"] == "store_unavailable"


# --------------------------------------------------------------------------- /metrics: who may read it


async def test_metrics_anonymous_only_from_a_trusted_network(store):
    async with app_client(store, client_host=TRUSTED) as client:
        trusted = await client.get("/metrics")
    async with app_client(store) as client:
        outside = await client.get("/metrics")
    assert trusted.status_code == 200
    assert trusted.headers["content-type"].startswith("text/plain")
    assert "# TYPE specgate_http_requests_total counter" in trusted.text
    assert outside.status_code == 401
    assert outside.json()["error"] == "unauthorized"


async def test_metrics_with_a_metrics_token_and_not_with_another_scope(store):
    await add_user(store, "acme", "boss", "admin")
    async with app_client(store) as client:
        accounts = client.app.state.accounts
        metrics_token, _ = await accounts.create_api_token("acme", "prometheus", ["metrics"], "boss", None)
        read_token, _ = await accounts.create_api_token("acme", "dashboard", ["read"], "boss", None)
        allowed = await client.get("/metrics", headers=bearer(metrics_token))
        refused = await client.get("/metrics", headers=bearer(read_token))
    assert allowed.status_code == 200 and "specgate_store_seconds" in allowed.text
    assert refused.status_code == 403


async def test_metrics_for_a_system_administrator_and_not_a_tenant_admin(store):
    await add_user(store, "acme", "root", "admin", system_admin=True)
    await add_user(store, "acme", "boss", "admin")
    async with app_client(store) as client:
        await login(client, "root")
        system_admin = await client.get("/metrics")
    async with app_client(store) as client:
        await login(client, "boss")
        tenant_admin = await client.get("/metrics")
    assert system_admin.status_code == 200
    assert tenant_admin.status_code == 403


# --------------------------------------------------------------------------- /metrics: what it says


async def test_metrics_show_each_listeners_connections_frames_and_refusals(store):
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(EchoPlugin(), name="echo")
    open_listener = ListenerConfig(DEVICE_TYPE, 0, "127.0.0.1", on_bad_frame="skip")
    closed_listener = ListenerConfig(DEVICE_TYPE, 0, "127.0.0.1", allow=["192.0.2.0/24"])
    specs = {DEVICE_TYPE: LineSpec()}
    async with Gateway(Config(), store, pm, listeners=[open_listener, closed_listener], specs=specs) as gateway:
        first, second = gateway.listeners
        reader, writer = await connect(first.port)
        writer.write(b"NOPE\nPING 1\n")
        assert await read_line(reader) == b"PONG 1\n"
        _, refused_writer = await connect(second.port)
        await eventually(lambda: second.metrics.rejected["not_allowed"] == 1)
        refused_writer.close()
        async with app_client(store, client_host=TRUSTED, pm=pm, gateway=gateway) as client:
            text = (await client.get("/metrics")).text
        writer.close()
    values = samples(text)
    labels = (("device_type", DEVICE_TYPE), ("listener", f"{DEVICE_TYPE}:{first.port}"))
    assert values[("specgate_connections_open", labels)] == 1
    assert values[("specgate_connections_accepted_total", labels)] == 1
    assert values[("specgate_frames_total", tuple(sorted((*labels, ("result", "ok")))))] == 1
    assert values[("specgate_frames_total", tuple(sorted((*labels, ("result", "bad")))))] == 1
    assert values[("specgate_replies_total", labels)] == 1
    assert values[("specgate_dead_letters_total", labels)] == first.metrics.dead_letters
    refused = (("device_type", DEVICE_TYPE), ("listener", f"{DEVICE_TYPE}:{second.port}"), ("reason", "not_allowed"))
    assert values[("specgate_connections_refused_total", refused)] == 1


async def test_metrics_without_a_gateway_have_no_listener_samples(store):
    async with app_client(store, client_host=TRUSTED) as client:
        text = (await client.get("/metrics")).text
    assert not [name for name, _ in samples(text) if name.startswith(("specgate_connections", "specgate_frames"))]


class TemplateRoutes:
    @hookimpl
    def specgate_register_routes(self, config):
        async def thing(request, caller):
            return JSONResponse({"ok": True, "uid": request.path_params["uid"]})

        async def broken(request, caller):
            raise RuntimeError("boom")

        return [
            ApiRoute("/things/{uid}", thing, methods=["GET"], public=True, summary="A thing"),
            ApiRoute("/broken", broken, methods=["GET"], public=True, summary="Fails"),
        ]


def template_pm():
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(TemplateRoutes(), name="templates")
    return pm


async def test_http_requests_are_counted_by_route_template_never_the_raw_path(store):
    async with app_client(store, client_host=TRUSTED, pm=template_pm()) as client:
        for uid in ("a", "b", "c"):
            assert (await client.get(f"/things/{uid}")).status_code == 200
        await client.get("/no/such/page-1")
        await client.get("/no/such/page-2")
        await client.request("BREW", "/things/a")
        text = (await client.get("/metrics")).text
    values = samples(text)
    counted = {
        dict(labels)["route"]: value
        for (name, labels), value in values.items()
        if name == "specgate_http_requests_total"
    }
    assert (
        values[("specgate_http_requests_total", (("method", "GET"), ("route", "/things/{uid}"), ("status", "200")))]
        == 3
    )
    assert values[("specgate_http_requests_total", (("method", "GET"), ("route", "none"), ("status", "404")))] == 2
    assert (
        values[("specgate_http_requests_total", (("method", "OTHER"), ("route", "/things/{uid}"), ("status", "405")))]
        == 1
    )
    assert not [route for route in counted if route.startswith(("/things/a", "/no/"))]


async def test_store_calls_are_timed_by_operation(store):
    async with app_client(store, client_host=TRUSTED) as client:
        await client.get("/readyz")
        await client.get("/readyz")
        text = (await client.get("/metrics")).text
    values = samples(text)
    assert values[("specgate_store_seconds_count", (("operation", "ping"),))] == 2
    assert values[("specgate_store_seconds_bucket", (("le", "+Inf"), ("operation", "ping")))] == 2
    assert values[("specgate_store_seconds_sum", (("operation", "ping"),))] > 0


async def test_each_app_has_its_own_registry(store):
    async with app_client(store, client_host=TRUSTED) as first, app_client(store, client_host=TRUSTED) as second:
        await first.get("/healthz")
        text = (await second.get("/metrics")).text
    assert 'route="/healthz"' not in text


async def test_docs_list_exactly_the_exported_metrics(store):
    section = (ROOT / "docs" / "api.md").read_text(encoding="utf-8").split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\|\s*`(specgate_\w+)`", section, flags=re.MULTILINE))
    exported = create_app(Config(), store, clock=Clock()).state.metrics.names()
    assert listed == exported, f"docs/api.md lists {sorted(listed - exported)} extra, lacks {sorted(exported - listed)}"


# --------------------------------------------------------------------------- the store timing itself


class FakeStore:
    backend = "fake"

    async def ping(self) -> None:
        raise StoreUnavailable("down")

    async def get_device(self, tenant, uid):
        return {"device_uid": uid}

    async def not_in_the_interface(self):
        return "untimed"


async def test_timed_store_passes_results_and_errors_through_and_times_only_interface_calls():
    timings = StoreTimings(buckets=(0.5, 1.0))
    store = timed_store(FakeStore(), timings)
    assert await store.get_device("acme", "u1") == {"device_uid": "u1"}
    with pytest.raises(StoreUnavailable):
        await store.ping()
    assert await store.not_in_the_interface() == "untimed"  # type: ignore[attr-defined]
    assert store.backend == "fake"
    assert sorted(timings.operations) == ["get_device", "ping"]
    assert timings.cumulative("ping") == [(0.5, 1), (1.0, 1), (float("inf"), 1)]
    assert timed_store(store) is store and store_timings(store) is timings
    assert {"ping", "get_device", "list_devices"} <= store_operations()


def test_timings_fall_into_the_first_bucket_whose_bound_they_do_not_exceed():
    timings = StoreTimings(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        timings.observe("ping", seconds)
    assert timings.cumulative("ping") == [(0.1, 2), (1.0, 3), (float("inf"), 4)]
    assert timings.operations["ping"].total == pytest.approx(2.65)


# --------------------------------------------------------------------------- security headers


async def test_every_response_carries_the_security_headers(store):
    pm = template_pm()
    app = create_app(Config(), store, pm, clock=Clock())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        responses = [
            await client.get("/healthz"),
            await client.get("/no/such/page"),
            await client.get("/metrics"),  # 401
            await client.delete("/healthz"),  # 405
            await client.get("/broken"),  # 500 from Starlette's own error handler
        ]
    assert [response.status_code for response in responses] == [200, 404, 401, 405, 500]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name)
        assert HSTS_HEADER[0] not in response.headers
    assert SECURITY_HEADERS["content-security-policy"] == (
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
    )


async def test_hsts_only_under_https(store):
    app = create_app(Config(), store, clock=Clock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://specgate.test") as client:
        secure = await client.get("/healthz")
    async with httpx.AsyncClient(transport=transport, base_url="http://specgate.test") as client:
        plain = await client.get("/healthz")
    assert secure.headers[HSTS_HEADER[0]] == HSTS_HEADER[1]
    assert HSTS_HEADER[0] not in plain.headers


async def test_a_route_may_set_its_own_policy(store):
    class OwnPolicy:
        @hookimpl
        def specgate_register_routes(self, config):
            async def page(request, caller):
                response = JSONResponse({"ok": True})
                response.headers["content-security-policy"] = "default-src 'none'"
                return response

            return [ApiRoute("/own", page, methods=["GET"], public=True, summary="Own policy")]

    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(OwnPolicy(), name="own")
    async with app_client(store, pm=pm) as client:
        response = await client.get("/own")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers["x-frame-options"] == "DENY"


# --------------------------------------------------------------------------- CORS

APP_ORIGIN = "https://app.example.com"


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


async def test_cors_is_off_unless_origins_are_configured(store):
    async with app_client(store) as client:
        answer = await client.options("/api/v1/me", headers=preflight(APP_ORIGIN))
        simple = await client.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_exactly_the_configured_origins_with_credentials(store):
    config = Config(web_cors_origins=[APP_ORIGIN])
    async with app_client(store, config=config) as client:
        answer = await client.options("/api/v1/me", headers=preflight(APP_ORIGIN))
        simple = await client.get("/healthz", headers={"Origin": APP_ORIGIN})
        other = await client.options("/api/v1/me", headers=preflight("https://evil.example"))
        other_simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert answer.headers["access-control-allow-credentials"] == "true"
    methods = {method.strip() for method in answer.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    allowed_headers = {name.strip().lower() for name in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert answer.headers["x-frame-options"] == "DENY"  # the preflight answer has the headers too
    assert simple.headers["access-control-allow-origin"] == APP_ORIGIN
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in other_simple.headers


async def test_cors_refuses_a_header_it_was_not_told_to_allow(store):
    config = Config(web_cors_origins=[APP_ORIGIN])
    headers = {**preflight(APP_ORIGIN), "Access-Control-Request-Headers": "X-Custom"}
    async with app_client(store, config=config) as client:
        answer = await client.options("/api/v1/me", headers=headers)
    assert answer.status_code == 400


async def test_web_metrics_name_counters_with_their_total(store):
    app = create_app(Config(), store, clock=Clock())
    assert isinstance(app.state.metrics, WebMetrics)
    names = app.state.metrics.names()
    assert "specgate_http_requests_total" in names and "specgate_store_seconds" in names
    assert "specgate_connections_open" in names
