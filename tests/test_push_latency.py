"""AudioSource end to end: latency from captureFrame, TTS bursts, barge-in and playout.

Real server, real engines.  Latency is impulse-matched (bench.common's clicks): a
producer pushes 20 ms frames at wall-clock pace and records when it handed each click
to ``captureFrame``; the listener finds the click in ``audioFrames()``.  The bound is
relative to a synthetic reference (``ClickTrack``, whose frame is made the moment the
sender asks) published in the same room at the same time.  Before the standing-backlog
rule (zego_py/media/backlog.py) both latency tests failed: audio pushed before the
sender connected, or pushed to catch up after a stall, stayed queued for good.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_helpers import dominant_frequency, rms_dbfs
from conftest import Harness, wait_until

from zego_py import AudioSource, ZegoExpressEngine

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) leaves the repo root out
    sys.path.insert(0, str(ROOT))

from bench.common import ClickDetector, ClickTrack, PushedClicks, match_clicks  # noqa: E402
from bench.harness import listening  # noqa: E402

pytestmark = pytest.mark.timeout(60)

RATE = 48000
# How far above the synthetic track a paced producer may sit: the issue's ~20 ms (the
# producer's phase against the sender's clock, up to one frame) plus noise on a loaded
# 2-core machine (25-50 ms seen under load).  The old behaviour sat 180-330 ms above.
MARGIN_S = 0.06


async def _published(engine: ZegoExpressEngine, stream_id: str, source: Any,
                     before: Callable[[], object] | None = None) -> float:
    """startPublishingStream (calling ``before`` first); returns when PUBLISHING was reported."""
    states: list[float] = []
    engine.on("publisherStateUpdate", lambda r: states.append(time.perf_counter())
              if r["streamID"] == stream_id and r["state"] == "PUBLISHING" else None)
    stream = await engine.createStream({"custom": {"source": source}})
    if before is not None:
        before()
    assert engine.startPublishingStream(stream_id, stream)
    await wait_until(lambda: bool(states), 10, f"{stream_id} PUBLISHING")
    return states[0]


async def _push_vs_reference(harness: Harness, stalls: list[tuple[float, float]],
                             push_first: float | None, seconds: float, period: float
                             ) -> tuple[PushedClicks, ClickTrack, ClickDetector, ClickDetector]:
    """A paced producer and the synthetic reference, published side by side and heard
    by one listener.  ``push_first``: seconds the producer pushes before publishing
    (None: it starts once PUBLISHING was reported).  ``period``: seconds between clicks,
    longer than any latency to be measured, so no click is matched to the next one."""
    pusher, _ = await harness.joined("pusher")
    synth, _ = await harness.joined("synth")
    listener, li = await harness.joined("listener")
    source = AudioSource()
    producer = PushedClicks(source, stalls=stalls, period_s=period, first_click_frame=5)
    reference = ClickTrack(period_s=period)
    heard_push, heard_ref = ClickDetector(), ClickDetector()
    pushing: asyncio.Task[None] | None = None

    def start_pushing() -> None:
        nonlocal pushing
        pushing = asyncio.create_task(producer.run(seconds))

    try:
        await _published(synth, "ref", reference)
        if push_first is not None:
            start_pushing()
            await asyncio.sleep(push_first)
            await _published(pusher, "push", source)
        else:
            await _published(pusher, "push", source)
            start_pushing()
        await wait_until(lambda: len(li["roomStreamUpdate"]) >= 1, 5, "stream ADD")
        remote_push = await listener.startPlayingStream("push", {"speaker": False})
        remote_ref = await listener.startPlayingStream("ref", {"speaker": False})
        async with listening(remote_push, heard_push.feed), \
                listening(remote_ref, heard_ref.feed):
            assert pushing is not None
            await asyncio.wait_for(pushing, seconds + 10)
            await asyncio.sleep(0.5)  # the last click's flight
    finally:
        if pushing is not None:
            pushing.cancel()
        source.stop()
    return producer, reference, heard_push, heard_ref


def _median_latency(sent: list[float], heard: ClickDetector, after: float, before: float,
                    period: float) -> tuple[float, int]:
    window = [t for t in sent if after <= t < before]
    latencies, _ = match_clicks(window, heard.detected, max_latency=period - 0.05)
    assert len(latencies) >= max(3.0, 0.75 * len(window)), (len(latencies), len(window))
    return statistics.median(latencies), len(latencies)


async def test_push_started_before_publishing_keeps_no_standing_latency(
        harness: Harness) -> None:
    # Pushing 0.3 s before startPublishingStream (and on through the connect): with a
    # plain FIFO all of it, plus the connect time, would be latency for good.
    producer, reference, heard_push, heard_ref = await _push_vs_reference(
        harness, stalls=[], push_first=0.3, seconds=7.0, period=1.0)
    assert producer.started_at is not None
    steady = producer.started_at + 2.0  # PUBLISHING within ~0.5 s, the rule within 0.5 s
    push, n = _median_latency(producer.sent, heard_push, steady, float("inf"), 1.0)
    ref, _ = _median_latency(reference.sent, heard_ref, steady, float("inf"), 1.0)
    print(f"captureFrame latency, push before PUBLISHING: {push * 1000:.1f} ms "
          f"(synthetic track {ref * 1000:.1f} ms, {n} clicks)")
    assert push <= ref + MARGIN_S, (push, ref)


async def test_push_recovers_within_a_second_after_a_stall(harness: Harness) -> None:
    # Pushing from PUBLISHING on; at 3 s the producer stalls 200 ms, then catches up.
    # "Before" starts 1.6 s in: what queued before the sender pulled may stand until the
    # producer has pushed for 1.5 s (backlog.py's horizon).
    producer, reference, heard_push, heard_ref = await _push_vs_reference(
        harness, stalls=[(3.0, 0.2)], push_first=None, seconds=6.5, period=0.5)
    (stall_end,) = producer.stall_ends
    assert producer.started_at is not None
    before, _ = _median_latency(producer.sent, heard_push, producer.started_at + 1.6,
                                stall_end - 0.25, 0.5)
    after, n = _median_latency(producer.sent, heard_push, stall_end + 1.0, float("inf"), 0.5)
    ref, _ = _median_latency(reference.sent, heard_ref, producer.started_at, float("inf"), 0.5)
    print(f"captureFrame latency before a 200 ms stall {before * 1000:.1f} ms, from 1 s "
          f"after it {after * 1000:.1f} ms (synthetic track {ref * 1000:.1f} ms, {n} clicks)")
    assert before <= ref + MARGIN_S, (before, ref)
    assert after <= ref + MARGIN_S, (after, ref)


# ------------------------------------------------------------------ faster than real time

SEGMENTS = [(400.0, 1.0), (600.0, 0.4), (800.0, 0.4), (1000.0, 0.4), (1200.0, 0.4),
            (1500.0, 0.4)]  # (Hz, seconds): a 3 s stepped "utterance"


def _utterance() -> np.ndarray:
    parts, phase = [], 0.0
    for freq, seconds in SEGMENTS:
        n = round(seconds * RATE)
        step = 2 * np.pi * freq / RATE
        parts.append(np.sin(phase + step * np.arange(n)) * 0.4 * 32767)
        phase += step * n
    return np.rint(np.concatenate(parts)).astype(np.int16)


def _runs(blocks: list[tuple[float, np.ndarray]]) -> list[tuple[float, float, float]]:
    """(frequency, first arrival, blocks) per run of 10 ms blocks of one segment's tone."""
    runs: list[tuple[float, float, float]] = []
    freqs = [f for f, _ in SEGMENTS]
    for t, block in blocks:
        if rms_dbfs(block) < -30:
            continue
        found = dominant_frequency(block, RATE)
        freq = min(freqs, key=lambda f: abs(f - found))
        if abs(freq - found) > 60:
            continue  # a block straddling a step
        if runs and runs[-1][0] == freq:
            runs[-1] = (freq, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((freq, t, 1))
    return runs


@pytest.mark.parametrize("queue_ms", [1000, 5000], ids=["waits-for-room", "fits"])
async def test_tts_burst_right_after_publishing_is_heard_whole(
        harness: Harness, queue_ms: int) -> None:
    talker, _ = await harness.joined("tts")
    listener, li = await harness.joined("listener")
    source = AudioSource(queueSizeMs=queue_ms)
    stream = await talker.createStream({"custom": {"source": source}})
    speech = _utterance()
    blocks: list[tuple[float, np.ndarray]] = []

    def on_frame(pcm: np.ndarray, t: float) -> None:
        blocks.extend(((t, pcm[:480]), (t + 0.01, pcm[480:])))

    async def speak() -> float:
        """3 s in 0.3 s: 100 ms chunks every 10 ms (captureFrame waits when full)."""
        start = time.perf_counter()
        for i in range(0, speech.size, 4800):
            await source.captureFrame(speech[i:i + 4800])
            await asyncio.sleep(0.01)
        return time.perf_counter() - start

    assert talker.startPublishingStream("tts", stream)
    speaking = asyncio.create_task(speak())
    await wait_until(lambda: bool(li["roomStreamUpdate"]), 5, "stream ADD")
    remote = await listener.startPlayingStream("tts", {"speaker": False})
    async with listening(remote, on_frame):
        pushed_in = await asyncio.wait_for(speaking, 10)
        await asyncio.wait_for(source.waitForPlayout(), 10)
        await asyncio.sleep(0.5)
    source.stop()
    if queue_ms > 3000:
        assert pushed_in < 0.6  # the producer really was ahead of real time

    runs = _runs(blocks)
    print("heard (Hz, blocks of 10 ms):", [(f, n) for f, _, n in runs])
    assert [f for f, _, _ in runs] == [f for f, _ in SEGMENTS], runs  # all, in order
    # The listener joins after the sender started, so the relay may not forward the
    # first few hundred ms to it; everything after that must be there, at its length.
    assert runs[0][2] * 0.01 >= 0.5
    # (A source's cut would take hundreds of ms; allow 40 ms that a loaded receiver
    # concealed, which no longer reads as the segment's tone.)
    for (freq, _, n), (_, seconds) in zip(runs[1:], SEGMENTS[1:], strict=True):
        assert abs(n * 0.01 - seconds) <= 0.045, (freq, n)
    # ... and at real-time pace: the later segments span their 2 s on the listener's clock.
    span = runs[-1][1] + runs[-1][2] * 0.01 - runs[1][1]
    assert abs(span - sum(s for _, s in SEGMENTS[1:])) <= 0.1, span


async def test_clear_queue_stops_promptly_and_playout_waits_for_the_last_frame(
        harness: Harness) -> None:
    talker, _ = await harness.joined("tts")
    listener, li = await harness.joined("listener")
    source = AudioSource(queueSizeMs=5000)
    stream = await talker.createStream({"custom": {"source": source}})
    assert talker.startPublishingStream("tts", stream)
    await wait_until(lambda: bool(li["roomStreamUpdate"]), 5, "stream ADD")
    remote = await listener.startPlayingStream("tts", {"speaker": False})
    loud: list[float] = []  # arrival of every frame with tone in it

    def on_frame(pcm: np.ndarray, t: float) -> None:
        if rms_dbfs(pcm) > -30:
            loud.append(t)

    tone = (np.sin(2 * np.pi * 700 * np.arange(RATE) / RATE) * 0.4 * 32767).astype(np.int16)
    async with listening(remote, on_frame):
        await asyncio.sleep(1.0)  # both peers connected and audio flowing (silence)
        pushed = time.perf_counter()
        await source.captureFrame(tone)  # 1 s
        await asyncio.wait_for(source.waitForPlayout(), 5)
        played = time.perf_counter()
        await asyncio.sleep(0.5)
        last_of_first = loud[-1] if loud else 0.0

        loud.clear()
        await source.captureFrame(np.tile(tone, 3))  # 3 s, barge-in after 0.5 s
        await wait_until(lambda: len(loud) >= 25, 5, "the second utterance")
        cleared = time.perf_counter()
        source.clearQueue()
        await asyncio.sleep(1.0)
    source.stop()

    # waitForPlayout returned after the last frame went to the sender: not before the
    # second's worth played, and about one path latency before the listener got it.
    assert played - pushed >= 0.97
    assert -0.03 <= last_of_first - played <= 0.25, last_of_first - played
    stop_after = loud[-1] - cleared
    print(f"barge-in: last tone frame {stop_after * 1000:.0f} ms after clearQueue")
    assert stop_after <= 0.25  # the path latency and a frame, not the 2.5 s left
