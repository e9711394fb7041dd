"""``GET /api/v1/live``: the WebSocket that pushes scale lines, meter reports, events and dead letters.

The protocol is in ``docs/live.md``. One :class:`Hub` per app follows the store's live feed
(:meth:`core.store.base.Store.follow_live`, written by whichever process received the device), builds each
message once and offers it to every client allowed to see it. Each client has a bounded queue: when it is
full the oldest message is dropped and the client is told with a ``lagged`` message, so a slow or stalled
client never holds up the hub, the other clients or the gateway. The hub runs while a client is connected.

A caller is identified as by the HTTP routes (:class:`core.security.accounts.Accounts`): the session
cookie at the upgrade (from the site's own pages or a configured CORS origin only, against cross-site
WebSocket hijacking), or a session or API token in the first message. Its tenant, role and the system
administrator flag come from the session or token, never from a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from core.errors import StoreUnavailable
from core.http import dumps
from core.routing import SESSION_COOKIE
from core.security.roles import Principal, allowed
from web.api.devices import installer_scope

log = logging.getLogger("specgate.web.live")

PATH = "/api/v1/live"
#: seconds a client without the session cookie has to send its ``auth`` message
AUTH_TIMEOUT = 5.0
#: messages waiting for one client at most; beyond, the oldest is dropped
QUEUE_SIZE = 256
#: seconds one send may take before the client is taken for stalled and closed
SEND_TIMEOUT = 10.0
#: characters of one client message at most
MAX_CLIENT_MESSAGE = 65536
#: seconds an installer's "is this device mine" answer is reused
_INSTALLER_CACHE_SECONDS = 60.0
#: seconds the hub waits before following the feed again after a store failure
_RETRY_DELAY = 1.0
#: seconds between two checks that the connection's session or token is still valid (not revoked)
RECHECK_INTERVAL = 60.0

#: the permission each kind of message needs
PERMISSION_OF = {"scale": "scale.read", "report": "data.read", "event": "data.read", "dead_letter": "dead_letters.read"}

# close codes (the 4000s are the application's)
UNAUTHENTICATED, FORBIDDEN, TOO_MANY = 4401, 4403, 4429


def iso_utc(epoch: Any) -> str | None:
    """``2026-01-02T03:04:05.678Z``."""
    if not isinstance(epoch, (int, float)):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The message an entry of the feed becomes; None for a kind this server does not know."""
    kind, data = entry["kind"], entry["data"]
    if kind == "scale":
        return {
            "type": "scale",
            "scale_id": data.get("scale_id"),
            "status": data.get("status"),
            "weight": data.get("weight"),
            "unit": data.get("unit"),
            "stable": bool(data.get("stable")),
            "at": iso_utc(data.get("received_at", entry["at"])),
        }
    if kind in ("report", "event"):
        body = {"reading": data.get("reading") or {}} if kind == "report" else {"event": data.get("event") or {}}
        at = iso_utc(entry["at"])
        return {"type": kind, "tenant": entry["tenant"], "device_uid": data.get("device_uid"), "at": at, **body}
    if kind == "dead_letter":
        listener = data.get("device_type")
        if listener and data.get("port") is not None:
            listener = f"{listener}:{data['port']}"
        at = iso_utc(data.get("at", entry["at"]))
        return {"type": "dead_letter", "id": data.get("id"), "at": at, "listener": listener, "error": data.get("error")}
    return None


def topics_of(entry: dict[str, Any]) -> frozenset[str]:
    """The topics an entry is published under."""
    kind, data = entry["kind"], entry["data"]
    if kind == "dead_letter":
        return frozenset({"dead_letters"})
    key = f"scale:{data.get('scale_id')}" if kind == "scale" else f"device:{data.get('device_uid')}"
    return frozenset({key, "tenant"})


def may_see(caller: Principal, entry: dict[str, Any]) -> bool:
    """Whether ``caller`` may receive ``entry``: the permission of its kind, and its tenant's or a shared
    scale (a caller without a tenant sees every scale and no tenant's devices)."""
    kind, tenant = entry["kind"], entry["tenant"]
    permission = PERMISSION_OF.get(kind)
    if permission is None or not allowed(caller, permission):
        return False
    if kind == "dead_letter":
        return True
    if kind == "scale":
        return tenant is None or caller.tenant is None or tenant == caller.tenant
    return caller.tenant is not None and tenant == caller.tenant


class Client:
    """One connection: who it is, what it subscribed to (None: everything it may see), its queue."""

    def __init__(self, caller: Principal, queue_size: int = QUEUE_SIZE) -> None:
        self.caller = caller
        self.topics: frozenset[str] | None = None
        self.queue: asyncio.Queue[tuple[dict[str, Any], str]] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0

    def wants(self, entry: dict[str, Any]) -> bool:
        if not may_see(self.caller, entry):
            return False
        return self.topics is None or not self.topics.isdisjoint(topics_of(entry))

    def offer(self, entry: dict[str, Any], text: str) -> None:
        """Queue a message without ever waiting: the oldest goes when the queue is full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((entry, text))


class Hub:
    """Follows the store's live feed while clients are connected and fans it out to them."""

    def __init__(self, store: Any, connections_per_user: int) -> None:
        self.store = store
        self.connections_per_user = connections_per_user
        self.clients: set[Client] = set()
        self._per_user: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    def join(self, client: Client) -> bool:
        """Add a client; False when its login already holds ``connections_per_user`` connections."""
        user = client.caller.login_id
        if self._per_user.get(user, 0) >= self.connections_per_user:
            return False
        self._per_user[user] = self._per_user.get(user, 0) + 1
        self.clients.add(client)
        return True

    async def start(self) -> None:
        """Follow the feed from now (before the client's ``hello``, so it misses nothing sent after it)."""
        async with self._starting:
            if self._task is None or self._task.done():
                position = await self.store.live_position()
                self._task = asyncio.create_task(self._run(position), name="specgate-live-hub")

    def leave(self, client: Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        user = client.caller.login_id
        self._per_user[user] -= 1
        if not self._per_user[user]:
            del self._per_user[user]
        if not self.clients and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, position: Any) -> None:
        while True:
            feed = self.store.follow_live(position)
            try:
                async for entry in feed:
                    position = entry["position"]
                    self.publish(entry)
            except StoreUnavailable as exc:
                log.warning("live feed interrupted, following again in %g s: %s", _RETRY_DELAY, exc)
            finally:
                await feed.aclose()
            await asyncio.sleep(_RETRY_DELAY)

    def publish(self, entry: dict[str, Any]) -> None:
        """Offer one entry to every client that wants it; its message is encoded once."""
        text: str | None = None
        for client in self.clients:
            if client.wants(entry):
                if text is None:
                    message = message_of(entry)
                    if message is None:
                        return
                    text = dumps(message)
                client.offer(entry, text)


def hub_of(websocket: WebSocket) -> Hub:
    state = websocket.app.state
    hub: Hub | None = getattr(state, "live_hub", None)
    if hub is None:
        hub = state.live_hub = Hub(state.store, state.config.web_live_connections_per_user)
    return hub


def _own_origin(websocket: WebSocket) -> str:
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return f"{scheme}://{websocket.url.netloc}"


async def _receive(websocket: WebSocket, timeout: float | None = None) -> dict[str, Any] | None:
    """The client's next message as a JSON object; None for anything else (answered with an error)."""
    message = await asyncio.wait_for(websocket.receive(), timeout)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    problem = None
    if not isinstance(text, str):
        problem = "send JSON text frames"
    elif len(text) > MAX_CLIENT_MESSAGE:
        problem = f"a message may have at most {MAX_CLIENT_MESSAGE} characters"
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        problem = "a message must be a JSON object with a 'type'"
    await websocket.send_text(dumps({"type": "error", "error": problem}))
    return None


async def _authenticate(websocket: WebSocket) -> tuple[Principal, str] | None:
    """The caller and its token, or None after closing the connection with the reason."""
    accounts = websocket.app.state.accounts
    cookie = websocket.cookies.get(SESSION_COOKIE)
    caller = await accounts.authenticate(cookie) if cookie else None
    if caller is not None:
        origin = websocket.headers.get("origin")
        if origin is not None and origin not in (_own_origin(websocket), *websocket.app.state.config.web_cors_origins):
            await websocket.close(
                FORBIDDEN, f"a WebSocket with the session cookie must come from this site, not {origin}"
            )
            return None
        return caller, str(cookie)
    try:
        first = await _receive(websocket, AUTH_TIMEOUT)
    except TimeoutError:
        first = None
    token = first.get("token") if first is not None and first.get("type") == "auth" else None
    caller = await accounts.authenticate(token) if isinstance(token, str) else None
    if caller is None:
        await websocket.close(UNAUTHENTICATED, 'log in first, or send {"type": "auth", "token": ...} first')
        return None
    return caller, str(token)


async def _recheck(websocket: WebSocket, token: str) -> None:
    """Ends when the session or token is no longer valid (logged out, revoked, expired)."""
    while True:
        await asyncio.sleep(RECHECK_INTERVAL)
        if await websocket.app.state.accounts.authenticate(token) is None:
            return


def _subscription(caller: Principal, topics: Any) -> tuple[frozenset[str] | None, str | None]:
    """``(topics, None)`` for a valid subscription, ``(None, error)`` otherwise."""
    if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics) or len(topics) > 1000:
        return None, "topics must be a list of at most 1000 strings"
    bad = []
    for topic in topics:
        kind, _, key = topic.partition(":")
        if topic == "dead_letters":
            if not allowed(caller, "dead_letters.read"):
                bad.append(f"{topic} (system administrators only)")
        elif topic != "tenant" and not (kind in ("scale", "device") and key and len(key) <= 256):
            bad.append(topic)
    if bad:
        return (
            None,
            f"unknown or refused topics: {', '.join(bad)}; topics are scale:<id>, device:<uid>, tenant, dead_letters",
        )
    return frozenset(topics), None


async def _listen(websocket: WebSocket, client: Client) -> None:
    """The client's messages: subscriptions, answered; anything else an error."""
    while True:
        message = await _receive(websocket)
        if message is None:
            continue
        if message.get("type") == "subscribe":
            topics, error = _subscription(client.caller, message.get("topics"))
            if error is None:
                client.topics = topics
                await websocket.send_text(dumps({"type": "subscribed", "topics": sorted(topics or ())}))
                continue
        else:
            error = f"unknown message type {message.get('type')!r}; send subscribe"
        await websocket.send_text(dumps({"type": "error", "error": error}))


async def _mine(
    websocket: WebSocket, caller: Principal, entry: dict[str, Any], cache: dict[str, tuple[float, bool]]
) -> bool:
    """For an installer: whether the report's or event's device is one it installed (looked up, then cached)."""
    own = installer_scope(caller)
    if own is None or entry["kind"] not in ("report", "event"):
        return True
    uid = str(entry["data"].get("device_uid"))
    now = time.monotonic()
    known = cache.get(uid)
    if known is None or now - known[0] > _INSTALLER_CACHE_SECONDS:
        device = await websocket.app.state.store.get_device(entry["tenant"], uid)
        known = cache[uid] = (now, device is not None and device.get("installer_id") == own)
    return known[1]


async def _send(websocket: WebSocket, client: Client) -> None:
    """Send the client's queue, saying first how many were dropped when it fell behind."""
    cache: dict[str, tuple[float, bool]] = {}
    while True:
        entry, text = await client.queue.get()
        async with asyncio.timeout(SEND_TIMEOUT):  # a context, not wait_for: no task per message
            if client.dropped:
                dropped, client.dropped = client.dropped, 0
                await websocket.send_text(dumps({"type": "lagged", "dropped": dropped}))
            if await _mine(websocket, client.caller, entry, cache):
                await websocket.send_text(text)


async def live_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        authenticated = await _authenticate(websocket)
    except WebSocketDisconnect:
        return
    if authenticated is None:
        return
    caller, token = authenticated
    if not any(allowed(caller, permission) for permission in set(PERMISSION_OF.values())):
        await websocket.close(FORBIDDEN, "your role may see nothing live")
        return
    hub = hub_of(websocket)
    client = Client(caller, QUEUE_SIZE)
    if not hub.join(client):
        await websocket.close(TOO_MANY, f"at most {hub.connections_per_user} live connections per user")
        return
    tasks: list[asyncio.Task[None]] = []
    try:
        await hub.start()
        hello = {"type": "hello", "login_id": caller.login_id, "tenant": caller.tenant, "role": caller.role}
        await websocket.send_text(dumps({**hello, "system_admin": caller.system_admin}))
        recheck = asyncio.create_task(_recheck(websocket, token))
        tasks = [
            asyncio.create_task(_listen(websocket, client)),
            asyncio.create_task(_send(websocket, client)),
            recheck,
        ]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if recheck in done:
            await websocket.close(UNAUTHENTICATED, "the session ended")
        for task in done:
            if not task.cancelled() and isinstance(task.exception(), TimeoutError):
                log.info("live client %s stalled: closed", caller.login_id)
                await websocket.close(1008, "too slow to receive")
    except WebSocketDisconnect:
        pass
    except StoreUnavailable:
        with contextlib.suppress(Exception):
            await websocket.close(1011, "the store is not reachable; try again later")
    finally:
        hub.leave(client)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1000)


ROUTES = [WebSocketRoute(PATH, live_endpoint, name="live")]
