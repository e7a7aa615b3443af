"""exceptionUpdate's volume codes (ZEGO Web's ExceptionCode): a captured or a played
stream that stays silent, and its return to normal.

ZEGO does not publish its rule.  Here "too low" is ZEGO's soundLevel 0 (below -60 dBFS
RMS: digital silence, a dead or muted-at-the-source microphone, a path delivering
nothing audible) at every sample for ``LOW_AFTER_S``; one audible sample is "normal"
again.  A voice chat's pauses are not silent at that level (room noise), a muted
microphone is not sampled.  Sans I/O: the controller samples and emits.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CAPTURE", "LOW_AFTER_S", "MESSAGES", "RECEIVE", "SilenceTracker"]

LOW_AFTER_S = 5.0
CAPTURE = (1002, 2002)  # captureVolumeToLow, captureVolumeNormal
RECEIVE = (1006, 2006)  # receiveVolumeToLow, receiveVolumeNormal
MESSAGES = {1002: "captureVolumeToLow", 2002: "captureVolumeNormal",
            1006: "receiveVolumeToLow", 2006: "receiveVolumeNormal"}


@dataclass
class SilenceTracker:
    """One stream's state; ``codes`` is CAPTURE or RECEIVE."""

    codes: tuple[int, int]
    silent_since: float | None = None
    low: bool = False

    def sample(self, level: float, now: float) -> int | None:
        """The code to report now, if the state changed."""
        if level > 0:
            self.silent_since = None
            if self.low:
                self.low = False
                return self.codes[1]
            return None
        if self.silent_since is None:
            self.silent_since = now
        if not self.low and now - self.silent_since >= LOW_AFTER_S:
            self.low = True
            return self.codes[0]
        return None

    def reset(self) -> None:
        """Not sampled now (muted, or not yet flowing): the silence clock restarts."""
        self.silent_since = None
