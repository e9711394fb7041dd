"""A plugin replaces the spec's default parsing of a device type's frames."""

from __future__ import annotations

from core.config import Config, ListenerConfig
from core.gateway.runtime import Gateway
from core.hookspecs import hookimpl
from tests.gateway.doubles import DEVICE_TYPE, LineSpec, connect, read_line, read_until_closed


class LenientDecoder:
    """Accepts lower-case verbs, which the echo spec refuses, by normalising before the spec decodes."""

    @hookimpl(tryfirst=True)
    def specgate_decode_frame(self, session, frame):
        if session.device_type != DEVICE_TYPE:
            return None
        verb, _, rest = frame.partition(b" ")
        return session.spec.decode(verb.upper() + b" " + rest)


async def test_a_plugin_decoder_runs_before_the_spec(store, echo_pm):
    listener = ListenerConfig(DEVICE_TYPE, 0, "127.0.0.1", on_bad_frame="close")
    async with Gateway(Config(), store, echo_pm, listeners=[listener], specs={DEVICE_TYPE: LineSpec()}) as gateway:
        reader, writer = await connect(gateway.port(DEVICE_TYPE))
        writer.write(b"ping 1\n")
        assert await read_until_closed(reader) == b""  # the spec alone refuses "ping"
        writer.close()

        echo_pm.register(LenientDecoder(), name="lenient")
        reader, writer = await connect(gateway.port(DEVICE_TYPE))
        writer.write(b"ping 2\n")
        assert await read_line(reader) == b"PONG 2\n"
        writer.close()
