"""Audio tracks to publish: pushed PCM (bots, TTS), a file, and a test tone.

Every source *is* an aiortc ``MediaStreamTrack`` of kind ``"audio"``, so it can be
handed straight to ``RTCPeerConnection.addTrack`` (or to zego_py's stream APIs).
``recv()`` returns s16 frames of 960 samples (20 ms) at 48 kHz, mono or stereo,
with ``pts`` counting samples from 0, paced to the wall clock by ``FramePacer``.

Each track has an ``ended`` ``asyncio.Event`` that is set when it ends (end of
file, or ``stop()``); aiortc's ``track.on("ended", ...)`` fires as well.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterator

import av
import av.error
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet

from ..errors import ErrorCode, ZegoError
from .backlog import StandingBacklog
from .pcm import FRAME_SAMPLES, SAMPLE_RATE, int16_to_frame, to_int16

__all__ = ["AudioSource", "FileSource", "FramePacer", "ToneSource"]

_LAYOUTS = {1: "mono", 2: "stereo"}
_SPLICE_SAMPLES = SAMPLE_RATE // 400  # 2.5 ms crossfade where a standing backlog is cut


def _check_channels(channels: int) -> str:
    if channels not in _LAYOUTS:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, f"channels must be 1 or 2, got {channels!r}")
    return _LAYOUTS[channels]


class FramePacer:
    """Sleeps until each frame is due, so a track yields audio at real-time speed.

    The clock is anchored at the first ``wait()``: frame ``pts`` is due at
    ``start + pts / rate``.  A consumer that falls behind gets at most ``max_lag``
    seconds (~3 frames) of catch-up burst; beyond that the clock is re-anchored,
    because a long burst would only overflow the receiver's jitter buffer.
    """

    def __init__(
        self,
        rate: int = SAMPLE_RATE,
        max_lag: float = 0.06,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._max_lag = max_lag
        self._clock = clock
        self._start: float | None = None

    async def wait(self, pts: int) -> None:
        """Return when the frame starting at sample ``pts`` should be handed out."""
        now = self._clock()
        if self._start is None:
            self._start = now - pts / self._rate
            return
        delay = self._start + pts / self._rate - now
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > self._max_lag:
            self._start = now - pts / self._rate

    def reset(self) -> None:
        """Re-anchor at the next ``wait()``."""
        self._start = None


class _PacedAudioTrack(MediaStreamTrack):
    """Shared ``recv()``: pace, ask the subclass for 960 samples, wrap them as a frame."""

    kind = "audio"

    def __init__(self, channels: int) -> None:
        layout = _check_channels(channels)
        super().__init__()
        self._channels = channels
        self._layout = layout
        self._pts = 0
        self._pacer = FramePacer()
        self.ended = asyncio.Event()
        """Set when the track ends (end of file or ``stop()``); ``await track.ended.wait()``."""

    @property
    def channels(self) -> int:
        return self._channels

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait(self._pts)
        if self.readyState != "live":
            raise MediaStreamError
        pcm = self._next_pcm()
        if pcm is None:
            self.stop()
            raise MediaStreamError
        frame = int16_to_frame(pcm, self._pts)
        self._pts += FRAME_SAMPLES
        return frame

    def _next_pcm(self) -> np.ndarray | None:
        """The next (960, channels) int16 block, or None when the track has no more audio."""
        raise NotImplementedError

    def stop(self) -> None:
        super().stop()
        self.ended.set()


class AudioSource(_PacedAudioTrack):
    """Push source for bots and AI agents (LiveKit's ``rtc.AudioSource``), and itself the track.

    ``captureFrame`` takes int16 PCM of any length at ``sampleRate``, resamples it
    to 48 kHz and queues it; when more than ``queueSizeMs`` is queued it waits for
    room, so a TTS can push faster than real time in bounded memory.  ``recv()``
    plays the queue out at real-time pace and sends silence when it runs dry (a
    partly filled frame is padded), so the sender never stalls.  A producer that
    keeps real-time pace behind a standing backlog (it pushed before the sender
    started, or caught up after a stall) has the backlog dropped within 0.5 s (once
    it has pushed for 1.5 s), so its latency returns to one frame; a producer that is
    ahead (``captureFrame`` waits for room, the queue drains, or it pushes more than
    real time over 1.5 s) loses nothing (``backlog.py``, docs/audio-devices.md).  Call
    from the event loop's thread.
    """

    def __init__(
        self, sampleRate: int = SAMPLE_RATE, channels: int = 1, queueSizeMs: int = 1000
    ) -> None:
        super().__init__(channels)
        if not isinstance(sampleRate, int) or not 8000 <= sampleRate <= 384000:
            raise ZegoError(
                ErrorCode.INPUT_PARAM_ERROR, f"sampleRate must be 8000..384000, got {sampleRate!r}"
            )
        if not isinstance(queueSizeMs, int) or queueSizeMs <= 0:
            raise ZegoError(
                ErrorCode.INPUT_PARAM_ERROR, f"queueSizeMs must be positive, got {queueSizeMs!r}"
            )
        self._sample_rate = sampleRate
        self._capacity = queueSizeMs * SAMPLE_RATE // 1000
        self._resampler: av.AudioResampler | None = None
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0  # samples (48 kHz) in _queue
        self._pending = 0  # samples accepted by captureFrame but still waiting for room
        self._captured = 0  # samples accepted so far
        self._done = 0  # samples played out or discarded; waitForPlayout waits on this
        self._generation = 0  # bumped by clearQueue so blocked captures drop their rest
        self._capture_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._backlog = StandingBacklog()

    @property
    def sampleRate(self) -> int:
        """Rate of the PCM given to ``captureFrame`` (the track itself is always 48 kHz)."""
        return self._sample_rate

    @property
    def queuedDuration(self) -> float:
        """Seconds of audio queued and not yet handed to the sender."""
        return self._queued / SAMPLE_RATE

    async def captureFrame(self, pcm: np.ndarray) -> None:
        """Queue int16 PCM, shaped ``(n,)`` for mono or ``(n, channels)``; waits while full.

        Raises ZegoError(INPUT_PARAM_ERROR) for a wrong dtype/shape and
        MediaStreamError once the track has ended.
        """
        generation = self._generation
        data = self._check_pcm(pcm)
        if self.readyState != "live":
            raise MediaStreamError("AudioSource has ended")
        async with self._capture_lock:
            if generation != self._generation:
                return  # clearQueue() ran while we waited for the lock
            await self._enqueue(self._resample(data), generation)

    def clearQueue(self) -> None:
        """Drop everything captured so far (barge-in), including blocked ``captureFrame`` rests."""
        self._done += self._queued + self._pending
        self._queue.clear()
        self._queued = 0
        self._pending = 0
        self._generation += 1
        self._resampler = None
        self._backlog.reset()
        self._signal()

    async def waitForPlayout(self) -> None:
        """Return once everything captured so far was handed to the sender (or cleared)."""
        async with self._capture_lock:
            self._flush_resampler()
            target = self._captured
        while self._done < target:
            await self._changed.wait()

    def stop(self) -> None:
        if self.readyState == "live":
            self.clearQueue()
        super().stop()

    # internals

    def _check_pcm(self, pcm: np.ndarray) -> np.ndarray:
        data = np.asarray(pcm)
        if data.dtype != np.int16:
            raise ZegoError(
                ErrorCode.INPUT_PARAM_ERROR, f"captureFrame expects int16 PCM, got {data.dtype}"
            )
        if data.ndim == 1 and self._channels == 1:
            return data.reshape(-1, 1)
        if data.ndim == 2 and data.shape[1] == self._channels:
            return data
        raise ZegoError(
            ErrorCode.INPUT_PARAM_ERROR,
            f"captureFrame expects shape (n,) or (n, {self._channels}), got {data.shape}",
        )

    def _resample(self, data: np.ndarray) -> np.ndarray:
        """To 48 kHz, keeping the resampler's filter state across calls (no clicks at joins)."""
        if self._sample_rate == SAMPLE_RATE or data.shape[0] == 0:
            return data.copy()  # the caller may reuse its buffer
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout=self._layout, rate=SAMPLE_RATE)
        frame = int16_to_frame(data, None, self._sample_rate)
        return self._frames_to_pcm(self._resampler.resample(frame))

    def _flush_resampler(self) -> None:
        """Queue the ~1 ms the resampler holds back, so the end of an utterance plays too."""
        if self._resampler is None:
            return
        tail = self._frames_to_pcm(self._resampler.resample(None))
        self._resampler = None
        if tail.shape[0]:
            self._captured += tail.shape[0]
            self._queue.append(tail)
            self._queued += tail.shape[0]

    def _frames_to_pcm(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros((0, self._channels), dtype=np.int16)
        return np.concatenate([f.to_ndarray().reshape(-1, self._channels) for f in frames])

    async def _enqueue(self, data: np.ndarray, generation: int) -> None:
        total = data.shape[0]
        self._backlog.pushed(total)
        self._captured += total
        self._pending += total
        pos = 0
        try:
            while pos < total:
                if generation != self._generation:
                    return  # cleared: clearQueue() already counted the rest as done
                room = self._capacity - self._queued
                if room <= 0:
                    self._backlog.producer_waited()
                    await self._changed.wait()
                    continue
                n = min(room, total - pos)
                self._queue.append(data[pos : pos + n])
                self._queued += n
                self._pending -= n
                pos += n
        finally:
            if pos < total and generation == self._generation:
                # Cancelled while waiting for room: the rest will never play.
                self._pending -= total - pos
                self._done += total - pos
                self._signal()

    def _signal(self) -> None:
        """Wake everything waiting for room or for playout progress."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _next_pcm(self) -> np.ndarray:
        out = np.zeros((FRAME_SAMPLES, self._channels), dtype=np.int16)
        taken = self._take(FRAME_SAMPLES)
        out[: taken.shape[0]] = taken
        self._done += taken.shape[0]
        surplus = self._backlog.observe(self._queued)
        if surplus:
            self._skip(surplus, out)
        if taken.shape[0] or surplus:
            self._signal()
        return out

    def _take(self, count: int) -> np.ndarray:
        """Remove up to ``count`` samples from the head of the queue and return them."""
        parts: list[np.ndarray] = []
        filled = 0
        while filled < count and self._queue:
            head = self._queue[0]
            n = min(count - filled, head.shape[0])
            parts.append(head[:n])
            filled += n
            if n == head.shape[0]:
                self._queue.popleft()
            else:
                self._queue[0] = head[n:]
        self._queued -= filled
        if not parts:
            return np.zeros((0, self._channels), dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _skip(self, count: int, out: np.ndarray) -> None:
        """Drop a standing backlog of ``count`` samples (backlog.py says when).

        The outgoing frame's last 2.5 ms fade into the audio just before the cut, so
        the splice continues smoothly into what is queued after it (no click).
        """
        dropped = self._take(count)
        self._done += dropped.shape[0]
        fade = min(_SPLICE_SAMPLES, dropped.shape[0], out.shape[0])
        if not fade:
            return
        ramp = np.linspace(0.0, 1.0, fade)[:, None]
        mixed = out[-fade:] * (1.0 - ramp) + dropped[-fade:] * ramp
        out[-fade:] = np.rint(mixed).astype(np.int16)


class FileSource(_PacedAudioTrack):
    """Plays any file PyAV can open, decoded lazily one packet at a time.

    Audio is converted to 48 kHz s16 (``channels`` 1 or 2) and rechunked into
    20 ms frames.  With ``loop=True`` it restarts seamlessly at the end; otherwise
    the track ends after the last frame (``recv`` raises MediaStreamError, ``ended``
    is set).  A path PyAV cannot open raises ZegoError(DEVICE_CONSTRAINTS).
    """

    def __init__(self, path: str, loop: bool = False, channels: int = 1) -> None:
        super().__init__(channels)
        self._path = path
        self._looping = loop  # not _loop: pyee's emitter keeps its event loop there
        self._container, self._packets = self._open()
        self._resampler = self._new_resampler()
        self._ready: deque[np.ndarray] = deque()
        self._finished = False
        self._decoded_since_open = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def loop(self) -> bool:
        return self._looping

    def stop(self) -> None:
        super().stop()
        self._container.close()

    def _open(self) -> tuple[InputContainer, Iterator[Packet[AudioStream]]]:
        try:
            container = av.open(self._path)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ZegoError(
                ErrorCode.DEVICE_CONSTRAINTS, f"cannot open audio file {self._path!r}: {exc}"
            ) from exc
        if not container.streams.audio:
            container.close()
            raise ZegoError(
                ErrorCode.DEVICE_CONSTRAINTS,
                f"cannot open audio file {self._path!r}: no audio stream",
            )
        return container, container.demux(container.streams.audio[0])

    def _new_resampler(self) -> av.AudioResampler:
        return av.AudioResampler(
            format="s16", layout=self._layout, rate=SAMPLE_RATE, frame_size=FRAME_SAMPLES
        )

    def _next_pcm(self) -> np.ndarray | None:
        while not self._ready:
            if not self._decode_more():
                return None
        return self._ready.popleft()

    def _decode_more(self) -> bool:
        """Decode one packet into ``_ready``; False once the file is exhausted."""
        if self._finished:
            return False
        packet = next(self._packets, None)
        if packet is None:
            if self._looping and self._decoded_since_open:
                self._rewind()
                return True
            self._finished = True
            self._push(self._resampler.resample(None))  # the short last frame, padded
            return bool(self._ready)
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            return True  # skip a corrupt packet rather than end the track
        for frame in frames:
            frame.pts = None  # timestamps restart on loop; the resampler needs none
            self._decoded_since_open = True
            self._push(self._resampler.resample(frame))
        return True

    def _rewind(self) -> None:
        """Reopen rather than seek: reliable for every format, and keeps the resampler's state."""
        self._container.close()
        self._container, self._packets = self._open()
        self._decoded_since_open = False

    def _push(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            pcm = frame.to_ndarray().reshape(-1, self._channels)
            if pcm.shape[0] < FRAME_SAMPLES:
                pad = np.zeros((FRAME_SAMPLES - pcm.shape[0], self._channels), dtype=np.int16)
                pcm = np.concatenate([pcm, pad])
            self._ready.append(pcm)


class ToneSource(_PacedAudioTrack):
    """A continuous sine (phase carries across frames) for tests and benches.

    ``amplitude`` (0..1 of full scale) and ``frequency`` can be changed while
    playing; the change applies from the next frame.
    """

    def __init__(self, frequency: float, amplitude: float = 0.3, channels: int = 1) -> None:
        super().__init__(channels)
        self._frequency = 0.0
        self._amplitude = 0.0
        self._phase = 0.0
        self.frequency = frequency
        self.amplitude = amplitude

    @property
    def frequency(self) -> float:
        return self._frequency

    @frequency.setter
    def frequency(self, value: float) -> None:
        if not 0 < value < SAMPLE_RATE / 2:
            raise ZegoError(
                ErrorCode.INPUT_PARAM_ERROR, f"frequency must be in (0, 24000) Hz, got {value!r}"
            )
        self._frequency = float(value)

    @property
    def amplitude(self) -> float:
        return self._amplitude

    @amplitude.setter
    def amplitude(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise ZegoError(
                ErrorCode.INPUT_PARAM_ERROR, f"amplitude must be in [0, 1], got {value!r}"
            )
        self._amplitude = float(value)

    def _next_pcm(self) -> np.ndarray:
        step = 2 * math.pi * self._frequency / SAMPLE_RATE
        wave = np.sin(self._phase + step * np.arange(FRAME_SAMPLES)) * (self._amplitude * 32767)
        self._phase = (self._phase + step * FRAME_SAMPLES) % (2 * math.pi)
        mono = to_int16(wave)
        return np.repeat(mono[:, None], self._channels, axis=1)
