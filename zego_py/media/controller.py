"""Publishing and playing for one engine: peers, state events, levels, quality, speaker.

The engine checks ZEGO's arguments and calls in here; this module owns every peer
connection.  Publisher and player states move along the tables in ``states`` and each
move is one ``publisherStateUpdate``/``playerStateUpdate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import MediaStreamTrack, RTCPeerConnection

from .. import validation
from ..enums import PlayerState, PublisherState, RoomState
from ..errors import ErrorCode, ZegoError
from ..events import EngineEvents
from ..room import RoomLink
from ..states import PLAYER, PUBLISHER, step
from .local_stream import ZegoLocalStream
from .opus import OpusSettings, decoder_available
from .peer import connect_peer, quality_stats
from .playout import PlayoutTrack
from .quality import QualityMeter
from .remote_stream import ZegoRemoteStream

if TYPE_CHECKING:
    from ..engine import ZegoExpressEngine
    from .mixer import Mixer

__all__ = ["MediaController"]

log = logging.getLogger("zego_py.media")

QUALITY_INTERVAL_S = 3.0
DEFAULT_BITRATE_KBPS = OpusSettings().bitrate_kbps
# After a reconnect, how long a player waits for its stream to be published again.
REPLAY_WAIT_S = 15.0


@dataclass
class _Publishing:
    stream_id: str
    room: RoomLink
    local: ZegoLocalStream
    state: PublisherState = PublisherState.NO_PUBLISH
    pc: RTCPeerConnection | None = None
    extra_info: str = ""
    settings: OpusSettings = field(default_factory=OpusSettings)
    task: asyncio.Task[None] | None = None
    meter: QualityMeter = field(default_factory=QualityMeter)
    mic_status_sent: str = "OPEN"


@dataclass
class _Playing:
    stream_id: str
    room: RoomLink
    remote: ZegoRemoteStream
    state: PlayerState = PlayerState.NO_PLAY
    pc: RTCPeerConnection | None = None
    muted: bool = False
    meter: QualityMeter = field(default_factory=QualityMeter)
    task: asyncio.Task[None] | None = None
    playout: PlayoutTrack | None = None


class MediaController:
    def __init__(self, engine: ZegoExpressEngine, events: EngineEvents) -> None:
        self._engine = engine
        self._events = events
        self._publishing: dict[str, _Publishing] = {}
        self._playing: dict[str, _Playing] = {}
        self._local_streams: set[ZegoLocalStream] = set()
        self._server_ice: dict[str, Any] = {}
        self._mixer: Mixer | None = None
        self._speaker: Any = None
        self._output_device: str | None = None
        self._level_task: asyncio.Task[None] | None = None
        self._quality_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self.microphone_muted = False
        self._apm: Any = None  # aec.AudioProcessing, shared by this engine's mic streams
        self._warned_no_aec = False

    # ------------------------------------------------------------------ config
    @property
    def _ice_servers(self) -> list[dict[str, Any]]:
        opts = self._engine._options
        if "iceServers" in opts:
            return list(opts["iceServers"])
        return list(self._server_ice.get("iceServers") or [])

    @property
    def _host_addresses(self) -> list[str] | None:
        opts = self._engine._options
        if "hostAddresses" in opts:
            return list(opts["hostAddresses"])
        addresses = self._server_ice.get("hostAddresses")
        return list(addresses) if addresses else None

    def on_login(self, room: RoomLink, data: dict[str, Any]) -> None:
        """The server may hand out ICE servers and host addresses at login."""
        for key in ("iceServers", "hostAddresses"):
            if key in data:
                self._server_ice[key] = data[key]

    # ------------------------------------------------------------------ local streams
    async def create_stream(self, source: dict[str, Any] | None) -> ZegoLocalStream:
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
            from .devices import MicrophoneTrack, require_portaudio

            require_portaudio()
            device = cfg.get("audioInput")
            device = None if device in (None, "default") else str(device)
            channels = int(cfg.get("channelCount", 1))
            if channels not in (1, 2):
                raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "channelCount must be 1 or 2")
            mic = self._processed(MicrophoneTrack(device_id=device, channels=channels), cfg)
            local = ZegoLocalStream(mic, "microphone", device, channels=channels,
                                    audio_bitrate_kbps=cfg.get("audioBitrate"))
            local.processing = {k: cfg.get(k) for k in ("AEC", "ANS", "AGC") if k in cfg}
            local.mic_muted = self.microphone_muted
        elif kind == "custom":
            custom = self._custom_track(cfg)
            local = ZegoLocalStream(custom, "custom",
                                    channels=int(getattr(custom, "channels", 1)),
                                    audio_bitrate_kbps=cfg.get("audioBitrate"))
        else:
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, f"unknown stream source {kind!r}")
        self._local_streams.add(local)
        return local

    @staticmethod
    def _custom_track(cfg: dict[str, Any]) -> MediaStreamTrack:
        from .sources import FileSource

        src = cfg.get("source")
        if isinstance(src, str):
            return FileSource(src, loop=bool(cfg.get("loop", False)))
        if isinstance(src, MediaStreamTrack) and src.kind == "audio":  # AudioSource, ToneSource
            return src
        raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS,
                        "custom source must be a file path, an AudioSource or an audio track")

    def destroy_stream(self, local: ZegoLocalStream) -> None:
        if local in self._local_streams:
            self._local_streams.discard(local)
            local.stop()

    async def use_audio_device(self, local: ZegoLocalStream, device_id: str) -> None:
        if not isinstance(local, ZegoLocalStream) or local.kind != "microphone":
            raise ZegoError(ErrorCode.DEVICE_CONSTRAINTS, "not a microphone stream")
        from .devices import MicrophoneTrack

        device = None if device_id in (None, "default") else str(device_id)
        local.replace_source(self._processed(
            MicrophoneTrack(device_id=device, channels=local.channels), local.processing))
        local.device_id = device

    def _processed(self, mic: MediaStreamTrack, cfg: dict[str, Any]) -> MediaStreamTrack:
        """Echo cancellation, noise suppression and gain control on the mic path, with
        ZEGO's camera flags (AEC and AGC on by default, ANS off), when the optional
        ``aec`` extra (pywebrtc-audio) is installed.  The echo reference is the speaker
        mix, taken on the PortAudio thread as it goes to the device."""
        from . import aec

        wanted = {"echo_cancellation": bool(cfg.get("AEC", True)),
                  "noise_suppression": bool(cfg.get("ANS", False)),
                  "auto_gain_control": bool(cfg.get("AGC", True))}
        if not any(wanted.values()):
            return mic
        if not aec.available():
            if not self._warned_no_aec:
                self._warned_no_aec = True
                log.warning("no echo cancellation (%s): use headphones", aec.INSTALL_HINT)
            return mic
        if self._apm is None:
            self._apm = aec.AudioProcessing.create(**wanted)
        assert self._apm is not None
        return aec.ProcessedTrack(mic, self._apm)

    def _echo_reference(self, pcm: Any) -> None:
        if self._apm is not None:
            self._apm.push_render(pcm)

    # ------------------------------------------------------------------ publishing
    def _room_for(self, option: dict[str, Any]) -> RoomLink:
        room_id = option.get("roomID")
        if room_id is None and self._engine._multi_room and len(self._engine._rooms) > 1:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "roomID is required in multi-room mode")
        return self._engine._room(room_id)

    def _publisher_state(self, pub: _Publishing, trigger: str, code: int = 0,
                         detail: str = "") -> None:
        pub.state = step(PUBLISHER, pub.state, trigger)
        self._events.emit("publisherStateUpdate", {
            "streamID": pub.stream_id, "state": pub.state.value, "errorCode": int(code),
            "extendedData": detail})

    def start_publishing(self, stream_id: str, local: Any, option: dict[str, Any]) -> bool:
        validation.check_stream_id(stream_id)
        room = self._room_for(option)
        if not isinstance(local, ZegoLocalStream):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream")
        if stream_id in self._publishing:
            log.warning("publisher already exist: %s", stream_id)
            return False
        extra_info = validation.check_stream_extra_info(option.get("extraInfo", ""))
        bitrate = option.get("audioBitrate") or local.audio_bitrate_kbps or DEFAULT_BITRATE_KBPS
        if not isinstance(bitrate, int) or not 6 <= bitrate <= 510:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "audioBitrate is 6..510 kbps")
        settings = OpusSettings(bitrate_kbps=bitrate, channels=local.channels,
                                dtx=bool(option.get("enableDTX", True)))
        pub = _Publishing(stream_id, room, local, extra_info=extra_info, settings=settings)
        self._publishing[stream_id] = pub
        self._publisher_state(pub, "start")
        pub.task = self._engine._spawn(self._negotiate_publish(pub))
        return True

    async def _negotiate_publish(self, pub: _Publishing) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            pc.addTransceiver(pub.local.new_capture_track(pub.settings), direction="sendonly")

        async def exchange(sdp: str) -> dict[str, Any]:
            return await pub.room.link.request("publish", {
                "roomID": pub.room.room_id, "streamID": pub.stream_id,
                "extraInfo": pub.extra_info, "sdp": sdp})

        try:
            pub.pc = await connect_peer(setup, exchange, ice_servers=self._ice_servers,
                                        host_addresses=self._host_addresses,
                                        failure_code=ErrorCode.PUBLISH_INNER_ERROR,
                                        offer_fmtp=pub.settings.fmtp())
        except ZegoError as exc:
            if self._publishing.get(pub.stream_id) is pub:
                del self._publishing[pub.stream_id]
                self._publisher_state(pub, "failed", int(exc.code), exc.message)
            return
        if self._publishing.get(pub.stream_id) is not pub:  # stopped while connecting
            await pub.pc.close()
            return
        self._watch(pub.pc, lambda: self._republish(pub))
        self._publisher_state(pub, "connected")
        self._ensure_loops()
        pub.mic_status_sent = "OPEN"  # a new publish starts OPEN at the server
        if pub.local.muted:
            await self._send_mic_status(pub)

    def _watch(self, pc: RTCPeerConnection, on_failed: Callable[[], None]) -> None:
        """A media path that dies under a live signaling link (ICE consent fails after
        ~30 s in aioice) is rebuilt, as after a reconnect."""
        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "failed":
                on_failed()

    def _republish(self, pub: _Publishing) -> None:
        """Publish again on a new peer connection (after a re-login or a failed path)."""
        if self._publishing.get(pub.stream_id) is not pub:
            return
        self._publisher_state(pub, "retry")
        old_pc, old_task, pub.pc = pub.pc, pub.task, None

        async def again() -> None:
            await _retire(old_pc, old_task)
            # the same session may still hold the stream (a media-path failure): drop it
            with contextlib.suppress(ZegoError):
                await pub.room.link.request("unpublish", {"streamID": pub.stream_id},
                                            timeout=3)
            await self._negotiate_publish(pub)

        pub.task = self._engine._spawn(again())

    def stop_publishing(self, stream_id: str) -> bool:
        pub = self._publishing.pop(stream_id, None)
        if pub is None:
            return False
        self._publisher_state(pub, "stop")
        self._engine._spawn(self._teardown_publish(pub, tell_server=True))
        return True

    async def _teardown_publish(self, pub: _Publishing, tell_server: bool) -> None:
        if pub.task is not None and not pub.task.done():
            pub.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pub.task
        if tell_server and pub.pc is not None and pub.room.link.connected:
            try:
                await pub.room.link.request("unpublish", {"streamID": pub.stream_id}, timeout=3)
            except ZegoError as exc:
                log.info("unpublish %s: %s", pub.stream_id, exc)
        if pub.pc is not None:
            await pub.pc.close()

    def room_of_published(self, stream_id: str) -> RoomLink:
        pub = self._publishing.get(stream_id)
        if pub is None or pub.state != PublisherState.PUBLISHING:
            raise ZegoError(ErrorCode.NOT_LOGIN, f"not publishing {stream_id}")
        return pub.room

    # ------------------------------------------------------------------ mute
    async def _send_mic_status(self, pub: _Publishing) -> None:
        status = "MUTE" if pub.local.muted else "OPEN"
        if status == pub.mic_status_sent or pub.state != PublisherState.PUBLISHING:
            return
        pub.mic_status_sent = status
        with contextlib.suppress(ZegoError):
            await pub.room.link.request("setMicStatus",
                                        {"streamID": pub.stream_id, "status": status})

    def _mute_changed(self) -> None:
        for pub in self._publishing.values():
            self._engine._spawn(self._send_mic_status(pub))

    def mute_publish_audio(self, local: Any, mute: bool) -> bool:
        if not isinstance(local, ZegoLocalStream):
            return False
        local.audio_muted = bool(mute)
        self._mute_changed()
        return True

    def mute_microphone(self, mute: bool) -> bool:
        self.microphone_muted = bool(mute)
        for local in self._local_streams:
            if local.kind == "microphone":
                local.mic_muted = self.microphone_muted
        self._mute_changed()
        return True

    # ------------------------------------------------------------------ playing
    def _player_state(self, play: _Playing, trigger: str, code: int = 0, detail: str = ""
                      ) -> None:
        play.state = step(PLAYER, play.state, trigger)
        self._events.emit("playerStateUpdate", {
            "streamID": play.stream_id, "state": play.state.value, "errorCode": int(code),
            "extendedData": detail})

    async def start_playing(self, stream_id: str, option: dict[str, Any]) -> ZegoRemoteStream:
        validation.check_stream_id(stream_id)
        room = self._room_for(option)
        if stream_id in self._playing:
            raise ZegoError(ErrorCode.REPEATED_PULL_STREAM)
        play = _Playing(stream_id, room, ZegoRemoteStream(stream_id))
        self._playing[stream_id] = play
        self._player_state(play, "start")
        try:
            await self._negotiate_play(play)
        except ZegoError as exc:
            if self._playing.get(stream_id) is play:
                del self._playing[stream_id]
                self._player_state(play, "failed", int(exc.code), exc.message)
            await play.remote.stop()
            raise
        if option.get("speaker", True) and option.get("audio", True) is not False:
            self._attach_speaker(play, option.get("audioOutput"))
        self._player_state(play, "connected")
        self._ensure_loops()
        return play.remote

    async def _negotiate_play(self, play: _Playing) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            pc.addTransceiver("audio", direction="recvonly")

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                receiver = next(t.receiver for t in pc.getTransceivers()
                                if t.receiver.track is track)
                if decoder_available():
                    play.playout = PlayoutTrack(receiver)
                    play.remote.start(play.playout)
                else:  # no libopus binding: aiortc's fixed 80 ms buffer, no PLC/FEC
                    log.warning("libopus0/opuslib-next missing: %s uses aiortc's decoder",
                                play.stream_id)
                    play.remote.start(track)

        async def exchange(sdp: str) -> dict[str, Any]:
            return await play.room.link.request("play", {"streamID": play.stream_id, "sdp": sdp})

        pc = await connect_peer(setup, exchange, ice_servers=self._ice_servers,
                                host_addresses=self._host_addresses,
                                failure_code=ErrorCode.PLAY_STREAM_NOT_FOUND,
                                offer_fmtp={"useinbandfec": 1})
        if self._playing.get(play.stream_id) is not play:  # stopped while connecting
            await pc.close()
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "stopped while connecting")
        play.pc = pc
        self._watch(pc, lambda: self._replay(play))

    def _replay(self, play: _Playing) -> None:
        """Play again on a new peer connection, waiting (up to REPLAY_WAIT_S) for the
        publisher to come back too: after a server restart it may re-publish later."""
        if self._playing.get(play.stream_id) is not play:
            return
        self._player_state(play, "retry")
        old_pc, old_task, play.pc = play.pc, play.task, None

        async def again() -> None:
            await _retire(old_pc, old_task)
            # the same session may still hold the old play (a media-path failure): drop it
            with contextlib.suppress(ZegoError):
                await play.room.link.request("stopPlay", {"streamID": play.stream_id},
                                             timeout=3)
            deadline = asyncio.get_running_loop().time() + REPLAY_WAIT_S
            while True:
                try:
                    await self._negotiate_play(play)
                    break
                except ZegoError as exc:
                    waiting = (exc.code == ErrorCode.PLAY_STREAM_NOT_FOUND
                               and asyncio.get_running_loop().time() < deadline
                               and self._playing.get(play.stream_id) is play)
                    if not waiting:
                        if self._playing.pop(play.stream_id, None) is play:
                            self._player_state(play, "failed", int(exc.code), exc.message)
                            await self._teardown_play(play, tell_server=False)
                        return
                    await asyncio.sleep(0.5)
            self._player_state(play, "connected")

        play.task = self._engine._spawn(again())

    def on_relogin(self, room: RoomLink) -> None:
        """After logging in again (the server forgot us): publish and play everything again."""
        for pub in [p for p in self._publishing.values() if p.room is room]:
            self._republish(pub)
        for play in [p for p in self._playing.values() if p.room is room]:
            self._replay(play)

    def stop_playing(self, stream_id: str) -> None:
        play = self._playing.pop(stream_id, None)
        if play is None:
            return
        self._player_state(play, "stop")
        self._engine._spawn(self._teardown_play(play, tell_server=True))

    def on_play_ended(self, stream_id: str, code: int) -> None:
        """The publisher went away: the player ends (NO_PLAY) without a request."""
        play = self._playing.pop(stream_id, None)
        if play is None:
            return
        self._player_state(play, "ended", 0, f"stream ended (stream_delete_reason {code})")
        self._engine._spawn(self._teardown_play(play, tell_server=False))

    async def _teardown_play(self, play: _Playing, tell_server: bool) -> None:
        if play.task is not None and play.task is not asyncio.current_task():
            play.task.cancel()
        self._detach_speaker(play)
        if tell_server and play.room.link.connected:
            with contextlib.suppress(ZegoError):
                await play.room.link.request("stopPlay", {"streamID": play.stream_id}, timeout=3)
        await play.remote.stop()
        if play.pc is not None:
            await play.pc.close()

    def playing_ids(self) -> list[str]:
        return list(self._playing)

    def mute_play_audio(self, stream_id: str, mute: bool) -> bool:
        play = self._playing.get(stream_id)
        if play is None:
            return False
        play.muted = bool(mute)
        if play.remote.mixer_input is not None:
            play.remote.mixer_input.muted = play.muted
        return True

    def set_play_volume(self, stream_id: str, volume: int) -> bool:
        play = self._playing.get(stream_id)
        if play is None or not 0 <= volume <= 200 or play.remote.mixer_input is None:
            return False
        play.remote.mixer_input.volume = volume
        return True

    # ------------------------------------------------------------------ speaker
    def _attach_speaker(self, play: _Playing, device_id: str | None) -> None:
        """Mix this stream into the one speaker output, if this machine has one."""
        from . import devices
        from .aec import TappedMixer

        if self._speaker is None:
            if not devices.portaudio_available() or not devices.list_devices()["speakers"]:
                log.info("no speaker: %s plays to code only (audioFrames)", play.stream_id)
                return
            if device_id is not None:
                self._output_device = None if device_id == "default" else device_id
            self._mixer = TappedMixer(self._echo_reference)
            try:
                # 20 ms callbacks over 80 ms of device buffer: 40 ms underran when the
                # GIL was held ~55-85 ms, and each underrun stalls PulseAudio ~1.9 s and
                # shifts the echo delay (measured in docs/audio-devices.md).
                self._speaker = devices.SpeakerOutput(self._mixer,
                                                      device_id=self._output_device,
                                                      blocksize=960, latency=0.08)
                self._speaker.start()
            except ZegoError as exc:
                log.warning("speaker unavailable: %s", exc)
                self._speaker = None
                return
        assert self._mixer is not None
        play.remote.mixer_input = self._mixer.add_input(play.stream_id)
        play.remote.mixer_input.muted = play.muted

    def _detach_speaker(self, play: _Playing) -> None:
        if play.remote.mixer_input is not None and self._mixer is not None:
            self._mixer.remove_input(play.stream_id)
            play.remote.mixer_input = None

    def use_output_device(self, device_id: str) -> bool:
        self._output_device = None if device_id in (None, "default") else str(device_id)
        if self._speaker is not None:
            try:
                self._speaker.switch_device(self._output_device)
            except ZegoError as exc:
                log.warning("useAudioOutputDevice(%s): %s", device_id, exc)
                return False
        return True

    # ------------------------------------------------------------------ levels, quality
    _level_interval_s: float | None = None

    def set_sound_level_delegate(self, enable: bool, interval: int) -> None:
        if self._level_task is not None:
            self._level_task.cancel()
            self._level_task = None
        if not enable:
            self._level_interval_s = None
            return
        self._level_interval_s = min(3000, max(500, int(interval))) / 1000
        self._level_task = self._engine._spawn(self._level_loop(self._level_interval_s))

    async def _level_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            levels = [{"streamID": p.stream_id, "soundLevel": round(p.local.level, 1),
                       "type": "push"}
                      for p in self._publishing.values() if p.state == PublisherState.PUBLISHING]
            levels += [{"streamID": p.stream_id, "soundLevel": round(p.remote.level, 1),
                        "type": "pull"}
                       for p in self._playing.values() if p.state == PlayerState.PLAYING]
            captured = max((p.local.level for p in self._publishing.values()), default=0.0)
            self._events.emit("capturedSoundLevelUpdate", round(captured, 1))
            if levels:
                self._events.emit("soundLevelUpdate", levels)

    def _ensure_loops(self) -> None:
        if self._quality_task is None or self._quality_task.done():
            self._quality_task = self._engine._spawn(self._quality_loop())
        if self._watchdog_task is None or self._watchdog_task.done():
            self._watchdog_task = self._engine._spawn(self._media_watchdog())

    async def _media_watchdog(self) -> None:
        """Rebuild a player whose packets stopped while its room is connected.

        aioice notices a dead path only after ~30 s of failed consent checks; a stream
        that is still announced but silent for ``mediaTimeout`` (10 s) is played again.
        Publishers keep sending (DTX still sends a small packet per frame), so silence
        here means the path, not the talker.
        """
        timeout = float(self._engine._options.get("mediaTimeout", 10.0))
        loop = asyncio.get_running_loop()
        while self._publishing or self._playing:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            for play in list(self._playing.values()):
                stalled = (play.state == PlayerState.PLAYING and play.playout is not None
                           and now - play.playout.last_packet_at > timeout
                           and play.room.state == RoomState.CONNECTED)
                if stalled:
                    log.warning("no media on %s for %.0f s: playing it again",
                                play.stream_id, timeout)
                    self._replay(play)

    async def _quality_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._publishing or self._playing:
            await asyncio.sleep(QUALITY_INTERVAL_S)
            for pub in list(self._publishing.values()):
                if pub.pc is not None and pub.state == PublisherState.PUBLISHING:
                    stats = pub.meter.publish_stats(loop.time(), await quality_stats(pub.pc),
                                                    pub.local.muted)
                    self._events.emit("publishQualityUpdate", pub.stream_id, stats)
            for play in list(self._playing.values()):
                if play.pc is not None and play.state == PlayerState.PLAYING:
                    payload = play.playout.payload_bytes if play.playout else None
                    stats = play.meter.play_stats(loop.time(), await quality_stats(play.pc),
                                                  play.remote.level, play.muted, payload)
                    self._events.emit("playQualityUpdate", play.stream_id, stats)

    # ------------------------------------------------------------------ lifecycle
    async def on_room_leaving(self, room: RoomLink) -> None:
        """Logout (or a lost room) stops this room's publishing and playing."""
        pubs = [p for p in self._publishing.values() if p.room is room]
        plays = [p for p in self._playing.values() if p.room is room]
        for pub in pubs:
            del self._publishing[pub.stream_id]
            self._publisher_state(pub, "stop")
        for play in plays:
            del self._playing[play.stream_id]
            self._player_state(play, "stop")
        await asyncio.gather(
            *(self._teardown_publish(p, tell_server=False) for p in pubs),
            *(self._teardown_play(p, tell_server=False) for p in plays),
        )

    async def close(self) -> None:
        for task in (self._level_task, self._quality_task, self._watchdog_task):
            if task is not None:
                task.cancel()
        pubs, plays = list(self._publishing.values()), list(self._playing.values())
        self._publishing.clear()
        self._playing.clear()
        await asyncio.gather(
            *(self._teardown_publish(p, tell_server=True) for p in pubs),
            *(self._teardown_play(p, tell_server=True) for p in plays),
        )
        for local in list(self._local_streams):
            self.destroy_stream(local)
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None


async def _retire(pc: RTCPeerConnection | None, task: asyncio.Task[None] | None) -> None:
    """Stop what a previous attempt left running before starting a new one."""
    if task is not None and task is not asyncio.current_task():
        task.cancel()
    if pc is not None:
        await pc.close()
