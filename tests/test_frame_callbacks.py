"""ZEGO's raw audio-frame callbacks end to end: setCaptureAudioFrameCallback on the
publisher, setAudioFrameCallback on the listener, through the bundled server's relay.

Checked by content (tone frequency by FFT at the requested rate, block sizes, delivered
sample rate against wall time) and by timing: a sleeping callback must not delay the
listener's audioFrames().
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
from audio_helpers import dominant_frequency, rms_dbfs
from conftest import Harness, Recorder, wait_until

from zego_py import ErrorCode, ZegoError, ZegoExpressEngine
from zego_py.media.local_stream import ZegoLocalStream
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(60)


class Frames:
    """What a frame callback received, with the wall time of each call."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        self.frames: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.threads: set[str] = set()
        self.sleep_s = sleep_s

    def __call__(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        self.times.append(time.monotonic())
        self.threads.add(threading.current_thread().name)
        if self.sleep_s:
            time.sleep(self.sleep_s)  # a deliberately slow, blocking callback

    def channel(self, index: int, skip: int = 0) -> np.ndarray:
        return np.concatenate([f["channels"][index] for f in self.frames[skip:]])

    def delivered_rate(self, skip: int) -> float:
        """Samples per channel per second of wall time, from callback ``skip`` on."""
        frames, times = self.frames[skip:], self.times[skip:]
        samples = sum(len(f["channels"][0]) for f in frames[1:])
        return samples / (times[-1] - times[0])


async def published_tone(harness: Harness, freq: float, channels: int = 1
                         ) -> tuple[ZegoExpressEngine, Recorder, ZegoLocalStream]:
    engine, rec = await harness.joined("alice")
    local = await engine.createStream({"custom": {"source": ToneSource(freq, 0.3, channels)}})
    assert engine.startPublishingStream("s_alice", local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                 for e in rec["publisherStateUpdate"]), what="PUBLISHING")
    return engine, rec, local


async def listener(harness: Harness) -> tuple[ZegoExpressEngine, ZegoRemoteStream]:
    bob, _ = await harness.joined("bob")
    return bob, await bob.startPlayingStream("s_alice", {"speaker": False})


@pytest.mark.parametrize(("rate", "channels", "size"), [(16000, 1, 1024), (48000, 2, 4096)])
async def test_capture_callback_sees_the_sent_tone_at_the_requested_format(
        harness: Harness, rate: int, channels: int, size: int) -> None:
    engine, _, local = await published_tone(harness, 440.0)
    got = Frames()
    assert await engine.setCaptureAudioFrameCallback(
        local, got, {"sampleRate": rate, "channelCount": channels, "frameSize": size}) == {
        "errorCode": 0, "extendedData": ""}
    seconds = 3.0
    await wait_until(lambda: len(got.frames) * size >= seconds * rate, timeout=10,
                     what=f"{seconds} s of capture frames")
    assert {f["sampleRate"] for f in got.frames} == {rate}
    assert {f["channelCount"] for f in got.frames} == {channels}
    assert all(len(f["channels"]) == channels for f in got.frames)
    assert {len(ch) for f in got.frames for ch in f["channels"]} == {size}
    assert {ch.dtype for f in got.frames for ch in f["channels"]} == {np.dtype(np.float32)}
    skip = max(1, len(got.frames) // 4)  # the resampler's start, and the first bursts
    for index in range(channels):
        pcm = got.channel(index, skip)
        assert abs(dominant_frequency(pcm, rate) - 440.0) < 2.0
        assert 0.25 < float(np.max(np.abs(pcm))) < 0.35  # ToneSource's 0.3, as float
    # delivered at the requested rate: samples per wall second within 10 %
    assert got.delivered_rate(skip) == pytest.approx(rate, rel=0.1)
    assert got.threads and "MainThread" not in got.threads  # off the event loop


async def test_play_callback_hears_the_publishers_tone_and_none_stops_it(
        harness: Harness) -> None:
    await published_tone(harness, 600.0)
    bob, _ = await listener(harness)
    got = Frames()
    await bob.setAudioFrameCallback("s_alice", got, {"sampleRate": 16000, "channelCount": 1,
                                                    "frameSize": 512, "bitDepth": 16})
    await wait_until(lambda: len(got.frames) >= 80, timeout=10, what="play frames")
    assert {len(f["channels"][0]) for f in got.frames} == {512}
    assert {f["channels"][0].dtype for f in got.frames} == {np.dtype(np.int16)}
    pcm = got.channel(0, skip=20)
    assert abs(dominant_frequency(pcm, 16000) - 600.0) < 2.0
    assert got.delivered_rate(skip=20) == pytest.approx(16000, rel=0.1)

    await bob.setAudioFrameCallback("s_alice", None)
    await asyncio.sleep(0.2)  # a callback already queued may still run
    stopped_at = len(got.frames)
    await asyncio.sleep(0.5)
    assert len(got.frames) == stopped_at


async def test_async_callback_runs_on_the_loop_in_order(harness: Harness) -> None:
    engine, _, local = await published_tone(harness, 440.0)
    loop_thread = threading.current_thread().name
    seen: list[tuple[str, int]] = []

    async def on_frame(frame: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append((threading.current_thread().name, len(frame["channels"][0])))

    await engine.setCaptureAudioFrameCallback(local, on_frame, {"frameSize": 512})
    await wait_until(lambda: len(seen) >= 20, what="async callbacks")
    assert {name for name, _ in seen} == {loop_thread}
    assert {size for _, size in seen} == {512}
    with pytest.raises(ZegoError) as bad:  # 960 is not one of ZEGO's frame sizes
        await engine.setCaptureAudioFrameCallback(local, on_frame, {"frameSize": 960})
    assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR
    with pytest.raises(ZegoError) as bad:
        await engine.setAudioFrameCallback("nobody_plays_this", on_frame)
    assert bad.value.code == ErrorCode.PLAY_STREAM_NOT_FOUND


async def onset_latency(tone: ToneSource, remote: ZegoRemoteStream) -> float:
    """Seconds from switching the publisher's tone on to its arrival in audioFrames()."""
    frames = remote.audioFrames()
    tone.amplitude = 0.0
    quiet = 0
    async for pcm in frames:
        quiet = quiet + 1 if rms_dbfs(pcm) < -50 else 0
        if quiet >= 10:  # 200 ms of silence at the listener
            break
    switched_at = time.monotonic()
    tone.amplitude = 0.3
    async for pcm in frames:
        if rms_dbfs(pcm) > -30:
            await frames.aclose()
            return time.monotonic() - switched_at
    raise AssertionError("the stream ended")


async def test_slow_callbacks_drop_frames_and_never_delay_audio_frames(
        harness: Harness) -> None:
    """A callback sleeping 200 ms per 5 ms block, on both ends: the listener's
    audioFrames() keeps real time, its latency and the tone; the callbacks lose frames,
    counted.  Each figure is compared with the same path measured without callbacks."""
    alice, _, local = await published_tone(harness, 600.0)
    tone = local.source
    assert isinstance(tone, ToneSource)
    bob, remote = await listener(harness)

    async def frame_gaps(count: int) -> tuple[np.ndarray, np.ndarray]:
        gaps, pcm, last = [], [], None
        async for frame in remote.audioFrames():
            now = time.monotonic()
            if last is not None:
                gaps.append(now - last)
            last = now
            pcm.append(frame)
            if len(pcm) >= count:
                break
        return np.array(gaps), np.concatenate(pcm)

    await frame_gaps(25)  # settle
    anchor, _ = await frame_gaps(100)  # the same path, no callbacks, same run
    anchor_latency = [await onset_latency(tone, remote) for _ in range(3)]

    capture, play = Frames(sleep_s=0.2), Frames(sleep_s=0.2)
    await alice.setCaptureAudioFrameCallback(local, capture, {"frameSize": 256})
    await bob.setAudioFrameCallback("s_alice", play, {"frameSize": 256})
    gaps, pcm = await frame_gaps(150)
    latency = [await onset_latency(tone, remote) for _ in range(3)]

    capture_tap, play_tap = local.frame_tap, remote.frame_tap
    assert capture_tap is not None and play_tap is not None
    print(f"\naudioFrames() without callbacks: median gap {np.median(anchor) * 1e3:.1f} ms, "
          f"{anchor.sum():.2f} s for 99, onset latency median "
          f"{np.median(anchor_latency) * 1e3:.0f} ms; with 200 ms sleeping callbacks on both "
          f"ends: median gap {np.median(gaps) * 1e3:.1f} ms, max {gaps.max() * 1e3:.0f} ms, "
          f"{gaps.sum():.2f} s for 149, onset latency median "
          f"{np.median(latency) * 1e3:.0f} ms; 20 ms frames dropped: capture "
          f"{capture_tap.dropped}, play {play_tap.dropped}")
    # real time: 149 gaps of 20 ms take 2.98 s; the anchor's pace, within 10 %
    assert gaps.sum() == pytest.approx(149 * anchor.mean(), rel=0.1)
    assert gaps.max() < 0.18  # one blocked 200 ms callback on the media path would show
    # no standing delay: a blocked or queued media path would add its 200 ms here
    assert np.median(latency) < np.median(anchor_latency) + 0.04
    assert abs(dominant_frequency(pcm[-24000:], 48000) - 600.0) < 2.0
    assert capture_tap.dropped > 0 and play_tap.dropped > 0
    # each callback made its calls, about one every 200 ms, on its own thread
    assert 5 <= len(capture.frames) and 5 <= len(play.frames)


async def test_a_raising_callback_is_counted_and_a_new_one_replaces_it(
        harness: Harness) -> None:
    engine, _, local = await published_tone(harness, 440.0)

    def broken(frame: dict[str, Any]) -> None:
        raise RuntimeError("user bug")

    await engine.setCaptureAudioFrameCallback(local, broken, {"frameSize": 256})
    first = local.frame_tap
    assert first is not None
    await wait_until(lambda: first.failed >= 10, what="failed callbacks counted")
    got = Frames()
    await engine.setCaptureAudioFrameCallback(local, got, {"sampleRate": 8000,
                                                           "frameSize": 256})
    await wait_until(lambda: len(got.frames) >= 40, what="the new callback's frames")
    assert local.frame_tap is not first and {f["sampleRate"] for f in got.frames} == {8000}
    assert abs(dominant_frequency(got.channel(0, skip=8), 8000) - 440.0) < 2.0
