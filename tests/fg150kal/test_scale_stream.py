"""A scale's byte stream over real loopback TCP, through the fg150kal plugin, served by the HTTP contract."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from core.config import ListenerConfig
from core.store import ListQuery
from tests.gateway.doubles import connect, eventually, read_until_closed
from tests.web.support import T0


def with_bit7(line: bytes, positions: tuple[int, ...]) -> bytes:
    """The line as a converter with the wrong parity setting sends it: some bytes with bit 7 set."""
    data = bytearray(line)
    for position in positions:
        data[position] |= 0x80
    return bytes(data)


STREAM = [
    b"\x00\x00\x00",  # power-up NULs
    b"HB01ST,+00010.00 kg\r\n",  # converter heartbeat glued before a stable line
    b"US,+00012.",  # a line split across segments
    b"00 kg\r\nUS,+00013.00 kg\r\n",
    b"OL,+99999.99 kg\r\n",  # overload: never a weight
    b"Z\r\n\x06\r\nEC,E11\r\n?\r\nSN,01234567\r\n",  # command replies and an info line
    with_bit7(b"ST,+00053.25 kg\r\n", (0, 5, 9)),  # wrong parity setting
    b"@@@@ not a scale line\r\n",  # junk line: kept as a dead letter, skipped
    b"X" * 100 + b"\r\n",  # a run longer than a line: skipped as garbage
    b"ST , +000053.26 _kg\r\n",  # the deployment guide's transcription
    b"US,+00054.00 kg\r\nOL,-99999.99 kg\r\n",  # settling again and overload after it
]


async def send(writer: asyncio.StreamWriter, chunks: list[bytes]) -> None:
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.005)


async def test_stream_leaves_the_last_stable_reading_served_and_committed(scale_gateway, two_stores, web, caplog):
    gateway = await scale_gateway()
    reader, writer = await connect(gateway.port("fg150kal"))
    with caplog.at_level(logging.INFO, logger="specgate"):
        await send(writer, STREAM)
        counters = lambda: gateway.metrics()["listeners"][0]["plugin"]  # noqa: E731
        await eventually(
            lambda: counters() == {"stable": 3, "unstable": 3, "overload": 2, "command_reply": 4, "info": 1}
        )
    metrics = gateway.metrics()["listeners"][0]
    assert metrics["frames_bad"] == 1 and metrics["junk_bytes"] >= 100 and metrics["replies"] == 0
    assert "overload line 'OL,+99999.99 kg'" in caplog.text and "command_reply line 'EC,E11'" in caplog.text
    assert "bad frame from 127.0.0.1" in caplog.text
    letters = await two_stores[0].list_dead_letters(ListQuery(filters={"device_type": "fg150kal"}))
    assert b"@@@@ not a scale line" in [letter["data"] for letter in letters.items]

    latest = await web.get("/api/scale-gateway/latest/")
    assert latest.status_code == 200
    body = latest.json()
    assert (body["status"], body["weight"], body["unit"], body["raw"], body["stale"]) == (
        "ST",
        53.26,
        "kg",
        "ST , +000053.26 _kg",
        False,
    )
    assert body["received_at"].endswith("+09:00") and '"weight":53.26' in latest.text

    commit = await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "CY123456789", "event_type": "SHIP"})
    assert commit.status_code == 200 and commit.json()["gross_kg"] == 53.26
    log = await two_stores[0].search_weighings(ListQuery(filters={"cylinder_no": "CY123456789"}))
    assert [(r["gross_kg"], r["raw_line"], r["scale_id"]) for r in log.items] == [
        (Decimal("53.26"), "ST , +000053.26 _kg", "default")
    ]
    assert not reader.at_eof()
    writer.close()


async def test_unstable_and_overload_never_become_the_latest(scale_gateway, web):
    gateway = await scale_gateway()
    _reader, writer = await connect(gateway.port("fg150kal"))
    await send(writer, [b"US,+00012.00 kg\r\nOL,+99999.99 kg\r\nOL,+9999999E+19\r\nZ\r\n"])
    await eventually(lambda: sum(gateway.metrics()["listeners"][0]["plugin"].values()) == 4)
    missing = await web.get("/api/scale-gateway/latest/")
    assert missing.status_code == 404 and missing.json()["error"] == "no_data"
    commit = await web.post("/api/scale-gateway/commit/", json={"cylinder_no": "CY1", "event_type": "RETURN"})
    assert commit.json()["error"] == "no_stable_weight"
    writer.close()


async def test_negative_and_counted_readings(scale_gateway, two_stores):
    gateway = await scale_gateway()
    _reader, writer = await connect(gateway.port("fg150kal"))
    await send(writer, [b"ST,-00001.50 kg\r\n"])
    await eventually(lambda: gateway.metrics()["listeners"][0]["plugin"].get("stable") == 1)
    assert (await two_stores[0].get_scale_latest("default"))["weight"] == Decimal("-1.50")
    await send(writer, [b"QT,+00000012 PC\r\n"])
    await eventually(lambda: gateway.metrics()["listeners"][0]["plugin"].get("stable") == 2)
    latest = await two_stores[0].get_scale_latest("default")
    assert (latest["status"], latest["weight"], latest["unit"]) == ("QT", Decimal("12"), "PC")
    writer.close()


async def test_stale_after_the_idle_timeout(scale_gateway, web, live_clock, two_stores):
    gateway = await scale_gateway()
    _reader, writer = await connect(gateway.port("fg150kal"))
    await send(writer, [b"ST,+00020.00 kg\r\n"])
    await eventually(lambda: gateway.metrics()["listeners"][0]["plugin"].get("stable") == 1)
    stored = await two_stores[0].get_scale_latest("default")
    assert stored["received_at"] == T0  # the gateway's clock, not the wall's
    live_clock.now = T0 + 10
    assert (await web.get("/api/scale-gateway/latest/")).json()["stale"] is False
    live_clock.now = T0 + 10.5
    body = (await web.get("/api/scale-gateway/latest/")).json()
    assert body["stale"] is True and body["weight"] == 20.0
    writer.close()


async def test_several_scales_by_port_and_by_peer(scale_gateway, two_stores):
    gateway = await scale_gateway(
        ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "scale-01"}),
        ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_id": "scale-02"}),
        ListenerConfig("fg150kal", 0, "127.0.0.1", options={"scale_by_peer": {"127.0.0.1": "dock-7"}}),
    )
    weights = {0: b"ST,+00001.00 kg\r\n", 1: b"ST,+00002.00 kg\r\n", 2: b"ST,+00003.00 kg\r\n"}
    writers = []
    for index, line in weights.items():
        _, writer = await connect(gateway.port("fg150kal", index))
        await send(writer, [line])
        writers.append(writer)
    await eventually(lambda: sum(entry["plugin"].get("stable", 0) for entry in gateway.metrics()["listeners"]) == 3)
    found = {
        scale: (await two_stores[0].get_scale_latest(scale))["weight"] for scale in ("scale-01", "scale-02", "dock-7")
    }
    assert found == {"scale-01": Decimal("1.00"), "scale-02": Decimal("2.00"), "dock-7": Decimal("3.00")}
    for writer in writers:
        writer.close()


async def test_a_reconnecting_converter_replaces_its_half_open_socket(scale_gateway):
    gateway = await scale_gateway()
    port = gateway.port("fg150kal")
    old_reader, old_writer = await connect(port)
    await send(old_writer, [b"ST,+00001.00 kg\r\n"])
    await eventually(lambda: gateway.metrics()["listeners"][0]["frames_ok"] == 1)
    _new_reader, new_writer = await connect(port)
    assert await read_until_closed(old_reader) == b""
    await eventually(lambda: gateway.metrics()["listeners"][0]["closed"] == {"replaced": 1})
    await send(new_writer, [b"ST,+00002.00 kg\r\n"])
    await eventually(lambda: gateway.metrics()["listeners"][0]["frames_ok"] == 2)
    new_writer.close()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"ST,+00053.25 kg", ("ST", Decimal("53.25"), "kg")),
        (b"WT,OK,+00001.00 kg", ("WT", Decimal("1.00"), "kg")),
        (b"QT,+00000012 PC", ("QT", Decimal("12"), "PC")),
        (b"ST,-00000.05 kg", ("ST", Decimal("-0.05"), "kg")),
        (b"US,+00012.00 kg", None),
        (b"OL,+99999.99 kg", None),
        (b"OL,+9999999E+19", None),
        (b"Z", None),
        (b"SN,01234567", None),
    ],
)
def test_only_stable_lines_make_a_reading(line, expected):
    from core.spec import load_spec
    from plugins.fg150kal import specgate_register_specs
    from plugins.fg150kal.readings import reading_from

    spec = load_spec(specgate_register_specs()[0])
    reading = reading_from(spec.decode(line), 1.0)
    if expected is None:
        assert reading is None
    else:
        assert (reading["status"], reading["weight"], reading["unit"]) == expected
