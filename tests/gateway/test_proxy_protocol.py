"""PROXY protocol headers from a load balancer: the pure decoder, and listeners that trust only balancers."""

from __future__ import annotations

import logging
import socket
import struct

import pytest

from core.gateway.proxy_protocol import V2_SIGNATURE, ProxyHeaderError, decode_proxy_header
from core.store import ListQuery
from tests.gateway.doubles import connect, eventually, read_line, read_until_closed

V1_TCP4 = b"PROXY TCP4 198.51.100.7 10.0.0.5 40123 5004\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40123 5004\r\n"


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack(">H", len(body)) + body


V2_TCP4 = v2(1, 0x11, socket.inet_aton("198.51.100.8") + socket.inet_aton("10.0.0.5") + struct.pack(">HH", 40124, 4001))
V2_TCP6 = v2(
    1,
    0x21,
    socket.inet_pton(socket.AF_INET6, "2001:db8::8")
    + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    + struct.pack(">HH", 40125, 4001),
)
V2_LOCAL = v2(0, 0x00, b"")


@pytest.mark.parametrize(
    ("header", "address"),
    [
        (V1_TCP4, ("198.51.100.7", 40123)),
        (V1_TCP6, ("2001:db8::7", 40123)),
        (b"PROXY UNKNOWN\r\n", None),
        (V2_TCP4, ("198.51.100.8", 40124)),
        (V2_TCP6, ("2001:db8::8", 40125)),
        (V2_LOCAL, None),
    ],
)
def test_headers_decode_whole_and_split_at_every_offset(header, address):
    payload = b"ST,+00053.25 kg\r\n"
    assert decode_proxy_header(header + payload) == (len(header), address)
    for cut in range(len(header)):
        assert decode_proxy_header(header[:cut]) == (0, None), cut


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ST,+00053.25 kg\r\n", "did not start with a PROXY protocol header"),
        (b"GET / HTTP/1.1\r\n", "did not start with a PROXY protocol header"),
        (b"PROXY TCP4 198.51.100.7 10.0.0.5 40123\r\n", "malformed PROXY v1 line"),
        (b"PROXY TCP4 2001:db8::7 10.0.0.5 40123 5004\r\n", "malformed PROXY v1 addresses"),
        (b"PROXY TCP4 198.51.100.7 10.0.0.5 99999 5004\r\n", "malformed PROXY v1 addresses"),
        (b"PROXY TCP4 " + b"1" * 120, "longer than 107 bytes"),
        (V2_SIGNATURE + bytes([0x11, 0x11, 0, 0]), "unsupported PROXY protocol version 1"),
        (v2(1, 0x31, b"x" * 216), "unsupported PROXY v2 address family 0x31"),
        (v2(1, 0x11, b"short"), "too short"),
    ],
)
def test_malformed_headers_are_refused(data, message):
    with pytest.raises(ProxyHeaderError, match=message):
        decode_proxy_header(data)


async def test_the_header_gives_the_device_address(start_echo, store, echo_plugin, caplog):
    gateway = await start_echo(proxy_protocol=["127.0.0.0/8"])
    reader, writer = await connect(gateway.port("echo"))
    writer.write(V1_TCP4 + b"PING 1\n")
    assert await read_line(reader) == b"PONG 1\n"
    writer.write(b"BYE\n")
    await read_until_closed(reader)
    writer.close()
    await eventually(lambda: echo_plugin.closed == ["done"])
    assert echo_plugin.opened == [("198.51.100.7", 40123)]
    log = await store.list_exchanges(ListQuery(filters={"device_type": "echo"}))
    assert {entry["ip"] for entry in log.items} == {"198.51.100.7"}


async def test_the_allow_list_applies_to_the_device_address(start_echo):
    gateway = await start_echo(allow=["198.51.100.0/24"], proxy_protocol=["127.0.0.1"])
    reader, writer = await connect(gateway.port("echo"))
    writer.write(V2_TCP4 + b"PING 2\n")
    assert await read_line(reader) == b"PONG 2\n"
    writer.close()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PROXY TCP4 203.0.113.9 10.0.0.5 5555 5004\r\nPING 3\n")
    assert await read_until_closed(reader) == b""
    assert gateway.metrics()["listeners"][0]["rejected"] == {"not_allowed": 1}


async def test_same_peer_replacement_uses_the_device_address(start_echo, echo_plugin):
    gateway = await start_echo(proxy_protocol=["127.0.0.1"], replace_same_peer=True)
    port = gateway.port("echo")
    first_reader, first = await connect(port)
    first.write(b"PROXY TCP4 198.51.100.1 10.0.0.5 1111 4001\r\nPING 1\n")
    assert await read_line(first_reader) == b"PONG 1\n"
    other_reader, other = await connect(port)  # same balancer address, another device: both stay
    other.write(b"PROXY TCP4 198.51.100.2 10.0.0.5 2222 4001\r\nPING 2\n")
    assert await read_line(other_reader) == b"PONG 2\n"
    again_reader, again = await connect(port)  # the first device reconnects: its old session is replaced
    again.write(b"PROXY TCP4 198.51.100.1 10.0.0.5 3333 4001\r\nPING 3\n")
    assert await read_line(again_reader) == b"PONG 3\n"
    assert await read_until_closed(first_reader) == b""
    await eventually(lambda: echo_plugin.closed == ["replaced"])
    other.write(b"PING 4\n")
    assert await read_line(other_reader) == b"PONG 4\n"
    for writer in (first, other, again):
        writer.close()


async def test_a_missing_header_or_an_untrusted_source_is_refused(start_echo, caplog):
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        gateway = await start_echo(proxy_protocol=["127.0.0.1"])
        reader, writer = await connect(gateway.port("echo"))
        writer.write(b"PING 1\n")
        assert await read_until_closed(reader) == b""
        writer.close()
        assert gateway.metrics()["listeners"][0]["rejected"] == {"bad_proxy_header": 1}
        assert "did not start with a PROXY protocol header" in caplog.text

        untrusting = await start_echo(proxy_protocol=["192.0.2.0/24"])
        reader, writer = await connect(untrusting.port("echo"))
        writer.write(V1_TCP4 + b"PING 1\n")
        assert await read_until_closed(reader) == b""
        writer.close()
        assert untrusting.metrics()["listeners"][0]["rejected"] == {"untrusted_proxy": 1}
