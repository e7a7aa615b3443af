"""ZEGO Web calls that have no meaning in zego_py, in one place.

They exist so that ported code finds every name it uses; each returns what ZEGO
returns for an unsupported feature: a boolean call returns False, a Promise call
raises ``ZegoError`` 1000010 "not support" (ZEGO's code for a feature the
environment lacks).  Each docstring says why the feature is missing here.
docs/api.md lists them with the rest of the mirror.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from .errors import ErrorCode, ZegoError

__all__ = ["ZegoUnsupportedCalls"]

log = logging.getLogger("zego_py")


def _not_supported(call: str, why: str) -> NoReturn:
    raise ZegoError(ErrorCode.NOT_SUPPORTED, f"{call}: not support ({why})")


class ZegoUnsupportedCalls:
    """Mixed into ZegoExpressEngine: the calls zego_py has by name only."""

    def sendSEI(self, streamID: str, data: bytes) -> bool:  # noqa: N802, N803
        """False: SEI rides inside H.264 NAL units, and the relay forwards VP8 or H.264
        RTP without parsing or rewriting it, so nothing would carry the bytes (use
        sendTransparentMessage for data that must arrive)."""
        log.warning("sendSEI(%r): SEI is not supported; use sendTransparentMessage", streamID)
        return False

    async def useFrontCamera(self, localStream: Any, enable: bool) -> Any:  # noqa: N802, N803
        """Raises 1000010: front/back cameras are a phone's ``facingMode``; a desktop's
        V4L2 cameras have no facing, so pick one with useVideoDevice instead."""
        _not_supported("useFrontCamera", "cameras have no facing mode here; use useVideoDevice")

    async def updatePublishingStream(self, localStream: Any,  # noqa: N802, N803
                                     streamType: int = 0) -> Any:  # noqa: N803
        """Raises 1000010: in ZEGO it renegotiates a publish after the stream's tracks
        changed; zego_py's tracks are fixed when the stream is created, so nothing to do
        that a new createStream + startPublishingStream would not do better."""
        _not_supported("updatePublishingStream", "a local stream's tracks are fixed")

    async def replaceTrack(self, localStream: Any, mediaStreamTrack: Any) -> Any:  # noqa: N802, N803
        """Raises 1000010: a local stream's tracks are fixed at createStream (its source
        can be any aiortc track); switch devices with useAudioDevice/useVideoDevice."""
        _not_supported("replaceTrack", "a local stream's tracks are fixed")

    async def addTrack(self, localStream: Any, mediaStreamTrack: Any) -> Any:  # noqa: N802, N803
        """Raises 1000010: give createStream ``{"custom": {"source": [audio, video]}}``
        for a stream with both kinds; tracks cannot join later."""
        _not_supported("addTrack", "a local stream's tracks are fixed")

    async def removeTrack(self, localStream: Any, mediaStreamTrack: Any) -> Any:  # noqa: N802, N803
        """Raises 1000010: mute the kind instead (mutePublishStreamAudio/Video)."""
        _not_supported("removeTrack", "a local stream's tracks are fixed")

    def setPlayStreamVideoType(self, streamID: str, streamType: int) -> bool:  # noqa: N802, N803
        """False: choosing the big or small layer needs simulcast, and publishers send one
        video layer only."""
        log.warning("setPlayStreamVideoType(%r): no simulcast, one layer only", streamID)
        return False
