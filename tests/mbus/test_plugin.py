"""The M-Bus plugin end to end: a real gateway on loopback with the plugin's listeners, wired frames pushed by
a converter and wireless telegrams by a receiver, each data telegram stored as a measurement of its meter;
AES keys from the device options and from the meter's device document in the store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import plugins.mbus
from core.api import ListQuery
from core.config import Config
from core.gateway.runtime import Gateway, resolve_listeners
from core.plugins import get_plugin_manager
from core.spec import load_spec
from tests.gateway.doubles import connect, eventually

ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(__file__).with_name("vectors") / "libmbus"
WMBUS = load_spec(ROOT / "specs" / "wmbus.yaml")
KEY = bytes(range(16))
STORED_KEY = bytes(range(16, 32))


def plugin_manager():
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    pm.register(plugins.mbus, name="mbus")
    return pm


def wireless(meter: str, key: bytes | None) -> bytes:
    """A mode-5 telegram of a water meter (12.345 m3), encrypted with ``key`` (or in clear without one)."""
    address = bytes.fromhex(meter)[::-1]
    clear = (
        bytes.fromhex("44 2D2C") + address + bytes.fromhex("1B 16 7A 21 00 1005 2F2F 0C13 45231200 2F2F2F2F2F2F2F2F")
    )
    frame = bytes([len(clear)]) + clear
    if key is None:
        return frame
    return WMBUS.encode("telegram", WMBUS.decode(frame).values, keys={meter: key})


async def measurements(store, device_type):
    page = await store.list_measurements(ListQuery(filters={"device_type": device_type}, sort="at"))
    return page.items


def listeners(config, pm, device_type):
    found = [entry for entry in resolve_listeners(config, pm) if entry.device_type == device_type]
    assert len(found) == 1
    found[0].port = 0  # any free port
    found[0].host = "127.0.0.1"
    return found


def test_the_default_listeners_follow_the_options():
    assert resolve_listeners(Config(), plugin_manager()) == []  # no port opens unless asked
    config = Config(
        devices={"mbus": {"listen": True, "listen_port": 10101}, "wmbus": {"listen": True, "listen_host": "127.0.0.1"}}
    )
    by_type = {entry.device_type: entry for entry in resolve_listeners(config, plugin_manager())}
    assert (by_type["mbus"].port, by_type["mbus"].on_bad_frame, by_type["mbus"].max_frame_length) == (
        10101,
        "skip",
        261,
    )
    assert (by_type["wmbus"].host, by_type["wmbus"].port, by_type["wmbus"].max_frame_length) == (
        "127.0.0.1",
        10002,
        256,
    )


async def test_wired_frames_from_a_converter_become_measurements(store):
    pm = plugin_manager()
    config = Config(listeners=None, devices={"mbus": {"listen": True}})
    clock = iter(range(1_700_000_000, 1_700_000_100))
    frame = bytes.fromhex((VECTORS / "EDC.hex").read_text())
    other = bytes.fromhex((VECTORS / "kamstrup_multical_601.hex").read_text())
    async with Gateway(
        config, store, pm, listeners=listeners(config, pm, "mbus"), clock=lambda: next(clock)
    ) as gateway:
        _reader, writer = await connect(gateway.port("mbus"))
        # an acknowledgement, line noise, a frame cut in two, a short frame and a second meter's frame
        writer.write(b"\xe5" + b"\x00\xff" + frame[:50])
        await writer.drain()
        writer.write(frame[50:] + bytes.fromhex("105B015C16") + other)
        await writer.drain()
        await eventually(lambda: _count(store, "mbus", 2))
        writer.close()
    stored = await measurements(store, "mbus")
    assert [m["device_id"] for m in stored] == ["11120895", "06855817"]
    edc = stored[0]["values"]
    assert edc["header"]["manufacturer"] == "EDC" and edc["header"]["medium"] == "heat_outlet"
    assert len(edc["records"]) == 22
    assert edc["records"][0] == {
        "function": "instantaneous",
        "storage": 0,
        "tariff": 0,
        "subunit": 0,
        "quantity": "energy",
        "unit": "Wh",
        "value": Decimal("35000"),
    }
    assert edc["records"][16]["value"] == "2012-07-10T15:25:00"


async def _count(store, device_type, n):
    return len(await measurements(store, device_type)) >= n


async def test_wireless_telegrams_decrypted_with_keys_from_the_options_and_the_store(store):
    pm = plugin_manager()
    config = Config(listeners=None, devices={"wmbus": {"listen": True, "keys": {"12345678": KEY.hex()}}})
    await store.add_device("tenant_a", {"device_uid": "87654321", "aes_key": STORED_KEY.hex()})
    clock = iter(range(1_700_000_000, 1_700_000_100))
    telegrams = [wireless("12345678", KEY), wireless("87654321", STORED_KEY), wireless("55555555", KEY)]
    async with Gateway(
        config, store, pm, listeners=listeners(config, pm, "wmbus"), clock=lambda: next(clock)
    ) as gateway:
        _reader, writer = await connect(gateway.port("wmbus"))
        writer.write(b"".join(telegrams))
        await writer.drain()
        await eventually(lambda: _count(store, "wmbus", 3))
        writer.close()
    stored = {m["device_id"]: m for m in await measurements(store, "wmbus")}
    assert sorted(stored) == ["12345678", "55555555", "87654321"]
    for meter in ("12345678", "87654321"):  # the key of the options, the key of the device document
        (record,) = stored[meter]["values"]["records"]
        assert (record["quantity"], record["unit"], record["value"]) == ("volume", "m3", Decimal("122.345"))
        assert stored[meter]["values"]["flags"] == []
    assert stored["87654321"]["tenant"] == "tenant_a" and stored["12345678"]["tenant"] is None
    unknown = stored["55555555"]["values"]  # no key for this meter: kept, and the flag says why
    assert unknown["records"] == []
    assert unknown["flags"] == ["telegram: encrypted (AES-128-CBC): no key for 55555555"]


def test_the_package_declares_the_plugin_and_its_dependencies():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["specgate.plugins"]["mbus"] == "plugins.mbus"
    assert any(dep.startswith("cryptography") for dep in project["dependencies"])
    assert {dep.split(">")[0] for dep in project["optional-dependencies"]["bench"]} == {"pyMeterBus", "pymbusparser"}
