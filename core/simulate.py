"""How simulated devices put bytes on the wire: whole, or cut into random pieces as TCP may deliver them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable


def split_chunks(data: bytes, rng: random.Random, largest: int = 40) -> list[bytes]:
    """``data`` cut into random pieces of 1 to ``largest`` bytes."""
    chunks, at = [], 0
    while at < len(data):
        size = rng.randint(1, largest)
        chunks.append(data[at : at + size])
        at += size
    return chunks


async def write_chunks(
    writer: asyncio.StreamWriter,
    chunks: list[bytes],
    pause: float = 0.0,
    on_written: Callable[[int], object] | None = None,
) -> None:
    """Write each chunk and drain it, pausing ``pause`` seconds between chunks; ``on_written`` (optional)
    is called with each chunk's length once it is drained."""
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        if on_written is not None:
            on_written(len(chunk))
        if pause:
            await asyncio.sleep(pause)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close a simulated device's connection; a gateway that already dropped it is no error here."""
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass
