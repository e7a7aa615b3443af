"""Software mixer for playback: many remote streams, one speaker.

PortAudio opens one output stream per device, so every played stream is summed here
first. Producers (the asyncio side, one ``MixerInput`` per stream) ``push`` 48 kHz int16
mono PCM; the PortAudio callback thread calls ``mix``/``mix_into``. Two rules keep the
callback real-time safe:

- it never waits for data: an input that runs short contributes what it has, then silence;
- each input's buffer is bounded (``max_buffer_ms``), dropping the oldest audio, so a
  producer that runs ahead cannot make latency grow without bound;
- a standing backlog is dropped (``backlog.StandingBacklog``, the rule ``AudioSource``
  uses): a network stream pushes at the device's pace, so audio queued while the
  device stalled (PulseAudio's ~1.9 s at open and after an underrun) would otherwise
  stay as up to ``max_buffer_ms`` of latency for good.

Volume is ZEGO's 0..200 percent (100 = unity); the sum saturates instead of wrapping.
"""

from __future__ import annotations

import threading

import numpy as np

from .backlog import StandingBacklog

__all__ = ["DEFAULT_MAX_BUFFER_MS", "Mixer", "MixerInput"]

DEFAULT_MAX_BUFFER_MS = 200
"""Per-input buffer bound: enough to ride out asyncio hiccups, small enough for voice."""

_INT16_MIN = -32768
_INT16_MAX = 32767


class MixerInput:
    """One stream feeding a ``Mixer``: a bounded ring buffer plus volume and mute.

    Created by ``Mixer.add_input``; shares the mixer's lock so ``push`` (asyncio thread)
    and the mix (PortAudio thread) never see a half-updated ring.
    """

    def __init__(
        self,
        key: str,
        *,
        sample_rate: int = 48000,
        max_buffer_ms: int = DEFAULT_MAX_BUFFER_MS,
        lock: threading.Lock | None = None,
    ) -> None:
        if max_buffer_ms <= 0:
            raise ValueError("max_buffer_ms must be positive")
        self.key = key
        self.sample_rate = sample_rate
        self.max_buffer_ms = max_buffer_ms
        self._lock = lock if lock is not None else threading.Lock()
        self._capacity = max(1, sample_rate * max_buffer_ms // 1000)
        self._ring = np.zeros(self._capacity, dtype=np.int16)
        self._start = 0  # index of the oldest queued sample
        self._size = 0  # samples queued
        self._volume = 100
        self.muted = False
        """Muted inputs are still drained (so unmuting resumes live audio) but add nothing."""
        self.dropped_samples = 0
        """Samples discarded because the buffer was full (a producer running ahead) or
        stood as a backlog behind a paced producer."""
        # No wall-clock rate rule: the far sender paces a network stream, and jitter
        # bursts would only delay dropping what a device stall left queued.
        self._backlog = StandingBacklog(horizon=None)

    @property
    def volume(self) -> int:
        """Playback volume in percent, 0..200 (ZEGO's ``setPlayVolume`` scale)."""
        return self._volume

    @volume.setter
    def volume(self, value: int) -> None:
        self._volume = int(min(200, max(0, int(value))))

    @property
    def capacity(self) -> int:
        """Buffer bound in samples."""
        return self._capacity

    @property
    def queued_samples(self) -> int:
        """Samples waiting to be mixed."""
        with self._lock:
            return self._size

    def push(self, pcm: np.ndarray) -> None:
        """Queue int16 mono PCM of any length; the oldest audio goes if it would overflow."""
        data = np.asarray(pcm)
        if data.dtype != np.int16:
            raise TypeError(f"MixerInput.push expects int16 PCM, got {data.dtype}")
        data = data.reshape(-1)
        n = data.size
        if n == 0:
            return
        cap = self._capacity
        with self._lock:
            self._backlog.pushed(n)
            if n >= cap:
                # Only the newest `cap` samples can survive; everything queued goes too.
                self.dropped_samples += self._size + n - cap
                self._ring[:] = data[n - cap :]
                self._start = 0
                self._size = cap
                return
            overflow = self._size + n - cap
            if overflow > 0:
                self._start = (self._start + overflow) % cap
                self._size -= overflow
                self.dropped_samples += overflow
            end = (self._start + self._size) % cap
            first = min(n, cap - end)
            self._ring[end : end + first] = data[:first]
            if first < n:
                self._ring[: n - first] = data[first:]
            self._size += n

    def clear(self) -> None:
        """Drop everything queued (e.g. when the stream is stopped or re-played)."""
        with self._lock:
            self._start = 0
            self._size = 0
            self._backlog.reset()

    def _take_into(self, acc: np.ndarray, scratch: np.ndarray) -> None:
        """Add up to ``len(acc)`` queued samples, scaled by volume, into ``acc`` (int32).

        Caller holds the lock. Consumes the samples even when muted or at volume 0.
        """
        self._take_samples_into(acc, scratch)
        surplus = self._backlog.observe(self._size, acc.size)
        if surplus:
            self._start = (self._start + surplus) % self._capacity
            self._size -= surplus
            self.dropped_samples += surplus

    def _take_samples_into(self, acc: np.ndarray, scratch: np.ndarray) -> None:
        n = min(acc.size, self._size)
        if n == 0:
            return
        cap = self._capacity
        first = min(n, cap - self._start)
        audible = not self.muted and self._volume > 0
        if audible:
            segments = [(0, self._ring[self._start : self._start + first])]
            if first < n:
                segments.append((first, self._ring[: n - first]))
            volume = self._volume
            for offset, seg in segments:
                if volume == 100:
                    acc[offset : offset + seg.size] += seg
                else:
                    tmp = scratch[: seg.size]
                    np.copyto(tmp, seg)  # widen to int32 before scaling: 200 % overflows int16
                    tmp *= volume
                    tmp //= 100
                    acc[offset : offset + seg.size] += tmp
        self._start = (self._start + n) % cap
        self._size -= n


class Mixer:
    """Sums ``MixerInput`` streams into int16 mono blocks for a speaker callback.

    Thread-safe: inputs are added/removed/pushed from asyncio while the PortAudio thread
    mixes. Has no threads or I/O of its own.
    """

    def __init__(
        self, sample_rate: int = 48000, max_buffer_ms: int = DEFAULT_MAX_BUFFER_MS
    ) -> None:
        self.sample_rate = sample_rate
        self.max_buffer_ms = max_buffer_ms
        self._lock = threading.Lock()
        self._inputs: dict[str, MixerInput] = {}
        self._acc = np.zeros(0, dtype=np.int32)
        self._scratch = np.zeros(0, dtype=np.int32)

    def add_input(self, key: str, *, max_buffer_ms: int | None = None) -> MixerInput:
        """Register a stream and return its input; an existing key returns the same input."""
        with self._lock:
            existing = self._inputs.get(key)
            if existing is not None:
                return existing
            inp = MixerInput(
                key,
                sample_rate=self.sample_rate,
                max_buffer_ms=self.max_buffer_ms if max_buffer_ms is None else max_buffer_ms,
                lock=self._lock,
            )
            self._inputs[key] = inp
            return inp

    def remove_input(self, key: str) -> None:
        """Stop mixing a stream; unknown keys are ignored so teardown can be repeated."""
        with self._lock:
            self._inputs.pop(key, None)

    def get_input(self, key: str) -> MixerInput | None:
        """The input registered under ``key``, if any."""
        with self._lock:
            return self._inputs.get(key)

    def keys(self) -> list[str]:
        """Keys of the inputs currently mixed."""
        with self._lock:
            return list(self._inputs)

    def __bool__(self) -> bool:  # an empty mixer is still a mixer (len() would say False)
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._inputs)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._inputs

    def mix(self, frames: int) -> np.ndarray:
        """Mix the next ``frames`` samples into a new int16 mono array (never blocks on data)."""
        out = np.empty(max(0, frames), dtype=np.int16)
        self.mix_into(out)
        return out

    def mix_into(self, out: np.ndarray) -> None:
        """Mix ``len(out)`` samples into a caller-owned int16 array (e.g. PortAudio's buffer).

        Allocation-free once the scratch buffers have grown to the callback's block size.
        """
        frames = out.size
        if frames == 0:
            return
        with self._lock:
            if self._acc.size < frames:
                self._acc = np.zeros(frames, dtype=np.int32)
                self._scratch = np.zeros(frames, dtype=np.int32)
            acc = self._acc[:frames]
            acc.fill(0)
            for inp in self._inputs.values():
                inp._take_into(acc, self._scratch)
            np.clip(acc, _INT16_MIN, _INT16_MAX, out=acc)
            np.copyto(out, acc.reshape(out.shape), casting="unsafe")  # already clipped
