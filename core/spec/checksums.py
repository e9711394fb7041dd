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
