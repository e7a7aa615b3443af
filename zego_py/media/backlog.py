"""When an ``AudioSource``'s queue is a standing latency, and how much of it to drop.

A push source has two kinds of producer.  One that is *ahead* (a TTS pushing an
utterance faster than real time) fills the queue and then waits in ``captureFrame``
for room, or stops pushing and lets the queue drain: every queued sample must play.
One that *keeps pace* (20 ms every 20 ms: a relayed call, a live transcoder) and had
some audio queued before the sender started pulling, or caught up after a stall,
leaves a backlog that never drains: every later frame waits behind it.

``StandingBacklog`` sees the queue once per frame the sender takes.  The backlog is
standing when, for ``window`` frames in a row: no ``captureFrame`` had to wait for
room, the queue never fell to ``threshold`` or below, and it stayed within a band of
``tolerance`` apart from the odd outlier (10 % each side: a late push or pull on a
loaded event loop): the producer pushed at the rate the sender took.  A queue that
filled and then drained, as around a burst, moves by far more.
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
    ) -> None:
        self.window = window  # frames (25 = 0.5 s): leaves time to recover within 1 s
        self.threshold = threshold  # samples: below it the wait is within one frame's phase
        self.tolerance = tolerance  # samples: a paced producer's jitter crosses one frame
        self._depths: deque[int] = deque(maxlen=window)

    def producer_waited(self) -> None:
        """``captureFrame`` had to wait for room: the producer is ahead, nothing is surplus."""
        self._depths.clear()

    def reset(self) -> None:
        """Forget the history (after ``clearQueue``)."""
        self._depths.clear()

    def observe(self, queued: int) -> int:
        """Samples still queued after the sender took a frame; returns how many to drop."""
        self._depths.append(queued)
        if len(self._depths) < self.window:
            return 0
        ordered = sorted(self._depths)
        low = ordered[0]
        trim = len(ordered) // 10  # a loaded loop's odd late push or pull is not a trend
        steady = ordered[-1 - trim] - ordered[trim] <= self.tolerance
        if low <= self.threshold or not steady:
            return 0
        self._depths.clear()
        return low
