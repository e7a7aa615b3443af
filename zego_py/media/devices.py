"""Real audio devices through PortAudio (sounddevice): enumeration, microphone, speaker.

This is the only module that imports ``sounddevice``, and only lazily: ``import
sounddevice`` raises ``OSError`` when ``libportaudio2`` is missing, and ``import zego_py``
must keep working there (custom capture and the bundled server need no devices). Device
calls then raise ``ZegoError(1103061)`` naming the package to install.

Device IDs follow ZEGO Web: ``"default"`` is the system default, ``"pulse:<name>"`` a
PulseAudio source or sink (pulse.py), any other ID is the PortAudio device index as a
string (see docs/audio-devices.md).

Threading: PortAudio calls our callbacks on its own thread. The microphone hands each
block to the asyncio loop with ``call_soon_threadsafe`` and never blocks; the speaker
reads from a lock-protected ``Mixer`` and plays silence on underrun.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from types import ModuleType
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import ErrorCode, ZegoError
from . import pulse
from .mixer import Mixer
from .pcm import int16_to_frame
from .video_sources import list_cameras

__all__ = [
    "DEFAULT_DEVICE_ID",
    "MicrophoneTrack",
    "SpeakerOutput",
    "check_system_requirements",
    "list_devices",
    "portaudio_available",
    "require_portaudio",
]

logger = logging.getLogger("zego_py.media.devices")

DEFAULT_DEVICE_ID = "default"
"""ZEGO Web's deviceID for "whatever the system default is"."""

_PORTAUDIO_HINT = (
    "PortAudio library not found: install the system package libportaudio2 "
    "(Debian/Ubuntu: apt-get install libportaudio2, or run scripts/install-system-deps.sh)"
)

_sd_module: ModuleType | None = None
_sd_error: str | None = None
_sd_lock = threading.Lock()


def _load_sounddevice() -> ModuleType | None:
    """Import sounddevice once; remember the failure so we don't retry on every call."""
    global _sd_module, _sd_error
    with _sd_lock:
        if _sd_module is None and _sd_error is None:
            try:
                import sounddevice

                _sd_module = sounddevice
            except OSError as exc:  # "PortAudio library not found"
                _sd_error = str(exc)
            except ImportError as exc:  # the Python package itself is missing
                _sd_error = f"sounddevice is not installed: {exc}"
        return _sd_module


def portaudio_available() -> bool:
    """Whether the PortAudio library (and sounddevice) can be loaded."""
    return _load_sounddevice() is not None


def require_portaudio() -> Any:
    """The sounddevice module, or ZegoError(1103061) telling the user to install libportaudio2."""
    sd = _load_sounddevice()
    if sd is None:
        raise ZegoError(ErrorCode.DEVICE_UNAVAILABLE, f"{_PORTAUDIO_HINT} [{_sd_error}]")
    return sd


def _query_devices() -> list[dict[str, Any]]:
    """PortAudio's device list with each device's index; empty without PortAudio."""
    sd = _load_sounddevice()
    if sd is None:
        return []
    try:
        devices = sd.query_devices()
    except Exception as exc:  # PortAudio errors are not worth crashing enumeration for
        logger.warning("querying audio devices failed: %s", exc)
        return []
    return [dict(dev, index=i) for i, dev in enumerate(devices)]


def _default_index(kind: str) -> int | None:
    """Index of PortAudio's default input/output device, or None when there is none."""
    sd = _load_sounddevice()
    if sd is None:
        return None
    try:
        return int(sd.query_devices(kind=kind)["index"])
    except Exception:  # PortAudioError "Error querying device -1": no default
        return None


def list_devices() -> dict[str, list[dict[str, str]]]:
    """ZEGO's ``enumDevices`` shape: microphones, speakers, cameras (V4L2 ``/dev/video*``).

    A ``"default"`` entry comes first in a list when PortAudio reports a default device;
    PulseAudio's sources and sinks follow PortAudio's devices when a server answers.
    """
    devices = _query_devices()
    pulse_devices = (pulse.list_devices() if portaudio_available()
                     else {"Input": [], "Output": []})
    result: dict[str, list[dict[str, str]]] = {"microphones": [], "speakers": [],
                                               "cameras": list_cameras()}
    for key, kind, channels in (
        ("microphones", "input", "max_input_channels"),
        ("speakers", "output", "max_output_channels"),
    ):
        entries = result[key]
        if _default_index(kind) is not None:
            entries.append({"deviceName": "Default", "deviceID": DEFAULT_DEVICE_ID})
        for dev in devices:
            if int(dev.get(channels, 0)) > 0:
                entries.append({"deviceName": str(dev["name"]), "deviceID": str(dev["index"])})
        entries += pulse_devices["Input" if kind == "input" else "Output"]
    return result


def check_system_requirements() -> dict[str, Any]:
    """ZEGO's ``checkSystemRequirements``, answered for this machine.

    ``result`` is True when voice chat with real devices works (PortAudio, a microphone and
    a speaker); custom capture works regardless. ``errInfo`` maps each missing capability to
    why it is missing and how to fix it.
    """
    has_pa = portaudio_available()
    devices = list_devices()
    microphone = bool(devices["microphones"])
    speaker = bool(devices["speakers"])
    err_info: dict[str, str] = {}
    if not has_pa:
        err_info["portAudio"] = f"{_PORTAUDIO_HINT} [{_sd_error}]"
    else:
        hint = (
            "PortAudio sees no {what}; on a headless machine start the virtual devices with "
            "scripts/with-pulseaudio.sh (PulseAudio + the ALSA pulse plugin)"
        )
        if not microphone:
            err_info["microphone"] = hint.format(what="audio input device")
        if not speaker:
            err_info["speaker"] = hint.format(what="audio output device")
    return {
        "webRTC": True,
        "customCapture": True,
        "microphone": microphone,
        "speaker": speaker,
        "portAudio": has_pa,
        "videoCodec": {"H264": True, "VP8": True, "H265": False},  # aiortc's encoders
        "camera": bool(devices["cameras"]),
        "screenSharing": False,
        "result": has_pa and microphone and speaker,
        "errInfo": err_info,
    }


def _resolve_device(device_id: str | None, kind: str, channels: int) -> int | None:
    """Map a ZEGO deviceID to a PortAudio index (None = default); ZegoError(1103066) if bad."""
    if device_id is None or device_id in ("", DEFAULT_DEVICE_ID):
        return None
    what = "microphone" if kind == "input" else "speaker"
    if pulse.name_of(device_id) is not None:
        return _pulse_index(device_id, kind, what)
    try:
        index = int(device_id)
    except (TypeError, ValueError):
        raise ZegoError(
            ErrorCode.DEVICE_CONSTRAINTS,
            f"bad {what} deviceID {device_id!r}: expected 'default' or a device index",
        ) from None
    devices = _query_devices()
    if not 0 <= index < len(devices):
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"no {what} with deviceID {device_id!r}")
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    available = int(devices[index].get(key, 0))
    if available < channels:
        raise ZegoError(
            ErrorCode.DEVICE_CONSTRAINTS,
            f"device {device_id!r} ({devices[index]['name']}) has {available} {kind} "
            f"channel(s), {channels} requested",
        )
    return index


def _zego_id(device_id: str | None) -> str:
    return DEFAULT_DEVICE_ID if device_id in (None, "", DEFAULT_DEVICE_ID) else str(device_id)


def _pulse_index(device_id: str, kind: str, what: str) -> int | None:
    """PortAudio's ``pulse`` device, for a PulseAudio device that exists (None: PortAudio
    has no ``pulse`` device, and its default one reaches PulseAudio as well)."""
    listed = pulse.list_devices()["Input" if kind == "input" else "Output"]
    if device_id not in {d["deviceID"] for d in listed}:
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"no {what} with deviceID {device_id!r}")
    return next((dev["index"] for dev in _query_devices() if dev["name"] == "pulse"), None)


class MicrophoneTrack(MediaStreamTrack):
    """An aiortc audio track reading a PortAudio input device in 20 ms s16 frames.

    Create it inside a running event loop (the capture callback posts to that loop).
    The stream starts at once; expect ~1–2 s before the first block with PulseAudio.
    Frame ``pts`` counts captured samples, so frames dropped on overflow leave a gap in
    time instead of shifting later audio earlier.
    """

    kind = "audio"

    MAX_QUEUED_FRAMES = 10
    """Frames kept while nobody reads (200 ms); older ones are dropped."""

    def __init__(
        self, device_id: str | None = None, channels: int = 1, sample_rate: int = 48000
    ) -> None:
        super().__init__()
        if channels not in (1, 2):
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"channels must be 1 or 2: {channels}")
        sd = require_portaudio()
        self._capture_loop = asyncio.get_running_loop()
        self._device_index = _resolve_device(device_id, "input", channels)
        self._device_id = _zego_id(device_id)
        self.channels = channels
        self.sample_rate = sample_rate
        self.samples_per_frame = sample_rate // 50  # 20 ms, aiortc's packetization time
        self._queue: collections.deque[tuple[int, bytes]] = collections.deque(
            maxlen=self.MAX_QUEUED_FRAMES
        )
        self._wakeup = asyncio.Event()
        self._captured = 0  # samples seen by the loop, the pts of the next block
        self.dropped_frames = 0
        self.status_flags = 0
        """Count of PortAudio callbacks that reported input overflow/underflow."""
        self._closed = False
        try:
            with pulse.routed(device_id, "Input"):
                self._stream = sd.RawInputStream(
                    samplerate=sample_rate,
                    blocksize=self.samples_per_frame,
                    device=self._device_index,
                    channels=channels,
                    dtype="int16",
                    callback=self._callback,
                )
            self._stream.start()
        except Exception as exc:
            raise ZegoError(
                ErrorCode.DEVICE_UNAVAILABLE, f"cannot open microphone {self._device_id!r}: {exc}"
            ) from exc

    @property
    def device_id(self) -> str:
        """ZEGO deviceID of the device being captured."""
        return self._device_id

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio thread: copy the block out and post it; never block or raise."""
        if status:
            self.status_flags += 1
        try:
            self._capture_loop.call_soon_threadsafe(self._on_block, bytes(indata))
        except RuntimeError:  # loop closed while the stream was still running
            pass

    def _on_block(self, data: bytes) -> None:
        """Loop thread: queue one block (the deque drops the oldest) and wake ``recv``."""
        if self._closed:
            return
        samples = len(data) // (2 * self.channels)
        if len(self._queue) == self._queue.maxlen:
            self.dropped_frames += 1
        self._queue.append((self._captured, data))
        self._captured += samples
        self._wakeup.set()

    async def recv(self) -> av.AudioFrame:
        """Next captured 20 ms frame (s16, mono/stereo, ``sample_rate``); waits for PortAudio."""
        while not self._queue:
            if self.readyState != "live" or self._closed:
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        pts, data = self._queue.popleft()
        pcm = np.frombuffer(data, dtype=np.int16).reshape(-1, self.channels)
        return int16_to_frame(pcm, pts, self.sample_rate)

    def stop(self) -> None:
        """End the track and close the PortAudio stream; safe to call repeatedly."""
        if not self._closed:
            self._closed = True
            stream = getattr(self, "_stream", None)
            if stream is not None:
                try:
                    stream.close(ignore_errors=True)
                except Exception as exc:
                    logger.debug("closing microphone stream: %s", exc)
            self._queue.clear()
            self._wakeup.set()  # wake a pending recv so it raises MediaStreamError
        super().stop()


class SpeakerOutput:
    """Plays a ``Mixer`` on a PortAudio output device (mono int16).

    The stream is opened in the constructor (so a bad device fails early) and runs after
    ``start()``. The callback plays silence whenever the mixer has nothing.

    ``blocksize`` is the samples per callback; ``latency`` is PortAudio's suggested output
    latency: "low", "high" or seconds (None: sounddevice's default, "high").
    """

    def __init__(
        self,
        mixer: Mixer,
        device_id: str | None = None,
        sample_rate: int = 48000,
        blocksize: int = 480,
        latency: str | float | None = None,
    ) -> None:
        self.mixer = mixer
        self.sample_rate = sample_rate
        self.blocksize = blocksize
        self.latency = latency
        self.underruns = 0
        """Count of PortAudio callbacks that reported output underflow."""
        self._started = False
        self._closed = False
        self._device_id = DEFAULT_DEVICE_ID
        self._stream: Any = None
        self._stream, self._device_id = self._open(device_id)

    @property
    def device_id(self) -> str:
        """ZEGO deviceID of the device being played to."""
        return self._device_id

    @property
    def active(self) -> bool:
        """Whether the stream is started and not closed."""
        return self._started and not self._closed

    def _open(self, device_id: str | None) -> tuple[Any, str]:
        """Open (not start) an output stream on ``device_id``."""
        sd = require_portaudio()
        index = _resolve_device(device_id, "output", 1)
        resolved = _zego_id(device_id)
        extra: dict[str, Any] = {} if self.latency is None else {"latency": self.latency}
        try:
            with pulse.routed(device_id, "Output"):
                stream = sd.RawOutputStream(
                    samplerate=self.sample_rate,
                    blocksize=self.blocksize,
                    device=index,
                    channels=1,
                    dtype="int16",
                    callback=self._callback,
                    **extra,
                )
        except Exception as exc:
            raise ZegoError(
                ErrorCode.DEVICE_UNAVAILABLE, f"cannot open speaker {resolved!r}: {exc}"
            ) from exc
        return stream, resolved

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio thread: fill the buffer from the mixer; silence if anything goes wrong."""
        if status:
            self.underruns += 1
        out = np.frombuffer(outdata, dtype=np.int16)
        try:
            self.mixer.mix_into(out)
        except Exception:  # never let an exception stop the audio thread
            out.fill(0)

    def start(self) -> None:
        """Start playing; no-op when already started."""
        if self._closed:
            raise ZegoError(ErrorCode.DEVICE_UNAVAILABLE, "speaker output is closed")
        if not self._started:
            try:
                self._stream.start()
            except Exception as exc:
                raise ZegoError(
                    ErrorCode.DEVICE_UNAVAILABLE, f"cannot start speaker {self._device_id!r}: {exc}"
                ) from exc
            self._started = True

    def switch_device(self, device_id: str | None) -> None:
        """Move playback to another device (ZEGO's ``useAudioOutputDevice``).

        The new stream is opened before the old one closes, so a bad ID leaves playback
        where it was.
        """
        if self._closed:
            raise ZegoError(ErrorCode.DEVICE_UNAVAILABLE, "speaker output is closed")
        new_stream, new_id = self._open(device_id)
        if self._started:
            try:
                new_stream.start()
            except Exception as exc:
                new_stream.close(ignore_errors=True)
                raise ZegoError(
                    ErrorCode.DEVICE_UNAVAILABLE, f"cannot start speaker {new_id!r}: {exc}"
                ) from exc
        old, self._stream, self._device_id = self._stream, new_stream, new_id
        old.close(ignore_errors=True)

    def close(self) -> None:
        """Stop and close the stream; safe to call repeatedly."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close(ignore_errors=True)
        except Exception as exc:
            logger.debug("closing speaker stream: %s", exc)
