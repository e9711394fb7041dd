"""What only the SQLite backend promises: pragmas, migrations, group commit, purge, error mapping, types."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.errors import Conflict, InvalidInput, StoreUnavailable
from core.store import ListQuery, Report, open_store
from core.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore, connect, migrate, schema_version
from core.timeutil import calendar_fields, tz_from_offset

KST = tz_from_offset("+09:00")
BASE_TS = 1741186800


def reading(uid: str, ts: int, count: int) -> dict:
    return {"device_uid": uid, "timestamp": ts, "counter_val": count, **calendar_fields(ts, KST)}


@pytest.fixture
async def sqlite_store(tmp_path):
    async with SQLiteStore(tmp_path / "specgate.db") as store:
        yield store


def test_open_store_selects_sqlite_and_ignores_foreign_options(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", db_prefix="x_", exchange_retention_days=7)
    assert isinstance(store, SQLiteStore) and store.exchange_retention_days == 7.0
    assert store.path == str(tmp_path / "a.db")


async def test_the_writer_commits_with_wal_and_full_sync(sqlite_store):
    def writer_settings(conn: sqlite3.Connection) -> tuple[str, int]:
        return conn.execute("PRAGMA journal_mode").fetchone()[0], conn.execute("PRAGMA synchronous").fetchone()[0]

    # run as a write unit, so it reads the writer thread's own connection, the one every commit uses
    assert await sqlite_store._write(writer_settings) == ("wal", 2)  # 2 is FULL
    conn = sqlite3.connect(sqlite_store.path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
    finally:
        conn.close()


async def test_older_schema_is_migrated(tmp_path):
    path = str(tmp_path / "old.db")
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO tenants (name) VALUES ('gas_demo')")
    conn.execute(
        "INSERT INTO device (tenant, device_uid, doc) VALUES ('gas_demo', '0000AB01',"
        ' \'{"device_uid":"0000AB01","flag":true}\')'
    )
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'event'").fetchone() is None
    conn.close()

    async with SQLiteStore(path) as store:
        assert await store.get_device("gas_demo", "0000AB01") == {"device_uid": "0000AB01", "flag": True}
        event_id = await store.add_event("gas_demo", {"device_uid": "0000AB01", "event_time": 5, "event_code": 1})
        assert (await store.list_events("gas_demo", ListQuery())).items[0]["event_id"] == event_id
    conn = sqlite3.connect(path)
    assert schema_version(conn) == SCHEMA_VERSION == len(MIGRATIONS) >= 2
    conn.close()


async def test_a_version_2_file_gains_the_measurement_table(tmp_path):
    path = str(tmp_path / "v2.db")
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:2]) == 2
    conn.execute('INSERT INTO dead_letter (at, doc) VALUES (?, \'{"error":"junk"}\')', (time.time(),))
    conn.close()
    async with SQLiteStore(path) as store:
        assert (await store.list_dead_letters(ListQuery())).items[0]["error"] == "junk"
        assert (
            await store.record_measurements([{"device_type": "mbus", "device_id": "1", "at": 5, "values": {"v": 1}}])
            == 1
        )
    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'measurement'")}
    assert schema_version(conn) == SCHEMA_VERSION and {"measurement_at", "measurement_tenant_at"} <= indexes
    conn.close()


async def test_a_version_3_file_gains_tokens_throttling_and_attribution(tmp_path):
    path = str(tmp_path / "v3.db")
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:3]) == 3
    conn.execute(
        "INSERT INTO sessions (token_hash, login_id, expires_at, doc) VALUES ('h1', 'alice', 2e9,"
        ' \'{"token_hash":"h1","login_id":"alice","expires_at":2e9}\')'
    )
    conn.execute(
        "INSERT INTO misc_data (at, ip, port, device_type, doc) VALUES (?, '10.0.0.1', 5004, 'gas_meter',"
        ' \'{"ip":"10.0.0.1","at":1}\')',
        (time.time(),),
    )
    conn.execute(
        "INSERT INTO scale_weight_log (scale_id, cylinder_no, event_type, committed_at, doc)"
        " VALUES ('S1', 'C1', 'arrival', 5, '{\"cylinder_no\":\"C1\"}')"
    )
    conn.execute('INSERT INTO floating_users (ID, doc) VALUES (\'dave\', \'{"ID":"dave","flag":false}\')')
    conn.close()
    async with SQLiteStore(path) as store:
        assert (await store.get_session("h1", 1.0))["login_id"] == "alice"
        assert await store.touch_session("h1", 100.0, 1.0) is True
        assert await store.get_session("h1", 100.0) is None
        assert (await store.list_exchanges(ListQuery(filters={"tenant": None, "device_uid": None}))).total == 1
        assert (await store.search_weighings(ListQuery(filters={"tenant": None}))).total == 1
        assert (await store.list_registrations(ListQuery(any_of={"tenant": (None,)}))).total == 1
        await store.create_api_token(
            {
                "token_id": "t1",
                "token_hash": "x1",
                "name": "n",
                "scopes": [],
                "created_by": "alice",
                "created_at": 1.0,
            }
        )
        await store.note_login_failure("account:alice", time.time())
        assert await store.count_login_failures("account:alice", 0.0) == 1
    conn = sqlite3.connect(path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert schema_version(conn) == SCHEMA_VERSION >= 4
    assert {"misc_data_tenant_at", "sessions_expires_at", "login_failures_key_at", "api_tokens_tenant"} <= indexes
    conn.close()


async def test_login_failures_keep_a_thousand_per_key_and_a_day(sqlite_store):
    now = time.time()
    await sqlite_store.note_login_failure("address:192.0.2.7", now - 2 * 86400)
    await asyncio.gather(*(sqlite_store.note_login_failure("account:mallory", now - 2000 + i) for i in range(1005)))

    def rows(conn: sqlite3.Connection) -> dict[str, int]:
        return dict(conn.execute("SELECT key, COUNT(*) FROM login_failures GROUP BY key").fetchall())

    assert await sqlite_store._read(rows) == {"account:mallory": 1000}  # the old one went at the next insert
    assert await sqlite_store.count_login_failures("account:mallory", now - 2000 + 5) == 1000
    assert await sqlite_store.count_login_failures("account:mallory", now - 2000 + 6) == 999

    def age(conn: sqlite3.Connection) -> None:  # a failure that grew old since the last insert
        conn.execute("INSERT INTO login_failures (key, at) VALUES ('account:old', ?)", (now - 86400 - 1,))

    await sqlite_store._write(age)
    assert await sqlite_store.count_login_failures("account:old", 0.0) == 0


async def test_searches_fold_case_beyond_ascii_and_never_use_like(sqlite_store):
    await sqlite_store.add_user("gas_demo", {"ID": "u1", "name": "ÉCOLE Größe"})
    await sqlite_store.add_user("gas_demo", {"ID": "u2", "name": "ecole"})
    page = await sqlite_store.list_users("gas_demo", ListQuery(search="école"))
    assert [u["ID"] for u in page.items] == ["u1"]
    page = await sqlite_store.list_users("gas_demo", ListQuery(search="GRÖ"))
    assert [u["ID"] for u in page.items] == ["u1"]
    page = await sqlite_store.list_users("gas_demo", ListQuery(search="E_OLE"))
    assert page.items == []


async def test_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "new.db")
    conn = connect(path)
    migrate(conn)
    conn.execute("UPDATE specgate_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer"):
        await SQLiteStore(path).open()


async def test_reopen_keeps_data_and_is_idempotent(tmp_path):
    path = tmp_path / "specgate.db"
    for _ in range(2):
        store = SQLiteStore(path)
        await store.open()
        await store.open()
        await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)])
        await store.close()
        await store.close()
    async with SQLiteStore(path) as store:
        assert (await store.list_readings("gas_demo", ListQuery())).total == 1


async def test_concurrent_writes_share_commits(sqlite_store):
    uids = [f"{i:08X}" for i in range(300)]
    commits_before = sqlite_store.stats["commits"]
    results = await asyncio.gather(
        *(
            sqlite_store.record_report("gas_demo", uid, {}, [reading(uid, BASE_TS + 3600 * h, h) for h in range(24)])
            for uid in uids
        )
    )
    assert results == [24] * 300
    commits = sqlite_store.stats["commits"] - commits_before
    assert 1 <= commits < 300
    assert (await sqlite_store.list_readings("gas_demo", ListQuery(limit=1))).total == 7200


def _thread_of_unit(conn: sqlite3.Connection) -> int:
    return threading.get_ident()


async def test_the_writing_loops_units_run_on_its_thread_and_bulk_units_on_the_writer_thread(sqlite_store):
    loop_thread = threading.get_ident()
    await sqlite_store.add_tenant("gas_demo")  # after the purge the writer thread runs once it starts
    assert await sqlite_store._write(_thread_of_unit) == loop_thread
    writer_thread = await sqlite_store._write(_thread_of_unit, bulk=True)
    assert writer_thread != loop_thread
    commits = sqlite_store.stats["commits"]
    assert await asyncio.gather(*(sqlite_store._write(_thread_of_unit) for _ in range(20))) == [loop_thread] * 20
    assert sqlite_store.stats["commits"] - commits < 20  # still group commits


class _SlowToRelease:
    """The writer's lock, let go of 0.1 s late by any thread but the loop's: a writer thread that answered
    before it let go would have the caller's next unit find the connection still taken."""

    def __init__(self, lock: threading.Lock, loop_thread: int) -> None:
        self.lock, self.loop_thread = lock, loop_thread

    def acquire(self, blocking: bool = True) -> bool:
        return self.lock.acquire(blocking)

    def release(self) -> None:
        if threading.get_ident() != self.loop_thread:
            time.sleep(0.1)
        self.lock.release()


async def test_a_bulk_units_caller_is_answered_once_the_writer_thread_let_go_of_the_connection(sqlite_store):
    loop_thread = threading.get_ident()
    await sqlite_store.add_tenant("gas_demo")
    writer = sqlite_store._writer
    writer.lock = _SlowToRelease(writer.lock, loop_thread)
    await sqlite_store._write(_thread_of_unit, bulk=True)
    assert await sqlite_store._write(_thread_of_unit) == loop_thread


async def test_while_the_writer_thread_holds_the_connection_it_runs_the_loops_units_too(sqlite_store):
    release = threading.Event()

    def slow_bulk(conn: sqlite3.Connection) -> int:
        release.wait(5)
        return threading.get_ident()

    bulk = asyncio.ensure_future(sqlite_store._write(slow_bulk, bulk=True))
    await asyncio.sleep(0.05)
    quick = asyncio.ensure_future(sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)]))
    where = asyncio.ensure_future(sqlite_store._write(_thread_of_unit))
    await asyncio.sleep(0.05)
    assert not quick.done() and not where.done()  # the loop left the connection alone
    release.set()
    assert await where == await bulk  # the writer thread ran it, after its own
    assert await quick == 1


async def test_another_connections_write_lock_is_waited_for_on_the_writer_thread_never_on_the_loop(tmp_path):
    path = str(tmp_path / "specgate.db")
    async with SQLiteStore(path, busy_timeout=3.0) as store:
        blocker = connect(path)
        blocker.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)]))
        longest_gap, before = 0.0, time.monotonic()
        for _ in range(20):
            await asyncio.sleep(0.01)
            now = time.monotonic()
            longest_gap, before = max(longest_gap, now - before), now
        try:
            assert not write.done()
            assert longest_gap < 0.5  # the event loop kept running while the write waited
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await write == 1


async def test_point_reads_on_a_busy_database_go_to_the_reader_threads(sqlite_store, monkeypatch):
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01", "flag": True})

    class Busy:
        def execute(self, *args: object) -> None:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise error

    monkeypatch.setattr(sqlite_store, "_point_connection", Busy)
    threads = []
    run_read = sqlite_store._run_read
    monkeypatch.setattr(
        sqlite_store, "_run_read", lambda fn: threads.append(threading.current_thread()) or run_read(fn)
    )
    assert await sqlite_store.get_routed_device("0000AB01") == ("gas_demo", {"device_uid": "0000AB01", "flag": True})
    assert await sqlite_store.get_device("gas_demo", "0000AB01") == {"device_uid": "0000AB01", "flag": True}
    assert len(threads) == 2 and threading.current_thread() not in threads


async def test_a_point_read_that_fails_otherwise_is_the_store_unavailable(sqlite_store, monkeypatch):
    class Broken:
        def execute(self, *args: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_store, "_point_connection", Broken)
    with pytest.raises(StoreUnavailable):
        await sqlite_store.get_routed_device("0000AB01")


async def test_routed_device_is_one_read_and_refuses_a_route_get_device_would(sqlite_store, monkeypatch):
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01", "flag": True})
    reads = []
    point_connection = sqlite_store._point_connection
    monkeypatch.setattr(sqlite_store, "_point_connection", lambda: reads.append(1) or point_connection())
    monkeypatch.setattr(sqlite_store, "_run_read", lambda fn: pytest.fail("a point read went to a reader thread"))
    assert await sqlite_store.get_routed_device("0000AB01") == ("gas_demo", {"device_uid": "0000AB01", "flag": True})
    assert len(reads) == 1  # the route and the device in one read, on the caller's thread
    monkeypatch.undo()
    await sqlite_store.set_device_route("0000AB02", "gas_common")  # the common database is not a tenant
    with pytest.raises(InvalidInput):
        await sqlite_store.get_device("gas_common", "0000AB02")
    with pytest.raises(InvalidInput):
        await sqlite_store.get_routed_device("0000AB02")


async def test_a_routed_report_is_read_and_decided_inside_its_unit_after_the_writes_before_it(
    sqlite_store, monkeypatch
):
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01", "flag": True})
    monkeypatch.setattr(sqlite_store, "_point_connection", lambda: pytest.fail("the route was read outside the unit"))
    monkeypatch.setattr(sqlite_store, "_run_read", lambda fn: pytest.fail("the route went to a reader thread"))
    seen = []

    def decide(tenant, device):
        seen.append(device)
        return device["flag"], Report({"battery": 7}, [])

    # queued together: one group, the update's unit first; the decision sees the update it follows
    _, flag = await asyncio.gather(
        sqlite_store.update_device("gas_demo", "0000AB01", {"flag": False}),
        sqlite_store.record_routed_report("0000AB01", decide),
    )
    assert flag is False and seen == [{"device_uid": "0000AB01", "flag": False}]
    monkeypatch.undo()
    assert await sqlite_store.get_device("gas_demo", "0000AB01") == {
        "device_uid": "0000AB01",
        "flag": False,
        "battery": 7,
    }


async def test_a_refused_routed_report_leaves_its_group_alone_and_the_route_is_checked(sqlite_store):
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01", "flag": True})
    decisions = []

    def decide(tenant, device):
        decisions.append(tenant)
        return None, Report({"battery": float("nan")}, [])

    commits = sqlite_store.stats["commits"]
    outcomes = await asyncio.gather(
        sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)]),
        sqlite_store.record_routed_report("0000AB01", decide),
        sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS + 3600, 2)]),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and outcomes[2] == 1 and isinstance(outcomes[1], InvalidInput)
    # refused before its first write: the group was not run again with a savepoint per unit
    assert decisions == ["gas_demo"] and sqlite_store.stats["commits"] - commits == 1
    await sqlite_store.set_device_route("0000AB02", "gas_common")  # the common database is not a tenant
    with pytest.raises(InvalidInput):
        await sqlite_store.record_routed_report("0000AB02", lambda tenant, device: pytest.fail("decided"))


async def test_a_failing_unit_does_not_fail_its_batch(sqlite_store):
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01"})
    outcomes = await asyncio.gather(
        sqlite_store.insert_readings("gas_demo", [reading("0000AB02", BASE_TS, 1)]),
        sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01"}),
        sqlite_store.add_device("gas_demo", {"device_uid": "0000AB03"}),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], Conflict) and outcomes[2] is None
    assert await sqlite_store.get_device("gas_demo", "0000AB03") == {"device_uid": "0000AB03"}
    assert (await sqlite_store.list_readings("gas_demo", ListQuery())).total == 1


async def test_a_unit_failing_after_others_wrote_keeps_theirs_and_rolls_back_its_own(sqlite_store):
    """The group runs without savepoints first; a failure rolls it back and runs it again unit by unit."""
    await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB01"})
    before = dict(sqlite_store.stats)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE device SET doc = json_patch(doc, '{\"half\":1}') WHERE device_uid = '0000AB01'")
        raise Conflict("refused half way")

    outcomes = await asyncio.gather(
        sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)]),
        sqlite_store._write(half_then_fail),
        sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS + 3600, 2)]),
        return_exceptions=True,
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], Conflict) and outcomes[2] == 1
    assert sqlite_store.stats["units"] - before["units"] == 3
    assert await sqlite_store.get_device("gas_demo", "0000AB01") == {"device_uid": "0000AB01"}
    assert (await sqlite_store.list_readings("gas_demo", ListQuery())).total == 2


async def test_a_batch_larger_than_one_insert_counts_only_the_new_readings(sqlite_store):
    readings = [reading("0000AB01", BASE_TS + 3600 * i, i) for i in range(250)]
    assert await sqlite_store.insert_readings("gas_demo", readings) == 250
    more = [reading("0000AB01", BASE_TS + 3600 * i, i) for i in range(200, 330)]
    assert await sqlite_store.insert_readings("gas_demo", more) == 80
    page = await sqlite_store.list_readings("gas_demo", ListQuery(limit=1000))
    assert page.total == 330 and {r["counter_val"] for r in page.items} == set(range(330))


@pytest.mark.parametrize(
    "bad",
    [
        {"counter_val": True},
        {"counter_val": 1.5},
        {"device_uid": "$where"},
        {"device_uid": "AB\x00"},
        {"device_uid": 7},
    ],
)
async def test_one_unusable_reading_in_a_complete_batch_is_refused(sqlite_store, bad):
    readings = [reading("0000AB01", BASE_TS + 3600 * i, i) for i in range(24)]
    readings[17] = {**readings[17], **bad}
    with pytest.raises(InvalidInput):
        await sqlite_store.insert_readings("gas_demo", readings)
    assert (await sqlite_store.list_readings("gas_demo", ListQuery())).total == 0


async def test_a_tenant_found_valid_once_does_not_open_the_door_to_others(sqlite_store):
    await sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)])
    assert await sqlite_store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS + 3600, 2)]) == 1
    for bad in ("gas_common", "gas-demo", "", 7, None):
        with pytest.raises(InvalidInput):
            await sqlite_store.insert_readings(bad, [reading("0000AB01", BASE_TS, 1)])
    for i in range(5000):
        sqlite_store._check_tenant(f"t{i}")
    assert len(sqlite_store._valid_tenants) <= 4096


async def test_types_round_trip_exactly(sqlite_store):
    doc = {
        "device_uid": "0000AB01",
        "flag": False,
        "count": 2**40,
        "ratio": 0.1,
        "blob": b"\x00\xffraw",
        "price": Decimal("1.10"),
        "nested": {"list": [1, "two", b"\x03", Decimal("-0"), None, True]},
        "when": datetime(2025, 3, 6, 9, 0, tzinfo=UTC),
        'quote"d': "it's",
        "unicode": "실내",
    }
    await sqlite_store.add_device("gas_demo", doc)
    got = await sqlite_store.get_device("gas_demo", "0000AB01")
    assert got == doc
    assert type(got["flag"]) is bool and type(got["count"]) is int and type(got["blob"]) is bytes
    assert str(got["price"]) == "1.10" and str(got["nested"]["list"][3]) == "-0"
    page = await sqlite_store.browse("gas_demo", "device", ListQuery(filters={"unicode": "실내"}))
    assert page.total == 1
    with pytest.raises(InvalidInput):
        await sqlite_store.browse("gas_demo", "device", ListQuery(filters={'quote"d': "it's"}))
    with pytest.raises(InvalidInput):
        await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB02", "big": 2**70})
    with pytest.raises(InvalidInput):
        await sqlite_store.add_device("gas_demo", {"device_uid": "0000AB02", "nan": float("nan")})
    with pytest.raises(InvalidInput):
        await sqlite_store.add_device("gas_common", {"device_uid": "0000AB02"})
    assert await sqlite_store.get_device("gas_demo", "0000AB02") is None


async def test_exchanges_and_dead_letters_are_purged_periodically(tmp_path):
    async with SQLiteStore(
        tmp_path / "specgate.db", exchange_retention_days=1, dead_letter_retention_days=3, purge_interval=0.05
    ) as store:
        now = time.time()
        old = {"ip": "10.0.0.1", "port": 5004, "at": now - 2 * 86400, "recv": b"old"}
        fresh = {"ip": "10.0.0.1", "port": 5004, "at": now, "recv": b"new"}
        await store.log_exchange(old)
        await store.log_exchange(fresh)
        for age_days, data in ((4, b"expired"), (2, b"kept")):
            await store.add_dead_letter(
                {
                    "device_type": "gas_meter",
                    "ip": "10.0.0.1",
                    "port": 5004,
                    "at": now - age_days * 86400,
                    "data": data,
                    "error": "junk",
                    "path": "",
                }
            )
        for _ in range(200):
            if store.stats["purged_exchanges"] and store.stats["purged_dead_letters"]:
                break
            await asyncio.sleep(0.02)
        page = await store.list_exchanges(ListQuery())
        assert [e["recv"] for e in page.items] == [b"new"]
        assert [d["data"] for d in (await store.list_dead_letters(ListQuery())).items] == [b"kept"]
        assert (store.stats["purged_exchanges"], store.stats["purged_dead_letters"]) == (1, 1)


async def test_close_flushes_pending_writes_and_stops_threads(tmp_path):
    path = tmp_path / "specgate.db"
    store = SQLiteStore(path)
    await store.open()
    tasks = [
        asyncio.ensure_future(store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS + i, i)]))
        for i in range(50)
    ]
    await asyncio.sleep(0)
    await store.close()
    assert sum(await asyncio.gather(*tasks)) == 50
    assert not any(t.name.startswith("specgate-sqlite") for t in threading.enumerate())
    with pytest.raises(StoreUnavailable):
        await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)])
    with pytest.raises(StoreUnavailable):
        await store.ping()
    async with SQLiteStore(path) as reopened:
        assert (await reopened.list_readings("gas_demo", ListQuery())).total == 50


async def test_unusable_database_is_unavailable(tmp_path):
    with pytest.raises(StoreUnavailable):
        await SQLiteStore(tmp_path / "missing-dir" / "specgate.db").open()
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not a database file" * 100)
    with pytest.raises(StoreUnavailable):
        await SQLiteStore(not_a_db).open()


async def test_locked_database_is_unavailable_and_others_still_commit(tmp_path):
    path = str(tmp_path / "specgate.db")
    async with SQLiteStore(path, busy_timeout=0.2) as store:
        blocker = connect(path)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable):
                await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)]) == 1
        assert store.stats["failed_commits"] == 0


async def test_weighing_ids_increase_across_two_stores_on_one_file(tmp_path):
    path = tmp_path / "specgate.db"
    async with SQLiteStore(path) as first, SQLiteStore(path) as second:
        record = {
            "scale_id": "S1",
            "cylinder_no": "C1",
            "event_type": "arrival",
            "committed_at": 1.0,
            "gross_kg": Decimal("1.000"),
        }
        ids = [(await store.commit_weighing(record))["id"] for store in (first, second, first, second)]
        assert ids == sorted(ids) and len(set(ids)) == 4
        assert await second.get_scale_latest("S1") is None
        await first.set_scale_latest("S1", {"status": "ST", "weight": Decimal("2.50")})
        assert (await second.get_scale_latest("S1"))["weight"] == Decimal("2.50")


async def test_a_deleted_database_file_is_unavailable(tmp_path):
    path = tmp_path / "specgate.db"
    async with SQLiteStore(path) as store:
        await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS, 1)])
        path.unlink()
        with pytest.raises(StoreUnavailable, match="gone"):
            await store.insert_readings("gas_demo", [reading("0000AB01", BASE_TS + 1, 2)])
