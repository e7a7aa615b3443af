"""createStream's local streams: the microphone (through echo cancellation when the
``aec`` extra is installed) and the camera, files and custom tracks (audio, video or
both); and muteMicrophone across them.

One ``AudioProcessing`` serves all of an engine's microphone streams, because its echo
reference is the engine's one speaker mix (``echo_reference`` is fed by ``Speaker``).
"""

from __future__ import annotations

import logging
from typing import Any

import av
import av.error
import numpy as np
from aiortc import MediaStreamTrack

from ..errors import ErrorCode, ZegoError

# Both import cheaply without PortAudio or pywebrtc-audio: devices.py loads sounddevice
# and aec.py loads pywebrtc_audio lazily, on first use.
from . import aec, devices
from .local_stream import ZegoLocalStream
from .sources import FileSource
from .video_sources import VideoFileSource, open_camera, video_preset

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
            raise ZegoError(ErrorCode.NOT_SUPPORTED, "screen sharing is not supported")
        if kind == "camera":
            camera = None
            width, height, rate, bitrate = video_preset(cfg)
            if cfg.get("video"):  # first: a missing camera fails before the mic opens
                camera = open_camera(cfg.get("videoInput"), width, height, rate)
            if cfg.get("audio") is False:
                if camera is None:
                    raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "a stream needs audio or video")
                local = ZegoLocalStream(None, "microphone", video_source=camera)
                local.video_bitrate_kbps = bitrate
                local.camera_mode = (width, height, rate)
                self._streams.add(local)
                return local
            devices.require_portaudio()
            device = cfg.get("audioInput")
            device = None if device in (None, "default") else str(device)
            channels = int(cfg.get("channelCount", 1))
            if channels not in (1, 2):
                raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "channelCount must be 1 or 2")
            mic = self._processed(devices.MicrophoneTrack(device_id=device, channels=channels),
                                  cfg)
            local = ZegoLocalStream(mic, "microphone", device, channels=channels,
                                    audio_bitrate_kbps=cfg.get("audioBitrate"),
                                    video_source=camera)
            local.processing = {k: cfg.get(k) for k in ("AEC", "ANS", "AGC") if k in cfg}
            local.mic_muted = self.microphone_muted
            local.video_bitrate_kbps = bitrate
            local.camera_mode = (width, height, rate) if camera is not None else None
        elif kind == "custom":
            audio, video = _custom_tracks(cfg)
            local = ZegoLocalStream(audio, "custom",
                                    channels=int(getattr(audio, "channels", 1)),
                                    audio_bitrate_kbps=cfg.get("audioBitrate"),
                                    video_source=video)
            local.video_bitrate_kbps = video_preset(cfg)[3]
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

    async def use_video_device(self, local: ZegoLocalStream, device_id: str) -> None:
        """Capture from another camera; publishes of ``local`` carry on with it."""
        if not isinstance(local, ZegoLocalStream) or local.camera_mode is None:
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "not a camera stream")
        local.replace_video_source(open_camera(str(device_id), *local.camera_mode))

    def using_device(self, device_id: str) -> list[ZegoLocalStream]:
        """The microphone streams capturing ``device_id``."""
        return [local for local in self._streams
                if local.kind == "microphone" and local.device_id == device_id]

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


_CUSTOM_HINT = ("custom source must be a file path, an audio or video track (AudioSource, "
                "VideoSource, ...) or a list of one audio and one video track")


def _custom_tracks(cfg: dict[str, Any]
                   ) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    """The (audio, video) tracks of a custom source: a file gives what it holds; a list
    plays the part of ZEGO's MediaStream with both tracks."""
    src = cfg.get("source")
    if isinstance(src, str):
        return _file_tracks(src, bool(cfg.get("loop", False)))
    tracks = list(src) if isinstance(src, (list, tuple)) else [src]
    by_kind: dict[str, MediaStreamTrack] = {}
    for track in tracks:
        if not isinstance(track, MediaStreamTrack) or track.kind in by_kind:
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, _CUSTOM_HINT)
        by_kind[track.kind] = track
    if not by_kind:
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, _CUSTOM_HINT)
    return by_kind.get("audio"), by_kind.get("video")


def _file_tracks(path: str, loop: bool
                 ) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
    try:
        with av.open(path) as probe:
            has_audio, has_video = bool(probe.streams.audio), bool(probe.streams.video)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                        f"cannot open media file {path!r}: {exc}") from exc
    audio = FileSource(path, loop=loop) if has_audio or not has_video else None
    video = VideoFileSource(path, loop=loop) if has_video else None
    return audio, video
