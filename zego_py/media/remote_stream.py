"""ZegoRemoteStream: what ``startPlayingStream`` resolves.

One task reads the decoded track and hands each 20 ms of mono 48 kHz int16 PCM to
everyone who wants it: the speaker mix, ``audioFrames()`` iterators (bots, agents),
a WAV recorder, the level meter and ``setAudioFrameCallback``'s tap (frame_callback.py,
which only queues a copy here).  Consumers never slow each other down: each
iterator has its own bounded queue that drops its oldest audio when it falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .pcm import SAMPLE_RATE, frame_to_mono_int16, level_0_100
from .recording import CONTAINER_SUFFIXES, ContainerRecorder
from .remote_video import RemoteVideo, cancel_and_wait, put_newest

if TYPE_CHECKING:
    from .frame_callback import AudioFrameTap

__all__ = ["ZegoRemoteStream"]

log = logging.getLogger("zego_py.media")

# How much audio an audioFrames() consumer may fall behind before its oldest frames go.
ITERATOR_QUEUE_FRAMES = 250  # 5 s


class ZegoRemoteStream:
    def __init__(self, stream_id: str) -> None:
        self.streamID = stream_id
        self.level = 0.0
        self.loudest = 0.0  # the highest level since the engine's quality loop last looked
        self.frames_received = 0
        self.frame_tap: AudioFrameTap | None = None  # setAudioFrameCallback
        self.mixer_input: Any = None  # a mixer.MixerInput when played to the speaker
        self._iterators: list[asyncio.Queue[np.ndarray | None]] = []
        self._recorder: wave.Wave_write | None = None
        self._av_recorder: ContainerRecorder | None = None  # .webm/.mkv/.mp4 recordings
        self._task: asyncio.Task[None] | None = None
        self._track: MediaStreamTrack | None = None
        self._ended = asyncio.Event()
        self.first_audio_at: float | None = None
        self.video = RemoteVideo(stream_id)

    # ------------------------------------------------------------------ public
    async def audioFrames(self) -> AsyncIterator[np.ndarray]:  # noqa: N802
        """Every received 20 ms frame as mono 48 kHz int16 numpy, in arrival order.

        Ends when the stream stops playing.  The speaker mix is unaffected.
        """
        queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue(ITERATOR_QUEUE_FRAMES)
        self._iterators.append(queue)
        try:
            while not (self._ended.is_set() and queue.empty()):
                pcm = await queue.get()
                if pcm is None:
                    return
                yield pcm
        finally:
            with contextlib.suppress(ValueError):
                self._iterators.remove(queue)

    def videoFrames(self, avFrames: bool = False  # noqa: N802, N803
                    ) -> AsyncIterator[np.ndarray | Any]:
        """Every decoded video frame as a numpy ``(h, w, 3)`` uint8 RGB array (or the
        ``av.VideoFrame`` with ``avFrames=True``), newest kept when the consumer lags.

        Ends when the stream stops playing; nothing comes while ``mutePlayStreamVideo``.
        """
        return self.video.frames(avFrames)

    def startRecording(self, path: str) -> None:  # noqa: N802
        """Record what arrives until stopRecording or the end: a ``.wav`` path gets the
        audio (mono, 48 kHz, 16-bit); ``.webm``/``.mkv`` (Opus + VP8) and ``.mp4``
        (AAC + H.264) get audio and video in one file."""
        self.stopRecording()
        if path.lower().endswith(CONTAINER_SUFFIXES):
            self._av_recorder = ContainerRecorder(path, expect_video=self.video.track is not None)
            self.video.recorder = self._av_recorder
            return
        recorder = wave.open(path, "wb")
        recorder.setnchannels(1)
        recorder.setsampwidth(2)
        recorder.setframerate(SAMPLE_RATE)
        self._recorder = recorder

    def stopRecording(self) -> None:  # noqa: N802
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if self._av_recorder is not None:
            self.video.recorder = None
            self._av_recorder.close()
            self._av_recorder = None

    def set_frame_tap(self, tap: AudioFrameTap | None) -> None:
        old, self.frame_tap = self.frame_tap, tap
        if old is not None:
            old.close()

    @property
    def volume(self) -> int:
        return int(self.mixer_input.volume) if self.mixer_input is not None else 100

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # ------------------------------------------------------------------ engine side
    def start(self, track: MediaStreamTrack) -> None:
        """Read ``track``; a later call (after a reconnect) swaps tracks without ending
        the stream, so iterators and recordings carry on."""
        old = self._task
        self._track = track
        self._task = asyncio.create_task(self._pump(track), name=f"zego-play-{self.streamID}")
        if old is not None:
            old.cancel()

    async def _pump(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                pcm = frame_to_mono_int16(frame)  # type: ignore[arg-type]
                if self.first_audio_at is None:
                    self.first_audio_at = loop.time()
                self.frames_received += 1
                self.level = level_0_100(pcm)
                self.loudest = max(self.loudest, self.level)
                if self.frame_tap is not None:
                    self.frame_tap.push(frame)  # type: ignore[arg-type]
                if self.mixer_input is not None:
                    self.mixer_input.push(pcm)
                if self._recorder is not None:
                    self._recorder.writeframes(pcm.tobytes())
                if self._av_recorder is not None:
                    self._av_recorder.audio(pcm)
                for queue in self._iterators:
                    put_newest(queue, pcm)
        except MediaStreamError:
            return  # the track ended; stop() or a reconnect's new track decides what next
        except Exception:
            log.exception("playing %s failed", self.streamID)
        if self._task is asyncio.current_task():
            self._finish()

    def _finish(self) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        self.level = 0.0
        self.stopRecording()
        self.set_frame_tap(None)
        for queue in self._iterators:
            put_newest(queue, None)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._finish()
        await self.video.stop()

    def __repr__(self) -> str:
        return f"<ZegoRemoteStream {self.streamID}>"
