"""construct building blocks for spec fields; every failure is a ``FrameError`` carrying a field path."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import construct as cs

from core.errors import ChecksumError, FrameError
from core.spec.checksums import ALGORITHMS


class UnknownValue(int):
    """An integer that is not a label of its enum: kept as the int and flagged by the decoder."""


def prefix_path(exc: FrameError, name: str) -> None:
    segments = getattr(exc, "segments", None)
    if segments is None:
        segments = []
        exc.segments = segments  # type: ignore[attr-defined]
    segments.insert(0, str(name))


def from_construct(exc: cs.ConstructError) -> FrameError:
    text = str(exc)
    text = re.sub(r"^Error in path \S*\s*", "", text).strip() or type(exc).__name__
    found = None
    match = re.search(r"expected (\d+), found (\d+)", text)
    if isinstance(exc, cs.StreamError) and match:
        error = FrameError(
            f"the frame is too short: needed {match.group(1)} more bytes, found {match.group(2)}",
            expected=int(match.group(1)),
            found=int(match.group(2)),
        )
        return error
    error = FrameError(text, found=found)
    return error


class Field(cs.Renamed):
    """A named struct member that prefixes its label to the path of any error raised below it."""

    def __init__(self, name: str, subcon: cs.Construct, label: str) -> None:
        super().__init__(subcon, newname=name)
        self.label = label

    @contextlib.contextmanager
    def _labelled_errors(self, start: int | None = None) -> Iterator[None]:
        """Errors raised below this field come out as FrameErrors whose path starts with its label.

        On parse, ``start`` is where the field begins: the innermost field that fails records it as the
        error's ``offset`` (how far the message got), which ranks the candidates of a frame no message fits.
        """
        try:
            yield
        except FrameError as exc:
            if start is not None and getattr(exc, "offset", None) is None:
                exc.offset = start  # type: ignore[attr-defined]
            if self.label:
                prefix_path(exc, self.label)
            raise
        except cs.ConstructError as exc:
            error = from_construct(exc)
            if start is not None:
                error.offset = start  # type: ignore[attr-defined]
            if self.label:
                prefix_path(error, self.label)
            raise error from exc

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        trail = context._params.get("_path") if self.label else None
        if trail is not None:
            trail.append(self.label)
        try:
            with self._labelled_errors(stream.tell()):
                return self.subcon._parsereport(stream, context, path)
        finally:
            if trail is not None:
                trail.pop()

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        with self._labelled_errors():
            return self.subcon._build(obj, stream, context, path)


class IndexedArray(cs.Array):
    """A fixed or context-counted array whose errors carry the element index."""

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        count = cs.evaluate(self.count, context)
        if not count >= 0:
            raise FrameError(f"invalid element count {count}", expected=">= 0", found=count)
        items = cs.ListContainer()
        for index in range(count):
            context._index = index
            try:
                items.append(self.subcon._parsereport(stream, context, path))
            except FrameError as exc:
                prefix_path(exc, str(index))
                raise
            except cs.ConstructError as exc:
                error = from_construct(exc)
                prefix_path(error, str(index))
                raise error from exc
        return items

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        count = cs.evaluate(self.count, context)
        if len(obj) != count:
            raise FrameError(f"expected {count} elements, got {len(obj)}", expected=count, found=len(obj))
        result = cs.ListContainer()
        for index, item in enumerate(obj):
            context._index = index
            try:
                result.append(self.subcon._build(item, stream, context, path))
            except FrameError as exc:
                prefix_path(exc, str(index))
                raise
        return result


def _remaining(stream: Any) -> int:
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return end - here


class UntilEnd(cs.Construct):
    """Elements (or raw bytes when ``subcon`` is None) up to the end of the frame minus ``leave`` bytes."""

    def __init__(self, subcon: cs.Construct | None, leave: int = 0) -> None:
        super().__init__()
        self.subcon = subcon
        self.leave = leave
        self.flagbuildnone = False

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        available = _remaining(stream) - self.leave
        if available < 0:
            raise FrameError("the frame is too short", expected=self.leave, found=self.leave + available)
        if self.subcon is None:
            return stream.read(available)
        stop = stream.tell() + available
        items = cs.ListContainer()
        while stream.tell() < stop:
            context._index = len(items)
            try:
                items.append(self.subcon._parsereport(stream, context, path))
            except FrameError as exc:
                prefix_path(exc, str(len(items)))
                raise
            except cs.ConstructError as exc:
                error = from_construct(exc)
                prefix_path(error, str(len(items)))
                raise error from exc
        if stream.tell() != stop:
            raise FrameError("the last element does not fit the frame", expected=stop, found=stream.tell())
        return items

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if self.subcon is None:
            stream.write(bytes(obj))
            return obj
        for index, item in enumerate(obj):
            context._index = index
            try:
                self.subcon._build(item, stream, context, path)
            except FrameError as exc:
                prefix_path(exc, str(index))
                raise
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("variable size", path=path)


class ExactSized(cs.Subconstruct):
    """The target of a length field: read from exactly the bytes the length gives, all of which it must use."""

    def __init__(self, subcon: cs.Construct, length_name: str, adjust: int) -> None:
        super().__init__(subcon)
        self.length_name, self.adjust = length_name, adjust

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        raw = context[self.length_name]
        size = raw - self.adjust
        if size < 0:
            raise FrameError(
                f"the length field '{self.length_name}' is {raw}, less than its adjust {self.adjust}",
                expected=f">= {self.adjust}",
                found=raw,
            )
        base = stream.tell()
        data = cs.stream_read(stream, size, path)
        substream = io.BytesIO(data)
        try:
            obj = self.subcon._parsereport(substream, context, path)
        except FrameError as exc:
            if getattr(exc, "offset", None) is not None:  # measured in the substream: make it a frame offset
                exc.offset += base  # type: ignore[attr-defined]
            raise
        used = substream.tell()
        if used != size:
            raise FrameError(
                f"{size - used} bytes left over: the length field '{self.length_name}' gives {size} bytes,"
                f" the field uses {used}",
                expected=size,
                found=used,
            )
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        return self.subcon._build(obj, stream, context, path)  # the length field is computed from these bytes

    def _sizeof(self, context: Any, path: str) -> int:
        return self.subcon._sizeof(context, path)


class BuildComputed(cs.Subconstruct):
    """A value that is read normally but computed from the context on build (lengths, counts)."""

    def __init__(self, subcon: cs.Construct, func: Callable[[Any], int]) -> None:
        super().__init__(subcon)
        self.func = func
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        value = self.func(context)
        self.subcon._build(value, stream, context, path)
        return value

    def _emitparse(self, code: Any) -> str:
        return self.subcon._compileparse(code)


class ChecksumField(cs.Subconstruct):
    """An integer that must equal a checksum of frame bytes ``start``..``end``; computed on build."""

    def __init__(self, subcon: cs.Construct, algorithm: str, start: int, end: int) -> None:
        super().__init__(subcon)
        self.algorithm = algorithm
        self.func = ALGORITHMS[algorithm][0]
        self.start, self.end = start, end
        self.flagbuildnone = True

    def _covered(self, stream: Any) -> bytes:
        if not hasattr(stream, "getvalue"):
            raise FrameError("checksums need the whole frame in memory")
        return stream.getvalue()[self.start : self.end]

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        found = self.subcon._parsereport(stream, context, path)
        expected = self.func(self._covered(stream))
        if found != expected:
            width = ALGORITHMS[self.algorithm][1] * 2
            raise ChecksumError(
                f"{self.algorithm} mismatch over bytes {self.start}..{self.end}: expected 0x{expected:0{width}X}, found 0x{found:0{width}X}",
                expected=f"0x{expected:0{width}X}",
                found=f"0x{found:0{width}X}",
            )
        return found

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        value = self.func(self._covered(stream))
        self.subcon._build(value, stream, context, path)
        return value


class FailCase(cs.Construct):
    """The default of a switch without one: an unmatched key is a FrameError."""

    def __init__(self, on: str, keys: list[Any], member: str | None = None) -> None:
        super().__init__()
        self.on = on
        self.member = member
        self.keys = keys
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        key = context.get(self.on)
        segments = [self.on]
        if self.member is not None:  # a switch on one member of a bits field
            key = key.get(self.member) if isinstance(key, dict) else None
            segments.append(self.member)
        shown = f"0x{key:02X}" if isinstance(key, int) else repr(key)
        error = FrameError(
            f"no layout for {'.'.join(segments)} {shown}; expected one of {', '.join(map(str, self.keys))}",
            expected=", ".join(map(str, self.keys)),
            found=shown,
        )
        error.segments = segments  # type: ignore[attr-defined]  # the field whose value selected no case
        raise error

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        return self._parse(stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("no case", path=path)


class LayoutSwitch(cs.Switch):
    """A switch whose size is known without the key when every case has the same size."""

    def _sizeof(self, context: Any, path: str) -> int:
        try:
            return super()._sizeof(context, path)
        except cs.SizeofError:
            sizes = set()
            for case in self.cases.values():
                sizes.add(case._sizeof(context, path))
            if not isinstance(self.default, FailCase):
                sizes.add(self.default._sizeof(context, path))
            if len(sizes) == 1:
                return sizes.pop()
            raise


class FrameEnd(cs.Construct):
    """Bytes left after the last field are an error, not silently ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        left = _remaining(stream)
        if left:
            raise FrameError(f"{left} bytes after the end of the message", expected=0, found=left)
        return None

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        return None

    def _sizeof(self, context: Any, path: str) -> int:
        return 0
