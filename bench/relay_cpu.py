"""3. Relay CPU per listener and per room (1 publisher, N listeners).

The room server runs in a child process; its CPU over a steady window comes from
/proc/PID/stat.  In this (parent) process: one publisher engine sending a
``ClickTrack``, one *probe* listener engine (it decodes, and gives click latency and
delivered frames) and N-1 ``CountingListener``s (raw peer connections speaking our
protocol that count RTP packets without decoding, so the parent can hold 64).

Each point records the delivered-frame ratio (frames received / frames the
publisher sent in the window) and names its bottleneck: ``relay saturated`` when the
server uses >= 90 % of a core, ``harness-bound`` when this process or the machine is
out of CPU (or the publisher could not keep its 50 frames/s pace): the figure then
says more about the test harness than the relay.

Anchors, same child-process setup: aiortc ``MediaRelay`` (decode once, one Opus encode
per listener) swapped in for our relay; Janus VideoRoom when it can run (bench.janus).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from .common import (
    FRAME_S,
    ClickDetector,
    ClickTrack,
    fanout_series,
    linear_fit,
    match_clicks,
    measure_window,
    ms,
    summary,
)
from .harness import CountingListener, close_all, joined_engine, publish, server_child
from .report import Row

NAME = "relay_cpu"
TITLE = "server CPU, 1 publisher + N listeners"
MODES = {"zego": "zego relay", "mediarelay": "aiortc MediaRelay"}


HARNESS_LAG_MS = 40.0  # a parent loop this late (p99) delays frames by about as much
HARNESS_STALL_MS = 60.0  # one stall this long shows in the latency tail (p95)


def classify(server_pct: float, client_pct: float, system_busy: float, pace: float,
             worst_delivered: float, loop_lag: dict[str, float] | None = None) -> str:
    """Why a point may not show the relay's own cost ('' when it does).

    ``relay saturated``: the server uses ~a core.  ``harness-bound``: this process is
    out of CPU, its loop runs late, or the publisher could not keep 50 frames/s.
    ``machine saturated``: all cores busy (other load on the shared box counts), with
    the larger of server/harness named.  ``harness stalls``: this loop stalled once
    long enough to show in the latency tail.  ``loss``: frames lost for no reason above.
    """
    lag = loop_lag or {"p99_ms": 0.0, "max_ms": 0.0}
    if server_pct >= 90:
        return "relay saturated"
    if client_pct >= 90 or pace < 0.98 or lag["p99_ms"] >= HARNESS_LAG_MS:
        return "harness-bound"
    if system_busy >= 0.95:
        side = "relay" if server_pct > client_pct else "harness"
        return f"machine saturated ({side} larger)"
    if lag["max_ms"] >= HARNESS_STALL_MS:
        return "harness stalls"
    if worst_delivered < 0.98:
        return "loss"
    return ""


async def _start_listeners(url: str, n: int, stream_id: str, batch: int = 8
                           ) -> list[CountingListener]:
    listeners: list[CountingListener] = []
    try:
        for first in range(0, n, batch):
            group = [CountingListener(url, f"cnt{i}") for i in range(first, min(n, first + batch))]
            listeners += group
            await asyncio.gather(*(lst.start(stream_id) for lst in group))
    except BaseException:
        await asyncio.gather(*(lst.close() for lst in listeners), return_exceptions=True)
        raise
    return listeners


async def fanout_point(mode: str, listeners: int, warmup: float, window: float
                       ) -> dict[str, Any]:
    """One measurement: server CPU with 1 publisher and ``listeners`` listeners."""
    async with server_child(mode) as (child, url):
        engines = []
        counting: list[CountingListener] = []
        task: asyncio.Task[None] | None = None
        try:
            pub = await joined_engine(url, "fan_pub")
            engines.append(pub)
            track = ClickTrack()
            await publish(pub, "fan", track)
            probe = await joined_engine(url, "fan_probe")
            engines.append(probe)
            det = ClickDetector()
            det_raw = ClickDetector()
            remote = await probe.startPlayingStream("fan", {"speaker": False})

            async def listen() -> None:
                async for pcm in remote.audioFrames():
                    det.feed(pcm, time.perf_counter())

            task = asyncio.create_task(listen())
            if listeners >= 2:  # a second probe on aiortc's stock receiver, as Janus' has
                raw_probe = CountingListener(url, "fan_raw_probe", on_frame=det_raw.feed)
                counting.append(raw_probe)
                await raw_probe.start("fan")
            counting += await _start_listeners(url, listeners - len(counting) - 1, "fan")
            await asyncio.sleep(warmup)
            sent0, probe0 = track.frames_sent, det.frames
            packets0 = [lst.packets for lst in counting]
            measured = await measure_window(window, {"server": child.pid})
            cpu, loop_lag, t0, t1 = measured.cpu, measured.loop_lag, measured.t0, measured.t1
            sent = track.frames_sent - sent0
            received = [det.frames - probe0] + [
                lst.packets - p0 for lst, p0 in zip(counting, packets0, strict=True)]
            await asyncio.sleep(0.5)  # let the window's last clicks arrive
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.gather(*(lst.close() for lst in counting), return_exceptions=True)
            await close_all(engines)
    clicks = [s for s in track.sent if t0 <= s <= t1]
    latencies, lost = match_clicks(clicks, [d for d in det.detected if d >= t0])
    raw_latencies, _ = match_clicks(clicks, [d for d in det_raw.detected if d >= t0])
    delivered = [r / sent if sent else 0.0 for r in received]
    pace = sent * FRAME_S / cpu.wall
    point: dict[str, Any] = {
        "listeners": listeners,
        "server_cpu_pct": cpu.percent("server"),
        "client_cpu_pct": cpu.percent("self"),
        "system_busy_pct": 100 * cpu.system_busy,
        "window_s": cpu.wall,
        "publisher_pace": pace,
        "delivered_worst": min(delivered),
        "delivered_median": sorted(delivered)[len(delivered) // 2],
        "probe_delivered": delivered[0],
        "latency_ms": ms(summary(latencies)),
        "latency_aiortc_receiver_ms": ms(summary(raw_latencies)),
        "clicks_lost": lost,
        "client_loop_lag_ms": loop_lag,
    }
    point["bottleneck"] = classify(point["server_cpu_pct"], point["client_cpu_pct"],
                                   cpu.system_busy, pace, point["delivered_worst"],
                                   loop_lag)
    return point


def _per_listener(points: list[dict[str, Any]]) -> float:
    """Marginal server CPU per added listener (% of a core): the least-squares slope.

    Points where the relay or the whole machine is saturated are left out (their CPU
    is capped, so they would flatten the slope), unless that leaves fewer than two.
    """
    clean = [p for p in points if not p["bottleneck"].startswith(("relay", "machine"))]
    if len(clean) < 2:
        clean = points
    slope, _ = linear_fit([p["listeners"] for p in clean], [p["server_cpu_pct"] for p in clean])
    return slope


async def run(quick: bool = False, janus: bool = True, sizes: list[int] | None = None
              ) -> dict[str, Any]:
    warmup, window = (1.0, 4.0) if quick else (2.0, 8.0)
    sizes = sizes or [1, 8, 32, 64]
    anchor_sizes = [n for n in sizes if n <= (8 if quick else 32)]
    series = await fanout_series(
        MODES, lambda mode: sizes if mode == "zego" else anchor_sizes,
        lambda mode, n: fanout_point(mode, n, warmup, window),
        lambda point: (
            f"server {point['server_cpu_pct']:5.1f} %  "
            f"client {point['client_cpu_pct']:5.1f} %  delivered "
            f"{point['delivered_worst']:.3f}  latency "
            f"{point['latency_ms']['median']:.1f} ms (p95 {point['latency_ms']['p95']:.0f})  "
            f"loop lag p99 {point['client_loop_lag_ms']['p99_ms']:.0f} ms  "
            f"{point['bottleneck']}"))
    janus_note = ""
    if janus:
        from . import janus as janus_bench

        janus_points, janus_note = await janus_bench.run_series(anchor_sizes, warmup, window)
        if janus_points:
            series["Janus VideoRoom"] = janus_points
    rows = _rows(series, janus_note)
    return {"name": NAME, "rows": rows,
            "raw": {"series": series, "warmup_s": warmup, "window_s": window,
                    "janus_note": janus_note,
                    "per_listener_pct": {k: _per_listener(v) for k, v in series.items()}}}


def _rows(series: dict[str, list[dict[str, Any]]], janus_note: str) -> list[Row]:
    ours = series["zego relay"]
    anchors = {k: {p["listeners"]: p for p in v} for k, v in series.items() if k != "zego relay"}
    rows = []
    for p in ours:
        n = p["listeners"]
        anchor_name, anchor_point = next(
            ((k, pts[n]) for k, pts in anchors.items() if n in pts), ("", None))
        note = (f"delivered {p['delivered_worst']:.3f}, client {p['client_cpu_pct']:.0f} %, "
                f"machine {p['system_busy_pct']:.0f} % busy")
        if p["bottleneck"]:
            note += f", {p['bottleneck']}"
        if anchor_point is not None:
            note += f"; anchor delivered {anchor_point['delivered_worst']:.3f}"
            if anchor_point["bottleneck"]:
                note += f" {anchor_point['bottleneck']}"
        rows.append(Row(TITLE, f"N={n}", p["server_cpu_pct"], "% core", anchor_name,
                        anchor_point["server_cpu_pct"] if anchor_point else None, note))
    for name in anchors:
        per = _per_listener(series[name])
        rows.append(Row("server CPU per added listener", "slope", _per_listener(ours),
                        "% core", name, per))
    engine_anchors = {k: v for k, v in anchors.items() if k != "Janus VideoRoom"}
    for p in ours:
        n = p["listeners"]
        anchor_name, anchor_point = next(
            ((k, pts[n]) for k, pts in engine_anchors.items() if n in pts), ("", None))
        rows.append(Row("click latency, engine probe listener", f"N={n} median",
                        p["latency_ms"]["median"], "ms", anchor_name,
                        anchor_point["latency_ms"]["median"] if anchor_point else None,
                        f"p95 {p['latency_ms']['p95']:.1f} ms; harness loop lag p99 "
                        f"{p['client_loop_lag_ms']['p99_ms']:.0f} ms"))
    janus = anchors.get("Janus VideoRoom", {})
    for p in ours:
        n, lat = p["listeners"], p["latency_aiortc_receiver_ms"]
        if not lat["n"]:
            continue
        a = janus.get(n)
        rows.append(Row("click latency, aiortc-receiver probe", f"N={n} median", lat["median"],
                        "ms", "Janus VideoRoom" if a else "",
                        a["latency_aiortc_receiver_ms"]["median"] if a else None,
                        f"p95 {lat['p95']:.1f} ms; stock aiortc jitter buffer at the listener"))
    if janus_note:
        rows.append(Row("Janus VideoRoom anchor", "skipped", None, "", note=janus_note))
    return rows
