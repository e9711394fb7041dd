"""``specgate simulate scale`` reports the scale id the listener it streams to assigns, or says it cannot."""

from __future__ import annotations

import json
import re
import socket
import threading

import yaml

from core.cli import main


def sink() -> tuple[socket.socket, int]:
    """A TCP server that reads whatever one client sends, in a thread."""
    server = socket.create_server(("127.0.0.1", 0))

    def drain() -> None:
        connection, _ = server.accept()
        with connection:
            while connection.recv(4096):
                pass

    threading.Thread(target=drain, daemon=True).start()
    return server, server.getsockname()[1]


def test_the_scale_id_comes_from_the_configured_listener_on_that_port(tmp_path, capsys):
    server, port = sink()
    with server:
        config = tmp_path / "site.yaml"
        config.write_text(
            yaml.safe_dump(
                {"listeners": [{"device_type": "fg150kal", "port": port, "options": {"scale_id": "dock-7"}}]}
            )
        )
        assert main(["simulate", "scale", "--port", str(port), "--lines", "5", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["scale_id"] == "dock-7"


def test_without_a_configuration_the_scale_id_is_not_guessed(capsys):
    server, port = sink()
    with server:
        assert main(["simulate", "scale", "--port", str(port), "--lines", "5"]) == 0
    captured = capsys.readouterr()
    assert "scale_id" not in json.loads(captured.out) and "pass --scale-id or --config" in captured.err
    server, port = sink()
    with server:
        assert main(["simulate", "scale", "--port", str(port), "--lines", "5", "--scale-id", "s1"]) == 0
    assert json.loads(capsys.readouterr().out)["scale_id"] == "s1"


def test_progress_shows_on_stderr_when_forced_and_never_in_the_summary(capsys):
    server, port = sink()
    with server:
        assert main(["simulate", "scale", "--port", str(port), "--lines", "5", "--scale-id", "s1", "--progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert re.search(rf"scale: 100%.*{summary['bytes']}/{summary['bytes']}", captured.err)
    server, port = sink()
    with server:
        assert main(["simulate", "scale", "--port", str(port), "--lines", "5", "--scale-id", "s1"]) == 0
    assert "scale:" not in capsys.readouterr().err
