"""Signal generation and measurement shared by the audio tests.

Tests verify audio by content (which tones, how loud) rather than by bytes, because codecs,
resamplers and sound servers never give bit-exact output. All functions accept int16-scale
samples (int16 or float arrays, any shape; they are flattened) unless noted.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

__all__ = [
    "FULL_SCALE",
    "dominant_frequency",
    "peak_dbfs",
    "rms_dbfs",
    "sine",
    "tone_amplitude",
    "write_wav",
]

FULL_SCALE = 32768.0
"""int16 full scale: amplitudes below are fractions of it."""


def sine(
    freq: float,
    samples: int,
    rate: int = 48000,
    amplitude: float = 0.5,
    start: int = 0,
) -> np.ndarray:
    """int16 mono sine of ``amplitude`` (fraction of full scale); ``start`` continues the phase."""
    n = np.arange(start, start + samples, dtype=np.float64)
    x = amplitude * FULL_SCALE * np.sin(2.0 * np.pi * freq * n / rate)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _flat(samples: np.ndarray) -> np.ndarray:
    return np.asarray(samples, dtype=np.float64).reshape(-1)


def dominant_frequency(samples: np.ndarray, rate: int, min_freq: float = 0.0) -> float:
    """Frequency (Hz) of the strongest spectral peak at or above ``min_freq``.

    Hann-windowed to limit leakage, mean removed, and refined by parabolic interpolation on
    the log magnitude, so it resolves well below one FFT bin (rate / len).
    """
    x = _flat(samples)
    if x.size < 4:
        raise ValueError("need at least 4 samples")
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    first = max(1, math.ceil(min_freq * x.size / rate))
    k = first + int(np.argmax(spectrum[first:]))
    offset = 0.0
    if 0 < k < spectrum.size - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom < 0:
            offset = float(0.5 * (a - c) / denom)
    return (k + offset) * rate / x.size


def tone_amplitude(
    samples: np.ndarray, rate: int, freq: float, bandwidth_hz: float | None = None
) -> float:
    """Peak amplitude (fraction of full scale) of the component near ``freq``.

    Sums Hann-windowed spectral energy within ±``bandwidth_hz`` (default: 4 bins, the main
    lobe plus margin), so the answer doesn't depend on where ``freq`` falls between bins.
    Other tones must be farther away than the bandwidth.
    """
    x = _flat(samples)
    window = np.hanning(x.size)
    spectrum = np.fft.rfft(x * window)
    bin_hz = rate / x.size
    width = bandwidth_hz if bandwidth_hz is not None else 4 * bin_hz
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    band = (freqs >= freq - width) & (freqs <= freq + width)
    energy = float(np.sum(np.abs(spectrum[band]) ** 2))
    # Parseval: a sine of amplitude A puts N * A^2 * sum(w^2) / 4 into the positive half.
    amplitude = math.sqrt(4.0 * energy / (x.size * float(np.sum(window**2))))
    return amplitude / FULL_SCALE


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS of int16-scale samples in dBFS (full-scale square = 0); -inf for silence."""
    x = np.asarray(samples, dtype=np.float64)
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return 20.0 * float(np.log10(rms / FULL_SCALE)) if rms > 0 else float("-inf")


def peak_dbfs(samples: np.ndarray) -> float:
    """Largest absolute sample in dBFS; -inf for silence."""
    x = _flat(samples)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return 20.0 * math.log10(peak / FULL_SCALE) if peak > 0 else float("-inf")


def write_wav(path: Path | str, samples: np.ndarray, rate: int = 48000) -> Path:
    """Write int16 PCM, shaped ``(n,)`` or ``(n, channels)``, as a WAV file for paplay & co."""
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    out = Path(path)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())
    return out
