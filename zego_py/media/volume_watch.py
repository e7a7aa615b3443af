"""exceptionUpdate's volume codes (ZEGO Web's ExceptionCode): a captured or a played
stream that stays silent, and its return to normal.

ZEGO does not publish its rule.  Here "too low" is ZEGO's soundLevel 0 (below -60 dBFS
RMS: digital silence, a dead or muted-at-the-source microphone, a path delivering
nothing audible) at every sample for ``LOW_AFTER_S``; one audible sample is "normal"
again.  A voice chat's pauses are not silent at that level (room noise), a muted
microphone is not sampled.  ``SilenceTracker`` is the rule, sans I/O; ``VolumeWatch``
applies it to an engine's streams each time the controller's watchdog samples them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..enums import PlayerState, PublisherState

if TYPE_CHECKING:  # only for annotations: the watch reads their state and levels
    from .player import Player
    from .publisher import Publisher

__all__ = ["CAPTURE", "LOW_AFTER_S", "MESSAGES", "RECEIVE", "SilenceTracker", "VolumeWatch"]

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


class VolumeWatch:
    """exceptionUpdate(stream, {code, message}) for an engine's publishers and players."""

    def __init__(self, emit: Callable[..., None]) -> None:
        self._emit = emit
        self._trackers: dict[object, SilenceTracker] = {}

    def check(self, now: float, publishers: Iterable[Publisher],
              players: Iterable[Player]) -> None:
        live: list[tuple[object, Any, bool, tuple[int, int], float]] = [
            (p, p.local, p.state == PublisherState.PUBLISHING and p.local.source is not None
             and not p.local.muted, CAPTURE, p.local.level) for p in publishers]
        live += [(p, p.remote, p.state == PlayerState.PLAYING and p.remote.frames_received > 0,
                  RECEIVE, p.remote.level) for p in players]
        self._trackers = {stream: self._trackers.get(stream) or SilenceTracker(codes)
                          for stream, _, _, codes, _ in live}
        for stream, media, sampled, _, level in live:
            tracker = self._trackers[stream]
            if not sampled:
                tracker.reset()
                continue
            code = tracker.sample(level, now)
            if code is not None:
                self._emit("exceptionUpdate", media, {"code": code, "message": MESSAGES[code]})
