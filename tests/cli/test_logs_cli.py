"""``specgate exchanges list``, ``dead-letters list|show`` and ``backup`` on a SQLite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest

from core.cli import main
from core.store import ListQuery, open_store
from core.timeutil import DEFAULT_TZ_OFFSET, local_string, tz_from_offset

#: recent, so the store's retention keeps what the tests write
T0 = float(int(time.time()) - 600)


async def _seed(path) -> str:
    async with open_store(f"sqlite:///{path}") as store:
        for n in range(3):
            await store.log_exchange(
                {"ip": f"198.51.100.{n}", "port": 5004, "datetime": "x", "recv": bytes([0xA0, n]), "recv_len": 2}
                | {"send": b"", "send_len": 0, "at": T0 + n, "device_type": "gas_meter"}
            )
        return await store.add_dead_letter(
            {"device_type": "gas_meter", "ip": "198.51.100.9", "port": 5004, "at": T0}
            | {"data": b"\xde\xad\xbe\xef" * 20, "error": "checksum mismatch", "path": "report -> crc"}
        )


def test_exchanges_list_prints_newest_first_with_hex(tmp_path, capsys):
    db = tmp_path / "specgate.db"
    asyncio.run(_seed(db))
    assert main(["exchanges", "list", "--store", str(db), "--json", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [row["recv"] for row in rows] == ["a002", "a001"]
    assert rows[0]["at"] == local_string(T0 + 2, tz_from_offset(DEFAULT_TZ_OFFSET))
    assert f"store: sqlite:///{db}" in err and "2 of 3 exchanges" in err
    assert main(["exchanges", "list", "--store", str(db), "--ip", "198.51.100.0"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and "a000" in table[1]


def test_dead_letters_list_and_show(tmp_path, capsys):
    db = tmp_path / "specgate.db"
    letter_id = asyncio.run(_seed(db))
    assert main(["dead-letters", "list", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "checksum mismatch" in out and "report -> crc" in out and "deadbeef" in out and "..." in out
    assert main(["dead-letters", "show", letter_id, "--store", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["data"] == "deadbeef" * 20 and shown["error"] == "checksum mismatch"
    assert main(["dead-letters", "show", "999999", "--store", str(db)]) == 1
    assert "no dead letter 999999" in capsys.readouterr().err


def test_an_admin_command_does_not_create_a_missing_store_unless_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["exchanges", "list", "--store", "specgat.db"]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "--create" in err and not (tmp_path / "specgat.db").exists()
    assert main(["tenants", "add", "gas_demo", "--store", "specgat.db", "--create"]) == 0
    assert (tmp_path / "specgat.db").exists()


def test_backup_copies_a_store_while_a_writer_holds_a_transaction_open(tmp_path, capsys):
    db, copy = tmp_path / "specgate.db", tmp_path / "copy.db"
    asyncio.run(_seed(db))
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM misc_data")  # not committed: the copy must not see it
        assert main(["backup", str(copy), "--store", str(db)]) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "backed up" in capsys.readouterr().out
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    async def count() -> int:
        async with open_store(f"sqlite:///{copy}") as restored:
            return (await restored.list_exchanges(ListQuery())).total

    assert asyncio.run(count()) == 3
    assert main(["backup", str(copy), "--store", str(db)]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert main(["backup", str(copy), "--store", str(db), "--force"]) == 0


@pytest.mark.parametrize("url", ["mongodb://127.0.0.1:1/"])
def test_backup_of_a_mongodb_store_points_to_mongodump(url, capsys):
    assert main(["backup", "x.db", "--store", url]) == 1
    assert "mongodump" in capsys.readouterr().err
