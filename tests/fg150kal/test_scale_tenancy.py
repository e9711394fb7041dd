"""Scale tenancy: the ``tenant`` listener option, checked at start-up and kept with every reading."""

from __future__ import annotations

import pytest

from core.config import ListenerConfig, load_config
from core.errors import ConfigError
from core.gateway.runtime import resolve_listeners
from core.plugins import get_plugin_manager
from core.store import ListQuery
from tests.fg150kal.test_scale_stream import send
from tests.gateway.doubles import connect, eventually


@pytest.fixture
def pm():
    return get_plugin_manager(enabled=["fg150kal"], disabled=[], installed=False)


def write(tmp_path, text: str) -> str:
    path = tmp_path / "specgate.yaml"
    path.write_text(text)
    return str(path)


def test_a_scale_has_no_tenant_unless_configured(pm):
    listeners = resolve_listeners(load_config(env={}), pm)
    assert "tenant" not in listeners[0].options


def test_the_tenant_of_the_default_listener_and_of_a_listen_flag(tmp_path, pm):
    path = write(tmp_path, "devices: {fg150kal: {tenant: gas_demo}}\n")
    config = load_config(path, env={}, listen=["fg150kal:4002:scale_id=dock", "fg150kal:4003:tenant=gas_other"])
    by_port = {entry.port: entry.options for entry in resolve_listeners(config, pm)}
    assert by_port[4001]["tenant"] == "gas_demo"
    assert by_port[4002] == {"scale_id": "dock", "tenant": "gas_demo"}  # an added listener keeps the default
    assert by_port[4003]["tenant"] == "gas_other"


@pytest.mark.parametrize("bad", ["gas-demo", "a b", "$where", "x" * 64])
def test_a_tenant_that_cannot_be_one_is_refused_at_start_up(tmp_path, pm, bad):
    with pytest.raises(ConfigError, match=r"devices.fg150kal.tenant .* must be a tenant name"):
        load_config(write(tmp_path, f"devices: {{fg150kal: {{tenant: {bad!r}}}}}\n"), env={})
    flagged = load_config(env={}, listeners_enabled=False, listen=[f"fg150kal:14002:tenant={bad}"])
    with pytest.raises(ConfigError, match="listener fg150kal:14002 tenant must be a tenant name"):
        resolve_listeners(flagged, pm)


async def test_a_listeners_tenant_goes_with_its_readings_and_weighings(scale_gateway, two_stores, web):
    gateway = await scale_gateway(
        ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "dock-a", "tenant": "gas_a"}),
        ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "open"}),
    )
    writers = []
    for index, line in enumerate((b"ST,+00053.25 kg\r\n", b"ST,+00015.00 kg\r\n")):
        _, writer = await connect(gateway.port("fg150kal", index))
        await send(writer, [line])
        writers.append(writer)
    await eventually(lambda: sum(entry["plugin"].get("stable", 0) for entry in gateway.metrics()["listeners"]) == 2)
    assert (await two_stores[1].get_scale_latest("dock-a"))["tenant"] == "gas_a"
    assert (await two_stores[1].get_scale_latest("open"))["tenant"] is None
    for scale_id in ("dock-a", "open"):  # the trusted-network client has no tenant: both scales
        committed = await web.post(
            "/api/scale-gateway/commit/", json={"cylinder_no": "CY1", "event_type": "SHIP", "scale_id": scale_id}
        )
        assert committed.status_code == 200
    log = await two_stores[0].search_weighings(ListQuery())
    assert [(r["scale_id"], r["tenant"]) for r in log.items] == [("dock-a", "gas_a"), ("open", None)]
    for writer in writers:
        writer.close()
