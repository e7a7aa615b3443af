"""1. Mouth-to-ear latency, impulse-matched: engine -> room server relay -> engine.

A ``ClickTrack`` publishes a 2 ms click every 500 ms.  Its send time is taken when the
click's frame is handed to the RTP sender; its arrival when a listener's
``audioFrames()`` yields the frame, refined by the onset sample inside that frame.
Both ends use ``time.perf_counter()`` in this one process; no pts is trusted.

Anchor: a direct aiortc call (two RTCPeerConnections in this process on 127.0.0.1,
no STUN) with the same track and detection on ``track.recv()`` frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from mock_server.server import RoomServer
from zego_py.media.pcm import frame_to_mono_int16

from .common import ClickDetector, ClickTrack, match_clicks, ms, summary
from .harness import close_all, joined_engine, p2p_call, publish, server_child
from .report import Row

NAME = "latency"
TITLE = "mouth-to-ear latency (impulse-matched)"


@contextlib.asynccontextmanager
async def room_server(where: str) -> AsyncIterator[str]:
    """A room server URL: in a child process (``child``) or in this loop (``inproc``)."""
    if where == "child":
        async with server_child("zego") as (_, url):
            yield url
    else:
        async with RoomServer().running("127.0.0.1", 0) as url:
            yield url


async def _wait_clicks(track: ClickTrack, det: ClickDetector, clicks: int) -> None:
    """Until every click was sent and had time to arrive (or clearly did not)."""
    deadline = time.perf_counter() + clicks * 0.5 + 10.0
    while len(track.sent) < clicks and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    settle = time.perf_counter() + 0.6
    while time.perf_counter() < settle and len(det.detected) < clicks:
        await asyncio.sleep(0.02)


def _result(track: ClickTrack, det: ClickDetector) -> dict[str, Any]:
    latencies, lost = match_clicks(track.sent, det.detected)
    return {**ms(summary(latencies)), "clicks_sent": len(track.sent), "clicks_lost": lost,
            "latencies_ms": [round(v * 1000, 2) for v in latencies]}


async def relay_latency(clicks: int, where: str = "child") -> dict[str, Any]:
    """Click latency publisher engine -> relay -> listener engine."""
    async with room_server(where) as url:
        engines = []
        try:
            pub = await joined_engine(url, "lat_pub")
            engines.append(pub)
            sub = await joined_engine(url, "lat_sub")
            engines.append(sub)
            track = ClickTrack(max_clicks=clicks)
            det = ClickDetector()
            await publish(pub, "lat_click", track)
            remote = await sub.startPlayingStream("lat_click", {"speaker": False})

            async def listen() -> None:
                async for pcm in remote.audioFrames():
                    det.feed(pcm, time.perf_counter())

            task = asyncio.create_task(listen())
            try:
                await _wait_clicks(track, det, clicks)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return _result(track, det)
        finally:
            await close_all(engines)


async def p2p_latency(clicks: int) -> dict[str, Any]:
    """Click latency over a direct aiortc call (the anchor)."""
    track = ClickTrack(max_clicks=clicks)
    det = ClickDetector()
    call = await p2p_call(track)
    try:
        remote = await asyncio.wait_for(call.remote, 10)

        async def listen() -> None:
            while True:
                frame = await remote.recv()
                det.feed(frame_to_mono_int16(frame), time.perf_counter())  # type: ignore[arg-type]

        task = asyncio.create_task(listen())
        try:
            await _wait_clicks(track, det, clicks)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return _result(track, det)
    finally:
        await call.close()


async def run(quick: bool = False, clicks: int | None = None, where: str = "child"
              ) -> dict[str, Any]:
    clicks = clicks or (16 if quick else 60)
    anchor = await p2p_latency(clicks)
    relay = await relay_latency(clicks, where)
    rows = [
        Row(TITLE, "median", relay["median"], "ms", "aiortc P2P", anchor["median"]),
        Row(TITLE, "p95", relay["p95"], "ms", "aiortc P2P", anchor["p95"]),
        Row(TITLE, "clicks lost", relay["clicks_lost"], f"of {relay['clicks_sent']}",
            "aiortc P2P", anchor["clicks_lost"]),
    ]
    return {"name": NAME, "rows": rows, "raw": {"relay": relay, "p2p": anchor,
                                                 "clicks": clicks, "server": where}}
