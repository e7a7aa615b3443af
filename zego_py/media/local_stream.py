"""ZegoLocalStream: what ``createStream`` returns and ``startPublishingStream`` sends.

It wraps one source track (microphone, file or push source) in a ``CaptureTrack``
that applies mute (silence, so the stream keeps its timing and peers see MUTE) and
measures the captured level for ``capturedSoundLevelUpdate``/``soundLevelUpdate``.
"""

from __future__ import annotations

import itertools

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .pcm import level_0_100

__all__ = ["CaptureTrack", "ZegoLocalStream"]

_ids = itertools.count(1)


class CaptureTrack(MediaStreamTrack):
    """What one publisher sends: the local stream's frames, silenced while muted.

    Each publish gets its own CaptureTrack because aiortc stops a sender's track when
    the sender stops; the local stream's source lives on for the next publish.
    """

    kind = "audio"

    def __init__(self, local: ZegoLocalStream) -> None:
        super().__init__()
        self.local = local

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.local.source.recv()
        assert isinstance(frame, av.AudioFrame)
        pcm: np.ndarray = frame.to_ndarray()
        if self.local.muted:
            self.local.level = 0.0
            pcm = np.zeros_like(pcm)
        else:
            self.local.level = level_0_100(pcm.reshape(-1))
        if frame.layout.name == "mono" and frame.format.name == "s16":
            # aiortc's encoder upmixes mono with libswresample, which puts a mono signal
            # in the centre at -3 dB; sending both channels keeps the level intact.
            pcm = np.repeat(pcm, 2, axis=1)
        elif not self.local.muted:
            return frame
        out = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        out.sample_rate = frame.sample_rate
        out.pts = frame.pts
        out.time_base = frame.time_base
        return out


class ZegoLocalStream:
    """A local audio stream.  ``kind`` is "microphone", "file" or "custom"."""

    def __init__(self, source: MediaStreamTrack, kind: str, device_id: str | None = None) -> None:
        self.id = f"local-{next(_ids)}"
        self.kind = kind
        self.device_id = device_id
        self.source = source
        self.level = 0.0
        self.audio_muted = False  # mutePublishStreamAudio
        self.mic_muted = False  # muteMicrophone (microphone streams only)

    @property
    def muted(self) -> bool:
        return self.audio_muted or self.mic_muted

    def new_capture_track(self) -> CaptureTrack:
        return CaptureTrack(self)

    def replace_source(self, source: MediaStreamTrack) -> None:
        old, self.source = self.source, source
        old.stop()

    def stop(self) -> None:
        self.source.stop()

    def getAudioTracks(self) -> list[MediaStreamTrack]:  # noqa: N802 - W3C name
        return [self.source]

    def __repr__(self) -> str:
        return f"<ZegoLocalStream {self.id} {self.kind}>"
