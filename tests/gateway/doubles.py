"""A tiny line protocol that stands in for a spec, and a plugin for it, so the runtime is tested on its own.

Lines end with LF. ``PING n`` is answered ``PONG n``; ``KEEP text`` is stored (as a scale reading
``echo-<peer port>``, a record every backend keeps) before ``OK`` is replied; ``BYE`` is answered and closes;
``SLOW s`` sleeps ``s`` seconds before answering (in-flight work during shutdown); ``LATE text`` is
answered ``LATE text`` by a reply its store step sets on its outcome (weak references to those outcomes are
kept in ``EchoPlugin.late``); ``FAIL`` makes the store
step raise (``FAIL bug``: not a store error, ``FAIL refuse``: a FrameError); ``REFUSE`` decodes but the plugin finds it invalid (FrameError, path ``line -> arg``); anything else is a FrameError with path ``line -> verb``. A byte ``#`` outside a line is
garbage the framer skips, like a gas-meter byte that is no known EID.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from dataclasses import dataclass, field
from typing import ClassVar

import pluggy

from core.errors import FrameError, StoreUnavailable
from core.gateway.types import Outcome
from core.hookspecs import hookimpl
from core.plugins import get_plugin_manager

DEVICE_TYPE = "echo"
TIMEOUT = 3.0


def plugin_manager_with(**plugins: object) -> pluggy.PluginManager:
    """A plugin manager with none of specgate's plugins, only ``plugins`` (registered under their names)."""
    pm = get_plugin_manager(enabled=[], disabled=[], installed=False)
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


@dataclass
class Decoded:
    message: str
    values: dict
    flags: list = field(default_factory=list)
    raw: bytes = b""


class LineFramer:
    max_frame_length = 32

    def decode(self, buffer: bytes) -> tuple[int, bytes | None]:
        if not buffer:
            return 0, None
        if buffer[:1] == b"#":
            run = len(buffer) - len(buffer.lstrip(b"#"))
            return run, None
        end = buffer.find(b"\n")
        if end < 0:
            return 0, None
        return end + 1, buffer[:end]


class LineSpec:
    name = DEVICE_TYPE
    messages: ClassVar[dict] = {}

    def new_framer(self) -> LineFramer:
        return LineFramer()

    def decode(self, frame: bytes, message: str | None = None) -> Decoded:
        verb, _, rest = frame.decode("ascii", "replace").partition(" ")
        if verb not in VERBS:
            raise FrameError(f"unknown verb {verb!r}", path="line -> verb", expected="|".join(VERBS), found=verb)
        return Decoded(message=verb.lower(), values={"arg": rest}, raw=frame)

    def encode(self, message: str, values: dict) -> bytes:
        return f"{values['text']}\n".encode("ascii")


VERBS = ("PING", "KEEP", "BYE", "SLOW", "LATE", "FAIL", "REFUSE")


class EchoPlugin:
    """Handles the ``echo`` device type."""

    def __init__(self) -> None:
        self.opened: list = []
        self.closed: list = []
        self.late: list[weakref.ref[Outcome]] = []

    @hookimpl
    def specgate_connection_opened(self, session):
        if session.device_type == DEVICE_TYPE:
            self.opened.append((session.peer_host, session.peer_port))

    @hookimpl
    def specgate_connection_closed(self, session, reason):
        if session.device_type == DEVICE_TYPE:
            self.closed.append(reason)

    @hookimpl
    def specgate_handle_message(self, session, message):
        # a coroutine only for our own device type: for others the firstresult hook must see None
        if session.device_type != DEVICE_TYPE:
            return None
        return self.handle(session, message)

    async def handle(self, session, message):
        arg = message.values["arg"]
        if message.message == "ping":
            return Outcome(reply_message="line", reply={"text": f"PONG {arg}"})
        if message.message == "bye":
            return Outcome(reply_message="line", reply={"text": "BYE"}, close=True)
        if message.message == "slow":
            await asyncio.sleep(float(arg))
            return Outcome(reply_message="line", reply={"text": "SLOW DONE"})
        if message.message == "late":
            outcome = Outcome(reply_message="line", close=True)

            async def reply_from_the_store_step(store):
                outcome.reply = {"text": f"LATE {arg}"}

            outcome.store = reply_from_the_store_step
            self.late.append(weakref.ref(outcome))
            return outcome
        if message.message == "refuse":
            raise FrameError("the argument is not acceptable", path="line -> arg", found=arg)
        if message.message == "fail":

            async def broken(store):
                if arg == "bug":
                    raise RuntimeError("the plugin's store step has a bug")
                if arg == "refuse":
                    raise FrameError("refused in the store step", path="line -> arg", found=arg)
                raise StoreUnavailable("the test store is down")

            return Outcome(store=broken, reply_message="line", reply={"text": "NEVER"})

        async def keep(store):
            from decimal import Decimal

            await store.set_scale_latest(
                f"echo-{session.peer_port}",
                {
                    "status": "ST",
                    "weight": Decimal("1.00"),
                    "unit": "kg",
                    "raw": arg,
                    "received_at": 0.0,
                },
            )

        return Outcome(store=keep, reply_message="line", reply={"text": "OK"})


# --------------------------------------------------------------------------- client helpers


async def connect(port: int, host: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)


async def read_line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), TIMEOUT)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the gateway still sends before it closes the connection (fails if it never closes)."""
    try:
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    except ConnectionResetError:
        return b""


async def eventually(predicate, timeout: float = TIMEOUT) -> None:
    """Wait until ``predicate()`` (or the awaitable it returns) is true: the server side finishes a step just
    after the client sees its effect."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
