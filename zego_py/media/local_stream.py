"""ZegoLocalStream: what ``createStream`` returns and ``startPublishingStream`` sends.

It wraps an audio source track (microphone, file or push source) and/or a video one
(camera, file, ``VideoSource``).  Each publish reads the audio through a
``CaptureTrack`` that applies the capture volume (``setCaptureVolume``) and mute
(silence, so the stream keeps its timing and peers see MUTE), measures the captured
level for ``capturedSoundLevelUpdate`` / ``soundLevelUpdate``, hands a copy to the
capture frame callback (``setCaptureAudioFrameCallback``) and encodes Opus; and the
video through a ``VideoCaptureTrack`` that applies video mute (black frames, as a
browser sends for a disabled track) and counts what was sent for ``publishQualityUpdate``.
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import time
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .opus import OpusEncoder, OpusSettings
from .pcm import level_0_100
from .video_encoder import VideoEncoder

if TYPE_CHECKING:
    from .aec import AudioProcessing
    from .frame_callback import AudioFrameTap

__all__ = ["CaptureTrack", "ZegoLocalStream"]

_ids = itertools.count(1)
_VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


class CaptureTrack(MediaStreamTrack):
    """What one publisher sends: the local stream's audio, encoded here with our Opus
    settings (FEC, DTX, bitrate), silenced while muted.

    It yields ``av.Packet``s, which aiortc's sender only packetises: no encode in its
    thread pool, one frame at a time.  Each publish gets its own CaptureTrack because
    aiortc stops a sender's track when the sender stops; the local stream's source
    lives on for the next publish.
    """

    kind = "audio"

    def __init__(self, local: ZegoLocalStream, settings: OpusSettings) -> None:
        super().__init__()
        self.local = local
        self.encoder = OpusEncoder(settings)

    async def recv(self) -> av.Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self.local.source
            assert source is not None
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self.local.source is not source:  # useAudioDevice swapped it mid-read
                    continue
                raise
            assert isinstance(frame, av.AudioFrame)
            self.local.last_frame_at = time.monotonic()
            gain = 0.0 if self.local.muted else self.local.capture_volume / 100
            if gain != 1.0:
                frame = _scaled(frame, gain)
            level = level_0_100(frame.to_ndarray().reshape(-1)) if gain else 0.0
            self.local.level = level
            self.local.loudest = max(self.local.loudest, level)
            if self.local.frame_tap is not None:
                self.local.frame_tap.push(frame)
            packets = self.encoder.encode(frame)
            if packets:
                return packets[0]


def _scaled(frame: av.AudioFrame, gain: float) -> av.AudioFrame:
    """``frame`` times ``gain`` (0: silence), saturating instead of wrapping."""
    data: np.ndarray = frame.to_ndarray()
    if gain == 0.0:
        data = np.zeros_like(data)
    elif data.dtype.kind == "f":
        data = np.clip(data * gain, -1.0, 1.0).astype(data.dtype)
    else:
        info = np.iinfo(data.dtype.type)
        data = np.clip(np.rint(data * gain), info.min, info.max).astype(data.dtype)
    out = av.AudioFrame.from_ndarray(data, format=frame.format.name, layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


class VideoCaptureTrack(MediaStreamTrack):
    """What one publisher sends of the local stream's video: its frames, scaled and
    thinned to ``setVideoConfig``'s size and rate, black while ``mutePublishStreamVideo``
    is on, encoded here (video_encoder.py, in a worker thread) at the stream's bitrate.

    It yields ``av.Packet``s, which aiortc's sender only packetises; ``request_keyframe``
    is what the sender's keyframe hook (the relay's PLI) calls.
    """

    kind = "video"

    def __init__(self, local: ZegoLocalStream, codec: str) -> None:
        super().__init__()
        self.local = local
        self.encoder = VideoEncoder(codec, local.video_bitrate_kbps,
                                    local.video_rate or int(getattr(local.video_source,
                                                                    "frameRate", 30)))
        self.frames_sent = 0
        self.width = self.height = 0
        self._black: av.VideoFrame | None = None
        self._next_due: float | None = None  # time of the next frame to keep
        self._t0: float | None = None
        self._ready: list[av.Packet] = []

    def request_keyframe(self) -> None:
        self.encoder.force_keyframe = True

    async def recv(self) -> av.Packet:
        while not self._ready:
            frame = await self._next_frame()
            self.encoder.bitrate_kbps = self.local.video_bitrate_kbps
            self._ready = await asyncio.to_thread(self.encoder.encode, frame)
        return self._ready.pop(0)

    async def _next_frame(self) -> av.VideoFrame:
        while True:
            source = self.local.video_source
            if self.readyState != "live" or source is None:
                raise MediaStreamError
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self.local.video_source is not source:  # useVideoDevice swapped it
                    continue
                raise
            assert isinstance(frame, av.VideoFrame)
            # Our own clock: a swapped source (or any aiortc track) starts its pts anew,
            # and RTP timestamps that went back would look like late packets downstream.
            now = time.monotonic()
            self._t0 = now if self._t0 is None else self._t0
            frame.pts, frame.time_base = int((now - self._t0) * 90000), _VIDEO_TIME_BASE
            if self._keep(frame):
                break
        size = self.local.video_size
        if size is not None and (frame.width, frame.height) != size:
            scaled = frame.reformat(width=size[0], height=size[1])
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            frame = scaled
        if self.local.video_muted:
            frame = self._black_like(frame)
        self.frames_sent += 1
        self.width, self.height = frame.width, frame.height
        return frame

    def _keep(self, frame: av.VideoFrame) -> bool:
        """At most ``local.video_rate`` frames a second (by the frames' own times)."""
        rate, now = self.local.video_rate, frame.time
        if rate is None or now is None:
            return True
        interval = 1.0 / rate
        if self._next_due is not None and now < self._next_due - 0.25 * interval:
            return False
        due = self._next_due
        self._next_due = now + interval if due is None or now - due > interval else due + interval
        return True

    def _black_like(self, frame: av.VideoFrame) -> av.VideoFrame:
        black = self._black
        if black is None or (black.width, black.height) != (frame.width, frame.height):
            black = av.VideoFrame.from_ndarray(
                np.zeros((frame.height, frame.width, 3), np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            self._black = black
        out = black.reformat()  # a copy: the sender's encoder owns each frame it gets
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class ZegoLocalStream:
    """A local stream: audio (``source``), video (``video_source``) or both.
    ``kind`` is "microphone" (a camera config: mic and/or camera) or "custom"."""

    def __init__(self, source: MediaStreamTrack | None, kind: str,
                 device_id: str | None = None, *, channels: int = 1,
                 audio_bitrate_kbps: int | None = None,
                 video_source: MediaStreamTrack | None = None) -> None:
        self.id = f"local-{next(_ids)}"
        self.kind = kind
        self.channels = channels
        self.audio_bitrate_kbps = audio_bitrate_kbps  # createStream's audioBitrate
        self.processing: dict[str, Any] = {}  # createStream's AEC/ANS/AGC flags
        self.device_id = device_id
        self.source = source
        self.level = 0.0
        self.loudest = 0.0  # the highest level since the engine's quality loop last looked
        self.last_frame_at: float | None = None  # monotonic time a publish last read a frame
        self.capture_volume: float = 100  # setCaptureVolume, %: before the meter and encoder
        self.frame_tap: AudioFrameTap | None = None  # setCaptureAudioFrameCallback
        self.audio_muted = False  # mutePublishStreamAudio
        self.mic_muted = False  # muteMicrophone (microphone streams only)
        self.video_source = video_source
        self.video_muted = False  # mutePublishStreamVideo
        self.video_size: tuple[int, int] | None = None  # setVideoConfig's width x height
        self.video_rate: int | None = None  # setVideoConfig's frameRate (at most)
        self.video_bitrate_kbps = 800  # createStream's bitrate (or preset), setVideoConfig's
        self.camera_mode: tuple[int, int, int] | None = None  # a camera's width, height, rate

    @property
    def muted(self) -> bool:
        return self.audio_muted or self.mic_muted

    @property
    def audioProcessing(self) -> str:  # noqa: N802 - ZEGO-style name
        """The processing applied to the captured audio, e.g. "AEC+AGC"; "" when none
        (not a microphone, every stage off, or the ``aec`` extra missing)."""
        apm = self._apm()
        return apm.describe() if apm is not None else ""

    @property
    def audioProcessingStats(self) -> dict[str, int]:  # noqa: N802 - ZEGO-style name
        """Echo-reference counters of the processing, ``{}`` when none:
        ``render_underruns`` (times the speaker reference ran dry while audio played, each
        a moment of leaked echo) and ``render_dropped`` (reference samples dropped when
        more than 300 ms queued up: clock drift, or the speaker running while the
        microphone was still starting).  The processor is shared by the engine's
        microphone streams, so the counts are the engine's."""
        apm = self._apm()
        if apm is None:
            return {}
        return {"render_underruns": int(apm.render_underruns),
                "render_dropped": int(apm.render_dropped)}

    def _apm(self) -> AudioProcessing | None:
        from .aec import ProcessedTrack  # lazily: only microphone streams are processed

        if isinstance(self.source, ProcessedTrack) and self.source.apm.active:
            return self.source.apm
        return None

    def new_capture_track(self, settings: OpusSettings) -> CaptureTrack:
        return CaptureTrack(self, settings)

    def new_video_track(self, codec: str) -> VideoCaptureTrack:
        return VideoCaptureTrack(self, codec)

    def replace_source(self, source: MediaStreamTrack) -> None:
        old, self.source = self.source, source
        if old is not None:
            old.stop()

    def replace_video_source(self, source: MediaStreamTrack) -> None:
        """Publishes carry on with ``source`` from their next frame (useVideoDevice)."""
        old, self.video_source = self.video_source, source
        if old is not None:
            old.stop()

    def set_frame_tap(self, tap: AudioFrameTap | None) -> None:
        old, self.frame_tap = self.frame_tap, tap
        if old is not None:
            old.close()

    def stop(self) -> None:
        self.set_frame_tap(None)
        for track in (self.source, self.video_source):
            if track is not None:
                track.stop()

    def getAudioTracks(self) -> list[MediaStreamTrack]:  # noqa: N802 - W3C name
        return [self.source] if self.source is not None else []

    def getVideoTracks(self) -> list[MediaStreamTrack]:  # noqa: N802 - W3C name
        return [self.video_source] if self.video_source is not None else []

    def __repr__(self) -> str:
        return f"<ZegoLocalStream {self.id} {self.kind}>"
