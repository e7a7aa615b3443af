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
   around a TTS burst, moves by far more;
5. in the ``horizon`` (1.5 s of wall time) up to its last push the producer pushed real
   time's worth, within one chunk.  One 0.5 s window cannot tell a producer at 1.0x
   from a TTS at 1.05x (20 ms chunks) or 1.2x (100 ms chunks): the difference is
   within a chunk's phase, and such a TTS lost its tail or 20 ms slices of its speech.
   Over 1.5 s it can; a paced producer that stalled and caught up is back at real
   time's worth once it caught up, so this costs the stall recovery nothing.  And the
   producer is still pushing (its last push no later than its usual interval and a
   frame): a producer that stopped, a TTS at the end of an utterance, leaves a queue
   that drains by itself and must play to the end.

Then the window's low-water mark is surplus and is dropped.  Pure bookkeeping on an
injectable clock, no I/O: the source decides where to cut (docs/audio-devices.md,
"AudioSource pacing").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

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
        horizon: float | None = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window  # frames (25 = 0.5 s): leaves time to recover within 1 s
        self.threshold = threshold  # samples: below it the wait is within one frame's phase
        self.tolerance = tolerance  # samples: a paced producer's jitter crosses one frame
        self.min_pushes = min_pushes  # a paced producer pushes at least every 100 ms
        # Seconds of pushes that show the producer's rate; None skips rule 5 (a mixer
        # input: a network stream is paced by the far sender, never a TTS ahead).
        self.horizon = horizon
        self._clock = clock
        self._history: deque[tuple[float, int]] = deque()  # (time, samples) per push
        self._since: float | None = None  # time of the first push since reset()
        self._depths: deque[int] = deque(maxlen=window)
        self._taken: deque[int] = deque(maxlen=window)  # samples the consumer asked for
        self._pushes: deque[list[int]] = deque(maxlen=window)  # chunk sizes, per frame
        self._pending: list[int] = []

    def pushed(self, samples: int) -> None:
        """``captureFrame`` queued ``samples`` at once."""
        self._pending.append(samples)
        if self.horizon is None:
            return
        now = self._clock()
        if self._since is None:
            self._since = now
        self._history.append((now, samples))
        self._prune(now, self.horizon)

    def producer_waited(self) -> None:
        """``captureFrame`` had to wait for room: the producer is ahead, nothing is surplus."""
        self.reset()

    def reset(self) -> None:
        """Forget the history (after ``clearQueue``)."""
        self._forget_window()
        self._history.clear()
        self._since = None

    def _prune(self, now: float, horizon: float) -> None:
        """Keep two horizons: the one before the last push, and time since it."""
        while self._history and self._history[0][0] <= now - 2 * horizon:
            self._history.popleft()

    def _forget_window(self) -> None:
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
        self._forget_window()  # the producer's rate (its push history) is unchanged
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
        if ordered[-1 - trim] - ordered[trim] > band:
            return False
        return self._real_time_over_horizon()

    def _real_time_over_horizon(self) -> bool:
        """The producer is still pushing, and pushed ``horizon`` seconds' worth in the
        ``horizon`` up to its last push."""
        horizon = self.horizon
        if horizon is None:
            return True
        now = self._clock()
        self._prune(now, horizon)
        if self._since is None or not self._history:
            return False
        last = self._history[-1][0]
        if last - self._since < horizon:
            # Too little history to tell 1.0x from a TTS slightly ahead: over 0.5-1 s a
            # TTS in 60-160 ms chunks at 1.05-1.1x lost a slice at its start.
            return False
        span = horizon
        recent = [n for t, n in self._history if t > last - span]
        interval = span / len(recent)
        if now - last > interval + FRAME_SAMPLES / SAMPLE_RATE:
            return False  # it stopped: nothing new waits behind the queue, let it drain
        # Pushes on the wall clock's lattice put a whole number of chunks in the span, a
        # late one on a loaded loop one fewer or more.  Ending the span at the last push,
        # not now, keeps a TTS that just stopped from looking paced while its surplus
        # leaves the span a frame at a time (it lost its tail that way).
        return abs(sum(recent) - span * SAMPLE_RATE) <= max(recent)
