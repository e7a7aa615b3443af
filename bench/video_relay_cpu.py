"""3b. Relay CPU per video listener (1 publisher of 640x360 30 fps VP8, N listeners).

As ``relay_cpu`` for audio: the room server runs in a child process and its CPU over a
steady window comes from /proc/PID/stat.  In this process: one publisher engine whose
``VideoSource`` shows a moving noise texture (so the encoder spends its whole bitrate,
as a camera does), and N ``CountingListener``s receiving video that count RTP packets
and frames (marker bits) without decoding.  Delivered = frames each listener got over
the frames the publisher sent in the window.

Anchors: aiortc ``MediaRelay`` in the relay's place (same setup), which decodes the
publisher once and runs one VP8 encoder per listener; and Janus VideoRoom forwarding the
same publisher to the same kind of listeners (bench.janus, when it can run).
"""

from __future__ import annotations

import asyncio
from typing import Any

from zego_py import VideoSource

from .common import fanout_series, linear_fit, measure_window, paint_noise
from .harness import CountingListener, close_all, joined_engine, publish, server_child
from .report import Row

NAME = "video_relay_cpu"
TITLE = "server CPU, 1 video publisher + N listeners"
WIDTH, HEIGHT, FPS = 640, 360, 30
MODES = {"zego": "zego relay", "mediarelay": "aiortc MediaRelay"}


async def fanout_point(mode: str, listeners: int, warmup: float, window: float
                       ) -> dict[str, Any]:
    async with server_child(mode) as (child, url):
        engines = []
        counting: list[CountingListener] = []
        source = VideoSource(WIDTH, HEIGHT, FPS)
        painter = asyncio.create_task(paint_noise(source))
        try:
            pub = await joined_engine(url, "vfan_pub")
            engines.append(pub)
            await publish(pub, "vfan", source)
            video = pub._media._publishers["vfan"].video_track
            assert video is not None
            for first in range(0, listeners, 8):
                group = [CountingListener(url, f"vcnt{i}", kind="video")
                         for i in range(first, min(listeners, first + 8))]
                counting += group
                await asyncio.gather(*(lst.start("vfan") for lst in group))
            await asyncio.sleep(warmup)
            sent0 = video.frames_sent
            frames0 = [lst.frames for lst in counting]
            packets0 = [lst.packets for lst in counting]
            measured = await measure_window(window, {"server": child.pid})
            sent = video.frames_sent - sent0
            frames = [lst.frames - f0 for lst, f0 in zip(counting, frames0, strict=True)]
            packets = [lst.packets - p0 for lst, p0 in zip(counting, packets0, strict=True)]
        finally:
            painter.cancel()
            await asyncio.gather(*(lst.close() for lst in counting), return_exceptions=True)
            await close_all(engines)
    cpu = measured.cpu
    delivered = [f / sent if sent else 0.0 for f in frames]
    return {"listeners": listeners, "server_cpu_pct": cpu.percent("server"),
            "client_cpu_pct": cpu.percent("self"), "system_busy_pct": 100 * cpu.system_busy,
            "window_s": cpu.wall, "frames_sent": sent, "publisher_fps": sent / cpu.wall,
            "delivered_worst": min(delivered), "packets_per_s": sum(packets) / cpu.wall
            / max(1, listeners)}


async def run(quick: bool = False, janus: bool = True, sizes: list[int] | None = None
              ) -> dict[str, Any]:
    warmup, window = (1.5, 4.0) if quick else (2.0, 8.0)
    sizes = sizes or ([1, 8] if quick else [1, 8, 32])
    anchor_sizes = [1, 2]  # one VP8 encoder per listener: 2 nearly fill a core here
    series = await fanout_series(
        MODES, lambda mode: sizes if mode == "zego" else anchor_sizes,
        lambda mode, n: fanout_point(mode, n, warmup, window),
        lambda point: (
            f"server {point['server_cpu_pct']:5.1f} %  client {point['client_cpu_pct']:5.1f} %  "
            f"publisher {point['publisher_fps']:.1f} fps  delivered "
            f"{point['delivered_worst']:.3f}  {point['packets_per_s']:.0f} packets/s per listener"))
    janus_note = ""
    if janus:
        from . import janus as janus_bench

        janus_points, janus_note = await janus_bench.run_series(sizes, warmup, window,
                                                                video=True)
        if janus_points:
            series["Janus VideoRoom"] = janus_points
    slopes = {label: linear_fit([p["listeners"] for p in pts],
                                [p["server_cpu_pct"] for p in pts])[0]
              for label, pts in series.items()}
    janus_at = {p["listeners"]: p for p in series.get("Janus VideoRoom", [])}
    relay_at = {p["listeners"]: p for p in series["aiortc MediaRelay"]}
    rows = []
    for p in series["zego relay"]:
        anchor, label = janus_at.get(p["listeners"]), "Janus VideoRoom"
        if anchor is None:
            anchor, label = relay_at.get(p["listeners"]), "MediaRelay"
        rows.append(Row(TITLE, f"N = {p['listeners']}", p["server_cpu_pct"], "%", label,
                        anchor["server_cpu_pct"] if anchor else None,
                        f"delivered {p['delivered_worst']:.3f}, publisher "
                        f"{p['publisher_fps']:.0f} fps"))
    for label in ("Janus VideoRoom", "aiortc MediaRelay"):
        if label in slopes:
            rows.append(Row(TITLE, "per added listener", slopes["zego relay"], "% of a core",
                            label, slopes[label], "least-squares slope"))
    if janus_note:
        rows.append(Row(TITLE, "Janus", None, "", note=f"skipped: {janus_note}"))
    return {"name": NAME, "rows": rows,
            "raw": {"series": series, "per_listener_pct": slopes, "warmup_s": warmup,
                    "window_s": window, "janus_note": janus_note}}
