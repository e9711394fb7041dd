"""construct adapters for field values: scaled numbers, enums, constants, strings, BCD, IPv4, bit fields
and reserved bytes (the structure-level pieces are in :mod:`core.spec.adapters`)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import construct as cs

from core.errors import ChecksumError, FrameError
from core.spec.adapters import UnknownValue
from core.spec.checksums import parity_ok
from core.spec.types import BitModel


def scale_value(raw: int, scale: Decimal | None, offset: Decimal | None) -> Decimal:
    value = Decimal(raw)
    if scale is not None:
        value = value * scale
    if offset is not None:
        value = value + offset
    return value


def unscale_value(value: Decimal, scale: Decimal | None, offset: Decimal | None) -> int:
    raw = value - offset if offset is not None else value
    if scale is not None:
        raw = raw / scale
    if raw != raw.to_integral_value():
        # name the value the caller gave, not the intermediate raw quotient
        if scale is None:
            expected = f"the offset {offset} plus a whole number"
            reason = f"{value} is not {expected}"
        else:
            expected = f"a multiple of {scale}" + (f" (offset {offset})" if offset is not None else "")
            reason = f"{value} is not a whole multiple of the scale {scale}" + (
                f" (offset {offset})" if offset is not None else ""
            )
        raise FrameError(reason, expected=expected, found=str(value))
    return int(raw)


class ScaleAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, scale: Decimal | None, offset: Decimal | None) -> None:
        super().__init__(subcon)
        self.scale, self.offset = scale, offset

    def _decode(self, obj: int, context: Any, path: str) -> Decimal:
        return scale_value(obj, self.scale, self.offset)

    def _encode(self, obj: Decimal, context: Any, path: str) -> int:
        return unscale_value(Decimal(obj), self.scale, self.offset)


class EnumAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, table: dict[str, int]) -> None:
        super().__init__(subcon)
        self.table = table
        self.labels = {v: k for k, v in table.items()}

    def _decode(self, obj: int, context: Any, path: str) -> Any:
        label = self.labels.get(obj)
        return label if label is not None else UnknownValue(obj)

    def _encode(self, obj: Any, context: Any, path: str) -> int:
        return self.table[obj] if isinstance(obj, str) else int(obj)


class ConstAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, const: Any, show: Callable[[Any], str] = repr) -> None:
        super().__init__(subcon)
        self.const = const
        self.show = show
        self.flagbuildnone = True

    def _decode(self, obj: Any, context: Any, path: str) -> Any:
        if obj != self.const:
            raise FrameError(
                f"expected constant {self.show(self.const)}, found {self.show(obj)}",
                expected=self.show(self.const),
                found=self.show(obj),
            )
        return obj

    def _encode(self, obj: Any, context: Any, path: str) -> Any:
        return self.const


def decode_ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(
            f"expected ASCII text, found bytes {raw.hex().upper()}", expected="ASCII", found=raw.hex().upper()
        ) from None


def strip_padding(text: str, pad: str, align: str) -> str:
    return text.rstrip(pad) if align == "left" else text.lstrip(pad)


class StringAdapter(cs.Adapter):
    def __init__(
        self, subcon: cs.Construct, size: int | None, pad: str, align: str, pattern: str | None, encoding: str = "ascii"
    ) -> None:
        super().__init__(subcon)
        self.size, self.pad, self.align, self.encoding = size, pad, align, encoding
        self.pattern = re.compile(pattern) if pattern else None

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        text = decode_ascii(obj) if self.encoding == "ascii" else bytes(obj).decode("latin-1")
        text = strip_padding(text, self.pad, self.align)
        if self.pattern is not None and not self.pattern.fullmatch(text):
            raise FrameError(
                f"expected text matching {self.pattern.pattern!r}, found {text!r}",
                expected=self.pattern.pattern,
                found=text,
            )
        return text

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        raw = obj.encode(self.encoding)
        if self.size is not None:
            raw = (
                raw.ljust(self.size, self.pad.encode())
                if self.align == "left"
                else raw.rjust(self.size, self.pad.encode())
            )
        return raw


def bcd_decode(raw: bytes, signed: bool, decimals: int | None) -> int | Decimal:
    nibbles: list[int] = []
    for byte in raw:
        nibbles.extend((byte >> 4, byte & 0x0F))
    negative = False
    if signed:
        sign = nibbles.pop()
        if sign in (0x0C, 0x0F):
            negative = False
        elif sign == 0x0D:
            negative = True
        else:
            raise FrameError(
                f"invalid BCD sign nibble {sign:X} (expected C, D or F)", expected="C, D or F", found=f"{sign:X}"
            )
    for position, nibble in enumerate(nibbles):
        if nibble > 9:
            raise FrameError(
                f"invalid BCD digit {nibble:X} at digit {position} of {raw.hex().upper()}",
                expected="a digit 0-9",
                found=f"{nibble:X}",
            )
    digits = "".join(map(str, nibbles)) or "0"
    if decimals:
        value: int | Decimal = Decimal(f"{'-' if negative else ''}{digits[:-decimals] or '0'}.{digits[-decimals:]}")
    elif decimals == 0:
        value = Decimal(f"{'-' if negative else ''}{int(digits)}")
    else:
        value = -int(digits) if negative else int(digits)
    return value


def bcd_encode(value: int | Decimal, size: int, signed: bool, decimals: int | None) -> bytes:
    number = Decimal(value)
    if decimals:
        number = number.scaleb(decimals)
    if number != number.to_integral_value():
        raise FrameError(
            f"{value} has more than {decimals or 0} decimal places",
            expected=f"{decimals or 0} decimal places",
            found=str(value),
        )
    integer = int(number)
    if integer < 0 and not signed:
        raise FrameError(f"{value} is negative but the BCD field is unsigned", expected=">= 0", found=str(value))
    digits_count = size * 2 - (1 if signed else 0)
    digits = str(abs(integer))
    if len(digits) > digits_count:
        raise FrameError(
            f"{value} needs more than {digits_count} BCD digits",
            expected=f"at most {digits_count} digits",
            found=str(value),
        )
    nibbles = [int(d) for d in digits.rjust(digits_count, "0")]
    if signed:
        nibbles.append(0x0D if integer < 0 else 0x0C)
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


class BcdAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, size: int, signed: bool, decimals: int | None) -> None:
        super().__init__(subcon)
        self.size, self.signed, self.decimals = size, signed, decimals

    def _decode(self, obj: bytes, context: Any, path: str) -> int | Decimal:
        return bcd_decode(obj, self.signed, self.decimals)

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        return bcd_encode(obj, self.size, self.signed, self.decimals)


class Ipv4Adapter(cs.Adapter):
    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return ".".join(str(b) for b in obj)

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return ipaddress.IPv4Address(obj).packed


def bits_decode(value: int, members: list[BitModel], total_bits: int, check_unused: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    used = 0
    for member in members:
        mask = ((1 << member.width) - 1) << member.bit
        used |= mask
        if member.parity:
            if not parity_ok(value, member.parity):
                raise ChecksumError(
                    f"{member.parity} parity bit {member.bit} is wrong in 0x{value:0{total_bits // 4}X}",
                    expected=f"{member.parity} parity",
                    found=f"0x{value:0{total_bits // 4}X}",
                )
            continue
        raw = (value & mask) >> member.bit
        if member.enum is not None:
            label = next((k for k, v in member.enum.items() if v == raw), None)
            result[member.name or ""] = label if label is not None else UnknownValue(raw)
        elif member.width == 1:
            result[member.name or ""] = bool(raw)
        else:
            result[member.name or ""] = raw
    unused = value & ~used & ((1 << total_bits) - 1)
    if check_unused and unused:
        raise FrameError(f"unused bits are set: 0x{unused:X}", expected=0, found=f"0x{unused:X}")
    return result


def bits_encode(values: dict[str, Any], members: list[BitModel]) -> int:
    value = 0
    parity: BitModel | None = None
    for member in members:
        if member.parity:
            parity = member
            continue
        raw = values.get(member.name or "", 0)
        if member.enum is not None and isinstance(raw, str):
            raw = member.enum[raw]
        value |= (int(raw) & ((1 << member.width) - 1)) << member.bit
    if parity is not None and not parity_ok(value, parity.parity or "even"):
        value |= 1 << parity.bit
    return value


class BitsAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, members: list[BitModel], total_bits: int, check_unused: bool) -> None:
        super().__init__(subcon)
        self.members, self.total_bits, self.check_unused = members, total_bits, check_unused

    def _decode(self, obj: int, context: Any, path: str) -> dict[str, Any]:
        return bits_decode(obj, self.members, self.total_bits, self.check_unused)

    def _encode(self, obj: dict[str, Any], context: Any, path: str) -> int:
        return bits_encode(obj, self.members)


class ReservedAdapter(cs.Adapter):
    def __init__(self, size: int, fill: int, check: bool) -> None:
        super().__init__(cs.Bytes(size))
        self.expected = bytes([fill]) * size
        self.check = check
        self.flagbuildnone = True

    def _decode(self, obj: bytes, context: Any, path: str) -> None:
        if self.check and obj != self.expected:
            raise FrameError(
                f"reserved bytes must be {self.expected[:1].hex().upper()} x {len(self.expected)}, found {obj.hex().upper()}",
                expected=self.expected.hex().upper(),
                found=obj.hex().upper(),
            )
        return None

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        return self.expected
