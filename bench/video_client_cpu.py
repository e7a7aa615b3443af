"""4b. Client CPU to receive and decode one 640x360 30 fps VP8 stream.

The server and the publisher (640x360 30 fps moving noise, ~500 kbps, plus a tone) run
in child processes; this process holds only the receiver, whose CPU (getrusage: every
thread) is measured over a steady window.  Figures: an engine playing the stream with
video only (``{"audio": False}``, its frames read from ``videoFrames()`` as RGB, as an
application would) and with ``avFrames=True`` (no RGB conversion); anchor: a bare
aiortc receiver on our protocol reading its decoded video track.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from .common import CpuWindow
from .harness import Child, CountingListener, joined_engine, server_child
from .report import Row

NAME = "video_client_cpu"
TITLE = "client CPU, one 640x360 30 fps video stream"


async def _window(warmup: float, window: float, frames: Callable[[], int]) -> dict[str, Any]:
    await asyncio.sleep(warmup)
    f0 = frames()
    cpu = CpuWindow().start()
    await asyncio.sleep(window)
    cpu.stop()
    return {"client_cpu_pct": cpu.percent("self"), "fps": (frames() - f0) / cpu.wall}


async def _engine(url: str, warmup: float, window: float, av_frames: bool) -> dict[str, Any]:
    engine = await joined_engine(url, f"viewer{int(av_frames)}")
    count = 0

    async def read(remote: Any) -> None:
        nonlocal count
        async for _ in remote.videoFrames(avFrames=av_frames):
            count += 1

    task: asyncio.Task[None] | None = None
    try:
        remote = await engine.startPlayingStream("pub0", {"speaker": False, "audio": False})
        task = asyncio.create_task(read(remote))
        return await _window(warmup, window, lambda: count)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.close()


async def _bare(url: str, warmup: float, window: float) -> dict[str, Any]:
    listener = CountingListener(url, "bare_viewer", decode=True, kind="video")
    try:
        await listener.start("pub0")
        return await _window(warmup, window, lambda: listener.packets)
    finally:
        await listener.close()


async def run(quick: bool = False) -> dict[str, Any]:
    warmup, window = (1.5, 4.0) if quick else (2.0, 8.0)
    points: dict[str, dict[str, Any]] = {}
    measures: dict[str, Callable[[str], Awaitable[dict[str, Any]]]] = {
        "bare aiortc": lambda url: _bare(url, warmup, window),
        "engine, RGB frames": lambda url: _engine(url, warmup, window, False),
        "engine, av.VideoFrame": lambda url: _engine(url, warmup, window, True),
    }
    async with server_child("zego") as (_, url), \
            Child("bench.publisher_child", url, "bench", "1", "video"):
        for name, measure in measures.items():
            points[name] = await measure(url)
            print(f"  {name:22s}: client {points[name]['client_cpu_pct']:5.1f} %  "
                  f"{points[name]['fps']:.1f} fps", flush=True)
    anchor = points["bare aiortc"]
    rows = [Row(TITLE, name, p["client_cpu_pct"], "% core", "bare aiortc receiver",
                anchor["client_cpu_pct"], f"{p['fps']:.1f} fps (bare {anchor['fps']:.1f})")
            for name, p in points.items() if name != "bare aiortc"]
    return {"name": NAME, "rows": rows, "raw": {"points": points, "warmup_s": warmup,
                                                  "window_s": window}}
