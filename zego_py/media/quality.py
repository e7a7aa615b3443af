"""ZEGO's publishQualityUpdate / playQualityUpdate objects, filled from aiortc getStats().

Bitrates are deltas between two reports, so the first report after start has none.
Field names are ZEGO's Web ones (shared/reference/zego-api.md §2).  Audio and video have
their own RTP streams, so each has its own rates; frame size and rate come from what the
publisher's video track sent and what the player's decoder delivered (aiortc's stats
have neither).  A stream without video reports zeros and videoQuality -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["QualityMeter"]


def _quality_grade(loss_rate: float) -> int:
    """ZEGO's scale: 0 excellent ... 4 very poor, from the packet loss rate (%)."""
    for grade, limit in enumerate((1.0, 3.0, 8.0, 15.0)):
        if loss_rate < limit:
            return grade
    return 4


def _video_zero() -> dict[str, Any]:
    return {"frameWidth": 0, "frameHeight": 0, "videoBitrate": 0, "videoFPS": 0,
            "videoTransferFPS": 0, "videoPacketsLost": 0, "videoPacketsLostRate": 0,
            "videoQuality": -1, "googCodecName": "", "muteState": "0"}


class _SentVideo(Protocol):
    frames_sent: int
    width: int
    height: int


class _ReceivedVideo(Protocol):
    frames_received: int
    width: int
    height: int

    @property
    def codec(self) -> str: ...

    @property
    def payload_bytes(self) -> int: ...


@dataclass
class _Rates:
    """Bitrate, packet rate and loss of one RTP stream between two snapshots."""

    last_bytes: int | None = None
    last_packets: int = 0
    last_lost: int = 0
    last_time: float | None = None
    last_frames: int = 0

    def frame_rate(self, now: float, frames: int) -> float:
        """Frames per second since the previous call (call before ``update``)."""
        span = now - self.last_time if self.last_time is not None else 0.0
        fps = (frames - self.last_frames) / span if span > 0 else 0.0
        self.last_frames = frames
        return fps

    def update(self, now: float, total_bytes: int, packets: int, lost: int
               ) -> tuple[float, float, float, float]:
        if self.last_time is None or self.last_bytes is None or now <= self.last_time:
            bitrate = fps = loss_rate = 0.0
            interval_lost = 0.0
        else:
            span = now - self.last_time
            bitrate = (total_bytes - self.last_bytes) * 8 / 1000 / span  # kbps, as ZEGO
            fps = (packets - self.last_packets) / span
            interval_lost = max(0, lost - self.last_lost)
            expected = (packets - self.last_packets) + interval_lost
            loss_rate = 100.0 * interval_lost / expected if expected > 0 else 0.0
        self.last_bytes, self.last_packets, self.last_lost, self.last_time = (
            total_bytes, packets, lost, now)
        return bitrate, fps, loss_rate, interval_lost


@dataclass
class QualityMeter:
    """Turns successive getStats() snapshots into ZEGO stats objects."""

    audio: _Rates = field(default_factory=_Rates)
    video: _Rates = field(default_factory=_Rates)

    def _video_fields(self, now: float, frames: int, width: int, height: int,
                      total_bytes: int, packets: int, lost: int, codec: str,
                      muted: bool) -> dict[str, Any]:
        fps = self.video.frame_rate(now, frames)
        bitrate, packet_rate, loss_rate, _ = self.video.update(now, total_bytes, packets, lost)
        return {"frameWidth": width, "frameHeight": height,
                "videoBitrate": round(bitrate, 2), "videoFPS": round(fps, 2),
                "videoTransferFPS": round(fps, 2), "videoPacketsLost": lost,
                "videoPacketsLostRate": round(loss_rate, 2),
                "videoQuality": _quality_grade(loss_rate), "googCodecName": codec,
                "muteState": "1" if muted else "0"}

    def publish_stats(self, now: float, stats: dict[str, dict[str, Any]], muted: bool, *,
                      video: _SentVideo | None = None, codec: str = "VP8",
                      video_muted: bool = False) -> dict[str, Any]:
        out = stats.get("outbound-rtp", {})
        remote = stats.get("remote-inbound-rtp", {})
        lost = int(remote.get("packetsLost", 0) or 0)
        bitrate, fps, loss_rate, _ = self.audio.update(
            now, int(out.get("bytesSent", 0)), int(out.get("packetsSent", 0)), lost)
        video_stats = _video_zero()
        if video is not None:
            vout = stats.get("video:outbound-rtp", {})
            video_stats = self._video_fields(
                now, video.frames_sent, video.width, video.height,
                int(vout.get("bytesSent", 0)), int(vout.get("packetsSent", 0)),
                int(stats.get("video:remote-inbound-rtp", {}).get("packetsLost", 0) or 0),
                codec, video_muted)
        return {
            "video": video_stats,
            "audio": {
                "audioBitrate": round(bitrate, 2),
                "audioCodec": "opus",
                "audioFPS": round(fps, 2),
                "audioPacketsLost": lost,
                "audioPacketsLostRate": round(
                    100.0 * float(remote.get("fractionLost", 0) or 0), 2) or round(loss_rate, 2),
                "audioQuality": _quality_grade(loss_rate),
                "googCodecName": "opus",
                "muteState": "1" if muted else "0",
            },
        }

    def play_stats(self, now: float, stats: dict[str, dict[str, Any]], level: float,
                   muted: bool, payload_bytes: int | None = None, *,
                   video: _ReceivedVideo | None = None) -> dict[str, Any]:
        """``payload_bytes``: Opus bytes received so far, when our receive path counts
        them; the bitrate then matches the sender's (payload only)."""
        inbound = stats.get("inbound-rtp", {})
        lost = int(inbound.get("packetsLost", 0) or 0)
        received = int(inbound.get("packetsReceived", 0) or 0)
        # aiortc's inbound-rtp has no bytesReceived; without our own count the transport's
        # (RTP headers, SRTP tags and RTCP included: ~40 % more) is the closest it offers.
        # (none at all for a video-only play: the transport's bytes would be video's)
        total_bytes = (payload_bytes if payload_bytes is not None
                       else int(stats.get("transport", {}).get("bytesReceived", 0) or 0)
                       if "inbound-rtp" in stats else 0)
        bitrate, fps, loss_rate, _ = self.audio.update(now, total_bytes, received, lost)
        video_stats = {**_video_zero(), "videoRenderFPS": 0, "videoFramesDecoded": 0,
                       "videoFramesDropped": 0}
        vin = stats.get("video:inbound-rtp")
        if video is not None and vin is not None:
            fields = self._video_fields(
                now, video.frames_received, video.width, video.height, video.payload_bytes,
                int(vin.get("packetsReceived", 0) or 0), int(vin.get("packetsLost", 0) or 0),
                video.codec, False)
            video_stats = {**fields, "videoRenderFPS": fields["videoFPS"],
                           "videoFramesDecoded": video.frames_received,
                           "videoFramesDropped": 0}
        # aiortc reports jitter in RTP timestamp units (1/48000 s for Opus).
        jitter_s = float(inbound.get("jitter", 0) or 0) / 48000
        return {
            "video": video_stats,
            "audio": {
                "audioBitrate": round(bitrate, 2),
                "audioCodec": "opus",
                "audioFPS": round(fps, 2),
                "audioPacketsLost": lost,
                "audioPacketsLostRate": round(loss_rate, 2),
                "audioQuality": _quality_grade(loss_rate),
                "googCodecName": "opus",
                "muteState": "1" if muted else "0",
                "audioJitter": round(jitter_s * 1000, 2),
                "audioLevel": round(level, 1),
                "audioSamplingRate": 48000,
                "audioSendLevel": 0,
            },
            "peerToPeerDelay": 0,
            "peerToPeerPacketLostRate": round(loss_rate, 2),
        }

