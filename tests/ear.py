"""A listener that timestamps every 20 ms frame of the streams it plays, for timing by content.

Onsets and stops are read off the frames' arrival times (``time.monotonic()``, the same clock
in every process on the machine), by level or by a tone's amplitude.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from audio_helpers import rms_dbfs

from zego_py import ZegoExpressEngine


class Ear:
    def __init__(self, engine: ZegoExpressEngine) -> None:
        self.engine = engine
        self.frames: dict[str, list[tuple[float, np.ndarray]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def play(self, stream_id: str) -> None:
        got = self.frames.setdefault(stream_id, [])

        async def collect() -> None:
            remote = await self.engine.startPlayingStream(stream_id, {"speaker": False})
            async for pcm in remote.audioFrames():
                got.append((time.monotonic(), pcm))

        self._tasks.append(asyncio.ensure_future(collect()))

    def times(self, stream_id: str, start: float, end: float,
              heard: Callable[[np.ndarray], bool]) -> list[float]:
        """Arrival times in [start, end) of the frames ``heard`` accepts."""
        return [t for t, pcm in self.frames.get(stream_id, []) if start <= t < end and heard(pcm)]

    def loud(self, stream_id: str, start: float, end: float = float("inf"),
             dbfs: float = -40.0) -> list[float]:
        return self.times(stream_id, start, end, lambda pcm: rms_dbfs(pcm) > dbfs)

    def pcm(self, stream_id: str, start: float, end: float) -> np.ndarray:
        return np.concatenate([p for t, p in self.frames[stream_id] if start <= t < end])

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
