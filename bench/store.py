"""Readings per second through the Store against the raw driver, for both backends. Prints figures only.

    python bench/store.py [--backend sqlite|mongodb|both] [--batches N] [--callers N] [--repeat N]

SQLite: ``insert_readings`` (sequential calls) against raw ``sqlite3.executemany`` into the same schema with
the same pragmas, one transaction per batch; ``record_report`` (many concurrent callers, group commit)
against a raw side doing like for like: per report the statements of the store's unit (the device ``$set``
of plain values as one UPDATE with ``json_patch``, ``INSERT OR IGNORE`` of the readings, the event INSERT
for one report in ten),
committed in groups of as many reports as the store's group commit put in one commit in that round (its
``stats``). The store's per-unit SAVEPOINT is not done by the raw side: it is part of what is measured.
MongoDB: the same calls against raw ``insert_many(ordered=False)`` into a collection with the same unique
index, and for ``record_report`` the store's operations (``update_one`` ``$set``, the readings insert, the
event ``insert_one``; inside one transaction per report, with the find of existing timestamps, when the
deployment has transactions, as the store does) from the same number of concurrent callers. The server is
``MONGODB_URI`` or a ``secantusd-py`` the bench starts on a free port in a temporary directory.

Every case runs ``--repeat`` rounds, the two sides interleaved (the first side alternates), and prints each
round and the medians with the ratio ours/raw (target >= 0.7). Both sides start from the same reading dicts,
so the raw side also turns them into rows.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import json
import os
import random
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

from benchlib import print_ratio_table

from core.store import Store, open_store
from core.store.sqlite import connect, migrate
from core.timeutil import calendar_fields, tz_from_offset

KST = tz_from_offset("+09:00")
BASE_TS = 1741186800
TENANT = "gas_bench"


DEVICE = {"flag": True, "ref_interval": 43200, "minimum": 10, "maximum": 600, "server_ip": "192.0.2.10"}
EVENT_EVERY = 10  # one report in ten carries an event, as an E0 report does


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


def report_fields(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """The device fields a normal report sets (as ``plan_report`` does)."""
    return {
        "last_access": "2025-03-06 01:00:00",
        "battery": 87,
        "uptime": 123456,
        "last_timestamp": batch[-1]["timestamp"],
        "last_count": batch[-1]["counter_val"],
    }


def report_event(index: int, uid: str) -> dict[str, Any] | None:
    if index % EVENT_EVERY:
        return None
    return {
        "device_uid": uid,
        "event_time": BASE_TS,
        "event_code": 1,
        "event_type": "magnetic",
        "event_level": "warning",
        "event_status": "active",
        "event_message": "magnetic tampering",
        "event_value": 0,
        "seconds_per_rotation": 0,
    }


async def timed(work: Callable[[], Awaitable[None]], readings: int) -> float:
    started = time.perf_counter()
    await work()
    return readings / (time.perf_counter() - started)


async def add_devices(store: Store, batches: list[list[dict[str, Any]]]) -> None:
    """One active device per batch (its readings' device_uid)."""
    for batch in batches:
        await store.add_device(TENANT, {"device_uid": batch[0]["device_uid"], **DEVICE})


async def concurrent_reports(store: Store, batches: list[list[dict[str, Any]]], callers: int) -> None:
    """One record_report per batch, ``callers`` of them at a time, as that many device sessions would."""
    for round_start in range(0, len(batches), callers):
        group = batches[round_start : round_start + callers]
        await asyncio.gather(
            *(
                store.record_report(
                    TENANT, b[0]["device_uid"], report_fields(b), b, report_event(round_start + i, b[0]["device_uid"])
                )
                for i, b in enumerate(group)
            )
        )


def table(label: str, ours: list[float], raw: list[float]) -> None:
    print_ratio_table(f"  {label}", "readings/s", ours, raw, target=">= 0.7")


# ---------------------------------------------------------------------------- SQLite
READING_SQL = (
    "INSERT OR IGNORE INTO data (tenant, device_uid, timestamp, counter_val, year, month, day, hour, wday,"
    " week) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def reading_rows(batch: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
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


def raw_sqlite(path: str, batches: list[list[dict[str, Any]]]) -> float:
    conn = connect(path)
    migrate(conn)
    started = time.perf_counter()
    for batch in batches:
        rows = reading_rows(batch)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(READING_SQL, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(map(len, batches)) / elapsed


def raw_sqlite_reports(path: str, batches: list[list[dict[str, Any]]], per_commit: int) -> float:
    """What the store's ``record_report`` unit does per report, committed ``per_commit`` reports at a time."""
    conn = connect(path)
    migrate(conn)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (TENANT,))
    for batch in batches:
        doc = json.dumps({"device_uid": batch[0]["device_uid"], **DEVICE}, separators=(",", ":"))
        conn.execute(
            "INSERT INTO device (tenant, device_uid, doc) VALUES (?, ?, ?)", (TENANT, batch[0]["device_uid"], doc)
        )
    conn.execute("COMMIT")
    started = time.perf_counter()
    for start in range(0, len(batches), per_commit):
        conn.execute("BEGIN IMMEDIATE")
        for index in range(start, min(len(batches), start + per_commit)):
            batch = batches[index]
            uid = batch[0]["device_uid"]
            conn.execute(
                "UPDATE device SET doc = json_patch(doc, ?) WHERE tenant = ? AND device_uid = ?",
                (json.dumps(report_fields(batch), separators=(",", ":")), TENANT, uid),
            )
            conn.executemany(READING_SQL, reading_rows(batch))
            event = report_event(index, uid)
            if event is not None:
                event = {**event, "event_id": uuid.uuid4().hex}
                conn.execute(
                    "INSERT INTO event (tenant, event_id, device_uid, event_time, doc) VALUES (?, ?, ?, ?, ?)",
                    (TENANT, event["event_id"], uid, event["event_time"], json.dumps(event, separators=(",", ":"))),
                )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(map(len, batches)) / elapsed


async def bench_sqlite(workdir: Path, batches: int, callers: int, repeat: int) -> None:
    print("SQLite (WAL, synchronous=FULL)")
    for size, count in ((24, batches), (1000, max(1, batches // 10))):
        ours: list[float] = []
        raw: list[float] = []
        for attempt in range(repeat):
            for side in ("ours", "raw") if attempt % 2 == 0 else ("raw", "ours"):
                data = make_batches(count, size, "A")
                if side == "raw":
                    raw.append(raw_sqlite(str(workdir / f"raw_{size}_{attempt}.db"), data))
                    continue
                async with open_store(str(workdir / f"ours_{size}_{attempt}.db")) as store:

                    async def sequential(store: Store = store, data: list[list[dict[str, Any]]] = data) -> None:
                        for batch in data:
                            await store.insert_readings(TENANT, batch)

                    ours.append(await timed(sequential, size * count))
        table(f"insert_readings, {count} sequential batches of {size}", ours, raw)

    ours, raw, groups = [], [], []
    per_commit = 0
    for attempt in range(repeat):
        for side in ("ours", "raw") if attempt % 2 == 0 else ("raw", "ours"):
            data = make_batches(callers * 4, 24, "C")
            if side == "raw":
                raw.append(raw_sqlite_reports(str(workdir / f"raw_report_{attempt}.db"), data, per_commit))
                continue
            async with open_store(str(workdir / f"ours_report_{attempt}.db")) as store:
                await add_devices(store, data)
                before = dict(store.stats)
                ours.append(
                    await timed(lambda store=store, data=data: concurrent_reports(store, data, callers), 24 * len(data))
                )
                commits = store.stats["commits"] - before["commits"]
                units = store.stats["units"] - before["units"]
            per_commit = max(1, round(units / commits))
            groups.append(f"{units} units in {commits} commits")
    table(f"record_report, {callers} concurrent callers x 24 (raw: same statements and commit grouping)", ours, raw)
    print(f"  the store's group commits per round: {'; '.join(groups)} (the raw side of a round uses the last figure)")


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


async def raw_mongo_reports(
    uri: str, prefix: str, batches: list[list[dict[str, Any]]], callers: int, transactions: bool
) -> float:
    """The store's ``record_report`` operations per report from ``callers`` concurrent callers: in one
    transaction (with the find of existing timestamps) when ``transactions``, else as separate writes."""
    from pymongo import ASCENDING, AsyncMongoClient
    from pymongo.errors import BulkWriteError, PyMongoError

    client: AsyncMongoClient = AsyncMongoClient(uri)
    db = client[f"{prefix}rawreport"]
    try:
        await db["data"].create_index([("device_uid", ASCENDING), ("timestamp", ASCENDING)], unique=True)
        await db["device"].create_index([("device_uid", ASCENDING)], unique=True)
        await db["device"].insert_many([{"device_uid": b[0]["device_uid"], **DEVICE} for b in batches])

        async def report(index: int, batch: list[dict[str, Any]]) -> None:
            uid = batch[0]["device_uid"]
            docs = [dict(r) for r in batch]
            event = report_event(index, uid)
            if not transactions:
                await db["device"].update_one({"device_uid": {"$eq": uid}}, {"$set": report_fields(batch)})
                try:
                    await db["data"].insert_many(docs, ordered=False)
                except BulkWriteError:
                    pass
                if event is not None:
                    await db["event"].insert_one(dict(event))
                return
            for attempt in range(1, 9):  # transient errors retried with backoff, as the store's atomically()
                async with client.start_session() as session:
                    try:
                        await session.start_transaction()
                        await db["device"].update_one(
                            {"device_uid": {"$eq": uid}}, {"$set": report_fields(batch)}, session=session
                        )
                        stamps = [d["timestamp"] for d in docs]
                        cursor = db["data"].find(
                            {"device_uid": {"$eq": uid}, "timestamp": {"$in": stamps}},
                            {"timestamp": 1, "_id": 0},
                            session=session,
                        )
                        seen = {d["timestamp"] async for d in cursor}
                        new = [dict(d) for d in docs if d["timestamp"] not in seen]
                        if new:
                            await db["data"].insert_many(new, ordered=True, session=session)
                        if event is not None:
                            await db["event"].insert_one(dict(event), session=session)
                        await session.commit_transaction()
                        return
                    except PyMongoError as exc:
                        if session.in_transaction:
                            await session.abort_transaction()
                        if attempt == 8 or not exc.has_error_label("TransientTransactionError"):
                            raise
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))

        started = time.perf_counter()
        for start in range(0, len(batches), callers):
            await asyncio.gather(*(report(start + i, b) for i, b in enumerate(batches[start : start + callers])))
        elapsed = time.perf_counter() - started
        await client.drop_database(f"{prefix}rawreport")
    finally:
        await client.close()
    return sum(map(len, batches)) / elapsed


async def bench_mongodb(workdir: Path, batches: int, callers: int, repeat: int) -> None:
    with mongodb_server(workdir) as uri:
        print(f"MongoDB at {uri.split('@')[-1]}")
        for size, count in ((24, batches), (1000, max(1, batches // 10))):
            ours: list[float] = []
            raw: list[float] = []
            for attempt in range(repeat):
                for side in ("ours", "raw") if attempt % 2 == 0 else ("raw", "ours"):
                    prefix = f"bench{uuid.uuid4().hex[:8]}_"
                    data = make_batches(count, size, "A")
                    if side == "raw":
                        raw.append(await raw_mongo(uri, prefix, data))
                        continue
                    async with open_store(uri, db_prefix=prefix) as store:
                        await store.add_tenant(TENANT)  # index creation happens here, as the raw side's does untimed

                        async def sequential(store: Store = store, data: list[list[dict[str, Any]]] = data) -> None:
                            for batch in data:
                                await store.insert_readings(TENANT, batch)

                        ours.append(await timed(sequential, size * count))
            table(f"insert_readings, {count} sequential batches of {size}", ours, raw)

        ours, raw = [], []
        transactions = False
        for attempt in range(repeat):
            for side in ("ours", "raw") if attempt % 2 == 0 else ("raw", "ours"):
                prefix = f"bench{uuid.uuid4().hex[:8]}_"
                data = make_batches(callers * 2, 24, "C")
                if side == "raw":
                    raw.append(await raw_mongo_reports(uri, prefix, data, callers, transactions))
                    continue
                async with open_store(uri, db_prefix=prefix) as store:
                    await add_devices(store, data)
                    transactions = bool(getattr(store, "uses_transactions", False))
                    ours.append(
                        await timed(
                            lambda store=store, data=data: concurrent_reports(store, data, callers), 24 * len(data)
                        )
                    )
        how = "one transaction per report" if transactions else "no transactions on this deployment: separate writes"
        table(f"record_report, {callers} concurrent callers x 24 (raw: same operations, {how})", ours, raw)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "mongodb", "both"), default="both")
    parser.add_argument("--batches", type=int, default=200, help="sequential batches of 24 (1000-batches: a tenth)")
    parser.add_argument("--callers", type=int, default=200, help="concurrent record_report callers")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per case, the sides interleaved; medians shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            await bench_sqlite(workdir, args.batches, args.callers, args.repeat)
        if args.backend in ("mongodb", "both"):
            await bench_mongodb(workdir, max(10, args.batches // 4), max(10, args.callers // 4), args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
