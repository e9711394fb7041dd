"""Readings per second through the Store against the raw driver, for both backends. Prints figures only.

    python bench/store.py [--backend sqlite|mongodb|both] [--batches N] [--callers N]

SQLite: ``insert_readings`` (sequential calls) and ``record_report`` (many concurrent callers, group
commit) against raw ``sqlite3.executemany`` into the same schema with the same pragmas, one transaction
per batch. MongoDB: the same calls against raw ``insert_many(ordered=False)`` into a collection with the
same unique index; the server is ``MONGODB_URI`` or a ``secantusd-py`` the bench starts on a free port in a
temporary directory. Each figure is printed with the ratio ours/raw (target >= 0.7). Both sides start from
the same reading dicts, so the raw side also turns them into rows; SQLite sequential figures are the best of
``--repeat`` runs on each side (the machine is shared, single runs are noisy).
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.store import Store, open_store
from core.store.sqlite import connect, migrate
from core.timeutil import calendar_fields, tz_from_offset

KST = tz_from_offset("+09:00")
BASE_TS = 1741186800
TENANT = "gas_bench"


def make_batches(count: int, size: int, tag: str) -> list[list[dict[str, Any]]]:
    """``count`` batches of ``size`` readings; every reading is new (its own device and hour)."""
    batches = []
    for b in range(count):
        uid = f"{tag}{b:06X}"[-8:]
        batches.append(
            [
                {
                    "device_uid": uid,
                    "timestamp": BASE_TS + 3600 * i,
                    "counter_val": i,
                    **calendar_fields(BASE_TS + 3600 * i, KST),
                }
                for i in range(size)
            ]
        )
    return batches


async def timed(work: Callable[[], Awaitable[None]], readings: int) -> float:
    started = time.perf_counter()
    await work()
    return readings / (time.perf_counter() - started)


async def add_devices(store: Store, batches: list[list[dict[str, Any]]]) -> None:
    """One active device per batch (its readings' device_uid)."""
    for batch in batches:
        await store.add_device(TENANT, {"device_uid": batch[0]["device_uid"], "flag": True})


async def concurrent_reports(store: Store, batches: list[list[dict[str, Any]]], callers: int) -> None:
    """One record_report per batch, ``callers`` of them at a time, as that many device sessions would."""
    for round_start in range(0, len(batches), callers):
        group = batches[round_start : round_start + callers]
        await asyncio.gather(*(store.record_report(TENANT, b[0]["device_uid"], {"last_count": 23}, b) for b in group))


def line(label: str, ours: float, raw: float) -> None:
    print(f"{label:<52} ours {ours:>10,.0f}/s  raw {raw:>10,.0f}/s  ratio {ours / raw:5.2f}")


# ---------------------------------------------------------------------------- SQLite
def raw_sqlite(path: str, batches: list[list[dict[str, Any]]]) -> float:
    conn = connect(path)
    migrate(conn)
    sql = (
        "INSERT OR IGNORE INTO data (tenant, device_uid, timestamp, counter_val, year, month, day, hour, wday,"
        " week) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    started = time.perf_counter()
    for batch in batches:
        rows = [
            (
                TENANT,
                r["device_uid"],
                r["timestamp"],
                r["counter_val"],
                r["year"],
                r["month"],
                r["day"],
                r["hour"],
                r["wday"],
                r["week"],
            )
            for r in batch
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(map(len, batches)) / elapsed


async def bench_sqlite(workdir: Path, batches: int, callers: int, repeat: int) -> None:
    print("SQLite (WAL, synchronous=FULL)")
    for size, count in ((24, batches), (1000, max(1, batches // 10))):
        ours = raw = 0.0
        for attempt in range(repeat):
            data = make_batches(count, size, "A")
            async with open_store(str(workdir / f"ours_{size}_{attempt}.db")) as store:

                async def sequential(store: Store = store, data: list[list[dict[str, Any]]] = data) -> None:
                    for batch in data:
                        await store.insert_readings(TENANT, batch)

                ours = max(ours, await timed(sequential, size * count))
            raw = max(raw, raw_sqlite(str(workdir / f"raw_{size}_{attempt}.db"), make_batches(count, size, "A")))
        line(f"insert_readings, {count} sequential batches of {size}", ours, raw)

    data = make_batches(callers * 4, 24, "C")
    async with open_store(str(workdir / "ours_report.db")) as store:
        await add_devices(store, data[:callers])
        commits_before = store.stats["commits"]
        ours = await timed(lambda: concurrent_reports(store, data, callers), 24 * len(data))
        commits = store.stats["commits"] - commits_before
    raw = raw_sqlite(str(workdir / "raw_report.db"), make_batches(callers * 4, 24, "C"))
    line(f"record_report, {callers} concurrent callers x 24", ours, raw)
    print(f"{'':<52} {len(data)} reports shared {commits} commits")


# ---------------------------------------------------------------------------- MongoDB
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mongodb_server(workdir: Path) -> Iterator[str]:
    configured = os.environ.get("MONGODB_URI")
    if configured:
        yield configured
        return
    command = Path(sys.executable).with_name("secantusd-py")
    executable = str(command) if command.exists() else shutil.which("secantusd-py")
    if not executable:
        raise SystemExit("secantusd-py not found and MONGODB_URI not set")
    port = _free_port()
    with open(workdir / "secantus.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [executable, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(workdir / "secantus")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"secantusd-py did not start: {(workdir / 'secantus.log').read_text()}") from None
                time.sleep(0.2)
        yield f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def raw_mongo(uri: str, prefix: str, batches: list[list[dict[str, Any]]]) -> float:
    from pymongo import ASCENDING, AsyncMongoClient
    from pymongo.errors import BulkWriteError

    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        data = client[f"{prefix}raw"]["data"]
        await data.create_index([("device_uid", ASCENDING), ("timestamp", ASCENDING)], unique=True)
        started = time.perf_counter()
        for batch in batches:
            try:
                await data.insert_many([dict(r) for r in batch], ordered=False)
            except BulkWriteError:
                pass
        elapsed = time.perf_counter() - started
        await client.drop_database(f"{prefix}raw")
    finally:
        await client.close()
    return sum(map(len, batches)) / elapsed


async def bench_mongodb(workdir: Path, batches: int, callers: int, repeat: int) -> None:
    with mongodb_server(workdir) as uri:
        print(f"MongoDB at {uri.split('@')[-1]}")
        for size, count in ((24, batches), (1000, max(1, batches // 10))):
            best_ours = best_raw = 0.0
            for _ in range(repeat):
                prefix = f"bench{uuid.uuid4().hex[:8]}_"
                async with open_store(uri, db_prefix=prefix) as store:
                    await store.add_tenant(TENANT)  # index creation happens here, as the raw side's does untimed
                    data = make_batches(count, size, "A")

                    async def sequential(store: Store = store, data: list[list[dict[str, Any]]] = data) -> None:
                        for batch in data:
                            await store.insert_readings(TENANT, batch)

                    best_ours = max(best_ours, await timed(sequential, size * count))
                best_raw = max(best_raw, await raw_mongo(uri, prefix, make_batches(count, size, "A")))
            line(f"insert_readings, {count} sequential batches of {size}", best_ours, best_raw)

        prefix = f"bench{uuid.uuid4().hex[:8]}_"
        data = make_batches(callers * 2, 24, "C")
        async with open_store(uri, db_prefix=prefix) as store:
            await add_devices(store, data[:callers])
            ours = await timed(lambda: concurrent_reports(store, data, callers), 24 * len(data))
        raw = await raw_mongo(uri, prefix, make_batches(callers * 2, 24, "C"))
        line(f"record_report, {callers} concurrent callers x 24", ours, raw)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "mongodb", "both"), default="both")
    parser.add_argument("--batches", type=int, default=200, help="sequential batches of 24 (1000-batches: a tenth)")
    parser.add_argument("--callers", type=int, default=200, help="concurrent record_report callers")
    parser.add_argument(
        "--repeat", type=int, default=3, help="sequential runs per case; the best of each side is shown"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            await bench_sqlite(workdir, args.batches, args.callers, args.repeat)
        if args.backend in ("mongodb", "both"):
            await bench_mongodb(workdir, max(10, args.batches // 4), max(10, args.callers // 4), args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
