"""Glass-to-glass video latency: capture -> VP8 -> room server relay -> decode -> frame.

A pusher draws each frame's number into it (``zego_py.media.video_pattern``) and notes
the time it hands the frame to ``VideoSource.captureFrame``; the far end reads the
number off each decoded RGB frame from ``videoFrames()`` and notes when it got it.  Both
ends use ``time.perf_counter()`` in this one process; no pts is trusted.  The server
runs in a child process.

Anchor: a direct aiortc call (two RTCPeerConnections in this process on 127.0.0.1) with
the same ``VideoSource``, aiortc's VP8 encoder and decoder, read on ``track.recv()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import av
import numpy as np

from zego_py import VideoSource
from zego_py.media.video_pattern import pattern_frame, read_number

from .common import ms, summary
from .harness import close_all, joined_engine, p2p_call, publish, server_child
from .report import Row

NAME = "video_latency"
TITLE = "glass-to-glass video latency"
WIDTH, HEIGHT, FPS = 640, 360, 30
WARMUP_S = 1.5


class NumberedPusher:
    """Captures numbered frames at FPS into a VideoSource; ``sent[n]`` is when."""

    def __init__(self, source: VideoSource) -> None:
        self.source = source
        self.sent: dict[int, float] = {}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        start, number = time.perf_counter(), 0
        while True:
            frame = pattern_frame(number, number // FPS % 8, WIDTH, HEIGHT)
            self.sent[number] = time.perf_counter()
            self.source.captureFrame(frame)
            number += 1
            await asyncio.sleep(max(0.0, start + number / FPS - time.perf_counter()))

    def stop(self) -> None:
        self.task.cancel()


async def _measure(frames: AsyncIterator[np.ndarray], pusher: NumberedPusher, seconds: float
                   ) -> dict[str, Any]:
    """Latency of every frame that arrives after the warm-up, for ``seconds``."""
    latencies: list[float] = []
    numbers: list[int] = []
    arrivals: list[float] = []
    first_at: float | None = None

    async def run() -> None:
        nonlocal first_at
        async for rgb in frames:
            now = time.perf_counter()
            first_at = first_at or now
            if now - first_at < WARMUP_S:
                continue
            number = read_number(rgb)
            sent = pusher.sent.get(number)
            if sent is not None and 0 <= now - sent < 5:
                latencies.append(now - sent)
                numbers.append(number)
                arrivals.append(now)
            if arrivals and arrivals[-1] - arrivals[0] >= seconds:
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run(), seconds + WARMUP_S + 2)
    span = (numbers[-1] - numbers[0] + 1) if numbers else 0
    fps = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    return {**ms(summary(latencies)), "frames": len(latencies),
            "frames_expected": span, "fps": round(fps, 1)}


async def _timed(frames: AsyncIterator[np.ndarray], seconds: float, pusher: NumberedPusher
                 ) -> dict[str, Any]:
    try:
        return await _measure(frames, pusher, seconds)
    finally:
        pusher.stop()


async def relay_latency(seconds: float) -> dict[str, Any]:
    async with server_child("zego") as (_, url):
        engines = []
        try:
            pub = await joined_engine(url, "vlat_pub")
            engines.append(pub)
            sub = await joined_engine(url, "vlat_sub")
            engines.append(sub)
            source = VideoSource(WIDTH, HEIGHT, FPS)
            pusher = NumberedPusher(source)
            await publish(pub, "vlat", source)
            remote = await sub.startPlayingStream("vlat", {"speaker": False, "audio": False})
            return await _timed(remote.videoFrames(), seconds, pusher)
        finally:
            await close_all(engines)


async def p2p_latency(seconds: float) -> dict[str, Any]:
    source = VideoSource(WIDTH, HEIGHT, FPS)
    pusher = NumberedPusher(source)
    call = await p2p_call(source)
    try:
        track = await asyncio.wait_for(call.remote, 10)

        async def frames() -> AsyncIterator[np.ndarray]:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                yield frame.to_ndarray(format="rgb24")

        return await _timed(frames(), seconds, pusher)
    finally:
        await call.close()


async def run(quick: bool = False, seconds: float | None = None) -> dict[str, Any]:
    seconds = seconds or (5.0 if quick else 15.0)
    measure: list[tuple[str, Callable[[float], Any]]] = [("p2p", p2p_latency),
                                                         ("relay", relay_latency)]
    raw = {name: await fn(seconds) for name, fn in measure}
    relay, anchor = raw["relay"], raw["p2p"]
    note = (f"{WIDTH}x{HEIGHT} {FPS} fps VP8; frames {relay['frames']} of "
            f"{relay['frames_expected']} (P2P {anchor['frames']} of {anchor['frames_expected']})")
    rows = [
        Row(TITLE, "median", relay["median"], "ms", "aiortc P2P", anchor["median"], note),
        Row(TITLE, "p95", relay["p95"], "ms", "aiortc P2P", anchor["p95"]),
        Row(TITLE, "frames per second", relay["fps"], "/s", "aiortc P2P", anchor["fps"]),
    ]
    return {"name": NAME, "rows": rows, "raw": {**raw, "seconds": seconds}}
