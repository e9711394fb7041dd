"""The durable floor of the gas-meter benchmark: a hand-written server that answers a report only once it is
durable, with none of specgate.

    python bench/floor_tcp.py --db PATH [--port 0]     (prints ``listening HOST:PORT``; SIGTERM stops it)

``PATH`` is a database ``specgate``'s SQLite store made, its meters provisioned by ``bench/sessions.py``.
Per session it does the database work specgate's store does for a known meter's normal report: one
``SELECT`` of the route and the device document, the 24 readings in one ``INSERT OR IGNORE``, the device
fields in one ``json_patch`` ``UPDATE``, a live-feed row when a reading is new; after the reply, the
exchange-log row. Writes are grouped as specgate groups them: the event loop (uvloop where installed, as
``specgate serve``) runs a group's statements, a thread runs its ``COMMIT`` (``synchronous=FULL``), and the
reply waits for that commit. It leaves out, on purpose, everything that is not that work: checks of the
input, options, plugins, the spec, events, limits, metrics and logs. The bytes are parsed with ``struct`` for
this one layout, and it assumes every meter is provisioned.

What a session costs here against the bare server is the cost of durability; against ``specgate serve``,
what specgate itself costs.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import base64
import functools
import itertools
import queue
import signal
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

REPORT = 256
#: eid, uid and the count table (24 pairs of timestamp and count), then battery and uptime
SLOTS = struct.Struct(">48I")
STATUS = struct.Struct(">BI")
#: rc, uid, ts_now, ts_next, count, min, max, host, port, io_flag: 32 bytes
REPLY = struct.Struct(">B8sIIIHH4sHB")
#: a normal report's return code: the ts and min/max bits (bit 0, even parity, stays 0)
RC_NORMAL = 0xC0
TZ = ZoneInfo("Asia/Seoul")
NEXT_REPORT = 3600
INSERT_READINGS = (
    "INSERT OR IGNORE INTO data (tenant, device_uid, timestamp, counter_val, year, month, day, hour, wday, week)"
    " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * 24)
)
INSERT_EXCHANGE = (
    "INSERT INTO misc_data (at, ip, port, device_type, device_uid, tenant, doc) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ROUTE = (
    "SELECT device_route.db_name, device.doc FROM device_route JOIN device ON device.tenant = device_route.db_name"
    " AND device.device_uid = device_route.device_uid WHERE device_route.device_uid = ?"
)


@functools.lru_cache(maxsize=4096)
def calendar(ts: int) -> tuple[int, ...]:
    at = datetime.fromtimestamp(ts, TZ)
    return at.year, at.month, at.day, at.hour, at.weekday(), int(at.strftime("%U"))


class GroupCommit:
    """Units run on the event loop in groups; a thread commits each group; the callers wait for the commit."""

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn, self.loop = conn, loop
        self.waiting: list[tuple[Callable[[], Any], asyncio.Future[None]]] = []
        self.busy = False
        self.commits: queue.SimpleQueue[list[asyncio.Future[None]]] = queue.SimpleQueue()
        threading.Thread(target=self._commit_forever, daemon=True).start()

    def write(self, unit: Callable[[], Any]) -> asyncio.Future[None]:
        future = self.loop.create_future()
        self.waiting.append((unit, future))
        if not self.busy:
            self.busy = True
            self.loop.call_soon(self._run_group)
        return future

    def _run_group(self) -> None:
        group, self.waiting = self.waiting, []
        futures = [future for _, future in group]
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for unit, _ in group:
                unit()
        except sqlite3.Error as exc:  # the group fails as a whole: its meters get no reply (a bench error)
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._answer(futures, exc)
            return
        self.commits.put(futures)

    def _commit_forever(self) -> None:
        while True:
            futures = self.commits.get()
            error: Exception | None = None
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                error = exc
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            self.loop.call_soon_threadsafe(self._answer, futures, error)

    def _answer(self, futures: list[asyncio.Future[None]], error: Exception | None = None) -> None:
        for future in futures:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        if self.waiting:
            self.loop.call_soon(self._run_group)
        else:
            self.busy = False


class FloorServer:
    def __init__(self, db: str, loop: asyncio.AbstractEventLoop) -> None:
        writer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA synchronous=FULL")
        self.reader = sqlite3.connect(db, isolation_level=None)
        self.writes = GroupCommit(writer, loop)
        self.exchanges: list[tuple[Any, ...]] = []

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            packet = await reader.readexactly(REPORT)
            reply, tenant = await self.report(packet)
            writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError, sqlite3.Error):
            return
        finally:
            writer.close()
        self.log_exchange(packet, reply, tenant)

    async def report(self, packet: bytes) -> tuple[bytes, str]:
        """The reply to ``packet``, once what it reported is durable, and the meter's tenant."""
        uid = packet[1:9].decode("ascii")
        tenant, doc_text = self.reader.execute(ROUTE, (uid,)).fetchone()
        device = orjson.loads(doc_text)
        slots = SLOTS.unpack_from(packet, 9)
        battery, uptime = STATUS.unpack_from(packet, 9 + SLOTS.size)
        rows = [
            (tenant, uid, ts, count, *calendar(ts)) for ts, count in zip(slots[0::2], slots[1::2], strict=True) if ts
        ]
        newest = max(rows, key=lambda row: row[2])
        now = int(time.time())
        fields = orjson.dumps(
            {
                "last_access": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                "battery": battery,
                "uptime": uptime,
                "last_timestamp": newest[2],
                "last_count": newest[3],
            }
        ).decode()
        values = list(itertools.chain.from_iterable(rows))

        def unit() -> None:
            conn = self.writes.conn
            if conn.execute(INSERT_READINGS, values).rowcount:
                entry = orjson.dumps({"device_uid": uid, "timestamp": newest[2], "counter_val": newest[3]}).decode()
                conn.execute(
                    "INSERT INTO live_feed (at, kind, tenant, doc) VALUES (?, ?, ?, ?)",
                    (time.time(), "report", tenant, entry),
                )
            conn.execute(
                "UPDATE device SET doc = json_patch(doc, ?) WHERE tenant = ? AND device_uid = ?", (fields, tenant, uid)
            )

        await self.writes.write(unit)
        host = bytes(int(part) for part in device["server_ip"].split("."))
        reply = REPLY.pack(
            RC_NORMAL, packet[1:9], now, now + NEXT_REPORT, newest[3], device["minimum"], device["maximum"], host,
            device["server_port"], 0xFF,
        )  # fmt: skip
        return reply, tenant

    def log_exchange(self, packet: bytes, reply: bytes, tenant: str) -> None:
        at = time.time()
        doc = {
            "ip": "127.0.0.1",
            "at": at,
            "recv": {"$bytes": base64.b64encode(packet).decode()},
            "send": {"$bytes": base64.b64encode(reply).decode()},
            "device_uid": packet[1:9].decode("ascii"),
            "tenant": tenant,
        }
        row = (at, "127.0.0.1", 0, "gas_meter", doc["device_uid"], tenant, orjson.dumps(doc).decode())
        self.exchanges.append(row)
        if len(self.exchanges) == 1:
            asyncio.get_running_loop().call_soon(self._write_exchanges)

    def _write_exchanges(self) -> None:
        rows, self.exchanges = self.exchanges, []
        self.writes.write(lambda: self.writes.conn.executemany(INSERT_EXCHANGE, rows))


async def main(db: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    floor = FloorServer(db, loop)
    server = await asyncio.start_server(floor.session, "127.0.0.1", port, backlog=1024)
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"listening {host}:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main(args.db, args.port))
