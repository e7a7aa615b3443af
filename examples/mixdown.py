"""What a listener hears, rebuilt from the played streams' ``audioFrames()``.

``MixRecorder`` writes the mix of every played stream to a WAV file (``--record``): each
stream's 20 ms frames are laid end to end on one timeline from the moment its first frame
arrived, summed with the others, and written out half a second behind real time.  It only
uses the public ``ZegoRemoteStream.audioFrames()`` iterator.
"""

from __future__ import annotations

import asyncio
import math
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["MixRecorder"]

RATE = 48000


class MixRecorder:
    """Mixes streams onto one timeline and streams it to a mono 48 kHz 16-bit WAV.

    Sample 0 is when the recorder was made.  A stream's first frame lands at "now"; later
    frames follow it back to back (so network jitter does not punch holes in the audio),
    unless the stream fell silent for longer than ``resync_s``, when it restarts at now.
    Audio older than ``hold_s`` is final and goes to disk.
    """

    def __init__(self, path: str | Path, hold_s: float = 0.5, resync_s: float = 0.3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._t0 = clock()
        self._hold = int(hold_s * RATE)
        self._resync = int(resync_s * RATE)
        self._buf = np.zeros(0, dtype=np.int32)
        self._buf_start = 0  # timeline index of _buf[0]; everything before is on disk
        self._next: dict[str, int] = {}  # per stream: where its next frame goes
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(RATE)
        self._sum_squares = 0.0
        self._peak = 0
        self.samples_written = 0
        self._closed = False

    def _now(self) -> int:
        return int((self._clock() - self._t0) * RATE)

    def add(self, key: str, pcm: np.ndarray) -> None:
        """One frame of stream ``key`` (int16 mono at 48 kHz), just received."""
        if self._closed:
            return
        data = np.asarray(pcm, dtype=np.int16).reshape(-1)
        now = self._now()
        pos = self._next.get(key)
        if pos is None or pos < now - self._resync or pos < self._buf_start:
            pos = max(now, self._buf_start)
        end = pos + data.size
        need = end - self._buf_start
        if need > self._buf.size:
            self._buf = np.concatenate([self._buf, np.zeros(need - self._buf.size, np.int32)])
        self._buf[pos - self._buf_start:end - self._buf_start] += data
        self._next[key] = end
        if need > 2 * self._hold:
            self.flush()

    def remove(self, key: str) -> None:
        self._next.pop(key, None)

    def flush(self, final: bool = False) -> None:
        """Write out what can no longer change (everything, when ``final``)."""
        if self._closed:
            return
        now = self._now()
        upto = max(now, self._buf_start + self._buf.size) if final else now - self._hold
        count = upto - self._buf_start
        if count <= 0:
            return
        if count > self._buf.size:
            self._buf = np.concatenate([self._buf, np.zeros(count - self._buf.size, np.int32)])
        out = np.clip(self._buf[:count], -32768, 32767).astype(np.int16)
        self._wav.writeframes(out.tobytes())
        self._sum_squares += float(np.sum(np.square(out.astype(np.float64))))
        self._peak = max(self._peak, int(np.max(np.abs(out.astype(np.int32)))))
        self.samples_written += count
        self._buf = self._buf[count:].copy()
        self._buf_start = upto

    async def run(self, interval_s: float = 0.25) -> None:
        """Keep writing while nothing arrives (silence is part of what was heard)."""
        while True:
            await asyncio.sleep(interval_s)
            self.flush()

    def close(self) -> None:
        if self._closed:
            return
        self.flush(final=True)
        self._closed = True
        self._wav.close()

    @property
    def seconds(self) -> float:
        return self.samples_written / RATE

    @property
    def rms_dbfs(self) -> float:
        if not self.samples_written or self._sum_squares == 0:
            return float("-inf")
        return 20 * math.log10(math.sqrt(self._sum_squares / self.samples_written) / 32768)

    def describe(self) -> str:
        return f"{self.path} ({self.seconds:.1f} s, {self.rms_dbfs:.1f} dBFS rms)"
