"""A played stream's video receive path: RTP tap -> whole frames -> decoder.

``VideoPlayoutTrack`` replaces aiortc's receive-side video buffering and decoding.
aiortc's video ``JitterBuffer`` hands a frame to its decoder only when the next frame's
first packet arrives, one frame interval (33 ms at 30 fps) late; here each frame is
decoded on the packet that completes it (video_inbound.py).  After a loss it shows
nothing until the next keyframe (a freeze, not a smeared picture, as browsers do) and
asks for one.  Decoding runs inline: a VP8 640x360 frame takes ~2 ms.
"""

from __future__ import annotations

import asyncio
import fractions

import av
import av.error
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from .video_frames import EncodedFrame
from .video_inbound import VideoInbound, VideoParams

__all__ = ["VideoPlayoutTrack"]

_TIME_BASE = fractions.Fraction(1, 90000)
# Decoded frames waiting for the consumer; the oldest go first (late video is useless).
_QUEUE_FRAMES = 4
_DECODERS = {"VP8": "libvpx", "H264": "h264"}


class VideoPlayoutTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, receiver: RTCRtpReceiver, params: VideoParams) -> None:
        super().__init__()
        self._decoder: av.VideoCodecContext = av.CodecContext.create(  # type: ignore[assignment]
            _DECODERS[params.codec], "r")
        self._queue: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue(_QUEUE_FRAMES)
        self._waiting_for_keyframe = True
        self.frames_dropped = 0  # decoded but replaced before the consumer took them
        self.last_frame_at = asyncio.get_running_loop().time()
        self.inbound = VideoInbound(receiver, params, self._on_frame)

    def _on_frame(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if frame.after_loss:
            self._waiting_for_keyframe = True
        if self._waiting_for_keyframe:
            if not frame.keyframe:
                self.inbound.request_keyframe()
                return
            self._waiting_for_keyframe = False
        packet = av.Packet(frame.data)
        packet.pts, packet.time_base = frame.timestamp, _TIME_BASE
        try:
            decoded = self._decoder.decode(packet)
        except av.error.FFmpegError:
            self._waiting_for_keyframe = True
            self.inbound.request_keyframe()
            return
        for video in decoded:
            self.last_frame_at = asyncio.get_running_loop().time()
            self._put(video)

    def _put(self, item: av.VideoFrame | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.frames_dropped += 1
        self._queue.put_nowait(item)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._put(None)
        super().stop()
        self.inbound.close()
