"""``specgate devices update|delete|import`` on both store backends."""

from __future__ import annotations

import json
import re

import pytest

from core.cli import main
from tests.conftest import on_store

T = "gas_demo"
ADD = ["--ref-interval", "3600", "--server-ip", "192.0.2.10", "--server-port", "5004"]


@pytest.fixture
def config_file(config_file) -> str:
    """The shared store, with the tenant these tests use."""
    assert main(["tenants", "add", T, "--config", config_file]) == 0
    return config_file


def test_update_changes_only_the_given_fields_and_refuses_unknown_devices(config_file, backend_url, capsys):
    assert main(["devices", "add", "D4245A98", "--tenant", T, *ADD, "--config", config_file]) == 0
    assert main(["devices", "update", "D4245A98", "--ref-interval", "600", "--active", "--config", config_file]) == 0
    assert "ref_interval=600, flag=True" in capsys.readouterr().out
    device = on_store(backend_url, lambda s: s.get_device(T, "D4245A98"))
    assert (device["ref_interval"], device["flag"], device["server_ip"]) == (600, True, "192.0.2.10")
    assert main(["devices", "update", "D4245A98", "--inactive", "--config", config_file]) == 0
    assert on_store(backend_url, lambda s: s.get_device(T, "D4245A98"))["flag"] is False
    assert main(["devices", "update", "D4245A98", "--config", config_file]) == 1
    assert "nothing to change" in capsys.readouterr().err
    assert main(["devices", "update", "D4245A99", "--min", "1", "--config", config_file]) == 1
    assert "device D4245A99 does not exist" in capsys.readouterr().err
    assert main(["devices", "update", "D4245A98", "--tenant", "gas_other", "--min", "1", "--config", config_file]) == 1
    assert main(["devices", "update", "D4245A98", "--min", "9000", "--max", "10", "--config", config_file]) == 1
    assert "above maximum" in capsys.readouterr().err


def test_delete_refuses_a_device_with_readings_unless_forced(config_file, backend_url, capsys):
    assert main(["devices", "add", "D4245A98", "--tenant", T, *ADD, "--config", config_file]) == 0
    on_store(
        backend_url,
        lambda s: s.insert_readings(T, [{"device_uid": "D4245A98", "timestamp": 1741190400, "counter_val": 5}]),
    )
    assert main(["devices", "delete", "D4245A98", "--config", config_file]) == 1
    assert "has 1 readings" in capsys.readouterr().err
    assert main(["devices", "delete", "D4245A98", "--force", "--config", config_file]) == 0
    assert on_store(backend_url, lambda s: s.get_device_route("D4245A98")) is None


def test_import_adds_good_rows_and_reports_each_refused_one(config_file, backend_url, tmp_path, capsys):
    assert main(["devices", "add", "D4245A90", "--tenant", T, *ADD, "--config", config_file]) == 0
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text(
        "device_uid,ref_interval,server_ip,server_port,flag,meter_id\n"
        "D4245A91,3600,192.0.2.10,5004,true,M1\n"
        "D4245A92,3600,192.0.2.10,5004,false,\n"
        "D4245A91,3600,192.0.2.10,5004,true,\n"  # repeated
        "D4245A90,3600,192.0.2.10,5004,true,\n"  # already registered
        "nothex!!,3600,192.0.2.10,5004,true,\n"
        "D4245A93,0,192.0.2.10,5004,true,\n"
        "D4245A94,3600,999.1.1.1,5004,true,\n"
    )
    capsys.readouterr()
    assert main(["devices", "import", str(csv_file), "--tenant", T, "--format", "json", "--config", config_file]) == 1
    captured = capsys.readouterr()
    report = {entry["line"]: entry for entry in json.loads(captured.out)}
    assert sorted(report) == [4, 5, 6, 7, 8]
    assert "repeated" in report[4]["reason"] and "already registered in this tenant" in report[5]["reason"]
    assert "nothex!!" in report[6]["reason"] and "8 characters" in report[6]["reason"]
    assert "ref_interval" in report[7]["reason"] and "IPv4" in report[8]["reason"]
    assert "2 added, 5 refused, of 7 rows" in captured.err
    added = on_store(backend_url, lambda s: s.get_device(T, "D4245A91"))
    assert (added["meter_id"], added["flag"], added["ref_interval"]) == ("M1", True, 3600)
    assert on_store(backend_url, lambda s: s.get_device(T, "D4245A92"))["flag"] is False


def test_import_dry_run_adds_nothing(config_file, backend_url, tmp_path, capsys):
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text("device_uid,ref_interval,server_ip,server_port\nD4245A95,3600,192.0.2.10,5004\n")
    assert main(["devices", "import", str(csv_file), "--tenant", T, "--dry-run", "--all", "--config", config_file]) == 0
    assert "1 would be added, 0 refused" in capsys.readouterr().err
    assert on_store(backend_url, lambda s: s.get_device_route("D4245A95")) is None


def test_import_progress_goes_to_stderr_only_when_asked(config_file, tmp_path, capsys):
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text("device_uid,ref_interval,server_ip,server_port\nD4245A96,3600,192.0.2.10,5004\n")
    argv = ["devices", "import", str(csv_file), "--tenant", T, "--dry-run", "--all", "--format", "json"]
    assert main([*argv, "--progress", "--config", config_file]) == 0
    captured = capsys.readouterr()
    assert re.search(r"devices: 100%.*1/1", captured.err)
    assert json.loads(captured.out)[0]["result"] == "checked"
    assert main([*argv, "--config", config_file]) == 0
    assert "devices:" not in capsys.readouterr().err
    csv_file.write_text("device_uid,ref_interval,server_ip,server_port\nD4245A97,3600,192.0.2.10,5004\n")
    assert main(["devices", "import", str(csv_file), "--tenant", T, "--config", config_file]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "1 added, 0 refused, of 1 rows" in captured.err  # no empty table
