"""A gateway process killed with SIGKILL under load loses no reading it acknowledged.

Simulated meters report to ``python -m core serve`` in a subprocess; once a good number of replies came
back the process is killed outright (no shutdown, no flush). Every reading carried by a report whose reply
a meter received must then be in the store, because the reply is written only after the commit.

With resending meters (a report without a reply, lost on the way back or never sent, is sent again as is)
nothing may be stored twice either: one reading per timestamp, one event per event report.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.store import ListQuery, open_store
from plugins.gas_meter.handler import event_id, valid_slots
from plugins.gas_meter.protocol import describe_event
from plugins.gas_meter.simulator import LoadPlan, LoadSummary, gas_meter_spec, meter_uid, run_load

METERS = 12
PREFIX = "7B"
TENANT = "gas_kill"
LISTENING = re.compile(r"listener gas_meter on [^:\s]+:(\d+)")


async def provision(url: str, options: dict) -> None:
    async with open_store(url, **options) as store:
        await store.add_tenant(TENANT)
        for index in range(METERS):
            await store.add_device(
                TENANT,
                {
                    "device_uid": meter_uid(PREFIX, index),
                    "flag": True,
                    "ref_interval": 3600,
                    "minimum": 1,
                    "maximum": 100,
                    "initial_count": 0,
                    "server_ip": "192.0.2.1",
                    "server_port": 5004,
                },
            )


async def wait_for_port(proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        match = LISTENING.search(log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        assert proc.poll() is None, f"the gateway exited with {proc.returncode}:\n{log.read_text()}"
        await asyncio.sleep(0.1)
    raise AssertionError(f"the gateway did not start listening within {timeout}s:\n{log.read_text()}")


async def load_then_kill(url: str, options: dict, tmp_path: Path, replies: int, **plan: object) -> LoadSummary:
    """Start the gateway on ``url``, drive the meters until ``replies`` replies came back, SIGKILL it."""
    await provision(url, options)
    config = tmp_path / "specgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": url, "options": options},
                "listeners": [{"device_type": "gas_meter", "port": 0, "host": "127.0.0.1"}],
                "web": {"enabled": False},
                "log_level": "WARNING",
            }
        )
    )
    log = tmp_path / "gateway.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECGATE_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core", "serve", "--config", str(config), "--no-web"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        port = await wait_for_port(proc, log)
        summary = LoadSummary()
        stop = asyncio.Event()
        settings: dict = {
            "host": "127.0.0.1",
            "port": port,
            "meters": METERS,
            "count": None,
            "duration": 60.0,
            "mix": {"normal": 85, "event": 10, "init": 5},
            "uid_prefix": PREFIX,
            "timeout": 5.0,
            "keep_acknowledged": True,
            "seed": 7,
            **plan,
        }
        load = asyncio.create_task(run_load(LoadPlan(**settings), stop=stop, summary=summary))
        while summary.replied < replies and not load.done():
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        await asyncio.wait_for(load, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert summary.replied >= replies, f"too few replies before the kill: {summary.as_dict()}\n{log.read_text()}"
    return summary


async def stored_readings(store) -> dict[str, list[tuple[int, int]]]:
    stored = {}
    for index in range(METERS):
        uid = meter_uid(PREFIX, index)
        page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, limit=1000))
        stored[uid] = [(row["timestamp"], row["counter_val"]) for row in page.items]
    return stored


def missing_readings(summary: LoadSummary, stored: dict[str, list[tuple[int, int]]]) -> list[tuple[str, int]]:
    by_ts = {uid: dict(rows) for uid, rows in stored.items()}
    return [
        (ack.uid, reading["ts"])
        for ack in summary.acknowledged
        for reading in ack.readings
        if by_ts[ack.uid].get(reading["ts"]) != reading["count"]
    ]


@pytest.mark.fault
async def test_every_acknowledged_reading_survives_sigkill(backend_url, tmp_path):
    url, options = backend_url
    summary = await load_then_kill(url, options, tmp_path, replies=150)
    async with open_store(url, **options) as store:
        missing = missing_readings(summary, await stored_readings(store))
    assert sum(len(ack.readings) for ack in summary.acknowledged) > 0
    assert missing == [], f"{len(missing)} acknowledged readings are not in the store: {missing[:10]}"


@pytest.mark.fault
async def test_resending_meters_under_sigkill_lose_nothing_and_duplicate_nothing(backend_url, tmp_path):
    """A fifth of the replies are lost on the way back, so meters resend reports the gateway committed,
    and the kill leaves more unanswered: no acknowledged reading missing, no reading or event twice."""
    url, options = backend_url
    summary = await load_then_kill(
        url,
        options,
        tmp_path,
        replies=150,
        mix={"normal": 60, "event": 35, "init": 5},
        resend=True,
        lose_reply_rate=0.2,
    )
    acknowledged_events = [ack for ack in summary.acknowledged if ack.kind == "event"]
    assert summary.lost_replies > 0 and any(ack.resent for ack in acknowledged_events), summary.as_dict()
    async with open_store(url, **options) as store:
        stored = await stored_readings(store)
        events = (await store.list_events(TENANT, ListQuery(limit=1000))).items
    missing = missing_readings(summary, stored)
    assert missing == [], f"{len(missing)} acknowledged readings are not in the store: {missing[:10]}"
    duplicated = {uid: len(rows) - len({ts for ts, _ in rows}) for uid, rows in stored.items()}
    assert set(duplicated.values()) == {0}, duplicated

    # one stored event per event report the meters sent (resends included), each acknowledged one there once
    assert len(events) <= summary.reports.get("event", 0)
    ids = [event["event_id"] for event in events]
    assert len(ids) == len(set(ids))
    for ack in acknowledged_events:
        values = gas_meter_spec().decode(ack.packet, message="report").values
        slots = valid_slots(values["counts"])
        expected = event_id(ack.uid, describe_event(values["event_code"])[0], max(slots)[0], values["uptime"])
        same = [
            event
            for event in events
            if (event["device_uid"], event["event_code"], event["seconds_per_rotation"])
            == (ack.uid, describe_event(values["event_code"])[0], values["seconds_per_rotation"])
        ]
        assert [event["event_id"] for event in same] == [expected], (ack.resent, same)
