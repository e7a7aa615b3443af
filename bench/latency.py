"""1. Mouth-to-ear latency, impulse-matched: engine -> room server relay -> engine.

A ``ClickTrack`` publishes a 2 ms click every 500 ms.  Its send time is taken when the
click's frame is handed to the RTP sender; its arrival when a listener's
``audioFrames()`` yields the frame, refined by the onset sample inside that frame.
Both ends use ``time.perf_counter()`` in this one process; no pts is trusted.

Anchor: a direct aiortc call (two RTCPeerConnections in this process on 127.0.0.1,
no STUN) with the same track and detection on ``track.recv()`` frames.

The push-source rows time the path a bot uses: an ``AudioSource`` fed 20 ms at a time
on the wall clock by ``PushedClicks``, each click timed when it is handed to
``captureFrame``.  One producer starts pushing 0.3 s before ``startPublishingStream``
(so before the sender connects); the other stalls 200 ms every 2.5 s and catches up.
Both sit beside the synthetic-track row (``ClickTrack`` makes its frame the moment the
sender asks) measured through the same room server in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from mock_server.server import RoomServer
from zego_py import AudioSource
from zego_py.media.pcm import frame_to_mono_int16

from .common import ClickDetector, ClickTrack, PushedClicks, match_clicks, ms, summary
from .harness import close_all, joined_engine, listening, p2p_call, publish, server_child
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


def _result(track: ClickTrack | PushedClicks, det: ClickDetector, after: float = 0.0,
            max_latency: float = 0.45) -> dict[str, Any]:
    sent = [t for t in track.sent if t >= after]
    latencies, lost = match_clicks(sent, det.detected, max_latency)
    return {**ms(summary(latencies)), "clicks_sent": len(sent), "clicks_lost": lost,
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
            async with listening(remote, det.feed):
                await _wait_clicks(track, det, clicks)
            return _result(track, det)
        finally:
            await close_all(engines)


# Clicks after this much pushing count: PUBLISHING comes within ~0.5 s and a standing
# backlog is dropped 0.5 s later, and no sooner than 1.5 s after the first push
# (zego_py/media/backlog.py); before that is start-up.
PUSH_WARMUP_S = 2.0


async def push_latency(clicks: int, where: str, push_first: float | None,
                       stalls: list[tuple[float, float]], period: float) -> dict[str, Any]:
    """Click latency from captureFrame: a paced producer -> AudioSource -> relay -> engine.

    ``push_first``: seconds of pushing before startPublishingStream (None: from
    PUBLISHING on).  ``period`` (s between clicks) must exceed any latency measured.
    """
    async with room_server(where) as url:
        engines = []
        try:
            pub = await joined_engine(url, "push_pub")
            engines.append(pub)
            sub = await joined_engine(url, "push_sub")
            engines.append(sub)
            source = AudioSource()
            producer = PushedClicks(source, stalls=stalls, period_s=period, first_click_frame=5)
            det = ClickDetector()
            pushing = None
            if push_first is not None:
                pushing = asyncio.create_task(producer.run(PUSH_WARMUP_S + clicks * period))
                await asyncio.sleep(push_first)
            await publish(pub, "lat_push", source)
            if pushing is None:
                pushing = asyncio.create_task(producer.run(PUSH_WARMUP_S + clicks * period))
            remote = await sub.startPlayingStream("lat_push", {"speaker": False})
            try:
                async with listening(remote, det.feed):
                    await asyncio.wait_for(pushing, PUSH_WARMUP_S + clicks * period + 10)
                    await asyncio.sleep(0.6)
            finally:
                pushing.cancel()
                source.stop()
            assert producer.started_at is not None
            return _result(producer, det, producer.started_at + PUSH_WARMUP_S, period - 0.05) | {
                "push_first_s": push_first, "stalls": stalls,
                "stall_ends": producer.stall_ends}
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
    push_clicks = max(3, clicks // 2)
    anchor = await p2p_latency(clicks)
    relay = await relay_latency(clicks, where)
    # 1 s between clicks: a standing backlog (300 ms + the connect) must not alias.
    early = await push_latency(push_clicks, where, push_first=0.3, stalls=[], period=1.0)
    stall_every = 2.5
    stalls = [(2.5 + stall_every * k, 0.2) for k in range(push_clicks)]
    stalled = await push_latency(push_clicks * 2, where, push_first=None, stalls=stalls,
                                 period=0.5)
    rows = [
        Row(TITLE, "median", relay["median"], "ms", "aiortc P2P", anchor["median"]),
        Row(TITLE, "p95", relay["p95"], "ms", "aiortc P2P", anchor["p95"]),
        Row(TITLE, "clicks lost", relay["clicks_lost"], f"of {relay['clicks_sent']}",
            "aiortc P2P", anchor["clicks_lost"]),
    ]
    push_title = "captureFrame latency (AudioSource)"
    for label, result in (("push before PUBLISHING", early),
                          (f"200 ms stall every {stall_every} s", stalled)):
        for stat in ("median", "p95"):
            rows.append(Row(push_title, f"{label}: {stat}", result[stat], "ms",
                            "synthetic track", relay[stat],
                            note=f"aiortc P2P {anchor[stat]:.1f} ms" if stat == "median" else ""))
    return {"name": NAME, "rows": rows,
            "raw": {"relay": relay, "p2p": anchor, "push_before_publishing": early,
                    "push_with_stalls": stalled, "clicks": clicks, "server": where}}
