"""Child process: K engines each publishing a tone, so their CPU stays out of the parent's.

``python -m bench.publisher_child URL ROOM K [video]`` publishes streams
``pub0``..``pub{K-1}`` (tones 300, 400, ... Hz; with ``video`` also a 640x360 30 fps
moving noise texture), prints ``READY`` and runs until its stdin closes.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from zego_py import VideoSource
from zego_py.media.sources import ToneSource

from .common import paint_noise
from .harness import close_all, joined_engine, publish


async def _main(url: str, room: str, k: int, video: bool) -> None:
    engines = []
    painters = []
    try:
        for i in range(k):
            engine = await joined_engine(url, f"pub{i}", room_id=room)
            engines.append(engine)
            tone = ToneSource(300 + 100 * i, 0.3)
            if not video:
                await publish(engine, f"pub{i}", tone)
                continue
            source = VideoSource(640, 360, 30)
            painters.append(asyncio.create_task(paint_noise(source)))
            await publish(engine, f"pub{i}", [tone, source])
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    finally:
        for painter in painters:
            painter.cancel()
        await close_all(engines)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["video"]))
