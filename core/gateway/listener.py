"""One TCP listener and the device sessions it serves.

The listener only moves bytes: framing comes from the spec's framer, meaning from the plugins' hooks. Per
frame: ``specgate_decode_frame`` -> ``specgate_handle_message`` -> ``await outcome.store(store)`` ->
``specgate_build_reply`` -> write and drain -> ``store.log_exchange`` (awaited, unless the frame ends the
session: then the entry trails the closed session, written in a batch with the others of that moment by
:class:`~core.gateway.exchange_log.TrailingExchanges`, and the listener's stop waits for it; a failure is
counted in ``exchange_log_failures`` either way). Bytes that cannot be used (garbage the
framer skipped, frames that fail to decode, an over-long run without a frame, a frame cut by a closed or idle
connection) are counted, logged and kept as dead letters; nothing a peer sends can end the process.

Runtime fields of :class:`~core.config.ListenerConfig` (defaults in brackets):

``replace_same_peer`` [False]
    A new connection from the same peer IP closes its predecessor (a converter that reconnected while its old
    socket is half-open). On for the scale listener; off for gas meters, because NB-IoT carrier NAT puts many
    meters behind one public IP and each would close the other's session.
``on_bad_frame`` ["close"]
    ``close`` ends the connection on junk or an undecodable frame (request/response devices such as gas
    meters); ``skip`` keeps reading (line streams such as scales).
``log_exchanges`` [True]
    Keep every request/response exchange (and junk that closed a connection) in the store's exchange log.
``proxy_protocol`` [None: off]
    Addresses or networks of TCP load balancers that put a PROXY protocol header (v1 or v2) before the
    device's bytes. Connections must then come from one of them and start with the header; the device
    address it carries is the session's peer (allow-list, exchange log, same-peer replacement).
``frame_timeout`` [None: off]
    Seconds a frame may take from its first byte to its last. The idle timeout restarts with every byte, so
    without this a peer dripping one byte at a time holds a connection slot for ever.
``max_share_per_address`` [1.0]
    The share of ``max_connections`` one peer address may hold (waiting for its first byte or in a session);
    more are refused as ``too_many_from_address``. A share, not a count, because carrier NAT puts many gas
    meters behind one address (gas meter 0.25, scale 0.25).
``first_byte_timeout`` [10 s]
    Seconds a new connection may take to send its first byte (its PROXY header, when that is on). A silent
    connection holds a slot without being a session yet; it is refused as ``no_first_byte``.
``backlog`` [1024]
    The listen backlog: connection attempts the kernel queues before they are accepted (capped by
    ``net.core.somaxconn``). asyncio's default of 100 drops a burst of meters, which retry a second later.

Junk is bounded: a run of bytes without a frame longer than ``max_frame_length`` closes the connection as
``oversize`` whatever ``on_bad_frame`` says, consecutive junk is kept as one dead letter of at most
:data:`DEAD_LETTER_BYTES`, and floods of refusals, junk and store failures log a few lines per
:data:`~core.gateway.metrics.LOG_INTERVAL` with the number not logged (every byte and refusal is counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.config import Config, ListenerConfig
from core.gateway.connection import _CLOSE_WAIT, DEAD_LETTER_BYTES, JUNK_LINES, READ_SIZE, Connection
from core.gateway.deadline import Deadline
from core.gateway.device_hooks import DeviceHooks
from core.gateway.exchange_log import TrailingExchanges
from core.gateway.metrics import STATE_KEY, ListenerMetrics, LogLimiter, activity_summary
from core.gateway.proxy_protocol import ProxyHeaderError, decode_proxy_header
from core.gateway.types import Session

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

if TYPE_CHECKING:
    from core.spec import Spec
    from core.store import Store

log = logging.getLogger("specgate.gateway")

__all__ = ["DEAD_LETTER_BYTES", "JUNK_LINES", "Connection", "Listener"]


@functools.lru_cache(maxsize=4096)
def _normalise_ip(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _in_networks(ip: str, networks: list[IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks if address.version == network.version)


class Listener:
    """An asyncio server for one :class:`ListenerConfig`."""

    def __init__(
        self,
        config: ListenerConfig,
        spec: Spec,
        *,
        store: Store,
        hooks: DeviceHooks,
        app_config: Config,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.spec = spec
        self.store = store
        self.hooks = hooks
        self.app_config = app_config
        #: the configuration's time zone, worked out once (``Config.tz`` parses the offset on every use)
        self.tz = app_config.tz
        self.clock = clock
        self.metrics = ListenerMetrics()
        proxies = config.proxy_protocol
        self._proxies = [ipaddress.ip_network(item, strict=False) for item in proxies] if proxies else None
        self._networks = [ipaddress.ip_network(item, strict=False) for item in config.allow]
        #: the loop the listener serves on (set by :meth:`start`)
        self.loop: asyncio.AbstractEventLoop
        self._server: asyncio.Server | None = None
        self._bound_port = 0
        self._connections: set[Connection] = set()
        self._by_ip: dict[str, Connection] = {}
        #: connections holding a slot (waiting for their first byte or in a session), in all and by address
        self._open = 0
        self._per_address: Counter[str] = Counter()
        self._waiting: set[asyncio.StreamWriter] = set()
        self.refusal_log = LogLimiter()
        self.junk_log = LogLimiter(burst=JUNK_LINES)
        self.store_log = LogLimiter()
        self.closing = False
        self._summary_task: asyncio.Task[None] | None = None
        #: the exchange log of sessions that closed, written behind them
        #: ``device_type:port`` in log lines and metrics (the bound port once :meth:`start` bound it)
        self.name = f"{config.device_type}:{config.port}"
        self.trailing = TrailingExchanges(self.name, store, self.metrics, self.store_log)

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        """The bound port (the configured one, or the ephemeral one chosen for port 0)."""
        return self._bound_port or self.config.port

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._on_connect, self.config.host, self.config.port, backlog=self.config.backlog
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]
        self.name = self.trailing.name = f"{self.config.device_type}:{self.port}"
        log.info("%s listening on %s:%d", self.config.device_type, self.config.host, self.port)
        interval = self.app_config.log_summary_interval
        if interval > 0:
            self._summary_task = asyncio.create_task(self._log_summaries(interval))

    async def _log_summaries(self, interval: float) -> None:
        """Sessions are logged at DEBUG; INFO gets one line per interval saying what the listener did."""
        before = self.metrics.as_dict()
        while True:
            await asyncio.sleep(interval)
            now = self.metrics.as_dict()
            line = activity_summary(now, before)
            if line is not None:
                log.info("%s in the last %gs: %s", self.name, interval, line)
            before = now

    def stop_accepting(self) -> None:
        """Refuse new connections from now on (sessions already open go on)."""
        self.closing = True
        if self._server is not None:
            self._server.close()

    async def stop(self, grace: float) -> None:
        """Stop accepting, close idle sessions, give busy ones ``grace`` seconds, then close the rest."""
        self.stop_accepting()
        for writer in list(self._waiting):
            writer.close()
        for connection in list(self._connections):
            if not connection.busy:
                connection.close("shutdown")
        tasks = {c.task for c in self._connections if c.task is not None}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                log.warning("%s: %d session(s) still busy after %.1fs, closing them", self.name, len(pending), grace)
                for connection in list(self._connections):
                    connection.close("shutdown")
                _, pending = await asyncio.wait(pending, timeout=_CLOSE_WAIT)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=_CLOSE_WAIT)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), _CLOSE_WAIT)
        await self.trailing.finish(max(grace, _CLOSE_WAIT), _CLOSE_WAIT)
        if self._summary_task is not None:
            self._summary_task.cancel()
        for limiter in (self.refusal_log, self.junk_log, self.store_log):
            for key, dropped in limiter.take_dropped().items():
                log.info("%s: %d more %s line(s) were not logged (see the counters)", self.name, dropped, key)
        total = activity_summary(self.metrics.as_dict(), {})
        log.info("%s stopped%s", self.name, f" after {total}" if total else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device_type": self.config.device_type,
            "host": self.config.host,
            "port": self.port,
            **self.metrics.as_dict(),
        }

    # ------------------------------------------------------------------ accepting
    def _refusal(self, ip: str, replacing: bool) -> tuple[str, str] | None:
        """(reason, detail) when a connection from ``ip`` must be refused."""
        if self.closing:
            return "shutting_down", ""
        if self._networks and not _in_networks(ip, self._networks):
            return "not_allowed", ""
        spare = 1 if replacing else 0
        if self._open - spare >= self.config.max_connections:
            return "too_many", f"{self.config.max_connections} connections open"
        if self._per_address[ip] - spare >= self.config.max_per_address:
            return "too_many_from_address", f"{self.config.max_per_address} connections from {ip} open"
        return None

    async def _refuse(self, writer: asyncio.StreamWriter, reason: str, who: str, detail: str = "") -> None:
        self.metrics.rejected[reason] += 1
        dropped = self.refusal_log.allow(reason)
        if dropped is not None:
            log.warning(
                "%s refused %s (%s)%s%s",
                self.name,
                who,
                reason,
                f": {detail}" if detail else "",
                f"; {dropped} more refused as {reason} since the last such line" if dropped else "",
            )
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), _CLOSE_WAIT)

    async def _read_proxy_header(
        self, reader: asyncio.StreamReader, deadline: float
    ) -> tuple[tuple[str, int] | None, bytes]:
        """The device address from the balancer's PROXY header, and the bytes read after it."""
        data = b""
        loop = asyncio.get_running_loop()
        while True:
            consumed, address = decode_proxy_header(data)
            if consumed:
                return address, data[consumed:]
            chunk = await asyncio.wait_for(reader.read(READ_SIZE), max(0.0, deadline - loop.time()))
            if not chunk:
                raise ProxyHeaderError("the connection closed before its PROXY protocol header was complete")
            data += chunk

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        ip, peer_port = _normalise_ip(str(peer[0])), int(peer[1])
        deadline = self.loop.time() + self.config.first_byte_timeout
        early = b""
        if self._proxies is not None:
            if not _in_networks(ip, self._proxies):
                await self._refuse(writer, "untrusted_proxy", f"{ip}:{peer_port}")
                return
            try:
                address, early = await self._read_proxy_header(reader, deadline)
            except (TimeoutError, ProxyHeaderError, ConnectionError, OSError) as exc:
                await self._refuse(writer, "bad_proxy_header", f"{ip}:{peer_port}", str(exc) or type(exc).__name__)
                return
            if address is not None:
                ip, peer_port = _normalise_ip(address[0]), address[1]
        predecessor = self._by_ip.get(ip) if self.config.replace_same_peer else None
        refusal = self._refusal(ip, replacing=predecessor is not None)
        if refusal:
            await self._refuse(writer, refusal[0], f"{ip}:{peer_port}", refusal[1])
            return
        self._open += 1
        self._per_address[ip] += 1
        connection: Connection | None = None
        try:
            if predecessor is not None:
                log.info(
                    "%s: %s:%d replaces session from %s:%d", self.name, ip, peer_port, ip, predecessor.session.peer_port
                )
                predecessor.close("replaced")
            if not early:
                first = await self._first_bytes(reader, writer, deadline)
                if not first:
                    if self.closing:
                        await self._refuse(writer, "shutting_down", f"{ip}:{peer_port}")
                    else:
                        why = "closed before sending a byte" if first is not None else "sent nothing"
                        timeout = self.config.first_byte_timeout
                        await self._refuse(writer, "no_first_byte", f"{ip}:{peer_port}", f"{why} within {timeout:g}s")
                    return
                early = first
            connection = await self._serve(reader, writer, ip, peer_port, early)
        finally:
            self._open -= 1
            self._per_address[ip] -= 1
            if not self._per_address[ip]:
                del self._per_address[ip]
        if connection is not None and connection.trailing is not None:
            self.trailing.add(connection.trailing)
            connection.trailing = None

    async def _first_bytes(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> bytes | None:
        """The first bytes of a new connection; None when none came before ``deadline``, b"" when it closed."""
        self._waiting.add(writer)
        try:
            task = asyncio.current_task(self.loop)
            assert task is not None, "a connection is served in its own task"
            with Deadline(self.loop, task).at(deadline):
                return await reader.read(READ_SIZE)
        except TimeoutError:
            return None
        except (ConnectionError, OSError):
            return b""
        finally:
            self._waiting.discard(writer)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str, peer_port: int, early: bytes
    ) -> Connection:
        session = Session(
            device_type=self.config.device_type,
            peer_host=ip,
            peer_port=peer_port,
            listen_port=self.port,
            listener=self.config,
            spec=self.spec,
            store=self.store,
            config=self.app_config,
            opened_at=self.clock(),
            clock=self.clock,
        )
        session.state[STATE_KEY] = self.metrics
        connection = Connection(self, session, reader, writer, early)
        self._connections.add(connection)
        self._by_ip[ip] = connection
        self.metrics.accepted += 1
        self.metrics.active += 1
        log.debug("%s accepted %s:%d", self.name, ip, peer_port)
        try:
            try:
                self.hooks.hook.specgate_connection_opened(session=session)
            except Exception:
                log.exception("%s: specgate_connection_opened failed for %s:%d", self.name, ip, peer_port)
            await connection.run()
        except Exception:
            log.exception("%s: session with %s:%d failed", self.name, ip, peer_port)
            connection.reason = connection.reason or "error"
        finally:
            await self._finish(connection)
        return connection

    async def _finish(self, connection: Connection) -> None:
        session = connection.session
        reason = connection.reason or "done"
        self._connections.discard(connection)
        if self._by_ip.get(session.peer_host) is connection:
            del self._by_ip[session.peer_host]
        self.metrics.active -= 1
        self.metrics.closed[reason] += 1
        log.debug(
            "%s closed %s:%d (%s) after %d frame(s)",
            self.name,
            session.peer_host,
            session.peer_port,
            reason,
            connection.frames,
        )
        try:
            self.hooks.hook.specgate_connection_closed(session=session, reason=reason)
        except Exception:
            log.exception(
                "%s: specgate_connection_closed failed for %s:%d", self.name, session.peer_host, session.peer_port
            )
        writer = connection.writer
        writer.close()
        if writer.transport.get_write_buffer_size():
            # only a connection with bytes still to flush takes time to close
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_WAIT):
                    await writer.wait_closed()
