"""Pure PCM helpers shared by the audio sources, the player side and the tests.

Everything inside zego_py moves audio as 48 kHz int16 numpy arrays shaped
``(samples, channels)``; these helpers convert to and from ``av.AudioFrame`` and
compute ZEGO's 0..100 sound level.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "FRAME_SAMPLES",
    "TIME_BASE",
    "LEVEL_FLOOR_DBFS",
    "frame_to_mono_int16",
    "int16_to_frame",
    "level_0_100",
    "rms_dbfs",
    "to_int16",
]

SAMPLE_RATE = 48000
"""The one rate every track in zego_py produces (Opus' native rate)."""
FRAME_SAMPLES = 960
"""20 ms at 48 kHz: aiortc's audio packetization time."""
TIME_BASE = Fraction(1, SAMPLE_RATE)
LEVEL_FLOOR_DBFS = -60.0
"""RMS level that maps to sound level 0; 0 dBFS maps to 100."""

_FULL_SCALE = 32768.0


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Round and clip float samples in int16 scale, so loud input saturates instead of wrapping."""
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def _normalized(frame: av.AudioFrame) -> np.ndarray:
    """Samples of any sample format as float64 in [-1, 1], shaped (samples, channels)."""
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    # Planar formats come as (channels, samples); packed ones as (1, samples * channels).
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if data.dtype == np.int16:
        return data.astype(np.float64) / _FULL_SCALE
    if data.dtype == np.int32:
        return data.astype(np.float64) / 2147483648.0
    if data.dtype == np.uint8:
        return (data.astype(np.float64) - 128.0) / 128.0
    if data.dtype.kind == "f":
        return data.astype(np.float64)
    raise ValueError(f"unsupported audio sample format {frame.format.name!r}")


def _resample_linear(mono: np.ndarray, rate: int) -> np.ndarray:
    """Per-frame linear interpolation to 48 kHz: a stateless fallback, exact enough for meters."""
    if rate == SAMPLE_RATE or mono.size == 0:
        return mono
    count = max(1, round(mono.size * SAMPLE_RATE / rate))
    positions = np.arange(count) * (rate / SAMPLE_RATE)
    return np.interp(positions, np.arange(mono.size), mono)


def frame_to_mono_int16(frame: av.AudioFrame) -> np.ndarray:
    """Downmix any decoded frame (aiortc's Opus decoder gives s16 stereo packed) to 48 kHz mono.

    Channels are averaged; frames at another rate are linearly interpolated
    per frame, which is fine for analysis but not for playback.
    """
    channels = len(frame.layout.channels)
    if frame.format.name == "s16" and channels == 1 and frame.sample_rate == SAMPLE_RATE:
        return frame.to_ndarray().reshape(-1).copy()
    mono = _normalized(frame).mean(axis=1) * _FULL_SCALE
    return to_int16(_resample_linear(mono, frame.sample_rate))


def int16_to_frame(
    pcm: np.ndarray, pts: int | None, sample_rate: int = SAMPLE_RATE
) -> av.AudioFrame:
    """Wrap int16 ``(samples, channels)`` (or ``(samples,)`` mono) PCM as a packed s16 frame."""
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    layout = {1: "mono", 2: "stereo"}.get(channels)
    if layout is None:
        raise ValueError(f"unsupported channel count {channels}")
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


def rms_dbfs(pcm: np.ndarray) -> float:
    """RMS of int16-scale PCM in dBFS (full-scale square wave = 0); ``-inf`` for silence."""
    if pcm.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))
    if rms == 0.0:
        return float("-inf")
    return 20.0 * float(np.log10(rms / _FULL_SCALE))


def level_0_100(pcm: np.ndarray) -> float:
    """ZEGO's ``soundLevel`` (0..100) for int16-scale PCM.

    ZEGO does not publish its curve; we map RMS linearly from -60 dBFS (0) to
    0 dBFS (100), clamped, so silence is 0 and a full-scale sine (-3 dBFS) is 95.
    """
    db = rms_dbfs(pcm)
    if db == float("-inf"):
        return 0.0
    level = (db - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS * 100.0
    return float(min(100.0, max(0.0, level)))
