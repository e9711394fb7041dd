"""``specgate serve`` as a real subprocess: prints its endpoints, answers TCP and HTTP, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import selectors
import socket
import time

import httpx

from tests.gateway.serving import STARTUP_TIMEOUT, serving_config, stop


def test_serve_prints_endpoints_answers_and_stops_on_sigterm(backend_url, tmp_path):
    url, options = backend_url
    settings = {
        "store": {"url": url, "options": options},
        "web": {"host": "127.0.0.1", "port": 0},
        "listeners": [{"device_type": "gas_meter", "port": 0, "host": "127.0.0.1"}],
        "shutdown_grace": 2,
    }
    with serving_config(tmp_path, settings) as (proc, output):
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
            assert client.get("/healthz").json() == {"ok": True}
            assert client.get("/-/plugins").status_code == 401  # only a logged-in operator sees it
            assert client.get("/api/scale-gateway/latest/").json()["error"] == "no_data"
            metrics = client.get("/-/metrics").json()["listeners"][0]
            assert metrics["accepted"] == 1 and metrics["junk_bytes"] == 4
        stop(proc)
        assert output.until("specgate stopped", 5)[-2:] == ["specgate stopping", "specgate stopped"]


def read_to_eof(sock: socket.socket, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def http_get(sock: socket.socket, path: str) -> bytes:
    """One keep-alive GET on ``sock``: the whole response (head and ``content-length`` body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def idle_connections(port: int, count: int, timeout: float = 60) -> list[bytes]:
    """Open ``count`` connections at once that send nothing; what each received before it was closed."""
    answers: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            answers[sock] = b""
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    chunk = b""
                answers[sock] += chunk
                if not chunk:
                    selector.unregister(sock)
        for sock in answers:
            sock.close()
    return list(answers.values())


WEB_LIMITS = {"max_connections": 20, "keep_alive_timeout": 120, "header_timeout": 2}


def test_web_clients_cannot_starve_the_device_listeners(tmp_path):
    # 150 descriptors: the 150 idle web connections below would exhaust them if the web server kept them
    settings = {
        "store": f"sqlite:///{tmp_path / 'specgate.db'}",
        "web": {"host": "127.0.0.1", "port": 0, **WEB_LIMITS},
        "listeners": [{"device_type": "fg150kal", "port": 0, "host": "127.0.0.1", "max_connections": 8}],
        "shutdown_grace": 2,
    }
    held: list[socket.socket] = []
    with serving_config(tmp_path, settings, nofile=150) as (proc, output), contextlib.ExitStack() as open_sockets:
        text = "\n".join(output.until("  web ", STARTUP_TIMEOUT))
        scale_port = int(re.search(r"listener fg150kal on 127\.0\.0\.1:(\d+)", text).group(1))
        web_port = int(re.search(r"web http://127\.0\.0\.1:(\d+)/", text).group(1))
        for _ in range(WEB_LIMITS["max_connections"]):  # the limit, each kept alive after one answer
            sock = open_sockets.enter_context(socket.create_connection(("127.0.0.1", web_port), timeout=10))
            held.append(sock)
            assert http_get(sock, "/healthz").startswith(b"HTTP/1.1 200")
        refused = []
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", web_port), timeout=10)
            refused.append(sock)
        for sock in refused:  # answered at once and closed, not left to hold a descriptor
            answer = read_to_eof(sock)
            sock.close()
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert answer.endswith(b'connections open, its limit; try again later"}')
            assert b'{"ok":false,"error":"too_busy"' in answer
        with socket.create_connection(("127.0.0.1", scale_port), timeout=10) as scale:
            scale.sendall(b"ST , +000053.26 _kg\r\n")
            # the scale listener took the line while the web server is at its limit: one of the held
            # connections, already open, reads it back
            deadline = time.monotonic() + 20
            while b'"weight":53.26' not in (latest := http_get(held[0], "/api/scale-gateway/latest/")):
                assert time.monotonic() < deadline, latest
                time.sleep(0.2)
        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=10) as client:
            busy = client.get("/healthz")
            assert busy.status_code == 503 and busy.json()["error"] == "too_busy"
            for sock in held:
                sock.close()
            held.clear()
            deadline = time.monotonic() + 20
            while (again := client.get("/api/scale-gateway/latest/")).status_code == 503:
                assert time.monotonic() < deadline, again.text
                time.sleep(0.2)
            assert again.status_code == 200 and again.json()["weight"] == 53.26
        stderr = stop(proc)
        assert "Traceback" not in stderr and stderr.count("web connection refused") <= 2, stderr[-2000:]


def test_a_client_sending_its_header_a_byte_at_a_time_is_cut_after_the_header_timeout(tmp_path):
    settings = {
        "store": f"sqlite:///{tmp_path / 'specgate.db'}",
        "web": {"host": "127.0.0.1", "port": 0, **WEB_LIMITS},
        "listeners": [],
    }
    with serving_config(tmp_path, settings) as (proc, output):
        text = "\n".join(output.until("  web ", STARTUP_TIMEOUT))
        web_port = int(re.search(r"web http://127\.0\.0\.1:(\d+)/", text).group(1))
        head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: " + b"p" * 100 + b"\r\n\r\n"
        started = time.monotonic()
        sent = 0
        answer = b""
        with socket.create_connection(("127.0.0.1", web_port), timeout=10) as sock:
            while sent < len(head):
                try:
                    sock.sendall(head[sent : sent + 1])
                except OSError:  # reset: the server has closed it
                    break
                sent += 1
                readable, _, _ = select.select([sock], [], [], 0.25)
                if readable:
                    answer = read_to_eof(sock)
                    break
        elapsed = time.monotonic() - started
        assert sent < len(head), "the whole head went through: nothing cut the connection"
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"error":"request_timeout"' in answer
        assert 1.5 < elapsed < 15, elapsed
        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=10) as client:
            assert client.get("/healthz").status_code == 200  # a prompt client is served as before
        stop(proc)


def test_serve_refuses_connection_limits_the_descriptors_cannot_hold(tmp_path):
    settings = {
        "store": f"sqlite:///{tmp_path / 'specgate.db'}",
        "web": {"host": "127.0.0.1", "port": 0, "max_connections": 50},
        "listeners": [{"device_type": "fg150kal", "port": 0, "host": "127.0.0.1", "max_connections": 8}],
    }
    with serving_config(tmp_path, settings, nofile=100) as (proc, _output):
        assert proc.wait(timeout=30) == 1
        stderr = proc.stderr.read()
        assert "need 172 file descriptors (device listeners 8 + 2 x web.max_connections 100 + 64 reserved)" in stderr
        assert "may open only 100" in stderr and "Traceback" not in stderr


def test_serve_runs_on_uvloop_where_it_is_installed():
    from core.cli.serve import event_loop_factory, web_stack

    try:
        import uvloop
    except ImportError:
        assert event_loop_factory() is asyncio.new_event_loop
        assert web_stack().endswith(", asyncio")
    else:
        assert event_loop_factory() is uvloop.new_event_loop
        assert "uvloop" in web_stack() and "h11" in web_stack()


def test_tune_interpreter_freezes_what_start_up_made_and_shortens_the_switch_interval():
    """Run in a child interpreter: the settings are process-wide, and this test process keeps its own."""
    import json
    import subprocess
    import sys

    from core.cli.serve import GC_THRESHOLDS, SWITCH_INTERVAL

    script = (
        "import gc, json, sys\n"
        "from core.cli.serve import tune_interpreter\n"
        "before = gc.get_freeze_count()\n"
        "tune_interpreter()\n"
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    before, frozen, thresholds, switch = json.loads(out.stdout)
    assert before == 0 and frozen > 1000  # the modules imported so far, at least
    assert tuple(thresholds) == GC_THRESHOLDS and thresholds[0] > 700
    assert switch == SWITCH_INTERVAL < 0.005


def test_serve_tunes_the_interpreter_once_listening_and_before_it_says_so(tmp_path, capsys, monkeypatch):
    from core.cli import serve as serve_module
    from core.config import Config

    config = Config(
        store_url=f"sqlite:///{tmp_path / 'x.db'}",
        web_enabled=False,
        listeners=[serve_module.ListenerConfig("gas_meter", port=0, host="127.0.0.1")],
    )
    stop = asyncio.Event()
    calls = []

    def started() -> None:
        calls.append(capsys.readouterr().out)
        stop.set()

    assert asyncio.run(serve_module.serve(config, stop, on_started=started)) == 0
    assert calls == [""]  # once, before "specgate serving" is printed
    assert "specgate serving" in capsys.readouterr().out

    seen = {}

    async def fake_serve(config, stop=None, on_started=None):
        seen["on_started"] = on_started
        return 0

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    monkeypatch.setattr(serve_module, "configure_logging", lambda config: None)
    args = type("Args", (), {})()
    for name in ("config", "store", "host", "web_port", "web_max_connections", "listen", "log_level", "log_format",
                 "ssl_certfile", "ssl_keyfile"):  # fmt: skip
        setattr(args, name, None)
    args.no_web, args.no_listeners = True, False
    args.listen = ["gas_meter:0:host=127.0.0.1"]
    args.store = f"sqlite:///{tmp_path / 'y.db'}"
    assert serve_module.run(args) == 0
    assert seen["on_started"] is serve_module.tune_interpreter
