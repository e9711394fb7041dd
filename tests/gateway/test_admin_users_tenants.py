"""``specgate users list|update|disable|enable`` and ``specgate tenants delete`` on both store backends."""

from __future__ import annotations

import io
import json
import time

import pytest

from core.cli import main
from core.security.passwords import verify_password
from tests.conftest import on_store

T = "gas_demo"


@pytest.fixture
def config_file(config_file) -> str:
    """The shared store, with the tenant these tests use."""
    assert main(["tenants", "add", T, "--config", config_file]) == 0
    return config_file


def add_user(config_file, monkeypatch, login, role="user"):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["users", "add", login, "--tenant", T, "--role", role, "--config", config_file]) == 0


def session(login):
    now = time.time()
    return {"token_hash": f"h-{login}", "login_id": login, "tenant": T, "role": "user", "expires_at": now + 3600}


def test_users_list_never_shows_password_hashes(config_file, monkeypatch, capsys):
    add_user(config_file, monkeypatch, "alice", "admin")
    add_user(config_file, monkeypatch, "bob", "guest")
    capsys.readouterr()
    assert main(["users", "list", "--format", "json", "--config", config_file]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert [(row["ID"], row["role"], row["tenant"]) for row in rows] == [("alice", "admin", T), ("bob", "viewer", T)]
    assert "passwd" not in out and "scrypt" not in out


def test_update_changes_a_user_and_a_new_role_or_password_ends_its_sessions(
    config_file, backend_url, monkeypatch, capsys
):
    add_user(config_file, monkeypatch, "alice")
    on_store(backend_url, lambda s: s.create_session(session("alice")))
    assert main(["users", "update", "alice", "--name", "Alice K", "--config", config_file]) == 0
    assert "session(s) ended" not in capsys.readouterr().out
    assert on_store(backend_url, lambda s: s.get_session("h-alice", time.time())) is not None
    assert main(["users", "update", "alice", "--role", "operator", "--config", config_file]) == 0
    assert "role=operator; 1 session(s) ended" in capsys.readouterr().out
    user = on_store(backend_url, lambda s: s.get_user(T, "alice"))
    assert (user["name"], user["role"], user["level"]) == ("Alice K", "operator", 8)
    assert on_store(backend_url, lambda s: s.get_session("h-alice", time.time())) is None
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["users", "update", "alice", "--password", "--config", config_file]) == 0
    assert verify_password("a brand new password", on_store(backend_url, lambda s: s.get_user(T, "alice"))["passwd"])
    assert main(["users", "update", "alice", "--config", config_file]) == 1
    assert main(["users", "update", "nobody", "--name", "x", "--config", config_file]) == 1
    assert "user nobody does not exist" in capsys.readouterr().err


def test_disable_ends_the_sessions_at_once_and_enable_lets_the_user_in_again(
    config_file, backend_url, monkeypatch, capsys
):
    add_user(config_file, monkeypatch, "alice")
    on_store(backend_url, lambda s: s.create_session(session("alice")))
    assert main(["users", "disable", "alice", "--config", config_file]) == 0
    assert "disabled; 1 session(s) ended" in capsys.readouterr().out
    assert on_store(backend_url, lambda s: s.get_user(T, "alice"))["flag"] is False
    assert on_store(backend_url, lambda s: s.get_session("h-alice", time.time())) is None
    assert main(["users", "enable", "alice", "--config", config_file]) == 0
    assert on_store(backend_url, lambda s: s.get_user(T, "alice"))["flag"] is True


def test_tenants_delete_refuses_a_tenant_holding_data_unless_forced(config_file, backend_url, monkeypatch, capsys):
    assert main(["tenants", "add", "gas_empty", "--config", config_file]) == 0
    assert main(["tenants", "delete", "gas_empty", "--config", config_file]) == 0
    add_user(config_file, monkeypatch, "alice")
    capsys.readouterr()
    assert main(["tenants", "delete", T, "--config", config_file]) == 1
    assert "holds 1 users; pass --force" in capsys.readouterr().err
    assert on_store(backend_url, lambda s: s.find_user("alice")) is not None
    assert main(["tenants", "delete", T, "--force", "--config", config_file]) == 0
    assert "1 users" in capsys.readouterr().out
    assert on_store(backend_url, lambda s: s.list_tenants()) == []
    assert main(["tenants", "delete", T, "--config", config_file]) == 1
