"""The MongoDB server killed and restarted under load: the gateway keeps running and recovers by itself.

A SecantusDB process of this test's own (own port, own data directory) backs an in-process gateway that
resending simulated meters report to. The server is killed with SIGKILL: while it is down no report can
be committed, so no meter gets a reply. It is started again on the same port and data: the same gateway
object, never restarted, answers again, and every reading and event it acknowledged before, during or
after the outage is stored, once.

The server runs with ``--sync-on-commit``: SecantusDB 0.7 fsyncs a single write that asks for ``j: true`` but
not a transaction's commit (it keeps the commit's log record in memory, as mongod with ``j: false`` does), so a
SIGKILL loses the transactions acknowledged in the last moments before it. mongod honours ``j: true`` on
``commitTransaction``; the flag gives this test a server that keeps what it acknowledged, as the gateway's
guarantee assumes.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from core.config import Config
from core.gateway.runtime import Gateway
from core.gateway.types import ListenerConfig
from core.plugins import get_plugin_manager
from core.store import ListQuery, open_store
from plugins.gas_meter.handler import event_id
from plugins.gas_meter.protocol import describe_event
from plugins.gas_meter.simulator import LoadPlan, LoadSummary, gas_meter_spec, meter_uid, run_load
from tests.conftest import _free_port, _secantus_command, _wait_for_port

METERS = 8
PREFIX = "7C"
TENANT = "gas_restart"


def start_server(port: int, data: Path) -> subprocess.Popen:
    log = data / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                _secantus_command(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                str(data / "db"),
                "--sync-on-commit",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_for_port(port, proc, log, timeout=30)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


async def settled(value, quiet: float, timeout: float):
    """``value()`` once it has not changed for ``quiet`` seconds: reports in flight at the kill finish or fail
    within the selection timeout, later under load than on a quiet machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = value(), loop.time()
    while loop.time() - since < quiet:
        assert loop.time() < deadline, f"still changing after {timeout}s"
        await asyncio.sleep(0.05)
        if value() != last:
            last, since = value(), loop.time()
    return last


async def wait_until(condition, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


@pytest.mark.fault
async def test_gateway_recovers_when_mongodb_restarts_and_loses_nothing_acknowledged(tmp_path):
    port = _free_port()
    server = start_server(port, tmp_path)
    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
    try:
        async with open_store(uri) as store:
            await store.add_tenant(TENANT)
            for index in range(METERS):
                await store.add_device(
                    TENANT,
                    {
                        "device_uid": meter_uid(PREFIX, index),
                        "flag": True,
                        "ref_interval": 3600,
                        "initial_count": 0,
                        "minimum": 1,
                        "maximum": 100,
                        "server_ip": "192.0.2.1",
                        "server_port": 5004,
                    },
                )
            config = Config(
                tz_offset=32400,
                listeners=[ListenerConfig("gas_meter", port=0, host="127.0.0.1")],
                web_enabled=False,
                shutdown_grace=2.0,
            )
            pm = get_plugin_manager(installed=False)
            async with Gateway(config, store, pm, specs={"gas_meter": gas_meter_spec()}) as gateway:
                summary = LoadSummary()
                stop = asyncio.Event()
                plan = LoadPlan(
                    host="127.0.0.1",
                    port=gateway.port("gas_meter"),
                    meters=METERS,
                    rate=100,
                    count=None,
                    duration=25.0,
                    mix={"normal": 70, "event": 25, "init": 5},
                    uid_prefix=PREFIX,
                    timeout=3.0,
                    keep_acknowledged=True,
                    resend=True,
                    seed=11,
                )
                load = asyncio.create_task(run_load(plan, stop=stop, summary=summary))
                await wait_until(lambda: summary.replied >= 60, 10, "60 replies before the outage")

                stop_server(server)
                during = await settled(lambda: summary.replied, quiet=1.0, timeout=10)
                failures_before = gateway.metrics()["listeners"][0]["store_failures"]
                await asyncio.sleep(2.0)
                assert summary.replied == during, "a meter got a reply while the database was down"
                assert gateway.metrics()["listeners"][0]["store_failures"] > failures_before

                server = start_server(port, tmp_path)
                await wait_until(lambda: summary.replied >= during + 60, 15, "60 replies after the restart")
                stop.set()
                await asyncio.wait_for(load, 15)
            assert not load.exception()

            readings: dict[str, dict[int, int]] = {}
            for index in range(METERS):
                uid = meter_uid(PREFIX, index)
                page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, limit=1000))
                readings[uid] = {row["timestamp"]: row["counter_val"] for row in page.items}
                assert len(readings[uid]) == page.total
            events = (await store.list_events(TENANT, ListQuery(limit=1000))).items
    finally:
        stop_server(server)

    missing = [
        (ack.uid, r["ts"])
        for ack in summary.acknowledged
        for r in ack.readings
        if readings[ack.uid].get(r["ts"]) != r["count"]
    ]
    assert missing == [], f"{len(missing)} acknowledged readings lost: {missing[:10]}"
    assert summary.no_reply > 0 and summary.resent > 0, summary.as_dict()
    ids = [event["event_id"] for event in events]
    assert len(ids) == len(set(ids)) and len(ids) <= summary.reports.get("event", 0)
    # every acknowledged event is stored; two meters' tasks can both resend one unanswered packet and both be
    # answered, so the events are named as the gateway names them, not counted per reply
    spec = gas_meter_spec()
    acknowledged_events = set()
    for ack in summary.acknowledged:
        if ack.kind == "event":
            values = spec.decode(ack.packet).values
            code = describe_event(values["event_code"])[0]
            newest_ts = max(slot["ts"] for slot in values["counts"])
            acknowledged_events.add(event_id(values["uid"], code, newest_ts, values["uptime"]))
    assert acknowledged_events and acknowledged_events <= set(ids), acknowledged_events - set(ids)
