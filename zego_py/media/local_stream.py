"""ZegoLocalStream: what ``createStream`` returns and ``startPublishingStream`` sends.

It wraps one source track (microphone, file or push source); each publish reads it
through a ``CaptureTrack`` that applies the capture volume (``setCaptureVolume``) and
mute (silence, so the stream keeps its timing and peers see MUTE), measures the
captured level for ``capturedSoundLevelUpdate`` / ``soundLevelUpdate``, hands a copy to
the capture frame callback (``setCaptureAudioFrameCallback``) and encodes Opus.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .opus import OpusEncoder, OpusSettings
from .pcm import level_0_100

if TYPE_CHECKING:
    from .aec import AudioProcessing
    from .frame_callback import AudioFrameTap

__all__ = ["CaptureTrack", "ZegoLocalStream"]

_ids = itertools.count(1)


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
            frame = await self.local.source.recv()
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


class ZegoLocalStream:
    """A local audio stream.  ``kind`` is "microphone", "file" or "custom"."""

    def __init__(self, source: MediaStreamTrack, kind: str, device_id: str | None = None,
                 *, channels: int = 1, audio_bitrate_kbps: int | None = None) -> None:
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

    def replace_source(self, source: MediaStreamTrack) -> None:
        old, self.source = self.source, source
        old.stop()

    def set_frame_tap(self, tap: AudioFrameTap | None) -> None:
        old, self.frame_tap = self.frame_tap, tap
        if old is not None:
            old.close()

    def stop(self) -> None:
        self.set_frame_tap(None)
        self.source.stop()

    def getAudioTracks(self) -> list[MediaStreamTrack]:  # noqa: N802 - W3C name
        return [self.source]

    def __repr__(self) -> str:
        return f"<ZegoLocalStream {self.id} {self.kind}>"
