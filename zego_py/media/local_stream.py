"""ZegoLocalStream: what ``createStream`` returns and ``startPublishingStream`` sends.

It wraps one source track (microphone, file or push source); each publish reads it
through a ``CaptureTrack`` that applies mute (silence, so the stream keeps its timing
and peers see MUTE), measures the captured level for ``capturedSoundLevelUpdate`` /
``soundLevelUpdate`` and encodes Opus.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .opus import OpusEncoder, OpusSettings
from .pcm import level_0_100

if TYPE_CHECKING:
    from .aec import AudioProcessing

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
            source = self.local.source
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self.local.source is not source:  # useAudioDevice swapped it mid-read
                    continue
                raise
            assert isinstance(frame, av.AudioFrame)
            if self.local.muted:
                self.local.level = 0.0
                frame = _silent_like(frame)
            else:
                self.local.level = level_0_100(frame.to_ndarray().reshape(-1))
            packets = self.encoder.encode(frame)
            if packets:
                return packets[0]


def _silent_like(frame: av.AudioFrame) -> av.AudioFrame:
    silent = av.AudioFrame.from_ndarray(np.zeros_like(frame.to_ndarray()),
                                        format=frame.format.name, layout=frame.layout.name)
    silent.sample_rate = frame.sample_rate
    silent.pts, silent.time_base = frame.pts, frame.time_base
    return silent


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

        return self.source.apm if isinstance(self.source, ProcessedTrack) else None

    def new_capture_track(self, settings: OpusSettings) -> CaptureTrack:
        return CaptureTrack(self, settings)

    def replace_source(self, source: MediaStreamTrack) -> None:
        old, self.source = self.source, source
        old.stop()

    def stop(self) -> None:
        self.source.stop()

    def getAudioTracks(self) -> list[MediaStreamTrack]:  # noqa: N802 - W3C name
        return [self.source]

    def __repr__(self) -> str:
        return f"<ZegoLocalStream {self.id} {self.kind}>"
