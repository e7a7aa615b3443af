"""Spectral checks for tests that verify audio by its content."""

from __future__ import annotations

import numpy as np


def band_levels(samples: np.ndarray, freqs: list[float], rate: int = 48000,
                width_hz: float = 15.0) -> dict[float, float]:
    """Energy near each frequency, in dB relative to the strongest bin of the signal."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    bins = np.fft.rfftfreq(len(x), 1 / rate)
    ref = spectrum.max() + 1e-12
    out = {}
    for f in freqs:
        band = spectrum[(bins > f - width_hz) & (bins < f + width_hz)]
        out[f] = 20 * np.log10((band.max() if band.size else 0) / ref + 1e-12)
    return out


def tones_present(samples: np.ndarray, candidates: list[float], rate: int = 48000,
                  threshold_db: float = -20.0) -> set[float]:
    """The candidate frequencies whose band peak is within ``threshold_db`` of the maximum."""
    return {f for f, db in band_levels(samples, candidates, rate).items() if db > threshold_db}
