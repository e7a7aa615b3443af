"""Video tracks to publish: frames pushed by code, a video file, a camera (V4L2).

Every source *is* an aiortc ``MediaStreamTrack`` of kind ``"video"``.  ``recv()``
returns ``av.VideoFrame``s with ``pts`` in 1/90000 s counted from the wall clock since
the first frame, so the RTP timestamps follow capture time however the source paces.

The rule against standing latency (as AudioSource's, for video): a push source keeps
at most ``QUEUE_FRAMES`` frames and the newest wins, so a producer running ahead of the
frame rate never builds up delay; a file is paced by its own timestamps and re-anchored
when the consumer falls behind instead of bursting.
"""

from __future__ import annotations

import asyncio
import fractions
import glob
import os
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import av
import av.error
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.container import InputContainer

from ..errors import ErrorCode, ZegoError
from .sources import FramePacer

__all__ = ["QUEUE_FRAMES", "VIDEO_TIME_BASE", "VideoFileSource", "VideoSource",
           "check_video_bitrate", "check_video_size", "list_cameras", "open_camera",
           "video_preset"]

VIDEO_CLOCK = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
# A push source holds this many frames at most; older ones are dropped (newest wins).
QUEUE_FRAMES = 2

# ZEGO's camera videoQuality presets: (width, height, frameRate, bitrate kbps).
_PRESETS = {1: (320, 240, 15, 300), 2: (640, 480, 15, 800), 3: (1280, 720, 20, 1500)}


def video_preset(cfg: dict[str, Any]) -> tuple[int, int, int, int]:
    """(width, height, frameRate, bitrate kbps) of a camera/custom config: videoQuality
    1..3, or 4 with its own width/height/frameRate/bitrate (ZEGO's rule); explicit values
    beat the preset (``bitRate`` is ZEGO's older spelling)."""
    quality = cfg.get("videoQuality", 2)
    if quality not in (1, 2, 3, 4):
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "videoQuality must be 1, 2, 3 or 4")
    width, height, rate, bitrate = _PRESETS.get(quality, _PRESETS[2])
    width, height = int(cfg.get("width", width)), int(cfg.get("height", height))
    rate = int(cfg.get("frameRate", rate))
    bitrate = int(cfg.get("bitrate", cfg.get("bitRate", bitrate)))
    check_video_size(width, height, rate, ErrorCode.DEVICE_CONSTRAINTS)
    check_video_bitrate(bitrate, ErrorCode.DEVICE_CONSTRAINTS)
    return width, height, rate, bitrate


def check_video_bitrate(kbps: Any, code: int) -> None:
    if not isinstance(kbps, int) or isinstance(kbps, bool) or not 50 <= kbps <= 10000:
        raise ZegoError(code, f"video bitrate must be 50..10000 kbps, got {kbps!r}")


def check_video_size(width: Any, height: Any, rate: Any, code: int) -> None:
    """Raise ZegoError(code) unless the size is even and 1..4096, the rate 1..60."""
    for name, value, top in (("width", width, 4096), ("height", height, 4096),
                             ("frameRate", rate, 60)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ZegoError(code, f"{name} must be 1..{top}, got {value!r}")
    if width % 2 or height % 2:
        raise ZegoError(code, f"width and height must be even (yuv420p), got {width}x{height}")


class _VideoTrack(MediaStreamTrack):
    """Stamps frames with wall-clock pts (1/90000 s) and has an ``ended`` event."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._t0: float | None = None
        self.ended = asyncio.Event()

    def _stamp(self, frame: av.VideoFrame) -> av.VideoFrame:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        frame.pts = int((now - self._t0) * VIDEO_CLOCK)
        frame.time_base = VIDEO_TIME_BASE
        return frame

    def stop(self) -> None:
        super().stop()
        self.ended.set()


class VideoSource(_VideoTrack):
    """Push source for code (LiveKit's ``rtc.VideoSource``), and itself the track.

    ``captureFrame`` takes a numpy ``(height, width, 3)`` uint8 RGB array or an
    ``av.VideoFrame`` (scaled to ``width`` x ``height`` when it differs).  ``recv()``
    hands frames out at most ``frameRate`` times a second; when nothing new was
    captured it waits (video needs no filler, unlike audio).
    """

    def __init__(self, width: int = 640, height: int = 480, frameRate: int = 15) -> None:  # noqa: N803
        check_video_size(width, height, frameRate, ErrorCode.INPUT_PARAM_ERROR)
        super().__init__()
        self.width, self.height, self.frameRate = width, height, frameRate
        self._queue: deque[av.VideoFrame] = deque(maxlen=QUEUE_FRAMES)
        self._pacer = FramePacer(rate=frameRate, max_lag=2 / frameRate)
        self._index = 0
        self._arrived = asyncio.Event()
        self.dropped = 0  # frames replaced by a newer one before they were sent

    def captureFrame(self, frame: np.ndarray | av.VideoFrame) -> None:  # noqa: N802
        """Queue one frame; never blocks (the oldest queued frame goes when full).

        Raises ZegoError(INPUT_PARAM_ERROR) for a wrong type/shape and MediaStreamError
        once the track has ended.
        """
        if self.readyState != "live":
            raise MediaStreamError("VideoSource has ended")
        if isinstance(frame, np.ndarray):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                                f"captureFrame expects (h, w, 3) uint8 RGB, got "
                                f"{frame.shape} {frame.dtype}")
            video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        elif isinstance(frame, av.VideoFrame):
            video = frame
        else:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                            "captureFrame expects a numpy array or an av.VideoFrame")
        if video.width != self.width or video.height != self.height:
            video = video.reformat(width=self.width, height=self.height)
        if len(self._queue) == QUEUE_FRAMES:
            self.dropped += 1
        self._queue.append(video)
        self._arrived.set()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._index)
        while not self._queue:
            if self.readyState != "live":  # stopped while we slept: stop() already woke us
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()
        self._index += 1
        return self._stamp(self._queue.popleft())

    def stop(self) -> None:
        super().stop()
        self._arrived.set()


class VideoFileSource(_VideoTrack):
    """Any video PyAV opens: a file (``loop`` restarts it) or a capture device
    (``format="v4l2"``).  Decoding runs in a worker thread, one frame at a time, so a
    camera's blocking read or a large frame's decode never stalls the event loop."""

    def __init__(self, url: str, *, loop: bool = False, format: str | None = None,  # noqa: A002
                 options: dict[str, str] | None = None, what: str = "video file") -> None:
        super().__init__()
        self._url, self._looping, self._format = url, loop, format
        self._options = options or {}
        self._what = what
        self._container, self._frames = self._open()
        self._pacer = FramePacer(rate=VIDEO_CLOCK, max_lag=0.1)
        self._decoded_since_open = False

    def _open(self) -> tuple[InputContainer, Iterator[av.VideoFrame]]:
        try:
            container = av.open(self._url, format=self._format, options=self._options)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ZegoError(ErrorCode.DEVICE_UNAVAILABLE if self._format else
                            ErrorCode.DEVICE_CONSTRAINTS,
                            f"cannot open {self._what} {self._url!r}: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                            f"cannot open {self._what} {self._url!r}: no video stream")
        return container, container.decode(container.streams.video[0])

    def _next_frame(self) -> av.VideoFrame | None:
        """The next decoded frame (rewinding a looped file), or None at the end."""
        while True:
            try:
                frame = next(self._frames, None)
            except av.error.InvalidDataError:
                continue
            if frame is not None:
                self._decoded_since_open = True
                return frame
            if not (self._looping and self._decoded_since_open):
                return None
            self._container.close()
            self._container, self._frames = self._open()
            self._decoded_since_open = False
            self._pacer.reset()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await asyncio.to_thread(self._next_frame)
        if frame is None or self.readyState != "live":
            self.stop()
            raise MediaStreamError
        if frame.time is not None:
            await self._pacer.wait(int(frame.time * VIDEO_CLOCK))
        return self._stamp(frame)

    def stop(self) -> None:
        super().stop()
        self._container.close()


def list_cameras() -> list[dict[str, str]]:
    """ZegoDeviceInfo for each V4L2 capture node (``/dev/video*``)."""
    cameras = []
    for path in sorted(glob.glob("/dev/video*")):
        name_file = f"/sys/class/video4linux/{os.path.basename(path)}/name"
        try:
            with open(name_file) as f:
                name = f.read().strip()
        except OSError:
            name = path
        cameras.append({"deviceName": name, "deviceID": path})
    return cameras


def open_camera(device_id: str | None, width: int, height: int, rate: int) -> VideoFileSource:
    """A camera through PyAV's V4L2 input; ZEGO's 1103061 naming what is missing."""
    cameras = list_cameras()
    if device_id in (None, "", "default"):
        if not cameras:
            raise ZegoError(ErrorCode.DEVICE_UNAVAILABLE,
                            "no camera: no /dev/video* capture device on this machine")
        device_id = cameras[0]["deviceID"]
    elif device_id not in {c["deviceID"] for c in cameras}:
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"no camera with deviceID {device_id!r}")
    assert device_id is not None
    return VideoFileSource(device_id, format="v4l2", what="camera",
                           options={"video_size": f"{width}x{height}",
                                    "framerate": str(rate)})
