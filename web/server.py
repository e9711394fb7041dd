"""The limits uvicorn's own HTTP protocol lacks: a cap on open connections enforced when a connection is
made, and a time limit on the request head.

uvicorn's ``limit_concurrency`` only answers 503 once a request arrives, so idle connections still pile up
until the process runs out of descriptors (shared with the device listeners); and it has no header
timeout, so a client sending one byte a second holds its connection for ever. :func:`protocol_class` gives
an ``H11Protocol`` that closes a connection over ``max_connections`` at once with a 503, and one whose
request head is not complete ``header_timeout`` seconds after it was made (or after its first byte, on a
kept-alive connection) with a 408. Every answer it writes has the one error shape.
"""

from __future__ import annotations

import asyncio
import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.http import dumps

log = logging.getLogger("specgate.web")

#: at most one "over the connection limit" line per this many seconds
REFUSAL_LOG_INTERVAL = 10.0


def error_bytes(status: int, reason: str, error: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection, in the one error shape."""
    body = dumps({"ok": False, "error": error, "message": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedH11Protocol(H11Protocol):
    """``H11Protocol`` with the connection cap and the header timeout (set by :func:`protocol_class`)."""

    max_connections = 100
    header_timeout = 10.0
    _next_refusal_log = 0.0
    _refusals_left_out = 0

    _header_timer: asyncio.TimerHandle | None = None
    _head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            # never added to the connections, so the ones being refused do not count against the limit
            self.transport = transport
            self._log_refusal()
            transport.write(
                error_bytes(
                    503,
                    "Service Unavailable",
                    "too_busy",
                    f"the server has {self.max_connections} connections open, its limit; try again later",
                )
            )
            transport.close()
            return
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the next request of a kept-alive connection
        self._head_started = self._head_started or bool(data)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(error_bytes(400, "Bad Request", "bad_request", "the request is not valid HTTP/1.1"))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._head_started = False
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._head_started:
            message = f"the request head was not complete within {self.header_timeout:g} s"
            self.transport.write(error_bytes(408, "Request Timeout", "request_timeout", message))
        self.transport.close()

    @classmethod
    def _log_refusal(cls) -> None:
        now = time.monotonic()
        if now < cls._next_refusal_log:
            cls._refusals_left_out += 1
            return
        more = f" ({cls._refusals_left_out} more since the last such line)" if cls._refusals_left_out else ""
        log.warning("web connection refused: %d connections open, the limit%s", cls.max_connections, more)
        cls._next_refusal_log = now + REFUSAL_LOG_INTERVAL
        cls._refusals_left_out = 0


def protocol_class(max_connections: int, header_timeout: float) -> type[LimitedH11Protocol]:
    """The protocol class to give uvicorn (``uvicorn.Config(http=...)``), with these limits."""
    return type(
        "LimitedH11Protocol",
        (LimitedH11Protocol,),
        {"max_connections": max_connections, "header_timeout": header_timeout},
    )
