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

__all__ = ["UNKNOWN", "QualityMeter", "network_level", "worst_level"]

# ZEGO Web's QualityGrade (networkQuality, audioQuality): -1 unknown, 0 excellent, 1 good,
# 2 middle, 3 poor, 4 die.  (ZEGO's native SDKs' ZegoStreamQualityLevel says 5 for unknown.)
DIE, UNKNOWN = 4, -1
LOSS_LIMITS_PCT = (1.0, 3.0, 8.0, 15.0)  # below the n-th limit: level n
RTT_LIMITS_MS = (100.0, 200.0, 400.0, 800.0)


def _grade(value: float, limits: tuple[float, ...]) -> int:
    for grade, limit in enumerate(limits):
        if value < limit:
            return grade
    return DIE


def _quality_grade(loss_rate: float, rtt_ms: float | None = None) -> int:
    """ZEGO's scale: 0 excellent ... 4 very poor, from the loss rate (%) and the round
    trip (ms) when known: the worse of the two."""
    grade = _grade(loss_rate, LOSS_LIMITS_PCT)
    return grade if rtt_ms is None else max(grade, _grade(rtt_ms, RTT_LIMITS_MS))


def network_level(meter: QualityMeter, rtt_ms: float | None) -> int:
    """networkQuality's level for one stream's last interval, the worse of its audio and
    video RTP streams (those that ever carried a packet): UNKNOWN before there is an
    interval, DIE when not a packet came (or was sent) in it."""
    measured = [r for r in (meter.audio, meter.video) if r.loss_rate is not None]
    if not measured:
        return UNKNOWN
    carrying = [r for r in measured if r.last_packets > 0] or measured
    if all(r.interval_packets == 0 for r in carrying):
        return DIE
    return max(_quality_grade(r.loss_rate or 0.0, rtt_ms) for r in carrying
               if r.interval_packets > 0)


def worst_level(levels: list[int]) -> int:
    """The worst known level (UNKNOWN only when none is known)."""
    known = [level for level in levels if level != UNKNOWN]
    return max(known) if known else UNKNOWN


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
    # the latest interval, for networkQuality (None: no interval yet)
    loss_rate: float | None = None
    interval_packets: int = 0

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
            self.loss_rate, self.interval_packets = loss_rate, packets - self.last_packets
        self.last_bytes, self.last_packets, self.last_lost, self.last_time = (
            total_bytes, packets, lost, now)
        return bitrate, fps, loss_rate, interval_lost


@dataclass
class QualityMeter:
    """Turns successive getStats() snapshots into ZEGO stats objects."""

    audio: _Rates = field(default_factory=_Rates)
    video: _Rates = field(default_factory=_Rates)
    rtt_ms: float | None = None  # RTCP's round trip, publishers only (aiortc's receivers have none)

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
        rtt_s = remote.get("roundTripTime")
        self.rtt_ms = float(rtt_s) * 1000 if rtt_s is not None else None
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
                   video: _ReceivedVideo | None = None,
                   arrived_lost: tuple[int, int] | None = None) -> dict[str, Any]:
        """``payload_bytes``: Opus bytes received so far, when our receive path counts
        them; the bitrate then matches the sender's (payload only).  ``arrived_lost``:
        packets that came and frames that never did, by RTP timestamp (our jitter
        buffer's count), which also sees what was lost before the relay's sender: the
        relay renumbers sequence numbers, so inbound-rtp's packetsLost cannot."""
        inbound = stats.get("inbound-rtp", {})
        lost = int(inbound.get("packetsLost", 0) or 0)
        received = int(inbound.get("packetsReceived", 0) or 0)
        if arrived_lost is not None:
            received, lost = arrived_lost
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

