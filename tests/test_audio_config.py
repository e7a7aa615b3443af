"""setAudioConfig(localStream, {ANS, AGC, AEC}) switches the echo canceller's stages live.

The processor is pywebrtc-audio's (the ``aec`` extra, in ``dev``): first measured on the
processor itself with a synthetic echo (a reference the speaker played, heard back 30 ms
later at half amplitude), then through the engine on the PulseAudio virtual microphone,
where noise suppression switched on mid-publish must lower the noise the listener hears.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import rms_dbfs, write_wav
from conftest import Harness, wait_until

from zego_py import ErrorCode, ZegoError
from zego_py.media import aec
from zego_py.media.sources import ToneSource

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not aec.available(),
                                 reason=f"the aec extra is not installed: {aec.INSTALL_HINT}")]

RATE = 48000
FRAME = 960
ECHO_DELAY = RATE * 30 // 1000


def far_end(seconds: float, seed: int = 7) -> np.ndarray:
    """Speech-band noise, the far end's voice as the speaker plays it (int16)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(int(seconds * RATE))
    kernel = np.hanning(9) / np.hanning(9).sum()  # a gentle low-pass
    return np.clip(np.convolve(noise, kernel, "same") * 6000, -32768, 32767).astype(np.int16)


class EchoRoom:
    """Speaker reference into ``push_render``, its echo (delayed, halved) into the mic."""

    def __init__(self, apm: aec.AudioProcessing) -> None:
        self.apm = apm
        self.far = far_end(20)
        self.at = 0
        apm.push_render(self.far[:3 * FRAME])  # the speaker runs a little ahead of the mic
        self.pushed = 3 * FRAME

    def run(self, seconds: float) -> np.ndarray:
        """Process ``seconds`` of microphone audio; what the publisher would send."""
        out = []
        for _ in range(int(seconds * RATE) // FRAME):
            self.apm.push_render(self.far[self.pushed:self.pushed + FRAME])
            self.pushed += FRAME
            start = self.at - ECHO_DELAY
            echo = (self.far[max(0, start):start + FRAME] // 2 if start >= 0
                    else np.zeros(FRAME, np.int16))
            out.append(self.apm.process_capture(echo))
            self.at += FRAME
        return np.concatenate(out)


def test_configure_switches_echo_cancellation_live() -> None:
    apm = aec.AudioProcessing.create_switchable(echo_cancellation=False,
                                                noise_suppression=False,
                                                auto_gain_control=False)
    assert apm is not None and not apm.active and apm.describe() == ""
    room = EchoRoom(apm)
    passed = room.run(2.0)[RATE:]
    echo_db = rms_dbfs(passed)
    apm.configure(echo_cancellation=True, noise_suppression=False, auto_gain_control=False)
    assert apm.active and apm.describe() == "AEC"
    room.run(3.0)  # AEC3 converges
    cancelled_db = rms_dbfs(room.run(2.0))
    apm.configure(echo_cancellation=False, noise_suppression=False, auto_gain_control=False)
    back_db = rms_dbfs(room.run(1.0))
    print(f"\necho at the mic {echo_db:.1f} dBFS; AEC switched on live: {cancelled_db:.1f} "
          f"dBFS ({cancelled_db - echo_db:+.1f} dB); off again: {back_db:.1f} dBFS")
    assert echo_db > -30  # the echo passes untouched while every stage is off
    assert cancelled_db < echo_db - 12  # measured: 18-20 dB
    assert back_db == pytest.approx(echo_db, abs=1.0)


async def test_set_audio_config_rejects_what_it_cannot_apply(harness: Harness) -> None:
    zg, _ = await harness.joined("alice")
    custom = await zg.createStream({"custom": {"source": ToneSource(440.0)}})
    for stream, config in ((custom, {"ANS": True}), (object(), {"AEC": True})):
        with pytest.raises(ZegoError) as bad:
            await zg.setAudioConfig(stream, config)
        assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR


# ------------------------------------------------------------------ the engine, on devices
def _virtual_devices() -> bool:
    import os

    return os.environ.get("ZEGO_PULSE") == "1" and shutil.which("paplay") is not None


@pytest.mark.pulseaudio
@pytest.mark.skipif(not _virtual_devices(), reason="needs scripts/with-pulseaudio.sh")
async def test_set_audio_config_turns_noise_suppression_on_and_off_mid_call(
        harness: Harness, tmp_path: Path) -> None:
    from test_devices import subprocess
    from test_media import collect

    rng = np.random.default_rng(3)
    noise = np.clip(rng.standard_normal(RATE * 40) * 3000, -32768, 32767).astype(np.int16)
    wav = write_wav(tmp_path / "noise.wav", noise)
    talker, t = await harness.joined("talker")
    listener, _ = await harness.joined("listener")
    async with subprocess("paplay", "-d", "vmic_sink", str(wav)):
        mic = await talker.createStream({"camera": {"audio": True, "video": False,
                                                    "AEC": False, "AGC": False, "ANS": False}})
        assert mic.audioProcessing == ""
        assert talker.startPublishingStream("talker-mic", mic)
        await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                     for e in t["publisherStateUpdate"]), what="PUBLISHING")
        remote = await listener.startPlayingStream("talker-mic", {"speaker": False})
        sent: list[np.ndarray] = []  # what the capture callback sees: after processing
        await talker.setCaptureAudioFrameCallback(mic, lambda f: sent.append(f["channels"][0]),
                                                  {"bitDepth": 16, "frameSize": 1024})

        async def measure(frames: int) -> tuple[float, float]:
            sent.clear()
            heard = await collect(remote, frames)
            return rms_dbfs(heard), rms_dbfs(np.concatenate(sent[len(sent) // 4:]))

        await collect(remote, 50)
        plain_db, plain_sent = await measure(50)
        await talker.setAudioConfig(mic, {"ANS": True})
        assert mic.audioProcessing == "NS"
        await collect(remote, 100)  # the suppressor learns the noise
        suppressed_db, suppressed_sent = await measure(50)
        await talker.setAudioConfig(mic, {"ANS": False})
        assert mic.audioProcessing == ""
        await collect(remote, 25)
        back_db, _ = await measure(50)
    print(f"\nmic noise at the listener {plain_db:.1f} dBFS; ANS on live: {suppressed_db:.1f} "
          f"dBFS ({suppressed_db - plain_db:+.1f} dB); off again: {back_db:.1f} dBFS; "
          f"the capture callback: {plain_sent:.1f} -> {suppressed_sent:.1f} dBFS")
    # the capture callback gets what is sent, after processing: the same suppression as
    # the far end hears (Opus itself takes ~1.5 dB off white noise, above 20 kHz)
    assert plain_sent == pytest.approx(plain_db, abs=3.0)
    assert suppressed_sent - plain_sent == pytest.approx(suppressed_db - plain_db, abs=1.5)
    # WebRTC's NS takes 6-7 dB off stationary white noise at -21 dBFS (measured on the
    # processor alone, at every ns_level); Opus and the device path blur it a little.
    assert suppressed_db < plain_db - 3
    assert back_db == pytest.approx(plain_db, abs=2.0)
