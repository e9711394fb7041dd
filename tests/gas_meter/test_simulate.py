"""The simulators: packet and line generation, the load runner against a real gateway, the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from decimal import Decimal

import pytest
from gas_meter_helpers import NOW, TENANT, make_config, provision, report_bytes

from core.cli import main
from core.errors import ConfigError, FrameError
from core.gateway.runtime import Gateway
from core.plugins import get_plugin_manager
from core.store import ListQuery
from plugins.fg150kal.simulator import OVERLOAD_LINE, chunk_stream, scale_stream, weight_line
from plugins.gas_meter.simulator import (
    LoadPlan,
    SimulatedMeter,
    build_report,
    decode_reply,
    garbage,
    gas_meter_spec,
    meter_uid,
    parse_faults,
    parse_mix,
    run_load,
    split_chunks,
)

LINE_RE = re.compile(r"^(ST|US|OL),[+-][0-9.]{8} kg$|^[ZTI]$")


def test_built_reports_match_the_protocol_table():
    slots = [(NOW, 1234), (NOW - 3600, 1200)]
    counts = [{"ts": ts, "count": c} for ts, c in slots]
    assert build_report("normal", "D4245A98", counts, 87, 123456) == report_bytes("normal", "D4245A98", slots)
    assert build_report("event", "D4245A98", counts, 87, 123456, "rotation_speed", 30) == report_bytes(
        "event", "D4245A98", slots, event_code=2, seconds_per_rotation=30
    )
    assert build_report("init", "00000001", [], 50, 9) == report_bytes("init", "00000001", battery=50, uptime=9)


def test_a_meters_consecutive_reports_overlap_by_23_hourly_slots():
    meter = SimulatedMeter("5A000003", start=NOW, first_count=100, per_hour=5)
    rng = random.Random(1)
    first, first_slots = meter.report("normal", rng)
    second, second_slots = meter.report("normal", rng)
    assert len(first) == len(second) == 256
    assert [s["ts"] for s in first_slots] == [NOW - i * 3600 for i in range(24)]
    assert second_slots[1:] == first_slots[:-1]
    counts = [s["count"] for s in reversed(second_slots)]
    assert counts == sorted(counts) and len(set(counts)) == 24
    values = gas_meter_spec().decode(second).values
    assert values["uid"] == "5A000003" and values["counts"] == second_slots
    init, none = meter.report("init", rng)
    assert none == [] and init[0] == 0xE1 and all(b == 0 for b in init[9:201])


def test_names_mixes_and_faults_are_checked():
    assert [meter_uid("5A", i) for i in (0, 255)] == ["5A000000", "5A0000FF"]
    assert meter_uid("", 10) == "0000000A"
    with pytest.raises(ConfigError, match="hex digits"):
        meter_uid("XYZ", 1)
    with pytest.raises(ConfigError, match="room for only 16"):
        meter_uid("1234567", 16)
    assert parse_mix("normal=90,event=5,init=5") == {"normal": 90.0, "event": 5.0, "init": 5.0}
    with pytest.raises(ConfigError, match="boom"):
        parse_mix("normal=1,boom=2")
    with pytest.raises(ConfigError, match="no kind a positive weight"):
        parse_mix("normal=0")
    assert parse_faults("split, truncate") == ["split", "truncate"]
    with pytest.raises(ConfigError, match="flood"):
        parse_faults("split,flood")
    rng = random.Random(3)
    assert all(garbage(rng)[0] not in (0xA0, 0xB0, 0xE0, 0xE1) for _ in range(200))
    data = bytes(range(256))
    assert b"".join(split_chunks(data, rng)) == data


def test_scale_stream_settles_to_stable_lines():
    assert weight_line("ST", Decimal("53.25")) == "ST,+00053.25 kg"
    assert weight_line("US", Decimal("-1.5")) == "US,-00001.50 kg"
    stream = scale_stream(lines=30, settle=3, overload=1.0, replies=1.0, nul=True, seed=5)
    assert stream.data.startswith(b"\x00\x00\x00\x00")
    assert all(LINE_RE.match(line) for line in stream.lines), stream.lines
    stable = [line for line in stream.lines if line.startswith("ST")]
    assert stable[-1] == stream.last_stable_line == weight_line("ST", stream.last_stable)
    assert stream.counts["OL"] >= 1 and OVERLOAD_LINE in stream.lines and stream.counts["reply"] >= 1
    for split in (False, True):
        assert b"".join(chunk_stream(stream.data, split, random.Random(2))) == stream.data
    # each weighing: settle unstable lines, then two stable ones of the same weight
    first = stream.lines[stream.lines.index(stable[0]) - 3 : stream.lines.index(stable[0]) + 2]
    assert [line[:2] for line in first] == ["US", "US", "US", "ST", "ST"] and first[3] == first[4]


def test_scale_lines_decode_with_the_scale_spec():
    from core.spec import load_spec
    from specs import bundled_spec_paths

    spec = load_spec(next(p for p in bundled_spec_paths() if p.stem == "fg150kal"))
    stream = scale_stream(lines=12, settle=2, seed=9)
    decoded = [spec.decode(line.encode("ascii")).values for line in stream.lines]
    assert [d["header"] for d in decoded if d["stable"]][-1] == "ST"
    assert [d["value"] for d in decoded if d["stable"]][-1] == stream.last_stable


def plugin_manager():
    return get_plugin_manager(installed=False)


async def test_load_with_faults_is_answered_exactly_when_it_should_be(store):
    for index in range(4):
        await provision(store, uid=meter_uid("6C", index))
    plan = LoadPlan(
        host="127.0.0.1",
        port=0,
        meters=4,
        count=60,
        mix={"normal": 8, "event": 1, "init": 1},
        faults=["split", "garbage", "truncate"],
        fault_rate=0.3,
        uid_prefix="6C",
        start=NOW - 86400,
        keep_acknowledged=True,
        timeout=5.0,
    )
    async with Gateway(
        make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW
    ) as gw:
        plan.port = gw.port("gas_meter")
        summary = await run_load(plan)
    result = summary.as_dict()
    dropped = result["faults"].get("garbage", 0) + result["faults"].get("truncate", 0)
    assert result["sent"] == 60 and dropped > 0 and result["faults"].get("split", 0) > 0
    assert result["errors"] == 0 and result["no_reply"] == 0 and result["faults_replied"] == 0
    assert result["replied"] == 60 - dropped and result["faults_closed_without_reply"] == dropped
    assert set(result["return_codes"]) <= {"0xC0", "0xC9"}
    assert all(a.reply["ts_now"] == NOW for a in summary.acknowledged)
    expected = {(a.uid, r["ts"]) for a in summary.acknowledged for r in a.readings}
    stored = set()
    for index in range(4):
        uid = meter_uid("6C", index)
        page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, limit=1000))
        stored |= {(uid, row["timestamp"]) for row in page.items}
    assert expected and stored == expected


async def test_cli_prints_a_json_summary(store, capsys):
    await provision(store, uid="6D000000")
    async with Gateway(
        make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW
    ) as gw:
        argv = [
            "simulate",
            "gas-meter",
            "--port",
            str(gw.port("gas_meter")),
            "--meters",
            "1",
            "--count",
            "3",
            "--mix",
            "normal=1",
            "--uid-prefix",
            "6D",
        ]
        status = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 0
    assert (summary["sent"], summary["replied"], summary["errors"]) == (3, 3, 0)
    assert summary["return_codes"] == {"0xC0": 3} and summary["latency_ms"]["max"] > 0
    assert summary["told_to_stop"] == 0 and "told the meter to stop" not in captured.err


async def test_cli_counts_replies_telling_an_unregistered_meter_to_stop(store, capsys, caplog):
    caplog.set_level(logging.INFO, logger="specgate")
    async with Gateway(
        make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW
    ) as gw:
        argv = ["simulate", "gas-meter", "--port", str(gw.port("gas_meter")), "--meters", "2", "--count", "4"]
        status = await asyncio.to_thread(main, argv + ["--mix", "normal=1", "--uid-prefix", "6E"])
        counted = gw.metrics()["listeners"][0]["plugin"]
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 0 and summary["replied"] == 4 and summary["told_to_stop"] == 4
    assert "4 of 4 replies told the meter to stop: register the meters" in captured.err
    # the gateway counts them for its INFO summary instead of an INFO line per report
    assert counted == {"told_to_stop": 4}
    assert not [r for r in caplog.records if "told to stop" in r.getMessage() and r.levelno >= logging.INFO]


async def test_cli_progress_bar_shows_on_stderr_when_forced_and_stays_out_of_stdout(store, capsys):
    await provision(store, uid="6F000000")
    async with Gateway(
        make_config(), store, plugin_manager(), specs={"gas_meter": gas_meter_spec()}, clock=lambda: NOW
    ) as gw:
        argv = ["simulate", "gas-meter", "--port", str(gw.port("gas_meter")), "--meters", "1", "--count", "3"]
        argv += ["--mix", "normal=1", "--uid-prefix", "6F"]
        forced = await asyncio.to_thread(main, [*argv, "--progress"])
        forced_out = capsys.readouterr()
        quiet = await asyncio.to_thread(main, [*argv, "--no-progress"])
        quiet_out = capsys.readouterr()
        default = await asyncio.to_thread(main, argv)
        default_out = capsys.readouterr()
    assert (forced, quiet, default) == (0, 0, 0)
    assert re.search(r"reports: 100%.*3/3", forced_out.err)
    assert json.loads(forced_out.out)["replied"] == 3 and "reports:" not in forced_out.out
    assert "reports:" not in quiet_out.err and json.loads(quiet_out.out)["replied"] == 3
    assert "reports:" not in default_out.err, "stderr is no terminal here: no bar unless asked"


async def test_cli_reports_unreachable_gateways_as_errors(capsys, unused_tcp_port):
    argv = ["simulate", "gas-meter", "--port", str(unused_tcp_port), "--meters", "2", "--count", "2"]
    status = await asyncio.to_thread(main, argv)
    summary = json.loads(capsys.readouterr().out)
    assert status == 1 and summary["errors"] == 2 and summary["replied"] == 0


def test_reply_decoding_rejects_bad_parity():
    from gas_meter_helpers import reply_bytes

    good = reply_bytes(0xC0, "D4245A98", NOW, NOW + 1, 5, 1, 2, "192.0.2.10", 5004)
    assert decode_reply(good)["rc"]["ts"] is True
    with pytest.raises(FrameError):
        decode_reply(bytes([0xC1]) + good[1:])
