"""Echo cancellation, noise suppression and gain control for the microphone (optional).

WebRTC's audio processing module (AEC3, NS, AGC2, high-pass) through the
``pywebrtc-audio`` package, chosen in shared/reference/aec.md.  It is an optional extra::

    pip install 'zego_py[aec]'

Without it ``AudioProcessing.create`` returns None and callers carry on unprocessed
(tell the user to wear headphones).

How it is wired (one ``AudioProcessing`` per call):

- render side, *any* thread: ``push_render(pcm)`` with the final mix that goes to the
  speaker (48 kHz int16 mono, any block size).  It only appends to a bounded FIFO, so it
  is safe from a PortAudio callback.
- capture side, *one* thread (the event loop): ``process_capture(pcm)`` with microphone
  PCM; it runs the processor on exact 10 ms blocks, pairing each with the next 10 ms of
  the render FIFO (a small jitter buffer; silence when nothing plays), and returns as
  many samples as it was given.  20 ms microphone frames are two whole blocks, so this
  adds no latency.
- ``ProcessedTrack(source, apm)`` wraps a microphone track so that what it yields is
  already processed; publish it (or put it in a local stream) instead of the raw track.

The processor itself is not thread-safe; only ``process_capture`` touches it.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .mixer import Mixer
from .pcm import SAMPLE_RATE, frame_to_mono_int16, int16_to_frame

__all__ = ["INSTALL_HINT", "AudioProcessing", "ProcessedTrack", "TappedMixer", "available"]

log = logging.getLogger("zego_py.media.aec")

INSTALL_HINT = "pip install 'zego_py[aec]' (pywebrtc-audio)"

BLOCK_MS = 10


def _module() -> Any:
    try:
        import pywebrtc_audio
    except ImportError:
        return None
    return pywebrtc_audio


def available() -> bool:
    """Whether the optional processing package can be imported."""
    return _module() is not None


class AudioProcessing:
    """AEC / NS / AGC on 48 kHz mono int16, in 10 ms blocks, with a speaker-mix reference."""

    def __init__(self, processor: Any, *, echo_cancellation: bool, noise_suppression: bool,
                 auto_gain_control: bool, sample_rate: int = SAMPLE_RATE,
                 render_prefill_ms: int = 40, max_render_ms: int = 300) -> None:
        self._apm = processor
        self._ns_level, self._stream_delay_ms = 2, 0
        self.echo_cancellation = echo_cancellation
        self.noise_suppression = noise_suppression
        self.auto_gain_control = auto_gain_control
        self.sample_rate = sample_rate
        self.block = sample_rate * BLOCK_MS // 1000
        self._render: collections.deque[np.ndarray] = collections.deque()
        self._render_len = 0
        self._render_max = sample_rate * max_render_ms // 1000
        self._render_prefill = sample_rate * render_prefill_ms // 1000
        self._render_flowing = False  # the FIFO reached the prefill since it last ran dry
        self._render_lock = threading.Lock()
        self._in = np.zeros(0, dtype=np.int16)  # capture samples short of a whole block
        self._out = np.zeros(0, dtype=np.int16)  # processed samples not yet handed back
        self.render_dropped = 0
        """Reference samples dropped because the render FIFO overflowed (clock drift)."""
        self.render_underruns = 0
        """Times the reference ran dry while audio was playing (the AEC then leaks echo)."""

    @classmethod
    def create(cls, *, echo_cancellation: bool = True, noise_suppression: bool = True,
               auto_gain_control: bool = True, ns_level: int = 2, stream_delay_ms: int = 0,
               sample_rate: int = SAMPLE_RATE) -> AudioProcessing | None:
        """A processor with the given stages, or None when the package is missing or all
        stages are off."""
        if not (echo_cancellation or noise_suppression or auto_gain_control):
            return None
        return cls.create_switchable(echo_cancellation=echo_cancellation,
                                     noise_suppression=noise_suppression,
                                     auto_gain_control=auto_gain_control, ns_level=ns_level,
                                     stream_delay_ms=stream_delay_ms, sample_rate=sample_rate)

    @classmethod
    def create_switchable(cls, *, echo_cancellation: bool, noise_suppression: bool,
                          auto_gain_control: bool, ns_level: int = 2, stream_delay_ms: int = 0,
                          sample_rate: int = SAMPLE_RATE) -> AudioProcessing | None:
        """Like ``create``, but all stages off gives a processor that passes audio through
        until ``configure`` turns one on (setAudioConfig after createStream).  None only
        when the package is missing."""
        if _module() is None:
            return None
        stages = {"echo_cancellation": echo_cancellation,
                  "noise_suppression": noise_suppression,
                  "auto_gain_control": auto_gain_control}
        apm = cls(None, sample_rate=sample_rate, **stages)
        apm._ns_level, apm._stream_delay_ms = ns_level, stream_delay_ms
        apm._apm = apm._new_processor()
        return apm

    def _new_processor(self) -> Any:
        """pywebrtc-audio fixes the stages at construction: None when all are off."""
        if not (self.echo_cancellation or self.noise_suppression or self.auto_gain_control):
            return None
        return _module().AudioProcessor(
            sample_rate=self.sample_rate, num_channels=1,
            echo_cancellation=self.echo_cancellation, noise_suppression=self.noise_suppression,
            auto_gain_control=self.auto_gain_control, high_pass_filter=True,
            ns_level=self._ns_level, stream_delay_ms=self._stream_delay_ms)

    @property
    def active(self) -> bool:
        """Whether any stage runs (otherwise ``ProcessedTrack`` passes frames through)."""
        return self._apm is not None

    def configure(self, *, echo_cancellation: bool, noise_suppression: bool,
                  auto_gain_control: bool) -> None:
        """Change the stages live (setAudioConfig), on the capture thread (the loop).

        pywebrtc-audio cannot switch a stage of a running processor, so a new one takes
        over at the next 10 ms block: its echo path and noise estimate start afresh
        (AEC3 re-converges in about a second); the echo reference FIFO carries on.
        """
        wanted = (echo_cancellation, noise_suppression, auto_gain_control)
        if wanted == (self.echo_cancellation, self.noise_suppression, self.auto_gain_control):
            return
        self.echo_cancellation, self.noise_suppression, self.auto_gain_control = wanted
        self._apm = self._new_processor()

    def describe(self) -> str:
        """E.g. "AEC+NS+AGC"."""
        stages = [name for name, on in (("AEC", self.echo_cancellation),
                                        ("NS", self.noise_suppression),
                                        ("AGC", self.auto_gain_control)) if on]
        return "+".join(stages)

    # ------------------------------------------------------------------ render (any thread)
    def push_render(self, pcm: np.ndarray) -> None:
        """Queue speaker output (int16 mono at ``sample_rate``) as the echo reference."""
        data = np.asarray(pcm, dtype=np.int16).reshape(-1).copy()
        if data.size == 0:
            return
        with self._render_lock:
            self._render.append(data)
            self._render_len += data.size
            if self._render_len > self._render_max:
                self._drop_oldest(self._render_len - self._render_max)

    def _drop_oldest(self, samples: int) -> None:
        """Drop ``samples`` of the oldest reference (the caller holds the lock)."""
        while samples > 0 and self._render:
            head = self._render[0]
            take = min(samples, head.size)
            if take == head.size:
                self._render.popleft()
            else:
                self._render[0] = head[take:]
            self._render_len -= take
            self.render_dropped += take
            samples -= take

    def _pop_render(self) -> np.ndarray:
        """The next 10 ms of reference, through a small jitter buffer.

        Speaker blocks and microphone blocks arrive in bursts on different threads; the
        reference is held back by ``render_prefill_ms`` (the echo comes later still, after
        the device buffers) so that a burst of microphone blocks does not find it empty.
        """
        out = np.zeros(self.block, dtype=np.int16)
        with self._render_lock:
            if not self._render_flowing:
                if self._render_len < self._render_prefill:
                    return out  # nothing playing, or still buffering after a gap
                self._render_flowing = True
            if self._render_len > 2 * self._render_prefill:
                # The speaker ran while the mic did not (a stream open stalls ~2 s): drop
                # the backlog so the reference keeps a steady, short lead over the echo.
                self._drop_oldest(self._render_len - self._render_prefill)
            filled = 0
            while filled < self.block and self._render:
                head = self._render[0]
                take = min(self.block - filled, head.size)
                out[filled:filled + take] = head[:take]
                filled += take
                if take == head.size:
                    self._render.popleft()
                else:
                    self._render[0] = head[take:]
            self._render_len -= filled
            if filled < self.block:
                self._render_flowing = False
                self.render_underruns += 1
        return out

    # ------------------------------------------------------------------ capture (one thread)
    def process_capture(self, pcm: np.ndarray) -> np.ndarray:
        """Process microphone PCM (int16 mono); returns the same number of samples."""
        data = np.asarray(pcm, dtype=np.int16).reshape(-1)
        buf = np.concatenate([self._in, data]) if self._in.size else data
        whole = buf.size - buf.size % self.block
        done = [self._process_block(buf[i:i + self.block]) for i in range(0, whole, self.block)]
        self._in = buf[whole:].copy()
        out = np.concatenate([self._out, *done]) if done else self._out
        if out.size < data.size:  # only before the first whole block: pad, delaying by < 10 ms
            out = np.concatenate([np.zeros(data.size - out.size, dtype=np.int16), out])
        self._out = out[data.size:]
        return out[:data.size]

    def _process_block(self, near: np.ndarray) -> np.ndarray:
        if self._apm is None:  # every stage switched off: pass through
            return near.copy()
        if self.echo_cancellation:
            return np.asarray(self._apm.process(near, self._pop_render()), dtype=np.int16)
        return np.asarray(self._apm.process(near), dtype=np.int16)

    def reset(self) -> None:
        """Forget the echo path and noise estimates (e.g. after changing device)."""
        if self._apm is not None:
            self._apm.reset()
        with self._render_lock:
            self._render.clear()
            self._render_len = 0
            self._render_flowing = False
        self._in = np.zeros(0, dtype=np.int16)
        self._out = np.zeros(0, dtype=np.int16)


class ProcessedTrack(MediaStreamTrack):
    """An audio track yielding ``source``'s frames after ``apm.process_capture`` (mono s16)."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, apm: AudioProcessing) -> None:
        super().__init__()
        self.source = source
        self.apm = apm

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        assert isinstance(frame, av.AudioFrame)
        if frame.sample_rate != self.apm.sample_rate or not self.apm.active:
            # not ours to process (another rate), or every stage is off (setAudioConfig)
            return frame
        pcm = frame_to_mono_int16(frame)
        return int16_to_frame(self.apm.process_capture(pcm), frame.pts, frame.sample_rate)

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class TappedMixer(Mixer):
    """A speaker ``Mixer`` that also hands every mixed block to ``tap``.

    Give it to ``devices.SpeakerOutput`` with ``tap=apm.push_render`` and the echo
    reference is exactly what went to the device, on the device's clock (``tap`` runs on
    the PortAudio thread, which ``push_render`` allows).
    """

    def __init__(self, tap: Callable[[np.ndarray], None], sample_rate: int = SAMPLE_RATE,
                 **kwargs: Any) -> None:
        super().__init__(sample_rate, **kwargs)
        self._tap = tap

    def mix_into(self, out: np.ndarray) -> None:
        super().mix_into(out)
        try:
            self._tap(out)
        except Exception:  # never break the audio thread over the reference
            log.exception("echo reference tap failed")
