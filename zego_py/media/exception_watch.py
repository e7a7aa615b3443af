"""ZEGO's ``exceptionUpdate(stream, {code, message})``: a condition starts (10xx) or ends (20xx).

ZEGO Web reports media anomalies per stream with the codes of its ``ExceptionCode``
enum; zego_py emits the audio ones it can see, from the engine's 3 s quality loop:

- 1002 / 2002, captureVolumeToLow / captureVolumeNormal: a publishing, unmuted stream's
  captured level stayed below ``LOW_LEVEL`` for a whole interval (a dead microphone,
  ``setCaptureVolume(0)``);
- 1006 / 2006, receiveVolumeToLow / receiveVolumeNormal: a playing stream's decoded
  level stayed below ``LOW_LEVEL`` for a whole interval;
- 1007 / 2007, receiveAudioDecodedFail / receiveAudioDecodedNormal: a playing stream
  decoded no audio for a whole interval.

The first argument is the stream the condition is about: the ``ZegoLocalStream`` for
capture, the ``ZegoRemoteStream`` for receive (ZEGO passes the MediaStream).  Video
codes (captureFps, sendVideoBitrate, render...) have no meaning without video.
"""

from __future__ import annotations

import weakref
from enum import IntEnum
from typing import Any

__all__ = ["ExceptionCode", "ExceptionWatch", "LOW_LEVEL"]

LOW_LEVEL = 1.0
"""ZEGO soundLevel (0..100) below which audio counts as silent: about -59 dBFS."""


class ExceptionCode(IntEnum):
    """ZEGO Web's ``ExceptionCode`` values for audio; a start code + 1000 is its end."""

    captureVolumeToLow = 1002
    receiveVolumeToLow = 1006
    receiveAudioDecodedFail = 1007
    captureVolumeNormal = 2002
    receiveVolumeNormal = 2006
    receiveAudioDecodedNormal = 2007


class ExceptionWatch:
    """Which conditions hold for which stream; ``update`` says when one starts or ends."""

    def __init__(self) -> None:
        self._holding: weakref.WeakKeyDictionary[Any, set[ExceptionCode]] = (
            weakref.WeakKeyDictionary())

    def update(self, stream: Any, start: ExceptionCode, holds: bool) -> dict[str, Any] | None:
        """ZEGO's eventData when ``start``'s condition changed for ``stream``, else None."""
        holding = self._holding.setdefault(stream, set())
        if holds == (start in holding):
            return None
        if holds:
            holding.add(start)
            code = start
        else:
            holding.discard(start)
            code = ExceptionCode(start + 1000)
        return {"code": int(code), "message": code.name}
