"""``GET /api/v1/live`` served by uvicorn over both backends: authentication and its close codes, tenancy,
subscriptions, dead letters for system administrators only, a slow client told it lagged, the per-user limit,
and the push of what a separate ``specgate serve --no-web`` process received (docs/live.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.uri import parse_uri

from core.cli.serve import start_web, web_server
from core.config import Config
from core.security.tokens import new_api_token, token_hash
from core.store import open_store
from plugins.fg150kal.simulator import run_scale, scale_stream
from plugins.gas_meter.simulator import SimulatedMeter, exchange
from tests.web.support import stored_session
from web.app import create_app
from web.live import PATH

TENANT_A, TENANT_B = "live_a", "live_b"


@contextlib.asynccontextmanager
async def served(store, **settings):
    """The app over ``store`` served by uvicorn on a free port; yields ``(ws_url, origin)``."""
    config = Config(web_host="127.0.0.1", web_port=0, **settings)
    server = web_server(create_app(config, store), config)
    task, url = await start_web(server, config)
    try:
        yield url.replace("http://", "ws://").rstrip("/") + PATH, url.rstrip("/")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def session(store, tenant: str | None, login: str, role: str, system_admin: bool = False) -> str:
    return await stored_session(store, tenant, login, role, system_admin)


async def receive(ws, timeout: float = 3.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def close_code(ws, timeout: float = 7.0) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def opened(url: str, token: str, topics: list[str] | None = None):
    """A connection authenticated by its first message (and subscribed to ``topics``), past its hello."""
    ws = await connect(url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    hello = await receive(ws)
    assert hello["type"] == "hello"
    if topics is not None:
        await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
        assert await receive(ws) == {"type": "subscribed", "topics": sorted(topics)}
    return ws


async def until(ws, kind: str, timeout: float = 3.0) -> dict:
    """The next message of ``kind``, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, max(0.01, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


async def nothing(ws, wait: float = 0.4) -> None:
    with pytest.raises(TimeoutError):
        message = await receive(ws, wait)
        pytest.fail(f"unexpected message {message}")


def stable(weight: str, tenant: str | None = None) -> dict:
    return {"status": "ST", "weight": Decimal(weight), "unit": "kg", "raw": f"ST,+{weight} kg",
            "received_at": time.time(), "tenant": tenant}  # fmt: skip


def reading(uid: str, timestamp: int, count: int) -> dict:
    return {"device_uid": uid, "timestamp": timestamp, "counter_val": count}


# --------------------------------------------------------------------------- authentication


async def test_a_caller_without_credentials_is_closed_4401(store):
    async with served(store) as (url, _):
        async with connect(url) as ws:
            assert await close_code(ws) == 4401  # nothing sent within 5 s
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
            assert await close_code(ws) == 4401
        async with connect(url, additional_headers={"Cookie": "specgate_session=stale"}) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": []}))
            assert await close_code(ws) == 4401


async def test_a_bearer_token_in_the_first_message_is_accepted_and_hello_names_the_caller(store):
    await store.add_tenant(TENANT_A)
    token = await session(store, TENANT_A, "a_admin", "admin", system_admin=True)
    _, api_token = new_api_token()
    await store.create_api_token(
        {"token_id": "live01", "token_hash": token_hash(api_token), "tenant": TENANT_A, "name": "wall",
         "scopes": ["read"], "created_by": "a_admin", "created_at": time.time()}
    )  # fmt: skip
    async with served(store) as (url, _):
        async with connect(url) as ws:
            # the client offers permessage-deflate (as browsers do); the server declines it
            assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send(json.dumps({"type": "auth", "token": token}))
            hello = await receive(ws)
        assert hello == {"type": "hello", "login_id": "a_admin", "tenant": TENANT_A, "role": "admin",
                         "system_admin": True}  # fmt: skip
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": api_token}))
            assert (await receive(ws))["login_id"] == "token:live01"


async def test_the_cookie_works_from_this_site_and_a_cross_site_origin_is_closed_4403(store):
    await store.add_tenant(TENANT_A)
    token = await session(store, TENANT_A, "a_operator", "operator")
    cookie = {"Cookie": f"specgate_session={token}"}
    async with served(store, web_cors_origins=["https://wall.example.com"]) as (url, origin):
        for allowed_origin in (origin, "https://wall.example.com"):
            async with connect(url, additional_headers=cookie, origin=allowed_origin) as ws:
                assert (await receive(ws))["login_id"] == "a_operator"
        async with connect(url, additional_headers=cookie, origin="https://evil.example.net") as ws:
            assert await close_code(ws) == 4403


# --------------------------------------------------------------------------- what each caller receives


async def test_a_tenant_receives_only_its_own_reports_events_and_scales(store):
    for tenant in (TENANT_A, TENANT_B):
        await store.add_tenant(tenant)
    token_a = await session(store, TENANT_A, "a_operator", "operator")
    token_b = await session(store, TENANT_B, "b_operator", "operator")
    async with served(store) as (url, _):
        ws_a, ws_b = await opened(url, token_a), await opened(url, token_b)
        event = {"device_uid": "DA01", "event_time": 1.0, "event_code": 3, "event_type": "alarm", "event_message": "x"}
        await store.record_report(TENANT_A, "DA01", {"last_count": 7}, [reading("DA01", 1000, 7)], event)
        await store.set_scale_latest("scale-a", stable("10.50", TENANT_A))
        await store.set_scale_latest("shared", stable("3.25"))
        received = [await receive(ws_a) for _ in range(4)]
        by_type = {message["type"]: message for message in received if message["type"] != "scale"}
        assert by_type["report"] == {"type": "report", "tenant": TENANT_A, "device_uid": "DA01",
                                     "at": by_type["report"]["at"],
                                     "reading": {"device_uid": "DA01", "timestamp": 1000, "counter_val": 7}}  # fmt: skip
        assert by_type["event"]["event"]["event_code"] == 3 and by_type["event"]["device_uid"] == "DA01"
        scales = [message for message in received if message["type"] == "scale"]
        assert [(m["scale_id"], m["weight"], m["status"], m["stable"]) for m in scales] == [
            ("scale-a", 10.5, "ST", True),
            ("shared", 3.25, "ST", True),
        ]
        assert scales[0]["at"].endswith("Z")
        # tenant B sees the shared scale only
        assert (await receive(ws_b))["scale_id"] == "shared"
        await nothing(ws_b)
        await ws_a.close()
        await ws_b.close()


async def test_an_installer_receives_only_the_devices_it_installed(store):
    await store.add_tenant(TENANT_A)
    await store.add_device(TENANT_A, {"device_uid": "DA01", "installer_id": "a_installer"})
    await store.add_device(TENANT_A, {"device_uid": "DA02", "installer_id": "someone_else"})
    token = await session(store, TENANT_A, "a_installer", "installer")
    async with served(store) as (url, _):
        ws = await opened(url, token)
        await store.record_report(TENANT_A, "DA02", {}, [reading("DA02", 1000, 2)])
        await store.record_report(TENANT_A, "DA01", {}, [reading("DA01", 1000, 1)])
        assert (await receive(ws))["device_uid"] == "DA01"
        await nothing(ws)
        await ws.close()


async def test_subscriptions_filter_and_unknown_or_refused_topics_are_errors(store):
    await store.add_tenant(TENANT_A)
    token = await session(store, TENANT_A, "a_admin", "admin")
    async with served(store) as (url, _):
        ws = await opened(url, token, ["scale:s2", "device:DA02"])
        for bad in (["dead_letters"], ["weather"], "scale:s2", [1]):
            await ws.send(json.dumps({"type": "subscribe", "topics": bad}))
            assert (await receive(ws))["type"] == "error"
        await ws.send(b"\x00binary")
        assert (await receive(ws))["type"] == "error"
        await store.set_scale_latest("s1", stable("1.00"))
        await store.record_report(TENANT_A, "DA01", {}, [reading("DA01", 1000, 1)])
        await store.set_scale_latest("s2", stable("2.00"))
        await store.record_report(TENANT_A, "DA02", {}, [reading("DA02", 1000, 2)])
        assert (await receive(ws))["scale_id"] == "s2"
        assert (await receive(ws))["device_uid"] == "DA02"
        await nothing(ws)
        await ws.send(json.dumps({"type": "subscribe", "topics": ["tenant"]}))
        assert await receive(ws) == {"type": "subscribed", "topics": ["tenant"]}
        await store.set_scale_latest("s1", stable("1.50"))
        assert (await receive(ws))["scale_id"] == "s1"
        await ws.close()


async def test_dead_letters_reach_system_administrators_only(store):
    await store.add_tenant(TENANT_A)
    root = await session(store, TENANT_A, "root", "admin", system_admin=True)
    admin = await session(store, TENANT_A, "a_admin", "admin")
    async with served(store) as (url, _):
        ws_root, ws_admin = await opened(url, root, ["dead_letters"]), await opened(url, admin)
        entry = {"device_type": "gas_meter", "ip": "192.0.2.4", "port": 5004, "at": time.time(), "data": b"\x01",
                 "error": "checksum mismatch", "path": "report"}  # fmt: skip
        entry_id = await store.add_dead_letter(entry)
        message = await receive(ws_root)
        assert message == {"type": "dead_letter", "id": entry_id, "at": message["at"], "listener": "gas_meter:5004",
                           "error": "checksum mismatch"}  # fmt: skip
        await nothing(ws_admin)
        await ws_root.close()
        await ws_admin.close()


# --------------------------------------------------------------------------- limits


def stalled_client(url: str, token: str) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket client that sends its upgrade (with the session cookie) and then reads nothing, over a
    socket with a small receive buffer: the server's sends to it soon have to wait."""
    protocol = ClientProtocol(parse_uri(url), max_size=None)
    request = protocol.connect()
    request.headers["Cookie"] = f"specgate_session={token}"
    protocol.send_request(request)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.split("/")[2].split(":")
    sock.connect((host, int(port)))
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock, protocol


async def drain(sock: socket.socket, protocol: ClientProtocol) -> list[dict]:
    """Everything the stalled client was sent, read at last (until a second of silence)."""
    sock.settimeout(1.0)
    messages = []
    while True:
        try:
            data = await asyncio.to_thread(sock.recv, 1 << 20)
        except TimeoutError:
            break
        if not data:
            break
        protocol.receive_data(data)
        messages += [json.loads(event.data) for event in protocol.events_received() if isinstance(event, Frame)]
    sock.close()
    return messages


async def test_a_slow_client_is_told_it_lagged_while_others_and_the_store_keep_going(store, monkeypatch):
    monkeypatch.setattr("web.live.QUEUE_SIZE", 16)
    await store.add_tenant(TENANT_A)
    token = await session(store, TENANT_A, "a_operator", "operator")
    async with served(store) as (url, _):
        sock, protocol = stalled_client(url, token)
        fast = await opened(url, token, ["device:DA01"])
        events, padding = 100, secrets.token_hex(100_000)  # 20 MB in all: more than the sockets hold
        started = time.monotonic()
        for n in range(events):
            await store.add_event(TENANT_A, {"device_uid": "DA01", "event_time": float(n), "event_code": n,
                                             "event_type": "note", "event_message": padding})  # fmt: skip
            assert (await until(fast, "event"))["event"]["event_code"] == n  # the other client keeps up
        assert time.monotonic() - started < 30  # the stalled reader never held up the writes
        messages = await drain(sock, protocol)
        assert messages[0]["type"] == "hello"
        lagged = [message["dropped"] for message in messages if message["type"] == "lagged"]
        received = [message["event"]["event_code"] for message in messages if message["type"] == "event"]
        assert lagged and sum(lagged) + len(received) == events
        assert received == sorted(received) and received[-1] == events - 1  # the oldest were dropped
        await fast.close()


async def test_one_user_may_hold_a_limited_number_of_connections(store):
    await store.add_tenant(TENANT_A)
    token = await session(store, TENANT_A, "a_viewer", "viewer")
    async with served(store, web_live_connections_per_user=2) as (url, _):
        first, second = await opened(url, token), await opened(url, token)
        async with connect(url) as third:
            await third.send(json.dumps({"type": "auth", "token": token}))
            assert await close_code(third) == 4429
        await first.close()
        await asyncio.sleep(0.2)
        again = await opened(url, token)  # a closed connection frees its place
        for ws in (second, again):
            await ws.close()


# --------------------------------------------------------------------------- across processes


class Served:
    """A ``specgate serve`` subprocess and what it printed (read by a thread, so waiting never blocks)."""

    def __init__(self, config: Path, *flags: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECGATE_", "SCALE_GATEWAY_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core", "serve", "--config", str(config), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=config.parent,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    async def until(self, marker: str, timeout: float = 30.0) -> str:
        """The whole output up to the first line holding ``marker``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                await asyncio.sleep(0.05)
                continue
            if marker in self.seen[-1]:
                return "\n".join(self.seen)
        raise AssertionError(f"{marker!r} not printed; output so far: {self.seen}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def test_a_web_only_process_pushes_what_a_separate_gateway_process_received(backend_url, tmp_path):
    url, options = backend_url
    uid = "D4245A90"
    async with open_store(url, **options) as store:
        await store.add_tenant(TENANT_A)
        await store.add_device(TENANT_A, {"device_uid": uid, "flag": True, "ref_interval": 3600, "initial_count": 100,
                                          "server_ip": "192.0.2.10", "server_port": 5004})  # fmt: skip
        token = await session(store, TENANT_A, "a_operator", "operator")
    base = {"store": {"url": url, "options": options}, "shutdown_grace": 2}
    gateway_config, web_config = tmp_path / "gateway.yaml", tmp_path / "web.yaml"
    listeners = [
        {"device_type": "gas_meter", "port": 0, "host": "127.0.0.1"},
        {"device_type": "fg150kal", "port": 0, "host": "127.0.0.1", "options": {"scale_id": "yard-1"}},
    ]
    gateway_config.write_text(yaml.safe_dump({**base, "listeners": listeners}))
    web_config.write_text(yaml.safe_dump({**base, "web": {"host": "127.0.0.1", "port": 0}}))
    gateway, web = Served(gateway_config, "--no-web"), Served(web_config, "--no-listeners")
    try:
        printed = await gateway.until("web disabled")
        ports = dict(re.findall(r"listener (\w+) on 127\.0\.0\.1:(\d+)", printed))
        web_url = re.search(r"web (http://127\.0\.0\.1:\d+)/", await web.until("  web ")).group(1)
        ws = await opened(web_url.replace("http://", "ws://") + PATH, token)

        stream = scale_stream(lines=6, settle=4, seed=3)  # four unstable lines, then two stable ones
        sent = time.monotonic()
        await run_scale("127.0.0.1", int(ports["fg150kal"]), stream)
        scales = [await until(ws, "scale", timeout=5) for _ in stream.lines]
        assert time.monotonic() - sent < 5
        assert [(m["scale_id"], m["status"], m["stable"]) for m in scales] == [
            ("yard-1", line[:2], line.startswith("ST")) for line in stream.lines
        ]
        assert Decimal(str(scales[-1]["weight"])) == stream.last_stable

        meter = SimulatedMeter(uid, start=int(time.time()) // 3600 * 3600)
        packet, slots = meter.report("normal", random.Random(1))
        reply = await exchange("127.0.0.1", int(ports["gas_meter"]), [packet])
        assert len(reply) == 32
        report = await until(ws, "report", timeout=5)
        assert report["tenant"] == TENANT_A and report["device_uid"] == uid
        assert (
            report["reading"]["timestamp"] == slots[0]["ts"] and report["reading"]["counter_val"] == slots[0]["count"]
        )
        await ws.close()
    finally:
        gateway.stop()
        web.stop()


async def test_unstable_and_overload_lines_are_announced_and_a_failing_store_does_not_end_the_stream():
    from core.errors import StoreUnavailable
    from plugins.fg150kal.readings import _announce

    class Recording:
        def __init__(self) -> None:
            self.published: list[tuple] = []

        async def publish_live(self, kind, tenant, data):
            self.published.append((kind, tenant, data))

    class Down:
        async def publish_live(self, kind, tenant, data):
            raise StoreUnavailable("the store is down")

    from core.spec import load_spec

    scale_spec = load_spec(Path(__file__).parents[2] / "specs" / "fg150kal.yaml")

    def line(text: bytes) -> dict:
        return scale_spec.decode(text, message="weight").values

    store = Recording()
    await _announce("yard-1", TENANT_A, line(b"US,-00012.35 kg"), 5.0)(store)
    await _announce("yard-1", None, line(b"OL,+99999.99 kg"), 6.0)(store)
    assert store.published == [
        ("scale", TENANT_A, {"scale_id": "yard-1", "status": "US", "weight": Decimal("-12.35"), "unit": "kg",
                             "received_at": 5.0, "stable": False}),
        ("scale", None, {"scale_id": "yard-1", "status": "OL", "weight": None, "unit": "kg", "received_at": 6.0,
                         "stable": False}),
    ]  # fmt: skip
    await _announce("yard-1", None, line(b"US,+00001.00 kg"), 7.0)(Down())  # no error
