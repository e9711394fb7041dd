"""The compiled ``Spec``: decode frames, encode values, make framers."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import construct as cs

from core import jsonutil
from core.errors import ChecksumError, FrameError
from core.spec import adapters as ad
from core.spec.compiler import MessageInfo, MessageStructs, compile_message, message_info, shape_struct
from core.spec.framing import Framer, make_framer
from core.spec.text import TextResult
from core.spec.transforms import KeyRing
from core.spec.types import MessageModel, SpecModel
from core.spec.unshape import unshape_struct


@dataclass
class Decoded:
    """One decoded message: its name, plain values, diagnostics and the frame's bytes."""

    message: str
    values: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    raw: bytes = b""

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "values": self.values, "flags": self.flags, "raw": self.raw}


_CLOSEST = 3  # candidates a no-match error describes
_SHOWN = 64  # characters of the frame it shows
_REASON = 160  # characters of each candidate's reason


def _shorten(text: str) -> str:
    return text if len(text) <= _REASON else text[: _REASON - 3] + "..."


def _finish_error(exc: FrameError, message: str) -> FrameError:
    segments = getattr(exc, "segments", None)
    if segments is not None or not exc.path:
        exc.path = " -> ".join([message, *(segments or [])])
    return exc


class Spec:
    """A compiled device spec. Build it with ``core.spec.load_spec``."""

    def __init__(self, model: SpecModel, path: Path | None = None) -> None:
        self.model = model
        self.path = path
        self.name = model.name
        self.title = model.title
        self.messages: dict[str, MessageInfo] = {name: message_info(m) for name, m in model.messages.items()}
        self.structs: dict[str, MessageStructs] = {
            name: compile_message(model, m) for name, m in model.messages.items()
        }
        uplink = [n for n, m in model.messages.items() if m.direction == "uplink"]
        self.decode_order = uplink + [n for n in model.messages if n not in uplink]
        self.framing = model.framing

    def __repr__(self) -> str:
        return f"<Spec {self.name} messages={list(self.messages)}>"

    def new_framer(self) -> Framer:
        return make_framer(self.model.framing)

    # ------------------------------------------------------------------ decode

    def _message(self, name: str) -> MessageModel:
        if name not in self.model.messages:
            raise FrameError(
                f"unknown message {name!r} in spec {self.name}; messages: {', '.join(self.model.messages)}",
                expected=list(self.model.messages),
                found=name,
            )
        return self.model.messages[name]

    def parse_with(self, name: str, frame: bytes, which: str = "plain", keys: Any = None) -> Decoded:
        """Decode with one form: ``plain`` or ``compiled`` construct struct, or the ``fast`` path."""
        message = self._message(name)
        structs = self.structs[name]
        raw = bytes(frame)
        ring = KeyRing.of(keys)
        if which == "fast":
            if structs.fast is None:
                raise FrameError(f"message {name} has no fast path")
            result = structs.fast(raw) if structs.fast_keys is None else structs.fast_keys(raw, ring)
            if result is None:
                raise FrameError(f"the fast path of {name} cannot decode this frame", path=name)
            values, flags = result
            return Decoded(name, values, flags, raw)
        construct_ = structs.plain if which == "plain" else structs.compiled
        assert construct_ is not None
        parse_flags: list[str] = []
        try:
            obj = construct_.parse(raw, _flags=parse_flags, _path=[name], _keys=ring)
        except FrameError as exc:
            raise _finish_error(exc, name) from None
        except cs.ConstructError as exc:
            raise _finish_error(ad.from_construct(exc), name) from None
        except (struct.error, ValueError, TypeError, KeyError, IndexError, UnicodeError) as exc:
            if which == "plain":
                raise
            # generated construct code reports short frames with struct's own errors
            raise FrameError(f"{name}: {exc}", path=name) from None
        if isinstance(obj, TextResult):
            return Decoded(name, obj.values, list(obj.flags), raw)
        shape_flags: list[str] = []
        assert message.struct is not None
        values = shape_struct(message.struct, obj, [name], shape_flags)
        return Decoded(name, values, parse_flags + shape_flags, raw)

    def _decode_one(self, name: str, frame: bytes, keys: KeyRing | None = None) -> Decoded:
        structs = self.structs[name]
        if structs.fast is not None:
            result = structs.fast(frame) if structs.fast_keys is None else structs.fast_keys(frame, keys)
            if result is not None:
                return Decoded(name, result[0], result[1], bytes(frame))
        if structs.compiled is not None and structs.fast is None:
            try:
                return self.parse_with(name, frame, "compiled", keys)
            except FrameError:
                pass  # the plain struct below reports the error with its field path
        return self.parse_with(name, frame, "plain", keys)

    def decode(self, frame: bytes | bytearray | memoryview, message: str | None = None, keys: Any = None) -> Decoded:
        """Decode a frame; ``keys`` (a ``KeyRing``, ``{id: key}`` or a list of keys) serve the transforms."""
        raw = bytes(frame)
        ring = KeyRing.of(keys)
        if message is not None:
            self._message(message)
            return self._decode_one(message, raw, ring)
        if len(self.decode_order) == 1:
            return self._decode_one(self.decode_order[0], raw, ring)
        errors: list[tuple[str, FrameError]] = []
        deferred: list[str] = []
        for name in self.decode_order:
            size = self.messages[name].size
            if size is not None and size != len(raw) and self.messages[name].kind == "binary":
                deferred.append(name)  # it cannot fit: its error is only needed if no message fits
                continue
            try:
                return self._decode_one(name, raw, ring)
            except FrameError as exc:
                errors.append((name, exc))
        for name in deferred:
            try:
                return self._decode_one(name, raw, ring)
            except FrameError as exc:
                errors.append((name, exc))
        order = {name: i for i, name in enumerate(self.decode_order)}
        errors.sort(key=lambda item: order[item[0]])
        uplink = [n for n in self.decode_order if self.model.messages[n].direction == "uplink"]
        if len(uplink) == 1:
            raise errors[0][1]
        raise self._no_match(raw, errors)

    def _no_match(self, raw: bytes, errors: list[tuple[str, FrameError]]) -> FrameError:
        """One short error for a frame no message fits: the closest candidates and a count of the rest.

        The candidates that got furthest into the frame come first (a checksum failure before another
        failure at the same offset); when the closest one failed on its checksum the error is a
        ``ChecksumError`` carrying that candidate's path, expected and found.
        """
        ranked = sorted(
            errors,
            key=lambda item: (getattr(item[1], "offset", None) or 0, isinstance(item[1], ChecksumError)),
            reverse=True,
        )  # sorted() is stable: among equals the decode order stays
        closest = ranked[:_CLOSEST]
        shown = raw.decode("ascii", "backslashreplace") if self.model.framing.kind == "lines" else raw.hex().upper()
        if len(shown) > _SHOWN:
            shown = f"{shown[:_SHOWN]}... ({len(raw)} bytes)"
        reasons = "; ".join(_shorten(f"{exc.path or name}: {exc}") for name, exc in closest)
        rest = f"; and {len(ranked) - len(closest)} more" if len(ranked) > len(closest) else ""
        text = f"the frame matches none of the messages ({len(errors)} tried): {shown!r}; closest: {reasons}{rest}"
        best = closest[0][1]
        if isinstance(best, ChecksumError):
            return ChecksumError(text, path=best.path, expected=best.expected, found=best.found)
        return FrameError(text, path=self.name, expected=[name for name, _ in closest], found=shown)

    # ------------------------------------------------------------------ encode

    def encode(self, message: str, values: dict[str, Any], keys: Any = None) -> bytes:
        model = self._message(message)
        structs = self.structs[message]
        if model.text is not None:
            if not isinstance(values, dict):
                raise FrameError(f"{message}: expected a mapping of values", path=message)
            try:
                return structs.plain.build(values)
            except FrameError as exc:
                raise _finish_error(exc, message) from None
            except (cs.ConstructError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise FrameError(f"{message}: cannot build: {exc}", path=message) from exc
        if structs.fast_build is not None and keys is None:
            frame = structs.fast_build(values)
            if frame is not None:
                return frame
        return self.build_with(message, values, "plain", keys)

    def build_with(self, name: str, values: dict[str, Any], which: str = "plain", keys: Any = None) -> bytes:
        """Build a binary message with one form: the ``plain`` or ``compiled`` construct struct, or the ``fast``
        builder (which raises when it leaves the values to construct)."""
        model = self._message(name)
        structs = self.structs[name]
        assert model.struct is not None, "build_with builds binary messages"
        if which == "fast":
            if structs.fast_build is None:
                raise FrameError(f"message {name} has no fast builder")
            frame = structs.fast_build(values)
            if frame is None:
                raise FrameError(f"the fast builder of {name} leaves these values to construct", path=name)
            return frame
        construct_ = structs.plain if which == "plain" else structs.compiled
        assert construct_ is not None
        message = name
        obj = unshape_struct(model.struct, values, [message])
        try:
            return construct_.build(obj, _flags=[], _path=[message], _keys=KeyRing.of(keys))
        except FrameError as exc:
            raise _finish_error(exc, message) from None
        except (cs.ConstructError, KeyError, TypeError, ValueError, ArithmeticError, struct.error) as exc:
            error = FrameError(f"{message}: cannot build: {exc}", path=message)
            raise error from exc


def _default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex().upper()
    if isinstance(obj, Decoded):
        return obj.as_dict()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON text: ``Decimal`` as an exact number (``53.25``), ``bytes`` as hex, ``Decoded`` as a dict."""
    kwargs["ensure_ascii"] = True
    return jsonutil.dumps(obj, default=_default, **kwargs)
