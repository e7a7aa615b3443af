"""Child process: K engines each publishing a tone, so their CPU stays out of the parent's.

``python -m bench.publisher_child URL ROOM K`` publishes streams ``pub0``..``pub{K-1}``
(tones 300, 400, ... Hz), prints ``READY`` and runs until its stdin closes.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from zego_py.media.sources import ToneSource

from .harness import close_all, joined_engine, publish


async def _main(url: str, room: str, k: int) -> None:
    engines = []
    try:
        for i in range(k):
            engine = await joined_engine(url, f"pub{i}", room_id=room)
            engines.append(engine)
            await publish(engine, f"pub{i}", ToneSource(300 + 100 * i, 0.3))
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    finally:
        await close_all(engines)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
