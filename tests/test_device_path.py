"""The whole real-device path: a tone played into the virtual microphone is captured by
one engine, published through the relay, played by another engine to its speaker, and
found by FFT on the virtual speaker's monitor.  Runs under scripts/with-pulseaudio.sh."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from audio_helpers import sine, write_wav
from conftest import Harness, wait_until
from test_devices import (  # skips this module too when the virtual devices are missing
    RATE,
    WAIT_S,
    assert_tone,
    pipe_blocks,
    record_vspk,
    steady_audio,
    subprocess,
)

pytestmark = [pytest.mark.pulseaudio, pytest.mark.timeout(90)]


async def test_mic_to_relay_to_speaker(harness: Harness, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone.wav", sine(880, RATE * 30, amplitude=0.3))
    talker, t = await harness.joined("talker")
    listener, li = await harness.joined("listener")
    async with subprocess("paplay", "-d", "vmic_sink", str(wav)):
        # processing off: this test checks the path's fidelity (level within 3 dB)
        mic = await talker.createStream({"camera": {"audio": True, "video": False,
                                                    "AEC": False, "AGC": False}})
        assert talker.startPublishingStream("talker-mic", mic)
        await wait_until(lambda: li["roomStreamUpdate"], what="ADD")
        await listener.startPlayingStream("talker-mic")  # to the default speaker: vspk
        assert (await listener.getSpeakers()) and (await listener.getMicrophones())
        async with subprocess(*record_vspk(), capture=True) as parec:
            assert parec.stdout is not None
            heard = await asyncio.wait_for(steady_audio(pipe_blocks(parec.stdout)), WAIT_S)
    assert_tone(heard, 880, 0.3)


async def test_mic_mute_silences_the_speaker(harness: Harness, tmp_path: Path) -> None:
    import numpy as np
    from audio_helpers import dominant_frequency, rms_dbfs

    wav = write_wav(tmp_path / "tone.wav", sine(660, RATE * 30, amplitude=0.3))
    talker, _ = await harness.joined("talker")
    listener, li = await harness.joined("listener")
    async with subprocess("paplay", "-d", "vmic_sink", str(wav)):
        mic = await talker.createStream({"camera": {"audio": True, "video": False}})
        talker.startPublishingStream("talker-mic", mic)
        await wait_until(lambda: li["roomStreamUpdate"], what="ADD")
        await listener.startPlayingStream("talker-mic")
        async with subprocess(*record_vspk(), capture=True) as parec:
            assert parec.stdout is not None
            blocks = pipe_blocks(parec.stdout)
            # default processing (AEC and AGC when the aec extra is installed): AGC may
            # change the level, so only the frequency is checked here
            heard = await asyncio.wait_for(steady_audio(blocks), WAIT_S)
            assert abs(dominant_frequency(heard, RATE) - 660) <= 20
            assert talker.muteMicrophone(True) and talker.isMicrophoneMuted()
            await wait_until(lambda: ("talker-mic", "MUTE") in li["remoteMicStatusUpdate"])
            # The pipe still holds what was recorded before the mute took effect: within
            # a bounded time the tone must give way to lasting silence (0.5 s of it).
            run: list[np.ndarray] = []
            async with asyncio.timeout(10):
                async for block in blocks:
                    run = run + [block] if rms_dbfs(block) < -60 else []
                    if len(run) == 25:
                        break
    assert len(run) == 25 and rms_dbfs(np.concatenate(run)) < -60


async def test_play_volume_and_mute_shape_the_speaker_mix(harness: Harness) -> None:
    """Per-stream volume and mute act on the one speaker mix, measured on vspk.monitor."""
    from audio_helpers import rms_dbfs, tone_amplitude

    from zego_py.media.sources import ToneSource

    talker, t = await harness.joined("talker")
    listener, li = await harness.joined("listener")
    local = await talker.createStream({"custom": {"source": ToneSource(500, 0.4)}})
    talker.startPublishingStream("tone", local)
    await wait_until(lambda: li["roomStreamUpdate"], what="ADD")
    await listener.startPlayingStream("tone")  # to the default speaker: vspk
    async with subprocess(*record_vspk(), capture=True) as parec:
        assert parec.stdout is not None
        blocks = pipe_blocks(parec.stdout)
        full = await asyncio.wait_for(steady_audio(blocks), WAIT_S)
        assert await listener.setPlayVolume("tone", 50)
        half = await asyncio.wait_for(_settled(blocks, lambda b: rms_dbfs(b) < rms_dbfs(full) - 3),
                                      WAIT_S)
        assert await listener.mutePlayStreamAudio("tone", True)
        muted = await asyncio.wait_for(_settled(blocks, lambda b: rms_dbfs(b) < -60), WAIT_S)
    ratio = tone_amplitude(half, RATE, 500) / tone_amplitude(full, RATE, 500)
    assert 0.4 < ratio < 0.6, ratio  # volume 50 halves the amplitude (-6 dB)
    assert rms_dbfs(muted) < -60


async def _settled(blocks, changed):  # type: ignore[no-untyped-def]
    """Skip until ``changed`` holds for 10 blocks in a row, then return the next 0.5 s."""
    import numpy as np

    run = 0
    kept = []
    async for block in blocks:
        if run < 10:
            run = run + 1 if changed(block) else 0
            continue
        kept.append(block)
        if len(kept) == 25:
            return np.concatenate(kept)
    raise AssertionError("stream ended")
