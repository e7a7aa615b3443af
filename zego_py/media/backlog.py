"""When an ``AudioSource``'s queue is a standing latency, and how much of it to drop.

A push source has two kinds of producer.  One that is *ahead* (a TTS pushing an
utterance faster than real time) fills the queue and then waits in ``captureFrame``
for room, or stops pushing and lets the queue drain: every queued sample must play.
One that *keeps pace* (20 ms every 20 ms: a relayed call, a live transcoder) and had
some audio queued before the sender started pulling, or caught up after a stall,
leaves a backlog that never drains: every later frame waits behind it.

``StandingBacklog`` sees the queue once per frame the sender takes.  The backlog is
standing when, for ``window`` frames in a row (0.5 s):

1. no ``captureFrame`` had to wait for room (a producer that waits is ahead);
2. the queue never fell to ``threshold`` or below;
3. the producer pushed at least ``min_pushes`` times, and as much as the sender took
   (within ``tolerance``, widened by its chunk size beyond one frame): it keeps pace;
4. the queue stayed within that band apart from the odd outlier (10 % each side: a late
   push or pull on a loaded event loop).  A queue that filled and then drained, as
   around a TTS burst, moves by far more.

Then the window's low-water mark is surplus and is dropped.  Pure bookkeeping, no
I/O: the source decides where to cut (docs/audio-devices.md, "AudioSource pacing").
"""

from __future__ import annotations

from collections import deque

from .pcm import FRAME_SAMPLES, SAMPLE_RATE

__all__ = ["StandingBacklog"]

_MS = SAMPLE_RATE // 1000


class StandingBacklog:
    """Decides, frame by frame, how many queued samples are a standing latency."""

    def __init__(
        self,
        window: int = 25,
        threshold: int = 10 * _MS,
        tolerance: int = FRAME_SAMPLES + 10 * _MS,
        min_pushes: int = 4,
    ) -> None:
        self.window = window  # frames (25 = 0.5 s): leaves time to recover within 1 s
        self.threshold = threshold  # samples: below it the wait is within one frame's phase
        self.tolerance = tolerance  # samples: a paced producer's jitter crosses one frame
        self.min_pushes = min_pushes  # a paced producer pushes at least every 100 ms
        self._depths: deque[int] = deque(maxlen=window)
        self._taken: deque[int] = deque(maxlen=window)  # samples the consumer asked for
        self._pushes: deque[list[int]] = deque(maxlen=window)  # chunk sizes, per frame
        self._pending: list[int] = []

    def pushed(self, samples: int) -> None:
        """``captureFrame`` queued ``samples`` at once."""
        self._pending.append(samples)

    def producer_waited(self) -> None:
        """``captureFrame`` had to wait for room: the producer is ahead, nothing is surplus."""
        self.reset()

    def reset(self) -> None:
        """Forget the history (after ``clearQueue``)."""
        self._depths.clear()
        self._taken.clear()
        self._pushes.clear()
        self._pending = []

    def observe(self, queued: int, taken: int = FRAME_SAMPLES) -> int:
        """Samples still queued after the consumer asked for ``taken``; returns how many
        to drop."""
        self._depths.append(queued)
        self._taken.append(taken)
        self._pushes.append(self._pending)
        self._pending = []
        if len(self._depths) < self.window or not self._standing():
            return 0
        low = min(self._depths)
        self.reset()
        return low

    def _standing(self) -> bool:
        if min(self._depths) <= self.threshold:
            return False
        chunks = [n for frame in self._pushes for n in frame]
        if len(chunks) < self.min_pushes:
            return False  # one big push draining is a TTS, not a paced producer
        # A producer pushing 60 ms every 60 ms moves the queue by 40 ms each cycle while
        # keeping pace, so the band widens by its chunk size beyond one frame.
        band = self.tolerance + max(0, max(chunks) - max(self._taken))
        if abs(sum(chunks) - sum(self._taken)) > band:
            return False  # pushing faster (ahead) or slower (draining) than the sender
        ordered = sorted(self._depths)
        trim = len(ordered) // 10  # a loaded loop's odd late push or pull is not a trend
        return ordered[-1 - trim] - ordered[trim] <= band
