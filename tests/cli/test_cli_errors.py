"""Every CLI failure is one sentence on stderr and exit status 1: a web port that is taken, a host that does
not resolve, a command run without its action, a bare ``specgate``."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

import pytest

from core.cli import build_parser, main
from tests.gateway.serving import clean_env


def serve_fails(tmp_path, *args: str) -> str:
    """``specgate serve ARGS`` on a fresh store, which must fail: its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "core", "serve", "--no-listeners", "--store", f"sqlite:///{tmp_path / 'x.db'}", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    return result.stderr


def one_sentence(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("specgate: error: "), stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


def test_a_web_port_in_use_is_one_sentence(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        line = one_sentence(serve_fails(tmp_path, "--host", "127.0.0.1", "--web-port", str(port)))
    assert line == f"specgate: error: cannot serve the web app on 127.0.0.1:{port}: Address already in use"


def test_a_host_that_does_not_resolve_is_one_sentence(tmp_path):
    line = one_sentence(serve_fails(tmp_path, "--host", "999.1.1.1", "--web-port", "0"))
    assert line.startswith("specgate: error: cannot serve the web app on 999.1.1.1:0: ")


def command_groups() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser that takes an action (``specgate``, ``specgate devices``, ...), by its command line."""
    found, todo = [], [build_parser()]
    while todo:
        parser = todo.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.append((parser.prog, parser))
                todo.extend(action.choices.values())
    return sorted(found, key=lambda item: item[0])


@pytest.mark.parametrize("prog", [prog for prog, _ in command_groups()])
def test_a_command_run_without_its_action_names_the_actions(prog, capsys):
    parser = dict(command_groups())[prog]
    names = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    status = main(prog.split()[1:])
    err = capsys.readouterr().err
    assert status == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"{prog}: error: ") and "usage:" not in err
    assert f"name one of {', '.join(names)} (see '{prog} --help')" in err


@pytest.mark.parametrize(
    "argv, prog",
    [
        (["--bogus"], "specgate"),
        (["replay", "gas_meter", "--limit", "3"], "specgate replay"),
        (["tenants", "list", "--x"], "specgate tenants list"),
    ],
)
def test_unknown_arguments_are_blamed_on_the_command_they_were_given_to(argv, prog, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"{prog}: error: unrecognized arguments: ") and err.endswith(f"(see '{prog} --help')\n")
