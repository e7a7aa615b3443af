"""One incoming video RTP stream on an aiortc receiver, as whole encoded frames.

Shared by the relay (which forwards the frames) and by players (which decode them):
the receiver is tapped before aiortc's jitter buffer (rtp_tap), RTX retransmissions
are unwrapped, ``video_frames.FrameAssembler`` releases each frame on the packet that
completes it, and keyframe requests (RTCP PLI) are merged to at most one per
``KEYFRAME_MIN_INTERVAL_S``.  aiortc's NACK generator keeps running behind the tap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket, unwrap_rtx
from aiortc.sdp import SessionDescription

from .rtp_tap import tap_receiver
from .video_frames import EncodedFrame, FrameAssembler

__all__ = ["KEYFRAME_MIN_INTERVAL_S", "VideoInbound", "VideoParams", "video_params_of"]

# The sender gets at most one keyframe request (PLI) this often, whoever asks.
KEYFRAME_MIN_INTERVAL_S = 0.25


@dataclass(frozen=True)
class VideoParams:
    codec: str  # "VP8" or "H264"
    payload_type: int
    rtx_payload_type: int | None


def video_params_of(sdp: str) -> VideoParams | None:
    """The negotiated video codec of an SDP (its first VP8/H.264 and that one's RTX)."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind != "video" or media.direction == "inactive":
            continue
        main = next((c for c in media.rtp.codecs if c.name.lower() != "rtx"), None)
        if main is None or main.payloadType is None or main.name.upper() not in ("VP8", "H264"):
            return None
        rtx = next((c.payloadType for c in media.rtp.codecs if c.name.lower() == "rtx"
                    and c.parameters.get("apt") == main.payloadType), None)
        return VideoParams(main.name.upper(), main.payloadType, rtx)
    return None


class VideoInbound:
    """Calls ``on_frame`` with each whole frame that arrives on ``receiver``."""

    def __init__(self, receiver: RTCRtpReceiver, params: VideoParams,
                 on_frame: Callable[[EncodedFrame], None]) -> None:
        self.params = params
        self.codec = params.codec
        self.assembler = FrameAssembler(params.codec)
        self.receiver: RTCRtpReceiver | None = receiver
        self.ssrc: int | None = None
        self.frames_in = 0
        self.keyframes_in = 0
        self.plis_sent = 0
        self.payload_bytes = 0
        self.last_packet_at = asyncio.get_running_loop().time()  # for the media watchdog
        self._on_frame = on_frame
        self._last_pli = -KEYFRAME_MIN_INTERVAL_S
        self._pli_timer: asyncio.TimerHandle | None = None
        tap_receiver(receiver, self._on_packet)

    def _on_packet(self, packet: RtpPacket) -> None:
        params = self.params
        if params.rtx_payload_type is not None and packet.payload_type == params.rtx_payload_type:
            if self.ssrc is None or len(packet.payload) < 2:
                return
            packet = unwrap_rtx(packet, payload_type=params.payload_type, ssrc=self.ssrc)
        elif packet.payload_type != params.payload_type:
            return
        self.ssrc = packet.ssrc
        if not packet.payload:
            return
        self.last_packet_at = asyncio.get_running_loop().time()
        self.payload_bytes += len(packet.payload)
        frames, lost = self.assembler.add(packet.sequence_number, packet.timestamp,
                                          bool(packet.marker), packet.payload)
        if lost:
            self.request_keyframe()
            if frames:
                frames[0].after_loss = True
        for frame in frames:
            self.frames_in += 1
            self.keyframes_in += frame.keyframe
            self._on_frame(frame)

    def request_keyframe(self) -> None:
        """Ask the sender for a keyframe, merging requests that come close together."""
        if self._pli_timer is not None or self.receiver is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_pli + KEYFRAME_MIN_INTERVAL_S - loop.time())
        self._pli_timer = loop.call_later(delay, self._send_pli)

    def _send_pli(self) -> None:
        self._pli_timer = None
        if self.receiver is None or self.ssrc is None:
            return
        self._last_pli = asyncio.get_running_loop().time()
        self.plis_sent += 1
        asyncio.ensure_future(self.receiver._send_rtcp_pli(self.ssrc))

    def close(self) -> None:
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None
        self.receiver = None
