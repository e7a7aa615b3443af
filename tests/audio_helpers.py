"""Signal measurements shared by the audio tests."""

from __future__ import annotations

import numpy as np

__all__ = ["dominant_frequency", "rms_dbfs"]


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, Hann-windowed to limit leakage."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1.0 / rate)[int(np.argmax(spectrum))])


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS of int16-scale samples in dBFS (full-scale square = 0); -inf for silence."""
    x = np.asarray(samples, dtype=np.float64)
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return 20.0 * float(np.log10(rms / 32768.0)) if rms > 0 else float("-inf")
