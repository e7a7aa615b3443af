"""The playback mixer: pure numpy, no devices, so it runs everywhere."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from audio_helpers import dominant_frequency, rms_dbfs, sine, tone_amplitude

from zego_py.media.mixer import Mixer, MixerInput

RATE = 48000


def test_two_tones_sum_with_their_levels() -> None:
    mixer = Mixer()
    mixer.add_input("a").push(sine(440, 4800, amplitude=0.4))
    mixer.add_input("b").push(sine(1000, 4800, amplitude=0.2))
    out = mixer.mix(4800)
    assert out.dtype == np.int16 and out.shape == (4800,)
    assert tone_amplitude(out, RATE, 440) == pytest.approx(0.4, abs=0.005)
    assert tone_amplitude(out, RATE, 1000) == pytest.approx(0.2, abs=0.005)
    assert abs(dominant_frequency(out, RATE) - 440) < 2
    # No third component: the sum is exactly the two tones.
    expected = sine(440, 4800, amplitude=0.4).astype(np.int32) + sine(1000, 4800, amplitude=0.2)
    assert np.array_equal(out, expected)


def test_volume_50_halves_and_200_doubles() -> None:
    mixer = Mixer()
    inp = mixer.add_input("a")
    tone = sine(500, 2400, amplitude=0.2)
    inp.volume = 50
    inp.push(tone)
    half = mixer.mix(2400)
    assert tone_amplitude(half, RATE, 500) == pytest.approx(0.1, abs=0.002)
    assert rms_dbfs(half) == pytest.approx(rms_dbfs(tone) - 6.02, abs=0.05)
    inp.volume = 200
    inp.push(tone)
    double = mixer.mix(2400)
    assert tone_amplitude(double, RATE, 500) == pytest.approx(0.4, abs=0.002)


def test_volume_is_clamped_to_zego_range() -> None:
    inp = Mixer().add_input("a")
    inp.volume = 500
    assert inp.volume == 200
    inp.volume = -3
    assert inp.volume == 0


def test_mute_silences_but_still_drains() -> None:
    mixer = Mixer()
    loud = mixer.add_input("loud")
    quiet = mixer.add_input("quiet")
    loud.push(sine(440, 960, amplitude=0.5))
    quiet.push(sine(1000, 960, amplitude=0.1))
    loud.muted = True
    out = mixer.mix(960)
    assert tone_amplitude(out, RATE, 440) < 1e-3
    assert tone_amplitude(out, RATE, 1000) == pytest.approx(0.1, abs=0.005)
    # Muted audio is consumed, so unmuting plays live audio, not a stale backlog.
    assert loud.queued_samples == 0
    loud.muted = False
    quiet.muted = True
    loud.push(sine(440, 960, amplitude=0.5))
    assert tone_amplitude(mixer.mix(960), RATE, 440) == pytest.approx(0.5, abs=0.01)


def test_saturation_clips_instead_of_wrapping() -> None:
    mixer = Mixer()
    mixer.add_input("a").push(np.full(100, 30000, dtype=np.int16))
    mixer.add_input("b").push(np.full(100, 30000, dtype=np.int16))
    neg = mixer.add_input("c")
    neg.volume = 200
    out = mixer.mix(100)
    assert np.all(out == 32767)
    mixer.remove_input("a")
    mixer.remove_input("b")
    neg.push(np.full(10, -20000, dtype=np.int16))
    assert np.all(mixer.mix(10) == -32768)


def test_buffer_bound_drops_oldest() -> None:
    mixer = Mixer()
    inp = mixer.add_input("a", max_buffer_ms=10)  # 480 samples
    assert inp.capacity == 480
    inp.push(np.arange(0, 300, dtype=np.int16))
    inp.push(np.arange(300, 600, dtype=np.int16))
    assert inp.queued_samples == 480
    assert inp.dropped_samples == 120
    assert np.array_equal(mixer.mix(480), np.arange(120, 600, dtype=np.int16))
    # One push longer than the whole buffer keeps only its newest samples.
    inp.push(np.arange(0, 1000, dtype=np.int16))
    assert np.array_equal(mixer.mix(480), np.arange(520, 1000, dtype=np.int16))


def test_default_bound_is_200_ms() -> None:
    inp = Mixer().add_input("a")
    inp.push(np.ones(RATE, dtype=np.int16))
    assert inp.queued_samples == RATE // 5


def test_ring_wraps_around_in_order() -> None:
    mixer = Mixer()
    inp = mixer.add_input("a", max_buffer_ms=1)  # 48 samples: pushes wrap and overflow
    expected: list[int] = []
    value = 0
    for chunk in (30, 17, 40, 5, 48, 1, 33, 60, 12):
        inp.push(np.arange(value, value + chunk, dtype=np.int16))
        expected.extend(range(value, value + chunk))
        value += chunk
        queued = inp.queued_samples
        expected = expected[len(expected) - queued :]  # the newest `queued` samples survive
        take = min(queued, 20)
        assert mixer.mix(take).tolist() == expected[:take]
        expected = expected[take:]


def test_underrun_contributes_what_it_has_then_zeros() -> None:
    mixer = Mixer()
    inp = mixer.add_input("a")
    inp.push(np.full(100, 1234, dtype=np.int16))
    out = mixer.mix(480)
    assert np.all(out[:100] == 1234)
    assert np.all(out[100:] == 0)
    assert np.all(mixer.mix(480) == 0)
    assert np.all(Mixer().mix(256) == 0)  # no inputs at all


def test_mix_into_writes_a_caller_buffer() -> None:
    mixer = Mixer()
    mixer.add_input("a").push(np.full(10, 7, dtype=np.int16))
    buf = np.full(10, -1, dtype=np.int16)
    mixer.mix_into(buf)
    assert np.all(buf == 7)


def test_inputs_by_key() -> None:
    mixer = Mixer()
    a = mixer.add_input("a")
    assert mixer.add_input("a") is a
    assert "a" in mixer and len(mixer) == 1 and mixer.keys() == ["a"]
    assert mixer.get_input("a") is a
    mixer.remove_input("a")
    mixer.remove_input("a")  # repeated teardown is fine
    assert mixer.get_input("a") is None and len(mixer) == 0


def test_push_rejects_non_int16() -> None:
    with pytest.raises(TypeError):
        MixerInput("x").push(np.zeros(10, dtype=np.float32))


def test_concurrent_push_and_mix_keep_sample_order() -> None:
    """The PortAudio thread mixes while asyncio pushes: no sample is reordered or torn."""
    mixer = Mixer()
    inp = mixer.add_input("a", max_buffer_ms=1000)  # large enough that nothing is dropped
    total = 48000
    out: list[np.ndarray] = []

    def consume() -> None:
        taken = 0
        while taken < total:
            block = mixer.mix(min(480, inp.queued_samples))
            out.append(block)
            taken += block.size

    thread = threading.Thread(target=consume)
    thread.start()
    ramp = (np.arange(total) % 30000).astype(np.int16)
    for start in range(0, total, 333):
        inp.push(ramp[start : start + 333])
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert np.array_equal(np.concatenate(out), ramp)


def test_standing_backlog_behind_a_paced_stream_is_dropped() -> None:
    """A device stall left 150 ms queued; the stream then arrives 20 ms per callback.

    Without the rule the 150 ms would stay for good; within 0.5 s it is down to the
    one frame in flight, and the audio after the cut continues the stream in order.
    """
    mixer = Mixer()
    inp = mixer.add_input("a")
    ramp = (np.arange(48000 * 2) % 30000).astype(np.int16)
    inp.push(ramp[:7200])  # 150 ms
    pos, out = 7200, []
    for _ in range(50):  # 1 s of callbacks, one 20 ms frame pushed before each
        inp.push(ramp[pos : pos + 960])
        pos += 960
        out.append(mixer.mix(960))
    assert inp.queued_samples <= 960 // 2
    assert inp.dropped_samples >= 7200 - 960
    tail = np.concatenate(out[-10:])
    assert np.array_equal(np.diff(tail.astype(np.int32)) % 30000, np.ones(tail.size - 1))


def test_a_burst_is_played_whole() -> None:
    """A producer that is ahead (150 ms pushed at once, then nothing) loses nothing."""
    mixer = Mixer()
    inp = mixer.add_input("a")
    burst = (np.arange(7200) % 1000 + 1).astype(np.int16)
    inp.push(burst)
    out = np.concatenate([mixer.mix(960) for _ in range(40)])
    assert np.array_equal(out[:7200], burst) and not out[7200:].any()


def test_devices_module_degrades_without_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libportaudio2 device calls fail with 1103061 naming the package; the rest works.

    Lives here rather than in test_devices.py because that module skips without PulseAudio.
    """
    from zego_py.errors import ErrorCode, ZegoError
    from zego_py.media import devices

    monkeypatch.setattr(devices, "_sd_module", None)
    monkeypatch.setattr(devices, "_sd_error", "PortAudio library not found")
    assert not devices.portaudio_available()
    with pytest.raises(ZegoError) as info:
        devices.require_portaudio()
    assert info.value.code == ErrorCode.DEVICE_UNAVAILABLE == 1103061
    assert "libportaudio2" in info.value.message
    assert devices.list_devices() == {"microphones": [], "speakers": [], "cameras": []}
    req = devices.check_system_requirements()
    assert req["result"] is False and req["portAudio"] is False
    assert req["webRTC"] is True and req["customCapture"] is True
    assert "libportaudio2" in req["errInfo"]["portAudio"]
    with pytest.raises(ZegoError) as info:
        devices.SpeakerOutput(Mixer())
    assert info.value.code == 1103061
