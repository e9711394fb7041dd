"""``specgate serve`` as a real subprocess: prints its endpoints, answers TCP and HTTP, stops on SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import yaml

STARTUP_TIMEOUT = 30.0


class Output:
    """The process's stdout lines, read by a thread so that waiting never blocks on a pipe."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, marker: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if marker in line:
                return self.seen
        raise AssertionError(f"{marker!r} not printed; output so far: {self.seen}")


def test_serve_prints_endpoints_answers_and_stops_on_sigterm(backend_url, tmp_path):
    url, options = backend_url
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": url, "options": options},
                "web": {"host": "127.0.0.1", "port": 0},
                "listeners": [{"device_type": "gas_meter", "port": 0, "host": "127.0.0.1"}],
                "shutdown_grace": 2,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECGATE_", "SCALE_GATEWAY_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        output = Output(proc)
        lines = list(output.until("  web ", STARTUP_TIMEOUT))
        assert lines[0].startswith("specgate serving (store ")
        listener = re.search(r"listener gas_meter on 127\.0\.0\.1:(\d+)", "\n".join(lines))
        web = re.search(r"web (http://127\.0\.0\.1:\d+/)", "\n".join(lines))
        assert listener and web, lines
        with socket.create_connection(("127.0.0.1", int(listener.group(1))), timeout=5) as device:
            device.sendall(b"\x42" * 4)  # not a known EID: the gas meter listener closes the connection
            device.settimeout(5)
            assert device.recv(64) == b""
        with httpx.Client(base_url=web.group(1), timeout=5) as client:
            plugins = client.get("/-/plugins").json()
            assert "gas_meter" in [p["name"] for p in plugins["plugins"]]
            assert client.get("/api/scale-gateway/latest/").json()["error"] == "no_data"
            metrics = client.get("/-/metrics").json()["listeners"][0]
            assert metrics["accepted"] == 1 and metrics["junk_bytes"] == 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        assert output.until("specgate stopped", 5)[-2:] == ["specgate stopping", "specgate stopped"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
