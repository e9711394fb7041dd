"""A gateway process killed with SIGKILL under load loses no reading it acknowledged.

Simulated meters report to ``python -m core serve`` in a subprocess; once a good number of replies came
back the process is killed outright (no shutdown, no flush). Every reading carried by a report whose reply
a meter received must then be in the store, because the reply is written only after the commit.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from core.store import ListQuery, open_store
from plugins.gas_meter.simulator import LoadPlan, LoadSummary, meter_uid, run_load

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


async def test_every_acknowledged_reading_survives_sigkill(backend_url, tmp_path):
    url, options = backend_url
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
        plan = LoadPlan(
            host="127.0.0.1",
            port=port,
            meters=METERS,
            count=None,
            duration=60.0,
            mix={"normal": 85, "event": 10, "init": 5},
            uid_prefix=PREFIX,
            timeout=5.0,
            keep_acknowledged=True,
            seed=7,
        )
        load = asyncio.create_task(run_load(plan, stop=stop, summary=summary))
        while summary.replied < 150 and not load.done():
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
    assert summary.replied >= 150, f"too few replies before the kill: {summary.as_dict()}\n{log.read_text()}"
    async with open_store(url, **options) as store:
        stored: dict[str, dict[int, int]] = {}
        for index in range(METERS):
            uid = meter_uid(PREFIX, index)
            page = await store.list_readings(TENANT, ListQuery(filters={"device_uid": uid}, limit=1000))
            stored[uid] = {row["timestamp"]: row["counter_val"] for row in page.items}
        missing = [
            (ack.uid, reading["ts"])
            for ack in summary.acknowledged
            for reading in ack.readings
            if stored[ack.uid].get(reading["ts"]) != reading["count"]
        ]
        acknowledged_readings = sum(len(ack.readings) for ack in summary.acknowledged)
    assert acknowledged_readings > 0
    assert missing == [], f"{len(missing)} acknowledged readings are not in the store: {missing[:10]}"
