"""The publishable audio tracks and PCM helpers, read in real time through recv()."""

from __future__ import annotations

import asyncio
import time
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from audio_helpers import dominant_frequency, rms_dbfs

from zego_py.errors import ErrorCode, ZegoError
from zego_py.media.pcm import frame_to_mono_int16, int16_to_frame, level_0_100
from zego_py.media.sources import AudioSource, FileSource, FramePacer, ToneSource

pytestmark = pytest.mark.timeout(60)

RATE = 48000
FRAME = 960


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return np.rint(np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


async def read(track: object, count: int) -> list[av.AudioFrame]:
    return [await track.recv() for _ in range(count)]  # type: ignore[attr-defined]


def samples(frames: list[av.AudioFrame]) -> np.ndarray:
    return np.concatenate([f.to_ndarray().reshape(-1, len(f.layout.channels)) for f in frames])


def check_frames(frames: list[av.AudioFrame], layout: str = "mono", first_pts: int = 0) -> None:
    for i, f in enumerate(frames):
        assert f.format.name == "s16"
        assert f.layout.name == layout
        assert f.sample_rate == RATE
        assert f.samples == FRAME
        assert f.time_base == Fraction(1, RATE)
        assert f.pts == first_pts + i * FRAME


def write_wav(path: Path, left: np.ndarray, right: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, right], axis=1).astype("<i2").tobytes())


# ---------------------------------------------------------------- AudioSource


async def test_audio_source_resamples_and_paces() -> None:
    src = AudioSource(sampleRate=16000)
    pcm = tone(440, 1.0, 16000)
    pos, sizes = 0, [137, 401, 999, 13, 1601, 777]
    i = 0
    while pos < pcm.size:
        n = sizes[i % len(sizes)]
        await src.captureFrame(pcm[pos : pos + n])
        pos += n
        i += 1
    assert 0.95 < src.queuedDuration <= 1.0

    start = time.monotonic()
    frames = await read(src, 50)
    elapsed = time.monotonic() - start
    assert 0.8 < elapsed < 1.5
    check_frames(frames)
    out = samples(frames)[:, 0]
    assert abs(dominant_frequency(out, RATE) - 440) < 2
    assert abs(rms_dbfs(out[1000:-1000]) - rms_dbfs(pcm)) < 0.5
    src.stop()


async def test_audio_source_sends_silence_when_empty() -> None:
    src = AudioSource()
    start = time.monotonic()
    frames = await read(src, 6)
    elapsed = time.monotonic() - start
    check_frames(frames)
    assert not samples(frames).any()
    assert 0.08 < elapsed < 0.3  # 5 frame periods: paced, never stalled
    # Audio arriving later continues the same timeline.
    await src.captureFrame(tone(1000, 0.1, RATE))
    more = await read(src, 2)
    check_frames(more, first_pts=6 * FRAME)
    assert samples(more).any()
    src.stop()


async def test_audio_source_partial_frame_is_padded() -> None:
    src = AudioSource()
    await src.captureFrame(np.full(300, 1000, dtype=np.int16))
    (frame,) = await read(src, 1)
    pcm = samples([frame])[:, 0]
    assert (pcm[:300] == 1000).all() and not pcm[300:].any()
    assert src.queuedDuration == 0
    src.stop()


async def test_audio_source_stereo() -> None:
    src = AudioSource(sampleRate=24000, channels=2)
    stereo = np.stack([tone(500, 0.5, 24000), tone(1500, 0.5, 24000)], axis=1)
    await src.captureFrame(stereo)
    frames = await read(src, 20)
    check_frames(frames, layout="stereo")
    out = samples(frames)
    assert abs(dominant_frequency(out[:, 0], RATE) - 500) < 5
    assert abs(dominant_frequency(out[:, 1], RATE) - 1500) < 5
    src.stop()


async def test_audio_source_backpressure() -> None:
    src = AudioSource(queueSizeMs=500)
    task = asyncio.create_task(src.captureFrame(tone(440, 3.0, RATE)))
    await asyncio.sleep(0.1)
    assert not task.done()
    assert src.queuedDuration == pytest.approx(0.5)

    consumed = 0
    start = time.monotonic()
    while not task.done():
        await src.recv()
        consumed += 1
        assert src.queuedDuration <= 0.5
    elapsed = time.monotonic() - start
    # It returns once the last 0.5 s fits: after about 2.5 s of playout.
    assert 2.5 * RATE / FRAME - 3 <= consumed <= 2.5 * RATE / FRAME + 3
    assert 2.0 < elapsed < 3.5
    assert src.queuedDuration == pytest.approx(0.5, abs=0.03)
    src.stop()


async def test_audio_source_clear_queue() -> None:
    src = AudioSource(queueSizeMs=200)
    blocked = asyncio.create_task(src.captureFrame(tone(440, 2.0, RATE)))
    frames = await read(src, 3)
    assert samples(frames).any()
    assert not blocked.done()

    src.clearQueue()
    assert src.queuedDuration == 0
    await asyncio.wait_for(blocked, 0.5)  # the blocked rest is dropped too
    (frame,) = await read(src, 1)
    assert not samples([frame]).any()
    await asyncio.wait_for(src.waitForPlayout(), 0.1)

    # The source keeps working after a clear.
    await src.captureFrame(tone(440, 0.1, RATE))
    assert samples(await read(src, 1)).any()
    src.stop()


async def test_audio_source_wait_for_playout() -> None:
    src = AudioSource(sampleRate=16000)
    await src.captureFrame(tone(440, 0.3, 16000))
    frames: list[av.AudioFrame] = []

    async def consume() -> None:
        while True:
            frames.append(await src.recv())

    consumer = asyncio.create_task(consume())
    start = time.monotonic()
    await asyncio.wait_for(src.waitForPlayout(), 2)
    elapsed = time.monotonic() - start
    assert 0.2 < elapsed < 0.6
    assert src.queuedDuration == 0
    out = samples(frames)[:, 0]
    assert out.size >= 0.3 * RATE - FRAME  # everything (incl. the resampler's tail) went out
    assert np.count_nonzero(out) > 0.29 * RATE
    consumer.cancel()
    src.stop()


async def _paced_push(src: AudioSource, seconds: float, chunk: int = FRAME) -> None:
    """A real-time producer: ``chunk`` samples of 440 Hz every chunk period, on the wall clock."""
    pcm = tone(440, seconds, RATE)
    start = time.monotonic()
    for i in range(0, pcm.size, chunk):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await src.captureFrame(pcm[i : i + chunk])


@pytest.mark.parametrize("chunk", [FRAME, 3 * FRAME], ids=["20ms", "60ms"])
async def test_audio_source_drops_a_standing_backlog(chunk: int) -> None:
    # A real-time producer pushes 300 ms before anyone pulls: a standing backlog.
    src = AudioSource()
    producer = asyncio.create_task(_paced_push(src, 3.0, chunk))
    await asyncio.sleep(0.3)
    assert src.queuedDuration >= 0.25
    depths = []
    for _ in range(90):  # 1.8 s of sending
        await src.recv()
        depths.append(src.queuedDuration)
    # Not before the rule's 0.5 s window nor 1.5 s of the producer's pushes ...
    assert min(depths[:20]) >= 0.25
    assert max(depths[-20:]) <= (chunk + FRAME // 4) / RATE  # ... and after, within a chunk
    producer.cancel()
    src.stop()


@pytest.mark.parametrize("chunk", [FRAME // 2, 3 * FRAME], ids=["10ms", "60ms"])
async def test_audio_source_keeps_a_paced_producer_whole(chunk: int) -> None:
    # Pushing from the first pull on, in chunks of 10 or 60 ms: nothing may be dropped.
    src = AudioSource()
    out: list[av.AudioFrame] = []
    out.append(await src.recv())
    await asyncio.gather(_paced_push(src, 1.5, chunk), _read_into(src, out, 80))
    heard = samples(out)[:, 0]
    assert np.count_nonzero(heard) >= np.count_nonzero(tone(440, 1.5, RATE)) - 2 * FRAME
    src.stop()


async def _read_into(src: AudioSource, out: list[av.AudioFrame], count: int) -> None:
    for _ in range(count):
        out.append(await src.recv())


@pytest.mark.parametrize("speed,chunk", [(1.05, FRAME), (1.2, 5 * FRAME)],
                         ids=["1.05x-20ms", "1.2x-100ms"])
async def test_audio_source_keeps_a_tts_slightly_ahead_whole(speed: float, chunk: int) -> None:
    # A streaming TTS just faster than real time: the queue grows slowly and looks like a
    # paced producer's backlog within any 0.5 s.  It lost 80 ms (its tail) at 1.05x and
    # 320 ms at 1.2x in 100 ms chunks before the rule looked at 1.5 s of pushes.
    src = AudioSource()
    out = [await src.recv()]
    reading = asyncio.create_task(_read_into(src, out, 160))
    pcm = tone(440, 2.5, RATE)
    start = time.monotonic()
    for i in range(0, pcm.size, chunk):
        delay = start + i / RATE / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await src.captureFrame(pcm[i : i + chunk])
    await asyncio.wait_for(src.waitForPlayout(), 3)
    reading.cancel()
    heard = samples(out)[:, 0]
    assert np.count_nonzero(heard) == np.count_nonzero(pcm)  # every sample played
    src.stop()


async def test_audio_source_keeps_a_burst_that_fills_then_drains() -> None:
    # The sender pulls from the start; a TTS pushes 3 s in 0.3 s mid-window (no waiting:
    # the queue fits it).  The queue rises and drains: never a standing backlog.
    src = AudioSource(queueSizeMs=5000)
    out: list[av.AudioFrame] = []
    reading = asyncio.create_task(_read_into(src, out, 175))
    await asyncio.sleep(0.2)
    pcm = tone(440, 3.0, RATE)
    for i in range(0, pcm.size, 4800):
        await src.captureFrame(pcm[i : i + 4800])
        await asyncio.sleep(0.01)
    await asyncio.wait_for(reading, 6)
    heard = samples(out)[:, 0]
    assert np.count_nonzero(heard) == np.count_nonzero(pcm)  # every sample played
    src.stop()


async def test_audio_source_keeps_one_big_push_into_a_running_stream() -> None:
    # The sender has been pulling silence; a whole utterance then arrives in one call.
    src = AudioSource(queueSizeMs=5000)
    out: list[av.AudioFrame] = []
    await _read_into(src, out, 30)
    pcm = tone(440, 1.0, RATE)
    await src.captureFrame(pcm)
    await asyncio.gather(_read_into(src, out, 55), src.waitForPlayout())
    heard = samples(out)[:, 0]
    assert np.count_nonzero(heard) == np.count_nonzero(pcm)
    src.stop()


async def test_audio_source_rejects_bad_input_and_ends() -> None:
    src = AudioSource()
    with pytest.raises(ZegoError) as err:
        await src.captureFrame(np.zeros(100, dtype=np.float32))
    assert err.value.code == ErrorCode.INPUT_PARAM_ERROR
    with pytest.raises(ZegoError):
        await src.captureFrame(np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(ZegoError):
        AudioSource(channels=3)
    with pytest.raises(ZegoError):
        AudioSource(queueSizeMs=0)

    waiting = asyncio.create_task(src.ended.wait())
    src.stop()
    await asyncio.wait_for(waiting, 1)
    assert src.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await src.recv()
    with pytest.raises(MediaStreamError):
        await src.captureFrame(np.zeros(10, dtype=np.int16))


async def test_pacer_reanchors_instead_of_bursting() -> None:
    src = ToneSource(440)
    await read(src, 3)
    await asyncio.sleep(0.3)  # the consumer stalls for 15 frame periods
    quick = 0
    start = time.monotonic()
    for _ in range(10):
        await src.recv()
        if time.monotonic() - start < 0.01:
            quick += 1
    assert quick <= 4  # at most ~60 ms of catch-up, not 300 ms
    assert time.monotonic() - start > 0.1
    src.stop()


async def test_pacer_first_wait_is_immediate() -> None:
    pacer = FramePacer()
    start = time.monotonic()
    await pacer.wait(123456)
    await pacer.wait(123456 + FRAME)
    assert 0.015 < time.monotonic() - start < 0.1


# ---------------------------------------------------------------- FileSource


async def test_file_source_plays_file_then_ends(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    write_wav(path, tone(440, 1.0, 16000, 0.4), tone(440, 1.0, 16000, 0.2), 16000)
    src = FileSource(str(path))
    ended: list[bool] = []
    src.on("ended", lambda: ended.append(True))

    frames: list[av.AudioFrame] = []
    start = time.monotonic()
    with pytest.raises(MediaStreamError):
        while True:
            frames.append(await src.recv())
    elapsed = time.monotonic() - start
    assert len(frames) in (50, 51)  # 1 s, the last frame padded
    assert 0.8 < elapsed < 1.5
    check_frames(frames)
    out = samples(frames)[:, 0]
    assert abs(dominant_frequency(out, RATE) - 440) < 2
    assert abs(rms_dbfs(out[1000:47000]) - rms_dbfs(tone(440, 1.0, 16000, 0.3))) < 0.5
    assert src.ended.is_set() and ended == [True]
    assert src.readyState == "ended"


async def test_file_source_loops(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    left = tone(440, 0.2, 16000, 0.5)  # 88 whole cycles: the loop is seamless
    write_wav(path, left, left, 16000)
    src = FileSource(str(path), loop=True, channels=2)
    frames = await read(src, 30)  # 0.6 s from a 0.2 s file
    check_frames(frames, layout="stereo")
    out = samples(frames)[:, 0].astype(np.int32)
    assert abs(dominant_frequency(out, RATE) - 440) < 3
    assert np.count_nonzero(out) > 0.99 * out.size
    max_step = 2 * np.pi * 440 / RATE * 0.5 * 32767
    assert np.abs(np.diff(out)).max() < 1.5 * max_step  # no click at the loop points
    assert not src.ended.is_set()
    src.stop()
    assert src.ended.is_set()


async def test_file_source_bad_path(tmp_path: Path) -> None:
    with pytest.raises(ZegoError) as err:
        FileSource(str(tmp_path / "missing.wav"))
    assert err.value.code == ErrorCode.DEVICE_CONSTRAINTS == 1103066
    assert "cannot open audio file" in err.value.message

    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ZegoError) as err:
        FileSource(str(junk))
    assert err.value.code == ErrorCode.DEVICE_CONSTRAINTS


# ---------------------------------------------------------------- ToneSource


async def test_tone_source_frequency_level_and_amplitude() -> None:
    src = ToneSource(1000, amplitude=0.5)
    frames = await read(src, 25)
    check_frames(frames)
    out = samples(frames)[:, 0]
    assert abs(dominant_frequency(out, RATE) - 1000) < 3
    assert rms_dbfs(out) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    max_step = 2 * np.pi * 1000 / RATE * 0.5 * 32767
    assert np.abs(np.diff(out.astype(np.int32))).max() < 1.05 * max_step  # continuous phase

    src.amplitude = 0.05
    quiet = samples(await read(src, 5))[:, 0]
    assert rms_dbfs(quiet) == pytest.approx(rms_dbfs(out) - 20, abs=0.3)
    with pytest.raises(ZegoError):
        src.amplitude = 1.5
    src.stop()


async def test_tone_source_stereo() -> None:
    src = ToneSource(300, channels=2)
    out = samples(await read(src, 5))
    assert out.shape == (5 * FRAME, 2)
    assert (out[:, 0] == out[:, 1]).all()
    src.stop()


# ---------------------------------------------------------------- pcm helpers


def test_frame_to_mono_from_stereo_s16() -> None:
    left = np.full(FRAME, 1000, dtype=np.int16)
    right = np.full(FRAME, -3000, dtype=np.int16)
    frame = int16_to_frame(np.stack([left, right], axis=1), 0)
    mono = frame_to_mono_int16(frame)
    assert mono.dtype == np.int16 and mono.shape == (FRAME,)
    assert (mono == -1000).all()


def test_frame_to_mono_from_fltp_and_mono() -> None:
    planar = np.stack([np.full(FRAME, 0.5), np.full(FRAME, 0.25)]).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
    frame.sample_rate = RATE
    mono = frame_to_mono_int16(frame)
    assert mono.shape == (FRAME,)
    assert np.abs(mono.astype(np.int32) - 12288).max() <= 1

    pcm = tone(440, 0.02, RATE)
    assert (frame_to_mono_int16(int16_to_frame(pcm, 0)) == pcm).all()

    low = int16_to_frame(tone(440, 0.02, 16000), 0, 16000)
    assert frame_to_mono_int16(low).shape == (FRAME,)


def test_level_mapping() -> None:
    assert level_0_100(np.zeros(FRAME, dtype=np.int16)) == 0
    assert level_0_100(np.zeros(0, dtype=np.int16)) == 0
    levels = [level_0_100(tone(440, 0.1, RATE, a)) for a in (0.002, 0.01, 0.1, 0.5, 1.0)]
    assert levels == sorted(levels) and len(set(levels)) == len(levels)
    assert all(0 <= x <= 100 for x in levels)
    assert levels[-1] == pytest.approx(95.0, abs=0.2)  # full-scale sine is -3 dBFS -> ~95
    assert level_0_100(np.full(100, 32767, dtype=np.int16)) == pytest.approx(100, abs=0.01)
