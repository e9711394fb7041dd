"""Admin commands on both store backends: tenants, devices, users."""

from __future__ import annotations

import io
import json

import pytest

from core.cli import main
from core.cli.admin import read_password
from core.errors import ConfigError
from core.security.passwords import hash_password, needs_rehash, verify_password
from tests.conftest import on_store


def test_tenants_and_devices(config_file, backend_url, capsys):
    assert main(["tenants", "add", "gas_demo", "--config", config_file]) == 0
    assert main(["tenants", "add", "gas_demo", "--config", config_file]) == 0
    assert (
        main(
            [
                "devices",
                "add",
                "D4245A98",
                "--tenant",
                "gas_demo",
                "--ref-interval",
                "43200",
                "--server-ip",
                "192.0.2.10",
                "--server-port",
                "5004",
                "--min",
                "10",
                "--max",
                "7200",
                "--initial-count",
                "1234",
                "--active",
                "--config",
                config_file,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "devices",
                "add",
                "00000001",
                "--tenant",
                "gas_demo",
                "--ref-interval",
                "3600",
                "--server-ip",
                "192.0.2.10",
                "--server-port",
                "5004",
                "--config",
                config_file,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "device D4245A98 added to tenant gas_demo, active" in out
        and "00000001 added to tenant gas_demo, inactive" in out
    )
    device = on_store(backend_url, lambda s: s.get_device("gas_demo", "D4245A98"))
    expected = {
        "device_uid": "D4245A98",
        "ref_interval": 43200,
        "server_ip": "192.0.2.10",
        "server_port": 5004,
        "minimum": 10,
        "maximum": 7200,
        "initial_count": 1234,
        "flag": True,
    }
    assert {k: device[k] for k in expected} == expected
    assert all(type(device[k]) is int for k in ("ref_interval", "server_port", "minimum", "maximum", "initial_count"))
    assert on_store(backend_url, lambda s: s.get_device("gas_demo", "00000001"))["flag"] is False
    assert on_store(backend_url, lambda s: s.get_device_route("D4245A98")) == "gas_demo"

    assert main(["devices", "list", "--format", "json", "--config", config_file]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["tenant"], d["device_uid"], d["flag"]) for d in listed] == [
        ("gas_demo", "00000001", False),
        ("gas_demo", "D4245A98", True),
    ]
    assert main(["devices", "list", "--tenant", "gas_demo", "--config", config_file]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split()[:3] == ["tenant", "device_uid", "flag"] and len(text) == 3
    assert main(["tenants", "list", "--format", "json", "--config", config_file]) == 0
    assert "gas_demo" in json.loads(capsys.readouterr().out)


def test_device_errors(config_file, capsys):
    args = ["--ref-interval", "60", "--server-ip", "192.0.2.10", "--server-port", "5004", "--config", config_file]
    assert main(["devices", "add", "D4245A98", "--tenant", "gas_nowhere", *args]) == 1
    assert "tenant gas_nowhere does not exist" in capsys.readouterr().err
    assert main(["tenants", "add", "gas_demo", "--config", config_file]) == 0
    assert main(["devices", "add", "D4245A98", "--tenant", "gas_demo", *args]) == 0
    assert main(["devices", "add", "D4245A98", "--tenant", "gas_demo", *args]) == 1
    assert "device D4245A98 already exists (tenant gas_demo)" in capsys.readouterr().err
    good = {"uid": "D4245A99", "--server-ip": "192.0.2.10", "--server-port": "5004"}
    for field, value, named in (
        ("uid", "d4245a98", "device UID 'd4245a98'"),
        ("--server-ip", "300.1.1.1", "server IP"),
        ("--server-port", "70000", "--server-port"),
    ):
        chosen = {**good, field: value}
        with pytest.raises(SystemExit):
            main(
                [
                    "devices",
                    "add",
                    chosen["uid"],
                    "--tenant",
                    "gas_demo",
                    "--ref-interval",
                    "60",
                    "--server-ip",
                    chosen["--server-ip"],
                    "--server-port",
                    chosen["--server-port"],
                    "--config",
                    config_file,
                ]
            )
        assert named in capsys.readouterr().err


def test_users_add_reads_the_password_from_stdin(config_file, backend_url, monkeypatch, capsys):
    assert main(["tenants", "add", "gas_demo", "--config", config_file]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert (
        main(
            [
                "users",
                "add",
                "hanskim",
                "--tenant",
                "gas_demo",
                "--role",
                "admin",
                "--name",
                "Hans Kim",
                "--config",
                config_file,
            ]
        )
        == 0
    )
    assert "user hanskim (admin) added to tenant gas_demo" in capsys.readouterr().out
    tenant, user = on_store(backend_url, lambda s: s.find_user("hanskim"))
    assert tenant == "gas_demo"
    assert (user["role"], user["level"], user["name"], user["flag"]) == ("admin", 16, "Hans Kim", True)
    assert "correct horse" not in user["passwd"] and verify_password("correct horse battery", user["passwd"])
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["users", "add", "hanskim", "--tenant", "gas_demo", "--role", "user", "--config", config_file]) == 1
    assert "login hanskim already exists" in capsys.readouterr().err


def test_users_add_system_administrator_and_roles(config_file, backend_url, monkeypatch, capsys):
    assert main(["tenants", "add", "gas_demo", "--config", config_file]) == 0
    add = ["users", "add", "--tenant", "gas_demo", "--config", config_file]
    for login, flags in (("root", ["--role", "admin", "--system-admin"]), ("old", ["--role", "guest"])):
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        assert main([*add[:2], login, *add[2:], *flags]) == 0
    out = capsys.readouterr().out
    assert "user root (admin, system administrator) added" in out and "user old (viewer) added" in out
    root = on_store(backend_url, lambda s: s.get_user("gas_demo", "root"))
    assert (root["role"], root["level"], root["system_admin"]) == ("admin", 16, True)
    old = on_store(backend_url, lambda s: s.get_user("gas_demo", "old"))
    assert (old["role"], old["level"], "system_admin" in old) == ("viewer", 1, False)
    for role in ("operator", "installer", "user", "viewer"):
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        assert main([*add[:2], f"{role}1", *add[2:], "--role", role]) == 0
        assert on_store(backend_url, lambda s, login=f"{role}1": s.get_user("gas_demo", login))["role"] == role
    with pytest.raises(SystemExit):
        main([*add[:2], "king1", *add[2:], "--role", "king"])
    assert "invalid choice: 'king'" in capsys.readouterr().err


def test_password_prompt_and_rules():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["a-long-secret", "a-long-secret"])
    assert read_password(Terminal(), prompt=lambda _: next(answers)) == "a-long-secret"
    answers = iter(["a-long-secret", "another-one"])
    with pytest.raises(ConfigError, match="differ"):
        read_password(Terminal(), prompt=lambda _: next(answers))
    with pytest.raises(ConfigError, match="at least 8"):
        read_password(io.StringIO("short\n"))


def test_password_hashes_are_salted_and_checked():
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret-pass", first) and verify_password("s3cret-pass", second)
    assert not verify_password("s3cret-pasS", first)
    assert not needs_rehash(first) and needs_rehash("scrypt$1024$8$1$AAAA$BBBB")
    for broken in (
        "",
        "sha256$abc",
        "scrypt$x$8$1$AA==$AA==",
        "scrypt$16384$8$1$!!$AA==",
        first.replace("$8$", "$99$"),
    ):
        assert not verify_password("s3cret-pass", broken)


def test_a_mongodb_store_that_is_down_is_one_sentence_without_the_driver_dump(capsys, unused_tcp_port):
    assert (
        main(["tenants", "list", "--store", f"mongodb://127.0.0.1:{unused_tcp_port}/?serverSelectionTimeoutMS=500"])
        == 1
    )
    err = capsys.readouterr().err
    line = [text for text in err.splitlines() if text.startswith("specgate: error:")]
    assert len(line) == 1 and "MongoDB unavailable" in line[0]
    assert "Topology" not in err and "configured timeouts" not in err and "Traceback" not in err


def test_a_listen_flag_error_names_the_key_apart_from_the_value(capsys):
    assert main(["serve", "--listen", "gas_meter:5999:allow=192.0.2.0/33", "--no-web"]) == 1
    assert "--listen gas_meter:5999:allow=192.0.2.0/33: allow: '192.0.2.0/33' is not an IP" in capsys.readouterr().err
    for flag, expected in (
        ("gas_meter:99999", "--listen gas_meter:99999: port must be between 0 and 65535, got 99999"),
        ("gas_meter:5999:backlog=none", "--listen gas_meter:5999:backlog=none: backlog must be an integer, got 'none'"),
        ("gas_meter:5999:idle_timeout=x", "--listen gas_meter:5999:idle_timeout=x: idle_timeout must be a number"),
    ):
        assert main(["serve", "--listen", flag, "--no-web"]) == 1
        assert f"specgate: error: {expected}" in capsys.readouterr().err
