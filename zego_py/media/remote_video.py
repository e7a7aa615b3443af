"""A played stream's video: decoded frames (video_playout.py), handed to ``videoFrames()``.

One task reads the decoded track and hands each frame to every iterator; an iterator
that falls behind loses its oldest frames (video is worth nothing late), so consumers
never slow each other down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TypeVar

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from .recording import ContainerRecorder
from .video_playout import VideoPlayoutTrack

__all__ = ["RemoteVideo", "cancel_and_wait", "put_newest"]

log = logging.getLogger("zego_py.media")

T = TypeVar("T")

# How many decoded frames a videoFrames() consumer may fall behind (about 1 s at 30 fps).
ITERATOR_QUEUE_FRAMES = 30


def put_newest(queue: asyncio.Queue[T], item: T) -> None:
    """Queue ``item``, dropping the oldest entry when full: a consumer that lags loses
    its oldest media, never holds up the producer."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a pump task and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class RemoteVideo:
    """The video half of a ``ZegoRemoteStream``."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.muted = False  # mutePlayStreamVideo: frames are decoded but not handed out
        self.frames_received = 0
        self.width = self.height = 0
        self.track: VideoPlayoutTrack | None = None
        self.recorder: ContainerRecorder | None = None  # startRecording to a video file
        self.first_frame_at: float | None = None
        self._iterators: list[asyncio.Queue[av.VideoFrame | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._ended = False

    @property
    def codec(self) -> str:
        return self.track.inbound.codec if self.track is not None else ""

    @property
    def payload_bytes(self) -> int:
        """Video payload received on the current track, for playQualityUpdate's bitrate."""
        return self.track.inbound.payload_bytes if self.track is not None else 0

    def start(self, track: VideoPlayoutTrack) -> None:
        """Read ``track``; a later call (after a reconnect) swaps tracks, iterators go on."""
        old = self._task
        if self.track is not None:
            self.track.stop()
        self.track = track
        self._task = asyncio.create_task(self._pump(track), name=f"zego-video-{self.stream_id}")
        if old is not None:
            old.cancel()

    async def frames(self, av_frames: bool = False) -> AsyncIterator[np.ndarray | av.VideoFrame]:
        queue: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue(ITERATOR_QUEUE_FRAMES)
        self._iterators.append(queue)
        try:
            while not (self._ended and queue.empty()):
                frame = await queue.get()
                if frame is None:
                    return
                yield frame if av_frames else frame.to_ndarray(format="rgb24")
        finally:
            with contextlib.suppress(ValueError):
                self._iterators.remove(queue)

    async def _pump(self, track: VideoPlayoutTrack) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                if self.first_frame_at is None:
                    self.first_frame_at = loop.time()
                self.frames_received += 1
                self.width, self.height = frame.width, frame.height
                if self.recorder is not None:
                    self.recorder.video(frame)
                if not self.muted:
                    self._offer(frame)
        except MediaStreamError:
            return
        except Exception:
            log.exception("playing video of %s failed", self.stream_id)

    def _offer(self, frame: av.VideoFrame | None) -> None:
        for queue in self._iterators:
            put_newest(queue, frame)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.track is not None:
            self.track.stop()
        if not self._ended:
            self._ended = True
            self._offer(None)
