"""Pure framers: ``decode(buffer) -> (consumed, frame | None)``; no I/O.

``(0, None)`` needs more bytes; ``(n, frame)`` is one frame and ``n`` bytes are to be dropped from the
buffer; ``(n, None)`` with ``n > 0`` means ``n`` bytes were skipped as garbage (resynchronisation).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from core.spec.types import INT_TYPES, FramingModel


class Framer(Protocol):
    max_frame_length: int

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]: ...


def _hex(value: Any, default: str = "") -> bytes:
    return bytes.fromhex(str(value if value is not None else default).replace(" ", ""))


class FixedFramer:
    def __init__(self, length: int, first_bytes: list[int] | None = None) -> None:
        self.length = length
        self.max_frame_length = length
        self.first_bytes = frozenset(first_bytes) if first_bytes else None

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]:
        data = bytes(buffer)
        if self.first_bytes is not None:
            skipped = 0
            while skipped < len(data) and data[skipped] not in self.first_bytes:
                skipped += 1
            if skipped:
                return skipped, None
        if len(data) < self.length:
            return 0, None
        return self.length, data[: self.length]


class LengthFieldFramer:
    def __init__(
        self,
        offset: int,
        type: str,
        max_length: int,
        start: str | None = None,
        endian: str = "big",
        counts: str = "after",
        adjust: int = 0,
    ) -> None:
        self.offset = offset
        self.width = INT_TYPES[type][0]
        self.byteorder: Literal["big", "little"] = "little" if endian == "little" else "big"
        self.counts = counts
        self.adjust = adjust
        self.start = _hex(start)
        self.max_frame_length = max_length

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]:
        data = bytes(buffer)
        if self.start:
            index = data.find(self.start)
            if index < 0:
                keep = len(self.start) - 1
                skip = len(data) - keep
                if keep and data and self.start.startswith(data[-keep:]):
                    return (skip, None) if skip > 0 else (0, None)
                return (len(data), None) if data else (0, None)
            if index:
                return index, None
        header = self.offset + self.width
        if len(data) < header:
            return 0, None
        value = int.from_bytes(data[self.offset : header], self.byteorder)
        total = value + self.adjust + (header if self.counts == "after" else 0)
        if total > self.max_frame_length or total < max(header, len(self.start), 1):
            return 1, None
        if len(data) < total:
            return 0, None
        return total, data[:total]


class DelimitedFramer:
    def __init__(self, start: str, end: str, max_length: int, include_delimiters: bool = False) -> None:
        self.start = _hex(start)
        self.end = _hex(end)
        self.include = include_delimiters
        self.max_frame_length = max_length + (len(self.start) + len(self.end) if include_delimiters else 0)
        self.max_length = max_length

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]:
        data = bytes(buffer)
        index = data.find(self.start)
        if index < 0:
            keep = len(self.start) - 1
            if keep and len(data) >= keep and self.start.startswith(data[-keep:]):
                skip = len(data) - keep
                return (skip, None) if skip > 0 else (0, None)
            return (len(data), None) if data else (0, None)
        if index:
            return index, None
        body_start = len(self.start)
        end = data.find(self.end, body_start, body_start + self.max_length + len(self.end))
        if end < 0:
            if len(data) - body_start >= self.max_length + len(self.end):
                return len(self.start), None
            return 0, None
        consumed = end + len(self.end)
        frame = data[:consumed] if self.include else data[body_start:end]
        return consumed, frame


_MASK_TABLE = bytes(b & 0x7F for b in range(256))


class LineFramer:
    def __init__(
        self,
        max_length: int,
        terminator: str = "0a",
        strip: str = "0d",
        mask_high_bit: bool = False,
        skip_empty: bool = True,
    ) -> None:
        self.terminator = _hex(terminator)
        self.strip = _hex(strip)
        self.mask = mask_high_bit
        self.skip_empty = skip_empty
        self.max_frame_length = max_length
        self.discarding = False

    def _clean(self, raw: bytes) -> bytes:
        if self.mask:
            raw = raw.translate(_MASK_TABLE)
        return raw.translate(None, self.strip) if self.strip else raw

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]:
        data = bytes(buffer)
        view = data.translate(_MASK_TABLE) if self.mask else data
        consumed = 0
        term = len(self.terminator)
        while True:
            index = view.find(self.terminator, consumed)
            if self.discarding:
                if index < 0:
                    return len(data), None
                self.discarding = False
                return index + term, None
            if index < 0:
                if len(self._clean(data[consumed:])) > self.max_frame_length:
                    self.discarding = True
                    return len(data), None
                return consumed, None
            line = self._clean(data[consumed:index])
            if len(line) > self.max_frame_length:
                if consumed:
                    return consumed, None
                return index + term, None
            if line or not self.skip_empty:
                return index + term, line
            consumed = index + term
            if view.find(self.terminator, consumed) < 0:
                return consumed, None


class AlternativesFramer:
    """Several framings on one stream (M-Bus: the single byte E5, short and long frames): the first byte
    picks the framing; a byte that starts none of them is skipped as garbage."""

    def __init__(self, alternatives: list[tuple[bytes, Framer]]) -> None:
        self.by_first: dict[int, Framer] = {}
        for first, framer in alternatives:
            for byte in first:
                self.by_first.setdefault(byte, framer)
        self.max_frame_length = max(framer.max_frame_length for _, framer in alternatives)

    def decode(self, buffer: bytes | bytearray | memoryview) -> tuple[int, bytes | None]:
        data = bytes(buffer)
        skipped = 0
        while skipped < len(data) and data[skipped] not in self.by_first:
            skipped += 1
        if skipped:
            return skipped, None
        if not data:
            return 0, None
        return self.by_first[data[0]].decode(data)


def make_framer(framing: FramingModel) -> Framer:
    options = dict(framing.options)
    if framing.kind == "alternatives":
        alternatives: list[tuple[bytes, Framer]] = []
        for alternative in options["alternatives"]:
            kind, alt = next(iter(alternative.items()))
            framer = make_framer(FramingModel(kind=kind, options=dict(alt)))
            first = bytes(alt.get("first_bytes", [])) if kind == "fixed" else _hex(alt.get("start"))[:1]
            alternatives.append((first, framer))
        return AlternativesFramer(alternatives)
    if framing.kind == "fixed":
        return FixedFramer(options["length"], options.get("first_bytes"))
    if framing.kind == "length_field":
        return LengthFieldFramer(**options)
    if framing.kind == "delimited":
        return DelimitedFramer(**options)
    return LineFramer(**options)
