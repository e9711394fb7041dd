"""construct building blocks of the second version that read data: packed BCD with a byte order and sign
conventions, checksums over named fields and parametrised CRCs, and transformed (decrypted) regions. The
rules are those of ``core.spec.constructs``."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import construct as cs

from core.errors import ChecksumError, FrameError
from core.spec import adapters as ad
from core.spec import codecs as vc
from core.spec.constructs import Lookup, evaluate, flag
from core.spec.expr import Expr


def bcd_digits(
    raw: bytes, endian: str, sign: str | None, decimals: int | None, text: bool = False
) -> tuple[Any, str | None]:
    """(value, None) or (None, why) for packed BCD; ``sign`` is None, ``trailing`` or ``leading_f``; with
    ``text`` the value is the digits as text (a leading ``-`` when negative)."""
    data = raw[::-1] if endian == "little" else raw
    nibbles: list[int] = []
    for byte in data:
        nibbles.extend((byte >> 4, byte & 0x0F))
    negative = False
    if sign == "trailing" and nibbles:
        mark = nibbles.pop()
        if mark == 0x0D:
            negative = True
        elif mark not in (0x0C, 0x0F):
            return None, f"invalid BCD sign nibble {mark:X} (expected C, D or F)"
    elif sign == "leading_f" and nibbles and nibbles[0] == 0x0F:
        negative = True
        nibbles[0] = 0
    for position, nibble in enumerate(nibbles):
        if nibble > 9:
            problem = f"invalid BCD digit {nibble:X} at digit {position} of {raw.hex().upper()}"
            # as text the digits stay what was sent (an id with wildcard or hex digits, say)
            return ("".join(f"{n:X}" for n in nibbles) if text else None), problem
    digits = "".join(map(str, nibbles)) or "0"
    if text:
        return ("-" if negative else "") + digits, None
    if decimals:
        return Decimal(f"{'-' if negative else ''}{digits[:-decimals] or '0'}.{digits[-decimals:]}"), None
    if decimals == 0:
        return Decimal(f"{'-' if negative else ''}{int(digits)}"), None
    number = int(digits)
    return (-number if negative else number), None


def bcd_pack(value: Any, size: int, endian: str, sign: str | None, decimals: int | None, text: bool = False) -> bytes:
    if text:
        digits = value.lstrip("-") if isinstance(value, str) else ""
        if not digits or len(digits) > size * 2 or not all(c in "0123456789ABCDEFabcdef" for c in digits):
            raise FrameError(f"expected up to {size * 2} digits as text, got {value!r}", found=value)
        if not digits.isdigit():  # hex digits as they were received
            raw = bytes.fromhex(digits.rjust(size * 2, "0"))
            return raw[::-1] if endian == "little" else raw
        value = int(value)
    if sign != "leading_f":
        raw = vc.bcd_encode(value, size, sign == "trailing", decimals)
        return raw[::-1] if endian == "little" else raw
    number = Decimal(value).scaleb(decimals or 0)
    if number != number.to_integral_value():
        raise FrameError(f"{value} has more than {decimals or 0} decimal places", found=str(value))
    integer = int(number)
    digits = str(abs(integer)).rjust(size * 2, "0")
    if len(digits) > size * 2 or (integer < 0 and len(digits.lstrip("0")) > size * 2 - 1):
        raise FrameError(f"{value} needs more than the field's BCD digits", found=str(value))
    if integer < 0:
        digits = "F" + digits[1:]
    raw = bytes.fromhex(digits)
    return raw[::-1] if endian == "little" else raw


class BcdField(cs.Construct):
    """Packed BCD with a byte order, a sign convention and, with ``invalid: flag``, a flagged null value."""

    def __init__(
        self,
        size: int | Callable[[Any], int],
        endian: str,
        sign: str | None,
        decimals: int | None,
        invalid: str,
        text: bool = False,
    ) -> None:
        super().__init__()
        self.size, self.endian, self.sign, self.decimals, self.invalid = size, endian, sign, decimals, invalid
        self.text = text

    def _length(self, context: Any) -> int:
        size = self.size(context) if callable(self.size) else self.size
        if not isinstance(size, int) or size < 0:
            raise FrameError(f"invalid BCD size {size!r}", expected=">= 0", found=size)
        return size

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        raw = cs.stream_read(stream, self._length(context), path)
        value, problem = bcd_digits(raw, self.endian, self.sign, self.decimals, self.text)
        if problem is not None:
            if self.invalid == "error":
                raise FrameError(problem, expected="BCD digits", found=raw.hex().upper())
            flag(context, problem)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None or isinstance(obj, bool):
            raise FrameError(f"expected a number, got {obj!r}", expected="number", found=obj)
        raw = bcd_pack(obj, self._length(context), self.endian, self.sign, self.decimals, self.text)
        cs.stream_write(stream, raw, len(raw), path)
        return obj


class ChecksumOver(cs.Subconstruct):
    """A checksum over the bytes of named earlier fields of the same struct, wherever they sit."""

    def __init__(self, subcon: cs.Construct, func: Callable[[bytes], int], names: list[str], label: str) -> None:
        super().__init__(subcon)
        self.func, self.names, self.label = func, names, label
        self.width = subcon.sizeof() * 2
        self.flagbuildnone = True

    def _covered(self, stream: Any, context: Any) -> tuple[bytes, int, int]:
        spans = context.get("_spans") or {}
        start, end = spans[self.names[0]][0], spans[self.names[-1]][1]
        if not hasattr(stream, "getvalue"):
            raise FrameError("checksums need the whole frame in memory")
        return stream.getvalue()[start:end], start, end

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        found = self.subcon._parsereport(stream, context, path)
        data, start, end = self._covered(stream, context)
        expected = self.func(data)
        if found != expected:
            over = ", ".join(self.names)
            raise ChecksumError(
                f"{self.label} mismatch over {over} (bytes {start}..{end}): expected 0x{expected:0{self.width}X},"
                f" found 0x{found:0{self.width}X}",
                expected=f"0x{expected:0{self.width}X}",
                found=f"0x{found:0{self.width}X}",
            )
        return found

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        data, _, _ = self._covered(stream, context)
        value = self.func(data)
        self.subcon._build(value, stream, context, path)
        return value


class CrcChecksum(ad.ChecksumField):
    """``ChecksumField`` with a parametrised CRC (``crcs:`` of the spec)."""

    def __init__(self, subcon: cs.Construct, func: Callable[[bytes], int], label: str, start: int, end: int) -> None:
        cs.Subconstruct.__init__(self, subcon)
        self.algorithm, self.func, self.start, self.end = label, func, start, end
        self.width = subcon.sizeof()
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        found = self.subcon._parsereport(stream, context, path)
        expected = self.func(self._covered(stream))
        if found != expected:
            width = self.width * 2
            raise ChecksumError(
                f"{self.algorithm} mismatch over bytes {self.start}..{self.end}: expected 0x{expected:0{width}X},"
                f" found 0x{found:0{width}X}",
                expected=f"0x{expected:0{width}X}",
                found=f"0x{found:0{width}X}",
            )
        return found


class Processed(cs.Construct):
    """The rest of the region (less ``leave`` bytes) passed through a transform, then read by ``subcon``.

    A transform that cannot run (no key for this meter, or none that passes ``check``) leaves the bytes as
    they are: the value is those bytes and a flag says why."""

    def __init__(
        self,
        subcon: cs.Construct,
        transform: Any,
        params: dict[str, Any],
        condition: Expr | None,
        check: bytes,
        lookup: Lookup | None,
        leave: int,
    ) -> None:
        super().__init__()
        self.subcon, self.transform, self.params, self.condition = subcon, transform, params, condition
        self.check, self.lookup, self.leave = check, lookup, leave

    def arguments(self, context: Any) -> dict[str, Any]:
        return {
            key: evaluate(value, context, self.lookup) if isinstance(value, Expr) else value
            for key, value in self.params.items()
        }

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        size = ad._remaining(stream) - self.leave
        if size < 0:
            raise FrameError("the frame is too short", expected=self.leave, found=self.leave + size)
        data = cs.stream_read(stream, size, path)
        if self.condition is not None and not evaluate(self.condition, context, self.lookup):
            return self.subcon._parsereport(io.BytesIO(data), context, path)
        params = context.get("_params") or {}
        plain, reason = self.transform.decode(data, self.arguments(context), params.get("_keys"), self.check)
        if plain is None:
            flag(context, reason or "not transformed")
            return bytes(data)
        substream = io.BytesIO(plain)
        obj = self.subcon._parsereport(substream, context, path)
        left = len(plain) - substream.tell()
        if left:
            raise FrameError(f"{left} bytes after the end of the transformed data", expected=0, found=left)
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if isinstance(obj, (bytes, bytearray)):  # kept as it was received (not transformed)
            cs.stream_write(stream, bytes(obj), len(obj), path)
            return obj
        inner = io.BytesIO()
        self.subcon._build(obj, inner, context, path)
        data = inner.getvalue()
        if self.condition is None or evaluate(self.condition, context, self.lookup):
            if self.check and not data.startswith(self.check):
                data = self.check + data  # the verification bytes the decode looks for come first
            params = context.get("_params") or {}
            data = self.transform.encode(data, self.arguments(context), params.get("_keys"))
        cs.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("variable size", path=path)
