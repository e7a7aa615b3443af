"""Shared measurement helpers: process CPU and memory, statistics, impulse (click) audio.

Everything here is measurement-only; how processes and clients are set up lives in
``bench.harness``.  All wall times are ``time.perf_counter()`` (CLOCK_MONOTONIC on
Linux, so the same clock as ``time.monotonic()`` and the event loop's ``loop.time()``).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from zego_py.media.sources import FramePacer

__all__ = [
    "CLK_TCK",
    "ClickAudio",
    "ClickDetector",
    "ClickTrack",
    "CpuWindow",
    "FRAME_S",
    "LoopLag",
    "SAMPLE_RATE",
    "linear_fit",
    "match_clicks",
    "ms",
    "percentile",
    "PushedClicks",
    "proc_cpu_seconds",
    "proc_rss_bytes",
    "self_cpu_seconds",
    "summary",
    "system_busy_ticks",
]

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
CLK_TCK = os.sysconf("SC_CLK_TCK")
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


# ---------------------------------------------------------------------- CPU and memory
def self_cpu_seconds() -> float:
    """User + system CPU of this process, every thread included (getrusage)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name (field 2) may hold spaces; fields after its closing ")" are fixed.
    fields = text[text.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def system_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


@dataclass
class CpuWindow:
    """CPU used over a wall-clock window by this process and by other PIDs.

    ``start()`` then ``stop()``; percentages are of one core (100 = one full core).
    """

    pids: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    self_cpu: float = 0.0
    pid_cpu: dict[str, float] = field(default_factory=dict)
    system_busy: float = 0.0  # fraction of all cores busy, machine-wide
    _t0: float = 0.0
    _self0: float = 0.0
    _pid0: dict[str, float] = field(default_factory=dict)
    _sys0: tuple[int, int] = (0, 0)

    def start(self) -> CpuWindow:
        self._t0 = time.perf_counter()
        self._self0 = self_cpu_seconds()
        self._pid0 = {k: proc_cpu_seconds(p) for k, p in self.pids.items()}
        self._sys0 = system_busy_ticks()
        return self

    def stop(self) -> CpuWindow:
        self.wall = time.perf_counter() - self._t0
        self.self_cpu = self_cpu_seconds() - self._self0
        self.pid_cpu = {k: proc_cpu_seconds(p) - self._pid0[k] for k, p in self.pids.items()}
        busy, total = system_busy_ticks()
        d_total = total - self._sys0[1]
        self.system_busy = (busy - self._sys0[0]) / d_total if d_total else 0.0
        return self

    def percent(self, who: str = "self") -> float:
        cpu = self.self_cpu if who == "self" else self.pid_cpu[who]
        return 100.0 * cpu / self.wall if self.wall else math.nan


class LoopLag:
    """How late this event loop wakes up: a task sleeps ``tick`` s and records the overshoot.

    A loop that is late by tens of milliseconds delays every frame it sends and
    receives, so large lags mean the test harness, not the server, is the bottleneck.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.lags.append(time.perf_counter() - t - self.tick)

    def start(self) -> LoopLag:
        self.lags.clear()
        self._task = asyncio.ensure_future(self._run())
        return self

    def stop(self) -> dict[str, float]:
        """p99 and max lag in milliseconds since ``start()``."""
        if self._task is not None:
            self._task.cancel()
        return {"p99_ms": 1000 * percentile(self.lags, 99),
                "max_ms": 1000 * max(self.lags, default=math.nan)}


@dataclass
class Window:
    """One steady measurement window: its CPU, this loop's lag, its perf_counter bounds."""

    cpu: CpuWindow
    loop_lag: dict[str, float]
    t0: float
    t1: float


async def measure_window(seconds: float, pids: dict[str, int]) -> Window:
    """Sleep ``seconds`` while measuring CPU (this process and ``pids``) and loop lag.

    Take counter snapshots just before and just after awaiting this.
    """
    lag = LoopLag().start()
    cpu = CpuWindow(pids=pids).start()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    t1 = time.perf_counter()
    cpu.stop()
    return Window(cpu, lag.stop(), t0, t1)


# ---------------------------------------------------------------------- statistics
def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), NaN for no values."""
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=np.float64), p))


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p95, min, max of ``values`` (NaN when empty)."""
    vals = list(values)
    return {
        "n": len(vals),
        "median": statistics.median(vals) if vals else math.nan,
        "p95": percentile(vals, 95),
        "min": min(vals) if vals else math.nan,
        "max": max(vals) if vals else math.nan,
    }


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept); (nan, nan) with fewer than two distinct x."""
    if len(set(xs)) < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


# ---------------------------------------------------------------------- impulse audio
class ClickAudio:
    """The click stream's content: a quiet tone with a 2 ms click every ``period_frames``.

    The click is a doublet (+A for 1 ms, then -A for 1 ms: no DC, so Opus keeps its
    edge) starting at sample ``offset`` of its frame.  ``max_clicks`` ends the clicks
    (the audio goes on, quiet).
    """

    def __init__(self, period_s: float = 0.5, amplitude: float = 0.8,
                 tone_amplitude: float = 0.05, tone_hz: float = 1000.0, offset: int = 480,
                 first_click_frame: int = 10, max_clicks: int | None = None) -> None:
        self.period_frames = max(2, round(period_s / FRAME_S))
        self.offset = offset
        self.first_click_frame = first_click_frame
        self.max_clicks = max_clicks
        self._tone_step = 2 * math.pi * tone_hz / SAMPLE_RATE
        self._tone_amp = tone_amplitude * 32767
        half = SAMPLE_RATE // 1000  # 1 ms
        self._click = np.concatenate([np.full(half, amplitude * 32767),
                                      np.full(half, -amplitude * 32767)])

    def is_click_frame(self, index: int) -> bool:
        k = index - self.first_click_frame
        if k < 0 or k % self.period_frames:
            return False
        return self.max_clicks is None or k // self.period_frames < self.max_clicks

    def frame(self, index: int) -> tuple[np.ndarray, bool]:
        """Frame ``index`` as 960 int16 samples, and whether it holds a click."""
        n = np.arange(index * FRAME_SAMPLES, (index + 1) * FRAME_SAMPLES)
        pcm = np.sin(self._tone_step * n) * self._tone_amp
        click = self.is_click_frame(index)
        if click:
            end = min(FRAME_SAMPLES, self.offset + self._click.size)
            pcm[self.offset:end] += self._click[: end - self.offset]
        return np.clip(np.rint(pcm), -32768, 32767).astype(np.int16), click


class ClickTrack(MediaStreamTrack):
    """A paced 48 kHz mono s16 track of ``ClickAudio``: the synthetic reference.

    ``sent`` gets the wall time of each click's onset: ``perf_counter()`` when the
    frame is handed to the caller (the RTP sender) plus ``offset / 48000``, the same
    convention ``ClickDetector`` uses on the way out.  Arguments are ``ClickAudio``'s.
    """

    kind = "audio"

    def __init__(self, **audio: Any) -> None:
        super().__init__()
        self.audio = ClickAudio(**audio)
        self.sent: list[float] = []
        self.frames_sent = 0
        self._pacer = FramePacer()
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._pts)
        pcm, click = self.audio.frame(self._pts // FRAME_SAMPLES)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        self._pts += FRAME_SAMPLES
        self.frames_sent += 1
        if click:
            self.sent.append(time.perf_counter() + self.audio.offset / SAMPLE_RATE)
        return frame


class PushedClicks:
    """A real-time producer: ``ClickAudio`` pushed 20 ms at a time into an ``AudioSource``.

    Frame ``k`` is pushed at ``start + k * 20 ms`` on the wall clock, the way a relayed
    call or a live transcoder pushes.  ``sent`` gets each click's onset as
    ``perf_counter()`` when ``captureFrame`` is called plus ``offset / 48000``: latency
    from the moment the producer hands the frame over.  ``stalls`` (seconds after the
    start, seconds long) pause the producer; it then catches up by pushing the frames
    it missed back to back, as a producer that was blocked (a GIL pause, a slow chunk)
    does.  ``stall_ends`` gets the wall time each catch-up finished.
    """

    def __init__(self, source: Any, stalls: Sequence[tuple[float, float]] = (),
                 **audio: Any) -> None:
        self.source = source
        self.audio = ClickAudio(**audio)
        self.stalls = sorted(stalls)
        self.sent: list[float] = []
        self.stall_ends: list[float] = []
        self.started_at: float | None = None

    async def run(self, seconds: float) -> None:
        """Push for ``seconds`` of audio (returns when the last frame was handed over)."""
        start = self.started_at = time.perf_counter()
        stalls = list(self.stalls)
        catching_up = False
        for index in range(round(seconds / FRAME_S)):
            due = start + index * FRAME_S
            if stalls and due - start >= stalls[0][0]:
                await asyncio.sleep(stalls.pop(0)[1])
                catching_up = True
            if catching_up and due >= time.perf_counter():
                self.stall_ends.append(time.perf_counter())
                catching_up = False
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pcm, click = self.audio.frame(index)
            handed = time.perf_counter()
            await self.source.captureFrame(pcm)
            if click:
                self.sent.append(handed + self.audio.offset / SAMPLE_RATE)


class ClickDetector:
    """Finds click onsets in received mono int16 frames.

    ``feed(pcm, t)`` takes a frame and the wall time it arrived; an onset is the
    first sample whose magnitude passes ``threshold`` (a fraction of full scale,
    well above the background tone), timed ``t + index / 48000``.  Detections closer
    than ``refractory_s`` to the previous one are the same click's ringing.
    """

    def __init__(self, threshold: float = 0.3, refractory_s: float = 0.25) -> None:
        self.threshold = threshold * 32767
        self.refractory_s = refractory_s
        self.detected: list[float] = []
        self.frames = 0
        self.first_signal_at: float | None = None

    def feed(self, pcm: np.ndarray, t: float) -> float | None:
        self.frames += 1
        mag = np.abs(pcm.reshape(-1).astype(np.int32))
        if self.first_signal_at is None and mag.size and float(mag.max()) > 100:
            self.first_signal_at = t  # ~ -50 dBFS peak: the first audible audio
        hits = np.flatnonzero(mag > self.threshold)
        if not hits.size:
            return None
        onset = t + int(hits[0]) / SAMPLE_RATE
        if self.detected and onset - self.detected[-1] < self.refractory_s:
            return None
        self.detected.append(onset)
        return onset


def match_clicks(sent: Sequence[float], detected: Sequence[float],
                 max_latency: float = 0.45) -> tuple[list[float], int]:
    """Pair each detection with the latest unmatched click sent before it.

    Returns (latencies in seconds, clicks lost).  A detection with no click sent in
    the ``max_latency`` before it is ignored (noise or ringing).
    """
    latencies: list[float] = []
    used: set[int] = set()
    for d in detected:
        best = None
        for i in range(len(sent) - 1, -1, -1):
            if sent[i] <= d:
                best = i
                break
        if best is None or best in used or d - sent[best] > max_latency:
            continue
        used.add(best)
        latencies.append(d - sent[best])
    # A click counts as lost if nothing matched it although its detection was due.
    horizon = detected[-1] if detected else -math.inf
    lost = sum(1 for i, s in enumerate(sent) if i not in used and s + max_latency < horizon)
    return latencies, lost


def ms(values: dict[str, Any], keys: Sequence[str] = ("median", "p95", "min", "max")
       ) -> dict[str, Any]:
    """A copy of a summary with the given keys converted from seconds to milliseconds."""
    return {k: (v * 1000.0 if k in keys else v) for k, v in values.items()}


# ---------------------------------------------------------------------- video
async def paint_noise(source: Any) -> None:
    """Feed a ``VideoSource`` a noise texture that moves 4 px a frame, at its frame rate:
    hard to compress, so the encoder spends its whole bitrate as on camera noise."""
    width, height, fps = source.width, source.height, source.frameRate
    texture = np.random.default_rng(1).integers(0, 256, (height, width * 2, 3), np.uint8)
    start, number = time.perf_counter(), 0
    while True:
        shift = (number * 4) % width
        source.captureFrame(texture[:, shift:shift + width])
        number += 1
        await asyncio.sleep(max(0.0, start + number / fps - time.perf_counter()))


async def fanout_series(modes: dict[str, str], sizes: Callable[[str], list[int]],
                        measure: Callable[[str, int], Awaitable[dict[str, Any]]],
                        describe: Callable[[dict[str, Any]], str]
                        ) -> dict[str, list[dict[str, Any]]]:
    """``measure(mode, n)`` for every mode and its sizes, printing each point as it
    comes; returns the points by mode label."""
    series: dict[str, list[dict[str, Any]]] = {}
    for mode, label in modes.items():
        series[label] = []
        for n in sizes(mode):
            point = await measure(mode, n)
            series[label].append(point)
            print(f"  {label:18s} N={n:3d}: {describe(point)}", flush=True)
    return series
