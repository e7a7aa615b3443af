"""playerAudioTrackUpdate's track: a played stream's decoded audio as an aiortc track.

ZEGO Web hands out the received MediaStreamTrack.  Here the received aiortc track is
not the audio (players read RTP before aiortc's jitter buffer, playout.py), and the
played stream's own track already has a reader; so each update gets a new track fed by
one ``audioFrames()`` subscription of the remote stream: mono 48 kHz s16 frames, 20 ms
each, that any aiortc consumer (a recorder, another peer) can read.  It subscribes on
the first ``recv()``, so a track nobody reads costs nothing.
"""

from __future__ import annotations

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .pcm import SAMPLE_RATE, int16_to_frame
from .remote_stream import ZegoRemoteStream

__all__ = ["RemoteAudioTrack"]


class RemoteAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, remote: ZegoRemoteStream) -> None:
        super().__init__()
        self._frames = remote.audioFrames()
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            pcm = await self._frames.__anext__()
        except StopAsyncIteration:
            self.stop()
            raise MediaStreamError from None
        frame = int16_to_frame(pcm, self._pts, SAMPLE_RATE)
        self._pts += pcm.shape[0]
        return frame
