"""Checksum algorithms a spec can name. CRC-16/CCITT here is the CCITT-FALSE variant (init 0xFFFF)."""

from __future__ import annotations

import zlib
from collections.abc import Callable


def sum8(data: bytes) -> int:
    return sum(data) & 0xFF


def xor8(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def _table_reflected(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _table_msb(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_MODBUS_TABLE = _table_reflected(0xA001)
_CCITT_TABLE = _table_msb(0x1021)


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: poly 0x8005 (reflected 0xA001), init 0xFFFF, no final xor; "123456789" -> 0x4B37."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _MODBUS_TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor; "123456789" -> 0x29B1."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CCITT_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, as zlib): "123456789" -> 0xCBF43926."""
    return zlib.crc32(data) & 0xFFFFFFFF


ALGORITHMS: dict[str, tuple[Callable[[bytes], int], int]] = {
    "sum8": (sum8, 1),
    "xor8": (xor8, 1),
    "crc16_modbus": (crc16_modbus, 2),
    "crc16_ccitt": (crc16_ccitt, 2),
    "crc32": (crc32, 4),
}


def parity_ok(value: int, kind: str) -> bool:
    ones = bin(value).count("1")
    return ones % 2 == 0 if kind == "even" else ones % 2 == 1


class Crc:
    """A parametrised CRC (the Rocksoft model: width, poly, init, reflected input and output, final xor).

    ``Crc(16, 0x3D65, xorout=0xFFFF)`` is CRC-16/EN-13757 ("123456789" -> 0xC2B7). Table driven, one byte
    at a time.
    """

    def __init__(
        self, width: int, poly: int, init: int = 0, xorout: int = 0, refin: bool = False, refout: bool = False
    ) -> None:
        self.width, self.poly, self.init, self.xorout, self.refin, self.refout = (
            width,
            poly,
            init,
            xorout,
            refin,
            refout,
        )
        self.size = (width + 7) // 8
        self.mask = (1 << width) - 1
        top = 1 << (width - 1)
        table = []
        for byte in range(256):
            if refin:
                crc = byte
                reflected = _reflect(poly, width)
                for _ in range(8):
                    crc = (crc >> 1) ^ reflected if crc & 1 else crc >> 1
            else:
                crc = byte << (width - 8) if width >= 8 else byte
                for _ in range(8):
                    crc = ((crc << 1) ^ poly) if crc & top else crc << 1
                crc &= self.mask
            table.append(crc)
        self.table = table

    def __call__(self, data: bytes) -> int:
        crc, table, mask = self.init, self.table, self.mask
        if self.refin:
            crc = _reflect(crc, self.width)
            for byte in data:
                crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
            if not self.refout:
                crc = _reflect(crc, self.width)
        else:
            shift = self.width - 8
            for byte in data:
                crc = ((crc << 8) & mask) ^ table[((crc >> shift) ^ byte) & 0xFF]
            if self.refout:
                crc = _reflect(crc, self.width)
        return (crc ^ self.xorout) & mask

    def __repr__(self) -> str:
        return (
            f"Crc(width={self.width}, poly={self.poly:#x}, init={self.init:#x}, xorout={self.xorout:#x},"
            f" refin={self.refin}, refout={self.refout})"
        )


def _reflect(value: int, width: int) -> int:
    result = 0
    for _ in range(width):
        result = (result << 1) | (value & 1)
        value >>= 1
    return result
