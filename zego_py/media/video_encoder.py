"""A publish's video encoder: VP8 or H.264 at ZEGO's bitrate and keyframe interval.

aiortc's sender would encode raw frames itself, but at its own bitrate (500 kbps for
VP8, moved by the receiver's REMB) and with a keyframe every 3000 frames.  Publishing
``av.Packet``s instead (the sender only packetises them) lets the stream keep ZEGO's
``bitrate`` (videoQuality presets: 300/800/1500 kbps) and ``keyFrameInterval``
(2 s), and change the bitrate live (``setVideoConfig`` ``maxBitrate``).  A keyframe
request (the relay's PLI) sets ``force_keyframe``.  The settings are aiortc's own
realtime ones (codecs/vpx.py, codecs/h264.py).
"""

from __future__ import annotations

import fractions
import multiprocessing

import av
from aiortc.codecs.vpx import number_of_threads

__all__ = ["VideoEncoder"]

_TIME_BASE = fractions.Fraction(1, 90000)
# The codec's clock, as aiortc's encoders have it: with 1/90000 libvpx's realtime mode
# took ~2x longer per frame here, and with FFmpeg's automatic threads ~25x (measured).
_CODEC_TIME_BASE = fractions.Fraction(1, 1000000)


class VideoEncoder:
    def __init__(self, codec: str, bitrate_kbps: int, frame_rate: int,
                 keyframe_interval_s: float = 2.0) -> None:
        self.codec_name = codec
        self.bitrate_kbps = bitrate_kbps
        self.frame_rate = frame_rate
        self.keyframe_interval_s = keyframe_interval_s
        self.force_keyframe = False
        self._context: av.VideoCodecContext | None = None
        self._opened_as: tuple[int, int, int] = (0, 0, 0)  # width, height, kbps
        self._last_keyframe_pts: int | None = None

    def _open(self, frame: av.VideoFrame) -> av.VideoCodecContext:
        bitrate = self.bitrate_kbps * 1000
        name = "libvpx" if self.codec_name == "VP8" else "libx264"
        context: av.VideoCodecContext = av.CodecContext.create(name, "w")  # type: ignore[assignment]
        context.width, context.height = frame.width, frame.height
        context.pix_fmt = "yuv420p"
        context.bit_rate = bitrate
        context.time_base = _CODEC_TIME_BASE
        context.framerate = fractions.Fraction(self.frame_rate, 1)
        context.thread_count = number_of_threads(frame.width * frame.height,
                                                 multiprocessing.cpu_count())
        if name == "libvpx":
            context.gop_size = 1 << 20  # keyframes come from keyframe_interval_s and requests
            context.qmin, context.qmax = 2, 56
            context.options = {"bufsize": str(bitrate), "cpu-used": "-6",
                               "deadline": "realtime", "lag-in-frames": "0",
                               "minrate": str(bitrate), "maxrate": str(bitrate),
                               "noise-sensitivity": "4", "overshoot-pct": "15",
                               "partitions": "0", "static-thresh": "1",
                               "undershoot-pct": "100"}
        else:
            context.options = {"level": "31", "tune": "zerolatency", "preset": "veryfast"}
            context.profile = "Baseline"
        return context

    def encode(self, frame: av.VideoFrame) -> list[av.Packet]:
        """Encode one frame (pts in its own time base); packets carry their time base."""
        context = self._context
        wanted = (frame.width, frame.height, self.bitrate_kbps)
        if context is None or self._opened_as != wanted:
            # first frame, a new size or a new bitrate: start again, with a keyframe
            context = self._context = self._open(frame)
            self._opened_as = wanted
            self.force_keyframe = True
        out = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
        pts = int(frame.time * 90000) if frame.time is not None else 0
        due = (self._last_keyframe_pts is None
               or pts - self._last_keyframe_pts >= self.keyframe_interval_s * 90000)
        if self.force_keyframe or due:
            out.pict_type = av.video.frame.PictureType.I
            self._last_keyframe_pts = pts
            self.force_keyframe = False
        else:
            out.pict_type = av.video.frame.PictureType.NONE
        out.pts, out.time_base = pts, _TIME_BASE
        packets = list(context.encode(out))
        for packet in packets:
            packet.time_base = context.time_base
        return packets
