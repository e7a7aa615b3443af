"""4a. Client CPU per played stream: one engine playing k = 1, 4, 8 streams.

The server and the k publishers run in child processes; this process holds only the
listeners, whose CPU (getrusage: every thread, so aiortc's decoder threads count) is
measured over a steady window at each k.  The figure is the slope (CPU per added
stream).  Anchors: k = 0 (the engine logged in and idle), and k bare aiortc receivers
(raw peer connections on our protocol, each reading its decoded track) playing the
same streams: the engine's own overhead is the difference.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from zego_py import ZegoExpressEngine

from .common import CpuWindow, linear_fit
from .harness import Child, CountingListener, joined_engine, server_child
from .report import Row

NAME = "client_cpu"


async def _measure(warmup: float, window: float, server_pid: int, count: Any, k: int
                   ) -> dict[str, Any]:
    await asyncio.sleep(warmup)
    frames0 = count()
    cpu = CpuWindow(pids={"server": server_pid}).start()
    await asyncio.sleep(window)
    cpu.stop()
    frames = count() - frames0
    return {"k": k, "client_cpu_pct": cpu.percent("self"),
            "server_cpu_pct": cpu.percent("server"), "system_busy_pct": 100 * cpu.system_busy,
            "delivered": frames / (k * cpu.wall * 50) if k else None}


async def _engine_points(url: str, server_pid: int, ks: tuple[int, ...], warmup: float,
                         window: float) -> list[dict[str, Any]]:
    engine: ZegoExpressEngine = await joined_engine(url, "player")
    points = []
    try:
        remotes: list[Any] = []
        for k in (0, *ks):
            while len(remotes) < k:
                remotes.append(await engine.startPlayingStream(f"pub{len(remotes)}",
                                                               {"speaker": False}))
            points.append(await _measure(warmup, window, server_pid,
                                         lambda: sum(r.frames_received for r in remotes), k))
            print(f"  engine playing k={k}: client {points[-1]['client_cpu_pct']:.1f} %",
                  flush=True)
    finally:
        await engine.close()
    return points


async def _raw_points(url: str, server_pid: int, ks: tuple[int, ...], warmup: float,
                      window: float) -> list[dict[str, Any]]:
    listeners: list[CountingListener] = []
    points = []
    try:
        for k in ks:
            while len(listeners) < k:
                lst = CountingListener(url, f"raw{len(listeners)}", decode=True)
                listeners.append(lst)
                await lst.start(f"pub{len(listeners) - 1}")
            points.append(await _measure(warmup, window, server_pid,
                                         lambda: sum(x.packets for x in listeners), k))
            print(f"  bare aiortc k={k}: client {points[-1]['client_cpu_pct']:.1f} %",
                  flush=True)
    finally:
        await asyncio.gather(*(x.close() for x in listeners), return_exceptions=True)
    return points


def _slope(points: list[dict[str, Any]]) -> float:
    pts = [p for p in points if p["k"]]
    return linear_fit([p["k"] for p in pts], [p["client_cpu_pct"] for p in pts])[0]


async def run(quick: bool = False, ks: tuple[int, ...] = (1, 4, 8)) -> dict[str, Any]:
    warmup, window = (1.0, 4.0) if quick else (2.0, 8.0)
    async with server_child("zego") as (server, url), \
            Child("bench.publisher_child", url, "bench", str(max(ks))):
        engine = await _engine_points(url, server.pid, ks, warmup, window)
        raw = await _raw_points(url, server.pid, ks, warmup, window)
    idle = engine[0]["client_cpu_pct"]
    by_k = {p["k"]: p for p in raw}
    rows = []
    for p in engine[1:]:
        a = by_k.get(p["k"])
        rows.append(Row("client CPU, one engine playing k streams", f"k={p['k']}",
                        p["client_cpu_pct"], "% core", "bare aiortc receivers",
                        a["client_cpu_pct"] if a else None,
                        f"delivered {p['delivered']:.3f}"))
    slope, raw_slope = _slope(engine), _slope(raw)
    rows.append(Row("client CPU per played stream", "slope", slope, "% core",
                    "bare aiortc receivers", raw_slope, f"idle engine (k=0) {idle:.2f} %"))
    return {"name": NAME, "rows": rows,
            "raw": {"engine": engine, "bare_aiortc": raw, "slope_pct": slope,
                    "bare_slope_pct": raw_slope if not math.isnan(raw_slope) else None,
                    "warmup_s": warmup, "window_s": window}}
