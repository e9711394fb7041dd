"""The PROXY protocol header (versions 1 and 2) a TCP load balancer puts before a client's bytes.

Behind a balancer every connection comes from the balancer's address; the header carries the device's own
address, which allow-lists, the exchange log and same-peer replacement need. Like the framers, decoding is
pure: ``decode_proxy_header(buffer) -> (consumed, address | None)``.
"""

from __future__ import annotations

import ipaddress

from core.errors import FrameError

V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107  # the longest valid v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_HEADER = 16
_V2_FAMILIES = {0x11: (4, 4), 0x21: (16, 6)}  # TCP over IPv4 / IPv6: (address bytes, ip version)

Address = tuple[str, int]


class ProxyHeaderError(FrameError):
    """The bytes are not a valid PROXY protocol header."""


def decode_proxy_header(data: bytes) -> tuple[int, Address | None]:
    """Decode the header at the start of ``data``.

    Returns ``(0, None)`` when more bytes are needed, or ``(consumed, address)`` where ``address`` is the
    client's ``(ip, port)``, or None for a header that names no client (v1 ``UNKNOWN``, v2 ``LOCAL``, an
    unspecified family): the connection's own peer address stands. Raises :class:`ProxyHeaderError`.
    """
    if len(data) < len(V2_SIGNATURE) and (V2_SIGNATURE.startswith(data) or V1_PREFIX.startswith(data[:6])):
        return 0, None
    if data.startswith(V1_PREFIX):
        return _decode_v1(data)
    if data.startswith(V2_SIGNATURE):
        return _decode_v2(data)
    raise ProxyHeaderError("the connection did not start with a PROXY protocol header", found=data[:16].hex(" "))


def _decode_v1(data: bytes) -> tuple[int, Address | None]:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyHeaderError(f"PROXY v1 line longer than {V1_MAX_LENGTH} bytes")
        return 0, None
    try:
        parts = data[:end].decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 line is not ASCII") from None
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return end + 2, None
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"malformed PROXY v1 line {data[:end]!r}")
    version = 4 if parts[1] == "TCP4" else 6
    try:
        source = ipaddress.ip_address(parts[2])
        ipaddress.ip_address(parts[3])
        port = int(parts[4])
    except ValueError:
        raise ProxyHeaderError(f"malformed PROXY v1 addresses in {data[:end]!r}") from None
    if source.version != version or not 0 <= port <= 65535 or not parts[4].isdigit():
        raise ProxyHeaderError(f"malformed PROXY v1 addresses in {data[:end]!r}")
    return end + 2, (str(source), port)


def _decode_v2(data: bytes) -> tuple[int, Address | None]:
    if len(data) < _V2_HEADER:
        return 0, None
    version_command, family = data[12], data[13]
    length = int.from_bytes(data[14:16], "big")
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"unsupported PROXY protocol version {version_command >> 4}")
    total = _V2_HEADER + length
    if len(data) < total:
        return 0, None
    command = version_command & 0x0F
    if command == 0:  # LOCAL: the balancer's own health check
        return total, None
    if command != 1:
        raise ProxyHeaderError(f"unknown PROXY v2 command {command}")
    if family == 0x00:
        return total, None
    if family not in _V2_FAMILIES:
        raise ProxyHeaderError(f"unsupported PROXY v2 address family 0x{family:02X} (TCP over IPv4/IPv6 only)")
    size, _ = _V2_FAMILIES[family]
    if length < 2 * size + 4:
        raise ProxyHeaderError(f"PROXY v2 address block of {length} bytes is too short")
    body = data[_V2_HEADER:total]
    source = ipaddress.ip_address(body[:size])
    port = int.from_bytes(body[2 * size : 2 * size + 2], "big")
    return total, (str(source), port)
