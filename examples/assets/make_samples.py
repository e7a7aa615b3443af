"""Make the bots' sample voices in examples/assets/ (the generated WAVs are committed).

    python examples/assets/make_samples.py

Each voice is a few seconds of vowel-like "chanting": a harmonic source on one
fundamental (with a little intonation and vibrato) shaped by vowel formants, cut into
syllables with pauses, so sound-level bars move and every bot can be told apart by its
fundamental in a spectrum.  The fundamentals are chosen so that none lies within 30 Hz
of a harmonic of another (tests find each bot's voice in a mix by FFT).

Output: mono, 16 kHz, 16-bit WAV, about 160 KB each.  Only numpy is needed, and only
here: nothing is synthesised at run time.  Deterministic: same bytes on every run.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RATE", "SECONDS", "VOICES", "Voice", "sample_path", "synthesise"]

RATE = 16000
SECONDS = 5.0
ASSETS = Path(__file__).resolve().parent

# Formant centre frequencies (Hz) and bandwidths of a few vowels, roughly an adult's.
_FORMANTS: dict[str, tuple[tuple[float, float], ...]] = {
    "a": ((730, 90), (1090, 110), (2440, 170)),
    "e": ((530, 60), (1840, 100), (2480, 170)),
    "i": ((300, 50), (2300, 120), (3000, 200)),
    "o": ((570, 70), (840, 90), (2410, 170)),
    "u": ((320, 50), (870, 90), (2240, 160)),
}


@dataclass(frozen=True)
class Voice:
    name: str  # also the bot's display name
    f0: float  # fundamental, Hz
    vowels: str  # the vowels its syllables cycle through
    syllable_s: float  # mean syllable length
    seed: int

    @property
    def filename(self) -> str:
        return f"voice_{self.name}.wav"


VOICES: tuple[Voice, ...] = (
    Voice("ada", 250.0, "aeo", 0.24, 1),
    Voice("ben", 110.0, "oau", 0.30, 2),
    Voice("cleo", 290.0, "iea", 0.20, 3),
    Voice("dan", 160.0, "uoa", 0.27, 4),
)


def sample_path(index: int) -> Path:
    """The WAV of bot ``index`` (0-based); bots beyond the list reuse voices in turn."""
    return ASSETS / VOICES[index % len(VOICES)].filename


def _formant_gain(freqs: np.ndarray, vowel: str) -> np.ndarray:
    gain = np.full_like(freqs, 0.35)
    for centre, width in _FORMANTS[vowel]:
        gain += 1.0 / (1.0 + ((freqs - centre) / width) ** 2)
    return gain


def _syllables(voice: Voice, rng: np.random.Generator) -> list[tuple[float, float, str]]:
    """(start, length, vowel) of each syllable: runs of 3-6 syllables, then a pause."""
    out: list[tuple[float, float, str]] = []
    t = 0.15
    k = 0
    while t < SECONDS - 0.3:
        for _ in range(int(rng.integers(3, 7))):
            length = voice.syllable_s * rng.uniform(0.75, 1.3)
            if t + length > SECONDS - 0.1:
                break
            out.append((t, length, voice.vowels[k % len(voice.vowels)]))
            k += 1
            t += length + rng.uniform(0.04, 0.12)
        t += rng.uniform(0.35, 0.7)  # breath between phrases
    return out


def synthesise(voice: Voice) -> np.ndarray:
    """The voice as int16 PCM at RATE."""
    rng = np.random.default_rng(voice.seed)
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE
    # Slow intonation (+-2 %) and a 5.5 Hz vibrato (+-0.6 %), integrated into a phase.
    f0 = voice.f0 * (1 + 0.02 * np.sin(2 * np.pi * 0.4 * t + voice.seed)
                     + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros(n)
    for start, length, vowel in _syllables(voice, rng):
        a, b = int(start * RATE), min(n, int((start + length) * RATE))
        seg_t = np.arange(b - a) / RATE
        env = np.sin(np.pi * np.clip(seg_t / length, 0, 1)) ** 0.6  # soft attack and release
        harmonics = np.arange(1, int(4000 // voice.f0) + 1)
        amps = _formant_gain(harmonics * voice.f0, vowel) / harmonics**0.9
        seg = np.zeros(b - a)
        for k, amp in zip(harmonics, amps, strict=True):
            seg += amp * np.sin(k * phase[a:b])
        out[a:b] += env * seg
    out += rng.normal(0, 0.002, n)  # a breath of noise so silence isn't digital zero
    out *= 0.5 / np.max(np.abs(out))  # peak at -6 dBFS
    return np.clip(np.rint(out * 32767), -32768, 32767).astype(np.int16)


def main() -> None:
    for voice in VOICES:
        path = ASSETS / voice.filename
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(synthesise(voice).tobytes())
        print(f"{path.name}: {voice.f0:.0f} Hz, {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
