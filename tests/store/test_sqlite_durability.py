"""Durability on both backends: a write that returned survives SIGKILL.

A child process writes readings and prints ``written N`` after each write returns; the parent kills it with
SIGKILL right after reading such a line, reopens the store and finds every acknowledged reading.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.store import ListQuery, open_store

WRITER = Path(__file__).with_name("durability_writer.py")
TENANT = "gas_durable"
BASE_TS = 1741186800  # as in durability_writer.py


async def test_acknowledged_writes_survive_sigkill(backend_url):
    url, options = backend_url
    child = subprocess.Popen(
        [sys.executable, str(WRITER), url, json.dumps(options), TENANT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    reported = 0
    try:
        while reported < 5:
            line = await asyncio.to_thread(child.stdout.readline)
            if not line:
                raise AssertionError(f"writer exited early ({child.wait()}): {child.stderr.read()}")
            reported = int(line.split()[1])
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    async with open_store(url, **options) as store:
        acknowledged = ListQuery(
            filters={"device_uid": "0000DEAD"}, ranges={"timestamp": (None, BASE_TS + 3600 * 24 * reported)}, limit=1
        )
        assert (await store.list_readings(TENANT, acknowledged)).total == 24 * reported
        if url.startswith("sqlite"):  # one insert_readings is one transaction there
            assert (await store.list_readings(TENANT, ListQuery(limit=1))).total % 24 == 0
