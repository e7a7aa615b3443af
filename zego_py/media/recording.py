"""Record a played stream's audio and video into one file (WebM, MKV or MP4) with PyAV.

What the player decoded is encoded again: Opus and VP8 for WebM/MKV, AAC and H.264 for
MP4.  Timestamps come from arrival, so audio and video stay in sync as they were played:
audio counts its 20 ms frames from the start, video takes the wall clock since then.
The container's header needs every stream up front, so until the first video frame
arrives (at most ``VIDEO_WAIT_S``) audio is held back; a stream that shows no video by
then is recorded as audio only.  Encoding runs inline, frame by frame, as aiortc's
``MediaRecorder`` does.
"""

from __future__ import annotations

import fractions
import time

import av
import numpy as np
from av.container import OutputContainer

from .pcm import FRAME_SAMPLES, SAMPLE_RATE, int16_to_frame

__all__ = ["CONTAINER_SUFFIXES", "ContainerRecorder"]

CONTAINER_SUFFIXES = (".webm", ".mkv", ".mp4")
VIDEO_WAIT_S = 3.0
_VIDEO_RATE = 30  # the file's video time base is 1/90000; at most this many frames a second
_TIME_BASE = fractions.Fraction(1, 90000)
_CODECS = {"webm": ("libopus", "libvpx"), "matroska": ("libopus", "libvpx"),
           "mp4": ("aac", "libx264")}


class ContainerRecorder:
    def __init__(self, path: str, expect_video: bool) -> None:
        self._out: OutputContainer = av.open(path, "w")
        name = self._out.format.name.split(",")[0]
        self._audio_codec, self._video_codec = _CODECS.get(name, ("aac", "libx264"))
        self._audio: av.AudioStream | None = None
        self._video: av.VideoStream | None = None
        self._expect_video = expect_video
        self._started = time.monotonic()
        self._held: list[av.AudioFrame] = []
        self._samples = 0
        self._last_video_pts = -1
        self.closed = False

    def _open(self, first_video: av.VideoFrame | None) -> None:
        audio = self._out.add_stream(self._audio_codec, rate=SAMPLE_RATE)
        assert isinstance(audio, av.AudioStream)
        self._audio = audio
        if first_video is not None:
            video = self._out.add_stream(self._video_codec, rate=_VIDEO_RATE)
            assert isinstance(video, av.VideoStream)
            video.width, video.height, video.pix_fmt = (first_video.width,
                                                        first_video.height, "yuv420p")
            video.codec_context.time_base = _TIME_BASE
            self._video = video
        self._expect_video = False
        held, self._held = self._held, []
        for frame in held:
            self._encode_audio(frame)

    @property
    def _waiting(self) -> bool:
        return self._audio is None

    def audio(self, pcm: np.ndarray) -> None:
        """One 20 ms frame of mono int16 48 kHz PCM, as played."""
        if self.closed:
            return
        frame = int16_to_frame(pcm.reshape(-1, 1), self._samples)
        self._samples += FRAME_SAMPLES
        if self._waiting:
            self._held.append(frame)
            if not self._expect_video or time.monotonic() - self._started > VIDEO_WAIT_S:
                self._open(None)
            return
        self._encode_audio(frame)

    def video(self, frame: av.VideoFrame) -> None:
        if self.closed:
            return
        if self._waiting:
            self._open(frame)
        if self._video is None:
            return  # opened as audio only
        pts = int((time.monotonic() - self._started) * 90000)
        if pts - self._last_video_pts < 90000 // _VIDEO_RATE:
            return  # the file keeps at most _VIDEO_RATE frames a second
        self._last_video_pts = pts
        out = frame.reformat(width=self._video.width, height=self._video.height,
                             format="yuv420p")
        out.pts, out.time_base = pts, _TIME_BASE
        self._out.mux(self._video.encode(out))

    def _encode_audio(self, frame: av.AudioFrame) -> None:
        assert self._audio is not None
        self._out.mux(self._audio.encode(frame))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._waiting and self._held:
            self._open(None)
        for stream in (self._audio, self._video):
            if stream is not None:
                self._out.mux(stream.encode(None))
        self._out.close()
