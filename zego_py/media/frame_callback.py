"""ZEGO's raw audio-frame callbacks, delivered off the media path.

``setCaptureAudioFrameCallback(localStream, callback, options)`` and
``setAudioFrameCallback(streamID, callback, options)`` hand user code the PCM of what a
publisher sends (after processing and capture volume) and of what a player decodes.
ZEGO's Web ``AudioFrameOptions`` choose the format: ``sampleRate`` (8000 ... 48000,
default the source's), ``channelCount`` (1 or 2, default the source's), ``frameSize``
(samples per channel per callback: 256 ... 16384, default 4096) and ``bitDepth`` (32:
float32 in [-1, 1], the default; 16: int16).  Each call gets ZEGO's ``ZegoAudioFrame``:
``{"channels": [one numpy array per channel], "channelCount": n, "sampleRate": hz}``.

Why a thread: the media path (the encoder's ``recv``, the player's pump) only copies
each 20 ms frame into a bounded queue and never waits.  A worker thread resamples with
PyAV's (stateful) resampler, cuts ``frameSize`` blocks and calls the callback, so a
callback that blocks (``time.sleep``, file I/O) stalls only its own thread.  ``async
def`` callbacks run on the engine's event loop, one at a time, the worker waiting for
each.  A callback that falls more than ``QUEUE_FRAMES`` behind loses the newest frames
(counted in ``dropped`` and logged), never the media path's time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from ..errors import ErrorCode, ZegoError

__all__ = ["AudioFrameOptions", "AudioFrameTap", "FRAME_SIZES", "SAMPLE_RATES"]

log = logging.getLogger("zego_py.media")

FRAME_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
QUEUE_FRAMES = 50
"""20 ms frames (1 s) waiting for a slow callback before new ones are dropped."""
DROP_LOG_EVERY = 50


@dataclass(frozen=True)
class AudioFrameOptions:
    """ZEGO's ``AudioFrameOptions``; ``None`` keeps the source's rate / channels."""

    frameSize: int = 4096  # noqa: N815 - ZEGO's names
    sampleRate: int | None = None  # noqa: N815
    channelCount: int | None = None  # noqa: N815
    bitDepth: int = 32  # noqa: N815

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> AudioFrameOptions:
        """Check ZEGO's allowed values; anything else is 1100001 (input param error)."""
        opts = dict(options or {})
        out = cls(frameSize=opts.pop("frameSize", 4096), sampleRate=opts.pop("sampleRate", None),
                  channelCount=opts.pop("channelCount", None), bitDepth=opts.pop("bitDepth", 32))
        if opts:
            log.warning("AudioFrameOptions: ignoring unknown %s", sorted(opts))
        if out.frameSize not in FRAME_SIZES:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, f"frameSize must be one of {FRAME_SIZES}")
        if out.sampleRate is not None and out.sampleRate not in SAMPLE_RATES:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                            f"sampleRate must be one of {SAMPLE_RATES}")
        if out.channelCount not in (None, 1, 2):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "channelCount must be 1 or 2")
        if out.bitDepth not in (16, 32):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "bitDepth must be 16 or 32")
        return out


_Item = tuple[np.ndarray, str, str, int]  # samples, sample format, layout, rate


class AudioFrameTap:
    """One registered callback: ``push(frame)`` from the media path, calls on a thread."""

    def __init__(self, callback: Callable[[dict[str, Any]], Any], options: AudioFrameOptions,
                 *, name: str) -> None:
        self.callback = callback
        self.options = options
        self.name = name
        self.dropped = 0
        """Frames lost because the callback fell ``QUEUE_FRAMES`` behind."""
        self.delivered = 0
        """Callbacks made."""
        self.failed = 0
        """Callbacks (or conversions) that raised; the tap carries on."""
        self._loop = asyncio.get_running_loop()
        self._queue: queue.Queue[_Item | None] = queue.Queue(QUEUE_FRAMES)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"zego-frames-{name}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ media path
    def push(self, frame: av.AudioFrame) -> None:
        """Queue a copy of ``frame``; never blocks (a full queue drops it and says so)."""
        if self._stopped.is_set():
            return
        item = (frame.to_ndarray().copy(), frame.format.name, frame.layout.name,
                int(frame.sample_rate))
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if self.dropped % DROP_LOG_EVERY == 1:
                log.warning("audio frame callback of %s is too slow: %d frames of 20 ms "
                            "dropped so far", self.name, self.dropped)

    def close(self) -> None:
        """Stop delivering (a callback already running finishes)."""
        self._stopped.set()
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        blocks = _Blocks(self.options)
        while not self._stopped.is_set():
            item = self._queue.get()
            if item is None or self._stopped.is_set():
                return
            try:
                for zego_frame in blocks.feed(*item):
                    self._deliver(zego_frame)
                    if self._stopped.is_set():
                        return
            except Exception:
                self.failed += 1
                if self.failed % DROP_LOG_EVERY == 1:  # not 50 tracebacks a second
                    log.exception("audio frame callback of %s failed (%d times so far)",
                                  self.name, self.failed)

    def _deliver(self, zego_frame: dict[str, Any]) -> None:
        result = self.callback(zego_frame)
        self.delivered += 1
        if not inspect.isawaitable(result):
            return
        try:
            future = asyncio.run_coroutine_threadsafe(_awaited(result), self._loop)
        except RuntimeError:  # the loop closed
            self._stopped.set()
            return
        while not self._stopped.is_set():
            try:
                future.result(timeout=0.5)
                return
            except concurrent.futures.TimeoutError:
                continue
        future.cancel()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class _Blocks:
    """Resample to the requested format and cut ``frameSize`` blocks (worker thread)."""

    def __init__(self, options: AudioFrameOptions) -> None:
        self.options = options
        self._resampler: av.AudioResampler | None = None
        self._source: tuple[str, str, int] | None = None
        self._pending: np.ndarray | None = None  # (channels, samples), output format
        self._rate = 0

    def feed(self, data: np.ndarray, fmt: str, layout: str, rate: int) -> list[dict[str, Any]]:
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate = rate
        if self._source != (fmt, layout, rate):  # first frame, or a new track's format
            self._rate = self.options.sampleRate or rate
            self._resampler = av.AudioResampler(  # the rate only: channels are ours below
                format="fltp" if self.options.bitDepth == 32 else "s16p",
                layout=layout, rate=self._rate)
            self._source = (fmt, layout, rate)
        assert self._resampler is not None
        out = [f.to_ndarray() for f in self._resampler.resample(frame)]
        if not out:
            return []
        chunk = _channels(np.concatenate(out, axis=1), self.options.channelCount)
        pending = (chunk if self._pending is None or self._pending.shape[0] != chunk.shape[0]
                   else np.concatenate([self._pending, chunk], axis=1))
        size = self.options.frameSize
        frames = []
        while pending.shape[1] >= size:
            block, pending = pending[:, :size], pending[:, size:]
            frames.append({"channels": [np.ascontiguousarray(ch) for ch in block],
                           "channelCount": int(block.shape[0]), "sampleRate": self._rate})
        self._pending = pending
        return frames


def _channels(planar: np.ndarray, count: int | None) -> np.ndarray:
    """Web Audio's up/down-mix: mono to stereo copies, stereo to mono averages."""
    if count is None or planar.shape[0] == count:
        return planar
    if count == 2:
        return np.repeat(planar[:1], 2, axis=0)
    mixed = planar.astype(np.float32).mean(axis=0, keepdims=True)
    return mixed.astype(planar.dtype) if planar.dtype.kind == "f" else np.rint(mixed).astype(
        planar.dtype)
