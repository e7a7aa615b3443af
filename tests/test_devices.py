"""Real PortAudio devices against PulseAudio's virtual ones (scripts/with-pulseaudio.sh).

    bash scripts/with-pulseaudio.sh .venv/bin/pytest tests/test_devices.py

``vmic_sink`` feeds the virtual microphone ``vmic``; whatever is played on the virtual
speaker ``vspk`` can be recorded from ``vspk.monitor``. Every stream open stalls ~1–2 s
before audio flows (docs/audio-devices.md), so the assertions wait for the signal to be
steady and analyse only what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from audio_helpers import dominant_frequency, rms_dbfs, sine, tone_amplitude, write_wav

from zego_py.errors import ErrorCode, ZegoError
from zego_py.media import devices
from zego_py.media.devices import MicrophoneTrack, SpeakerOutput
from zego_py.media.mixer import Mixer, MixerInput

if os.environ.get("ZEGO_PULSE") != "1":
    pytest.skip(reason="needs the PulseAudio virtual devices: run under "
                "scripts/with-pulseaudio.sh (ZEGO_PULSE=1 is unset; install them with "
                "scripts/install-system-deps.sh)", allow_module_level=True)
if not devices.portaudio_available():
    pytest.skip(reason="PortAudio library not found: install libportaudio2 "
                "(scripts/install-system-deps.sh)", allow_module_level=True)
if shutil.which("paplay") is None or shutil.which("parec") is None:
    pytest.skip(reason="paplay/parec missing: install pulseaudio-utils", allow_module_level=True)

pytestmark = [pytest.mark.pulseaudio, pytest.mark.timeout(60)]

RATE = 48000
BLOCK = 960  # 20 ms
LOUD_DBFS = -30.0
STEADY_BLOCKS = 25  # 0.5 s of continuous signal before we trust the stream
ANALYSE_BLOCKS = 50  # then 1 s is analysed
WAIT_S = 20.0  # bound for warm-up (measured 1.1–1.9 s per stream open) plus analysis


async def steady_audio(blocks: AsyncIterator[np.ndarray]) -> np.ndarray:
    """Skip warm-up: after STEADY_BLOCKS loud 20 ms blocks in a row, return the next 1 s."""
    loud_run = 0
    kept: list[np.ndarray] = []
    async for block in blocks:
        if loud_run < STEADY_BLOCKS:
            loud_run = loud_run + 1 if rms_dbfs(block) > LOUD_DBFS else 0
            continue
        kept.append(block)
        if len(kept) == ANALYSE_BLOCKS:
            return np.concatenate(kept)
    raise AssertionError("stream ended before steady audio arrived")


@contextlib.asynccontextmanager
async def subprocess(
    *argv: str, capture: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A helper process (paplay/parec) that is always killed and reaped."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 5)


async def mic_blocks(
    track: MicrophoneTrack, seen: Callable[[av.AudioFrame], None]
) -> AsyncIterator[np.ndarray]:
    """The track's frames as mono int16 blocks; ``seen`` inspects each raw frame."""
    while True:
        frame = await track.recv()
        seen(frame)
        yield frame.to_ndarray().reshape(-1)


async def pipe_blocks(stream: asyncio.StreamReader) -> AsyncIterator[np.ndarray]:
    """Raw s16le mono from a subprocess pipe, as 20 ms blocks."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        pending += chunk
        usable = len(pending) // (BLOCK * 2) * (BLOCK * 2)
        for start in range(0, usable, BLOCK * 2):
            yield np.frombuffer(pending[start : start + BLOCK * 2], dtype=np.int16)
        pending = pending[usable:]


async def feed_tone(inp: MixerInput, freq: float, amplitude: float) -> None:
    """Keep ~100 ms queued, as a played remote stream would, with a phase-continuous tone."""
    position = 0
    while True:
        while inp.queued_samples < 4800:
            inp.push(sine(freq, BLOCK, amplitude=amplitude, start=position))
            position += BLOCK
        await asyncio.sleep(0.01)


def record_vspk() -> tuple[str, ...]:
    """parec argv recording what was played on the virtual speaker, as raw s16le mono."""
    return (
        "parec",
        "-d",
        "vspk.monitor",
        "--format=s16le",
        f"--rate={RATE}",
        "--channels=1",
        "--raw",
    )


def assert_tone(samples: np.ndarray, freq: float, amplitude: float) -> None:
    """``freq`` dominates and arrives within ±3 dB of the amplitude that was played."""
    found = dominant_frequency(samples, RATE)
    assert abs(found - freq) <= 20, f"dominant {found:.1f} Hz, expected {freq} Hz"
    level = tone_amplitude(samples, RATE, freq, bandwidth_hz=30)
    assert amplitude / 1.42 < level < amplitude * 1.42, f"tone amplitude {level:.3f}"


def device_index(name: str, kind: str) -> str:
    """deviceID of the first PortAudio device called ``name`` (e.g. ALSA's ``pulse``)."""
    key = "microphones" if kind == "input" else "speakers"
    for dev in devices.list_devices()[key]:
        if dev["deviceName"] == name and dev["deviceID"] != "default":
            return dev["deviceID"]
    pytest.skip(reason=f"no PortAudio {kind} device named {name!r}")


def test_list_devices_sees_virtual_mic_and_speaker() -> None:
    found = devices.list_devices()
    assert found["cameras"] == []
    for key in ("microphones", "speakers"):
        entries = found[key]
        assert entries, f"no {key}: {found}"
        assert entries[0] == {"deviceName": "Default", "deviceID": "default"}
        assert all(set(e) == {"deviceName", "deviceID"} for e in entries)
        # PortAudio's indices, then PulseAudio's own devices (vmic, vspk, ...)
        assert all(e["deviceID"].isdigit() or e["deviceID"].startswith("pulse:")
                   for e in entries[1:])
    assert {"deviceID": "pulse:vmic", "deviceName": "vmic"} in found["microphones"]
    assert {"deviceID": "pulse:vspk", "deviceName": "vspk"} in found["speakers"]
    assert not any(e["deviceID"].endswith(".monitor") for e in found["microphones"])


def test_system_requirements_pass() -> None:
    req = devices.check_system_requirements()
    assert req["result"] is True, req["errInfo"]
    assert req["microphone"] and req["speaker"] and req["portAudio"]
    assert req["errInfo"] == {}


async def test_microphone_captures_tone_played_into_vmic_sink(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone1k.wav", sine(1000, 20 * RATE, amplitude=0.3))
    pts: list[int] = []

    def check_frame(frame: av.AudioFrame) -> None:
        assert frame.format.name == "s16" and frame.layout.name == "mono"
        assert frame.samples == BLOCK and frame.sample_rate == RATE
        assert frame.time_base == Fraction(1, RATE)
        assert frame.pts is not None
        pts.append(frame.pts)

    async with subprocess("paplay", "-d", "vmic_sink", str(wav)):
        track = MicrophoneTrack()  # "default" -> ALSA default -> pulse -> default source vmic
        try:
            assert track.kind == "audio" and track.device_id == "default"
            started = time.monotonic()
            captured = await asyncio.wait_for(steady_audio(mic_blocks(track, check_frame)), WAIT_S)
            elapsed = time.monotonic() - started
        finally:
            track.stop()
    assert_tone(captured, 1000, 0.3)
    diffs = np.diff(pts)
    assert np.all(diffs >= BLOCK) and np.all(diffs % BLOCK == 0), "pts must count samples"
    assert elapsed < WAIT_S


async def test_microphone_stop_is_idempotent_and_ends_recv() -> None:
    track = MicrophoneTrack()
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    track.stop()
    track.stop()
    assert track.readyState == "ended"
    with contextlib.suppress(MediaStreamError):
        await asyncio.wait_for(pending, 2)  # may have got a frame first; must not hang
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_speaker_plays_mixer_on_vspk_monitor() -> None:
    mixer = Mixer()
    inp = mixer.add_input("remote-1")
    speaker = SpeakerOutput(mixer)
    assert speaker.device_id == "default"
    async with subprocess(*record_vspk(), capture=True) as rec:
        feeder = asyncio.create_task(feed_tone(inp, 660, 0.3))
        try:
            speaker.start()
            speaker.start()  # idempotent
            assert rec.stdout is not None
            played = await asyncio.wait_for(steady_audio(pipe_blocks(rec.stdout)), WAIT_S)
        finally:
            feeder.cancel()
            speaker.close()
            speaker.close()  # idempotent
    assert_tone(played, 660, 0.3)


async def test_speaker_switch_device_keeps_playing() -> None:
    mixer = Mixer()
    inp = mixer.add_input("remote-1")
    speaker = SpeakerOutput(mixer)
    pulse = device_index("pulse", "output")
    async with subprocess(*record_vspk(), capture=True) as rec:
        feeder = asyncio.create_task(feed_tone(inp, 880, 0.25))
        try:
            speaker.start()
            speaker.switch_device(pulse)
            assert speaker.device_id == pulse
            with pytest.raises(ZegoError) as info:
                speaker.switch_device("9999")
            assert info.value.code == ErrorCode.DEVICE_CONSTRAINTS
            assert speaker.device_id == pulse  # a bad ID leaves playback where it was
            assert rec.stdout is not None
            played = await asyncio.wait_for(steady_audio(pipe_blocks(rec.stdout)), WAIT_S)
        finally:
            feeder.cancel()
            speaker.close()
    assert_tone(played, 880, 0.25)


@pytest.mark.parametrize("bad_id", ["9999", "not-a-device", "-1"])
async def test_bad_device_id_is_1103066(bad_id: str) -> None:
    with pytest.raises(ZegoError) as info:
        MicrophoneTrack(device_id=bad_id)
    assert info.value.code == ErrorCode.DEVICE_CONSTRAINTS == 1103066
    with pytest.raises(ZegoError) as info:
        SpeakerOutput(Mixer(), device_id=bad_id)
    assert info.value.code == 1103066
