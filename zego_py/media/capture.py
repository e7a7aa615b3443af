"""createStream's local streams: the microphone (through echo cancellation when the
``aec`` extra is installed), files and custom tracks; and muteMicrophone across them.

One ``AudioProcessing`` serves all of an engine's microphone streams, because its echo
reference is the engine's one speaker mix (``echo_reference`` is fed by ``Speaker``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack

from ..errors import ErrorCode, ZegoError

# Both import cheaply without PortAudio or pywebrtc-audio: devices.py loads sounddevice
# and aec.py loads pywebrtc_audio lazily, on first use.
from . import aec, devices
from .local_stream import ZegoLocalStream
from .sources import FileSource

__all__ = ["LocalStreams"]

log = logging.getLogger("zego_py.media")


class LocalStreams:
    """The engine's live local streams and its microphone mute."""

    def __init__(self) -> None:
        self._streams: set[ZegoLocalStream] = set()
        self.microphone_muted = False
        self._apm: aec.AudioProcessing | None = None  # shared by this engine's mic streams
        self._warned_no_aec = False

    async def create(self, source: dict[str, Any] | None) -> ZegoLocalStream:
        source = source if source is not None else {"camera": {"audio": True, "video": False}}
        if not isinstance(source, dict) or len(source) != 1:
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                            "createStream takes exactly one of camera, screen or custom")
        kind, cfg = next(iter(source.items()))
        cfg = cfg if isinstance(cfg, dict) else {}
        if kind == "screen":
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "screen sharing is not supported")
        if kind == "camera":
            if cfg.get("video"):
                raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                                'zego_py has no video yet: pass {"video": False}')
            if cfg.get("audio") is False:
                raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "a stream needs audio")
            devices.require_portaudio()
            device = cfg.get("audioInput")
            device = None if device in (None, "default") else str(device)
            channels = int(cfg.get("channelCount", 1))
            if channels not in (1, 2):
                raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "channelCount must be 1 or 2")
            mic = self._processed(devices.MicrophoneTrack(device_id=device, channels=channels),
                                  cfg)
            local = ZegoLocalStream(mic, "microphone", device, channels=channels,
                                    audio_bitrate_kbps=cfg.get("audioBitrate"))
            local.processing = {k: cfg.get(k) for k in ("AEC", "ANS", "AGC") if k in cfg}
            local.mic_muted = self.microphone_muted
        elif kind == "custom":
            custom = _custom_track(cfg)
            local = ZegoLocalStream(custom, "custom",
                                    channels=int(getattr(custom, "channels", 1)),
                                    audio_bitrate_kbps=cfg.get("audioBitrate"))
        else:
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"unknown stream source {kind!r}")
        self._streams.add(local)
        return local

    def destroy(self, local: ZegoLocalStream) -> None:
        if local in self._streams:
            self._streams.discard(local)
            local.stop()

    def close(self) -> None:
        for local in list(self._streams):
            self.destroy(local)

    async def use_audio_device(self, local: ZegoLocalStream, device_id: str) -> None:
        if not isinstance(local, ZegoLocalStream) or local.kind != "microphone":
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "not a microphone stream")
        device = None if device_id in (None, "default") else str(device_id)
        local.replace_source(self._processed(
            devices.MicrophoneTrack(device_id=device, channels=local.channels),
            local.processing))
        local.device_id = device

    def mute_microphone(self, mute: bool) -> None:
        self.microphone_muted = bool(mute)
        for local in self._streams:
            if local.kind == "microphone":
                local.mic_muted = self.microphone_muted

    def _processed(self, mic: MediaStreamTrack, cfg: dict[str, Any]) -> MediaStreamTrack:
        """Echo cancellation, noise suppression and gain control on the mic path, with
        ZEGO's camera flags (AEC and AGC on by default, ANS off), when the optional
        ``aec`` extra (pywebrtc-audio) is installed.  The echo reference is the speaker
        mix, taken on the PortAudio thread as it goes to the device."""
        wanted = _stages(cfg)
        if not aec.available():
            if any(wanted.values()) and not self._warned_no_aec:
                self._warned_no_aec = True
                log.warning("no echo cancellation (%s): use headphones", aec.INSTALL_HINT)
            return mic
        # Always wrapped (passing through while every stage is off), so that
        # setAudioConfig can switch stages on later without touching the publish.
        if self._apm is None:
            self._apm = aec.AudioProcessing.create_switchable(**wanted)
        assert self._apm is not None
        return aec.ProcessedTrack(mic, self._apm)

    def set_audio_config(self, local: ZegoLocalStream, config: dict[str, Any]) -> None:
        """setAudioConfig: ANS/AGC/AEC on a microphone stream, live.

        The engine's microphone streams share one processor (its echo reference is the
        one speaker mix), so the stages change for all of them; a flag left out keeps
        its current value.
        """
        if not isinstance(local, ZegoLocalStream) or local not in self._streams:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream")
        if not isinstance(config, dict) or not all(
                isinstance(config.get(k, False), bool) for k in ("ANS", "AGC", "AEC")):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "config is {ANS, AGC, AEC: bool}")
        if local.kind != "microphone":
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                            "ANS/AGC/AEC apply to microphone streams only")
        local.processing.update({k: config[k] for k in ("AEC", "ANS", "AGC") if k in config})
        if self._apm is None:  # the aec extra is missing: nothing can process
            if any(_stages(local.processing).values()):
                raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                                f"no audio processing installed: {aec.INSTALL_HINT}")
            return
        self._apm.configure(**_stages(local.processing))

    def echo_reference(self, pcm: np.ndarray) -> None:
        """The speaker mix as it goes to the device (on the PortAudio thread)."""
        if self._apm is not None:
            self._apm.push_render(pcm)


def _stages(cfg: dict[str, Any]) -> dict[str, bool]:
    """ZEGO's camera flags as processing stages: AEC and AGC on by default, ANS off."""
    return {"echo_cancellation": bool(cfg.get("AEC", True)),
            "noise_suppression": bool(cfg.get("ANS", False)),
            "auto_gain_control": bool(cfg.get("AGC", True))}


def _custom_track(cfg: dict[str, Any]) -> MediaStreamTrack:
    src = cfg.get("source")
    if isinstance(src, str):
        return FileSource(src, loop=bool(cfg.get("loop", False)))
    if isinstance(src, MediaStreamTrack) and src.kind == "audio":  # AudioSource, ToneSource
        return src
    raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                    "custom source must be a file path, an AudioSource or an audio track")
