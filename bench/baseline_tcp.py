"""The bare asyncio baseline of the gas-meter benchmarks: read 256 bytes, write 32, close.

    python bench/baseline_tcp.py [--port 0]     (prints ``listening HOST:PORT``; SIGTERM stops it)

It knows nothing of the protocol and stores nothing: what a session costs with no gateway at all.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import contextlib
import signal

REPORT, REPLY = 256, 32
ANSWER = b"\x80" + b"\0" * (REPLY - 1)


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readexactly(REPORT)
        writer.write(ANSWER)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def main(port: int) -> None:
    server = await asyncio.start_server(session, "127.0.0.1", port)  # default backlog (100), as the listener
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"listening {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))
