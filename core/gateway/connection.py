"""One device session's read loop: frames cut from the buffer, each decoded, handled, stored and answered;
junk counted, kept as bounded dead letters and logged within limits. :class:`~core.gateway.listener.Listener`
accepts the connection and makes the :class:`Connection`; the runtime fields it reads are described there."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from core.errors import FrameError, StoreError, StoreUnavailable
from core.gateway.deadline import Deadline
from core.gateway.metrics import dropped_note
from core.gateway.types import Outcome, Session
from core.timeutil import local_string

if TYPE_CHECKING:
    from core.gateway.listener import Listener
    from core.spec import Framer

log = logging.getLogger("specgate.gateway")

READ_SIZE = 4096
#: how long a closing connection may take to flush before it is dropped
_CLOSE_WAIT = 2.0
#: the most bytes of one run of junk kept as a dead letter (all of them are counted in ``junk_bytes``)
DEAD_LETTER_BYTES = 4096
#: junk and bad-frame WARNING lines logged in full per listener and interval; the rest are counted
JUNK_LINES = 3


@functools.lru_cache(maxsize=64)
def _local_second(at: int, tz: tzinfo) -> str:
    """The exchange log's local time of day, worked out once per second rather than once per exchange."""
    return local_string(at, tz)


def _preview(data: bytes, limit: int = 48) -> str:
    text = data[:limit].hex(" ")
    return text + (" ..." if len(data) > limit else "")


class Connection:
    """One device session's read loop."""

    def __init__(
        self,
        listener: Listener,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        early: bytes = b"",
    ):
        self.listener = listener
        self.session = session
        self.reader = reader
        self.writer = writer
        self.loop = listener.loop
        task = asyncio.current_task(self.loop)
        assert task is not None, "a device session runs in its own task"
        self.task = task
        #: the deadline of each read: the idle timeout, or sooner when a partial frame must be completed
        self.deadline = Deadline(self.loop, task)
        self.reason: str | None = None
        self.buffer = bytearray()
        self.processing = False
        self.frames = 0
        #: bytes that arrived before the read loop (the first bytes, or those after the PROXY header)
        self.early = early
        #: the exchange-log entry to write after the session closed (see ``Listener.trailing``)
        self.trailing: dict[str, Any] | None = None
        #: the run of junk since the last frame: its first bytes, its length and what made it junk
        self._held = bytearray()
        self._held_total = 0
        self._held_error = ""

    @property
    def busy(self) -> bool:
        """Handling a frame or holding part of one: shutdown lets it finish."""
        return self.processing or bool(self.buffer) or bool(self._held_total)

    @property
    def _peer(self) -> str:
        return f"{self.session.peer_host}:{self.session.peer_port}"

    def close(self, reason: str) -> None:
        """End the session with ``reason`` (the first reason given wins); the read loop sees end of file."""
        if self.reason is None:
            self.reason = reason
        self.writer.close()

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        try:
            await self._read_loop()
        finally:
            # bytes still buffered when the session ends (after a frame that closed it, say) are junk too
            self.listener.metrics.junk_bytes += len(self.buffer) + self._held_total
            self.buffer.clear()
            self._held.clear()
            self._held_total = 0

    async def _read_loop(self) -> None:
        framer = self.session.spec.new_framer()
        idle_timeout = self.listener.config.idle_timeout
        frame_timeout = self.listener.config.frame_timeout
        loop, deadline, reader = self.loop, self.deadline, self.reader
        frame_deadline: float | None = None  # when the partial frame (or run of junk) must be complete
        while self.reason is None:
            until = loop.time() + idle_timeout
            if frame_deadline is not None and frame_deadline < until:
                until = frame_deadline
            try:
                if self.early:
                    chunk, self.early = self.early, b""
                else:
                    with deadline.at(until):
                        chunk = await reader.read(READ_SIZE)
            except TimeoutError:
                if frame_deadline is not None and loop.time() >= frame_deadline:
                    log.warning(
                        "%s: %s did not complete a frame within %.1fs", self.listener.name, self._peer, frame_timeout
                    )
                    self.reason = "frame_timeout"
                    await self._leftover(f"frame not complete within {frame_timeout}s")
                    return
                log.debug("%s: %s idle for %.1fs", self.listener.name, self._peer, idle_timeout)
                self.reason = "idle_timeout"
                await self._leftover(f"incomplete frame when the connection went idle for {idle_timeout}s")
                return
            except (ConnectionError, OSError) as exc:
                log.debug("%s: %s connection error: %s", self.listener.name, self._peer, exc)
                self.reason = self.reason or "peer_closed"
                await self._leftover(f"incomplete frame when the connection failed: {exc}")
                return
            if not chunk:
                self.reason = self.reason or "peer_closed"
                await self._leftover(f"incomplete frame when the connection closed ({self.reason})")
                return
            frames = self.frames
            self.buffer += chunk
            self.processing = True
            try:
                if await self._drain_frames(framer):
                    return
            finally:
                self.processing = False
            if not self.busy or frame_timeout is None:
                frame_deadline = None
            elif frame_deadline is None or self.frames > frames:
                # a new partial frame started (the one before was consumed)
                frame_deadline = loop.time() + frame_timeout
            if self.listener.closing and not self.busy:
                self.reason = "shutdown"

    async def _drain_frames(self, framer: Framer) -> bool:
        """Handle every complete frame in the buffer. True when the connection must close."""
        limit = self.listener.config.max_frame_length
        while self.buffer:
            consumed, frame = framer.decode(bytes(self.buffer))
            if frame is None and consumed <= 0:
                if len(self.buffer) + self._held_total > limit:
                    return await self._oversize(limit)
                return False
            if consumed <= 0:
                log.error(
                    "%s: the %s framer returned a frame without consuming bytes",
                    self.listener.name,
                    self.session.device_type,
                )
                self.reason = "error"
                return True
            chunk = bytes(self.buffer[:consumed])
            del self.buffer[:consumed]
            if frame is None:
                self._hold(chunk, "bytes skipped by the framer (no frame start)")
                if self.listener.config.on_bad_frame == "close":
                    self._hold(self._take_rest())
                    return await self._flush_junk(close_as="junk")
                if self._held_total > limit:
                    # a line that never ends (the framer discards it chunk by chunk) is as bad as one buffered
                    return await self._oversize(limit)
                continue
            await self._flush_junk()
            self.frames += 1
            if await self._frame(bytes(frame)):
                return True
        return False

    async def _oversize(self, limit: int) -> bool:
        self._hold(self._take_rest())
        self._held_error = f"more than {limit} bytes without a complete frame"
        return await self._flush_junk(close_as="oversize")

    async def _leftover(self, error: str) -> None:
        if self.buffer or self._held_total:
            self._hold(self._take_rest(), error)
            await self._flush_junk(log_exchange=True)

    def _hold(self, data: bytes, error: str = "") -> None:
        """Add ``data`` to the run of junk kept so far (the first :data:`DEAD_LETTER_BYTES` of it)."""
        if not data:
            return
        if not self._held_total:
            self._held_error = error
        room = DEAD_LETTER_BYTES - len(self._held)
        if room > 0:
            self._held += data[:room]
        self._held_total += len(data)

    async def _flush_junk(self, close_as: str | None = None, log_exchange: bool = False) -> bool:
        """Count, log and keep the run of junk held, as one dead letter. True when the connection must close."""
        if not self._held_total:
            return False
        listener = self.listener
        data, total, error = bytes(self._held), self._held_total, self._held_error
        self._held.clear()
        self._held_total = 0
        listener.metrics.junk_bytes += total
        if total > len(data):
            error += f" ({total} bytes, the first {len(data)} kept)"
        dropped = listener.junk_log.allow("junk")
        if dropped is not None:
            log.warning(
                "%s: %s sent %d unusable byte(s) (%s): %s%s",
                listener.name,
                self._peer,
                total,
                error,
                _preview(data),
                dropped_note(dropped),
            )
        await self._dead_letter(data, error, "")
        if close_as is not None or log_exchange:
            await self._log_exchange(data, b"")
        if close_as is not None:
            self.reason = self.reason or close_as
            return True
        return False

    async def _frame(self, frame: bytes) -> bool:
        """Decode, handle, store, reply. True when the connection must close."""
        listener, metrics, session = self.listener, self.listener.metrics, self.session
        hook = listener.hooks.hook
        try:
            message = hook.specgate_decode_frame(session=session, frame=frame)
            if message is None:
                raise FrameError("no plugin decoded the frame")
        except Exception as exc:
            return await self._bad_frame(frame, exc)
        try:
            outcome = hook.specgate_handle_message(session=session, message=message)
            if type(outcome) is not Outcome and inspect.isawaitable(outcome):
                outcome = await outcome
        except FrameError as exc:
            # a plugin found the message invalid (a malformed device id, say): bad input, not a bug
            return await self._bad_frame(frame, exc)
        except StoreUnavailable as exc:
            # the plugin's own lookups met the store down: an outage, not a bug, and nothing to keep
            return self._store_unavailable(exc)
        except Exception as exc:
            return await self._handler_failed(frame, message, exc)
        metrics.frames_ok += 1
        if outcome is None:
            return False
        if not isinstance(outcome, Outcome):
            metrics.handler_errors += 1
            log.error("%s: specgate_handle_message returned %r, not an Outcome", listener.name, outcome)
            self.reason = "error"
            return True
        store_step = outcome.store
        if store_step is not None:
            # run once, then dropped: a step that sets its outcome's reply refers to the outcome, and that
            # reference cycle would keep the whole message alive until the garbage collector found it
            outcome.store = None
            try:
                await store_step(listener.store)
            except FrameError as exc:
                # the plugin's decision, made inside the store step, found the message invalid
                return await self._bad_frame(frame, exc)
            except StoreError as exc:
                return self._store_unavailable(exc)
            except Exception as exc:
                # not the store's error: the plugin's own code in the store step failed
                return await self._handler_failed(frame, message, exc)
        try:
            reply = hook.specgate_build_reply(session=session, outcome=outcome)
        except Exception:
            metrics.handler_errors += 1
            log.exception("%s: building the reply for %s failed", listener.name, self._peer)
            self.reason = "error"
            return True
        if reply:
            try:
                writer = self.writer
                writer.write(reply)
                if writer.transport.get_write_buffer_size():
                    # the kernel did not take it all at once (the usual case takes it): wait, within a limit
                    async with asyncio.timeout(listener.config.idle_timeout):
                        await writer.drain()
                elif writer.transport.is_closing():
                    raise ConnectionResetError("the connection closed before the reply was sent")
            except (TimeoutError, ConnectionError, OSError) as exc:
                log.warning("%s: could not send the reply to %s: %r", listener.name, self._peer, exc)
                self.reason = self.reason or "peer_closed"
                await self._log_exchange(frame, b"")
                return True
            metrics.replies += 1
            outcome.sent = bytes(reply)
        if outcome.close:
            self.reason = self.reason or "done"
            # the session ends here: its exchange log is written once the connection is closed and its slot
            # freed (the reply is already sent; the log is not what acknowledges the report)
            self.trailing = self._exchange_entry(frame, outcome.sent)
            return True
        await self._log_exchange(frame, outcome.sent)
        return False

    async def _handler_failed(self, frame: bytes, message: Any, exc: Exception) -> bool:
        """A plugin's handling failed (a bug): counted, logged with its traceback, the frame kept. Always True."""
        listener = self.listener
        listener.metrics.handler_errors += 1
        log.exception(
            "%s: handling a %s message from %s failed", listener.name, getattr(message, "message", "?"), self._peer
        )
        await self._dead_letter(frame, f"handler failed: {exc!r}", getattr(message, "message", ""))
        self.reason = "error"
        return True

    def _store_unavailable(self, exc: Exception) -> bool:
        """The store failed while a message was handled or committed: no reply, close. Always True."""
        listener = self.listener
        listener.metrics.store_failures += 1
        dropped = listener.store_log.allow("store_unavailable")
        if dropped is not None:
            log.error(
                "%s: store failed for %s, no reply sent: %r%s", listener.name, self._peer, exc, dropped_note(dropped)
            )
        self.reason = "store_unavailable"
        return True

    async def _bad_frame(self, frame: bytes, exc: Exception) -> bool:
        """Count, log and keep a frame that did not decode or was refused. True when the connection must close."""
        listener = self.listener
        listener.metrics.frames_bad += 1
        path = exc.path if isinstance(exc, FrameError) else ""
        error = str(exc) if isinstance(exc, FrameError) else f"decoder failed: {exc!r}"
        dropped = listener.junk_log.allow("junk")
        if dropped is not None:
            log.warning(
                "%s: bad frame from %s at %s: %s: %s%s",
                listener.name,
                self._peer,
                path or "-",
                error,
                _preview(frame),
                dropped_note(dropped),
            )
        closing = listener.config.on_bad_frame == "close"
        rest = self._take_rest() if closing else b""
        listener.metrics.junk_bytes += len(rest)
        kept = (frame + rest)[:DEAD_LETTER_BYTES]
        await self._dead_letter(kept, error, path)
        if closing:
            await self._log_exchange(kept, b"")
            self.reason = "junk"
        return closing

    def _take_rest(self) -> bytes:
        """The bytes still buffered, removed from the buffer (kept with the junk that closes the session)."""
        rest = bytes(self.buffer)
        self.buffer.clear()
        return rest

    # ------------------------------------------------------------------ keeping things
    async def _dead_letter(self, data: bytes, error: str, path: str) -> None:
        listener = self.listener
        try:
            await listener.store.add_dead_letter(
                {
                    "device_type": self.session.device_type,
                    "ip": self.session.peer_host,
                    "port": self.session.listen_port,
                    "at": listener.clock(),
                    "data": data,
                    "error": error,
                    "path": path or "",
                }
            )
        except Exception as exc:
            listener.metrics.store_failures += 1
            log.error("%s: could not keep a dead letter from %s: %r", listener.name, self._peer, exc)
        else:
            listener.metrics.dead_letters += 1

    async def _log_exchange(self, received: bytes, sent: bytes) -> None:
        entry = self._exchange_entry(received, sent)
        if entry is not None:
            await self.keep_exchange(entry)

    def _exchange_entry(self, received: bytes, sent: bytes) -> dict[str, Any] | None:
        """The exchange-log entry, stamped now and attributed to the session's device and tenant when a plugin
        named them; None when the listener keeps no exchange log."""
        listener = self.listener
        if not listener.config.log_exchanges:
            return None
        at = listener.clock()
        session = self.session
        entry: dict[str, Any] = {
            "ip": session.peer_host,
            "port": session.listen_port,
            "datetime": _local_second(int(at), listener.tz),
            "recv": received,
            "recv_len": len(received),
            "send": sent,
            "send_len": len(sent),
            "at": at,
            "device_type": session.device_type,
        }
        if session.device_id is not None:
            entry["device_uid"] = session.device_id
        if session.tenant is not None:
            entry["tenant"] = session.tenant
        return entry

    async def keep_exchange(self, entry: dict[str, Any]) -> None:
        listener = self.listener
        try:
            await listener.store.log_exchange(entry)
        except Exception as exc:
            listener.metrics.exchange_log_failures += 1
            log.error("%s: could not log the exchange with %s: %r", listener.name, self._peer, exc)
