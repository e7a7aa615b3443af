"""An engine's media: its publishers and players by stream ID, and what spans them.

The engine checks ZEGO's arguments and calls in here with a ``MediaContext`` (it never
comes the other way: see context.py).  Each stream's own work lives in publisher.py
and player.py (on peer_stream.py), the shared speaker in speaker.py, createStream's
streams in capture.py.  This module starts and stops them, runs the loops that span
them (sound levels, quality, the media watchdog) and follows the rooms' lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from .. import validation
from ..enums import PlayerState, PublisherState
from ..errors import ErrorCode, ZegoError
from ..room import RoomLink
from .capture import LocalStreams
from .context import IceConfig, MediaContext
from .device_watch import follow_devices
from .exception_watch import LOW_LEVEL, ExceptionCode, ExceptionWatch
from .frame_callback import AudioFrameOptions, AudioFrameTap
from .local_stream import ZegoLocalStream
from .peer_stream import PeerStream
from .player import Player
from .publisher import Publisher, opus_settings, video_codec
from .quality import UNKNOWN, network_level, worst_level
from .remote_stream import ZegoRemoteStream
from .speaker import Speaker
from .video_sources import check_video_bitrate, check_video_size, video_preset

__all__ = ["MediaController"]

log = logging.getLogger("zego_py.media")

QUALITY_INTERVAL_S = 3.0
MAX_CAPTURE_VOLUME = 200  # ZEGO documents 0..100; above 100 amplifies (saturating)
ACTIVE_WITHIN_S = 1.0  # checkAudioTrackIsActive: a published stream read a frame this recently


class MediaController:
    def __init__(self, ctx: MediaContext) -> None:
        self._ctx = ctx
        self._ice = IceConfig(ctx.settings)
        self._publishers: dict[str, Publisher] = {}
        self._players: dict[str, Player] = {}
        self._local = LocalStreams()
        self._speaker = Speaker(self._local.echo_reference)
        self._level_task: asyncio.Task[None] | None = None
        self._level_interval_s: float | None = None
        self._quality_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        # each stream's latest publishQualityUpdate / playQualityUpdate, for the getters
        self._quality: weakref.WeakKeyDictionary[PeerStream[Any], dict[str, Any]] = (
            weakref.WeakKeyDictionary())
        self._exceptions = ExceptionWatch()
        self._device_task: asyncio.Task[None] | None = None

    def on_login(self, room: RoomLink, data: dict[str, Any]) -> None:
        """The server may hand out ICE servers and host addresses at login."""
        self._ice.learn(data)
        if any(self._ctx.events.listens(e) for e in ("audioDeviceStateChanged", "deviceError")):
            self._ensure_device_watch()

    def set_turn_server(self, servers: list[dict[str, Any]], policy: str | None) -> None:
        """TURN servers (and policy) for the peers created from now on."""
        self._ice.set_turn(servers, policy)

    # ------------------------------------------------------------------ local streams
    async def create_stream(self, source: dict[str, Any] | None) -> ZegoLocalStream:
        local = await self._local.create(source)
        if local.kind == "microphone" and local.source is not None:
            self._ensure_device_watch()
        return local

    def destroy_stream(self, local: ZegoLocalStream) -> None:
        self._local.destroy(local)

    async def use_audio_device(self, local: ZegoLocalStream, device_id: str) -> None:
        await self._local.use_audio_device(local, device_id)

    async def use_video_device(self, local: ZegoLocalStream, device_id: str) -> None:
        await self._local.use_video_device(local, device_id)

    @property
    def microphone_muted(self) -> bool:
        return self._local.microphone_muted

    def mute_microphone(self, mute: bool) -> bool:
        self._local.mute_microphone(mute)
        self._mute_changed()
        return True

    def mute_publish_audio(self, local: Any, mute: bool) -> bool:
        if not isinstance(local, ZegoLocalStream):
            return False
        local.audio_muted = bool(mute)
        self._mute_changed()
        return True

    def mute_publish_video(self, local: Any, mute: bool) -> bool:
        if not isinstance(local, ZegoLocalStream) or local.video_source is None:
            return False
        local.video_muted = bool(mute)
        self._mute_changed()
        return True

    def set_video_config(self, local: Any, config: dict[str, Any]) -> None:
        """setVideoConfig: the size, rate and bitrate every publish of ``local`` sends
        from now on."""
        if not isinstance(local, ZegoLocalStream) or local.video_source is None:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream has no video")
        unknown = set(config) - {"width", "height", "frameRate", "maxBitrate", "videoQuality"}
        if unknown:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                            f"setVideoConfig does not support {sorted(unknown)} yet")
        size, rate, bitrate = local.video_size, local.video_rate, local.video_bitrate_kbps
        if "videoQuality" in config:
            width, height, rate, bitrate = video_preset({"videoQuality": config["videoQuality"]})
            size = (width, height)
        if "width" in config or "height" in config:
            base = size or (getattr(local.video_source, "width", 0),
                            getattr(local.video_source, "height", 0))
            size = (config.get("width", base[0]), config.get("height", base[1]))
        rate = config.get("frameRate", rate)
        bitrate = config.get("maxBitrate", bitrate)
        check_video_size(*(size or (2, 2)), rate or 1, ErrorCode.INPUT_PARAM_ERROR)
        check_video_bitrate(bitrate, ErrorCode.INPUT_PARAM_ERROR)
        local.video_size, local.video_rate, local.video_bitrate_kbps = size, rate, bitrate
    def _as_local(self, local: Any) -> ZegoLocalStream:
        if not isinstance(local, ZegoLocalStream):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream")
        return local

    def set_capture_volume(self, local: Any, volume: Any) -> None:
        stream = self._as_local(local)
        if (isinstance(volume, bool) or not isinstance(volume, (int, float))
                or not 0 <= volume <= MAX_CAPTURE_VOLUME):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR,
                            f"volume must be a number in 0..{MAX_CAPTURE_VOLUME}")
        stream.capture_volume = volume

    def set_audio_config(self, local: Any, config: Any) -> None:
        self._local.set_audio_config(self._as_local(local), config)

    def check_audio_track_active(self, stream: Any) -> bool:
        """Live source and, while published, a frame read within ACTIVE_WITHIN_S."""
        local = self._as_local(stream)
        if local.source is None or local.source.readyState != "live":
            return False  # no audio track (a video-only stream), or it ended
        published = any(p.local is local and p.state == PublisherState.PUBLISHING
                        for p in self._publishers.values())
        return not published or (local.last_frame_at is not None
                                 and time.monotonic() - local.last_frame_at < ACTIVE_WITHIN_S)

    def set_capture_frame_callback(self, local: Any, callback: Callable[..., Any] | None,
                                   options: Any) -> None:
        stream = self._as_local(local)
        stream.set_frame_tap(self._frame_tap(callback, options, stream.id))

    def set_play_frame_callback(self, stream_id: str, callback: Callable[..., Any] | None,
                                options: Any) -> None:
        play = self._players.get(stream_id)
        if play is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, f"not playing {stream_id}")
        play.remote.set_frame_tap(self._frame_tap(callback, options, stream_id))

    @staticmethod
    def _frame_tap(callback: Callable[..., Any] | None, options: Any, name: str
                   ) -> AudioFrameTap | None:
        if callback is None:
            return None
        if not callable(callback):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "callback must be callable or None")
        return AudioFrameTap(callback, AudioFrameOptions.parse(options), name=name)

    def _mute_changed(self) -> None:
        for pub in self._publishers.values():
            self._ctx.spawn(pub.send_status())

    # ------------------------------------------------------------------ publishing
    def start_publishing(self, stream_id: str, local: Any, option: dict[str, Any]) -> bool:
        validation.check_stream_id(stream_id)
        room = self._ctx.room_for(option.get("roomID"))
        if not isinstance(local, ZegoLocalStream):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream must come from createStream")
        if stream_id in self._publishers:
            log.warning("publisher already exist: %s", stream_id)
            return False
        extra_info = validation.check_stream_extra_info(option.get("extraInfo", ""))
        pub = Publisher(stream_id, room, local, extra_info=extra_info,
                        settings=opus_settings(option, local), ctx=self._ctx, ice=self._ice,
                        codec=video_codec(option),
                        on_connected=self._ensure_loops, forget=self._forget)
        self._publishers[stream_id] = pub
        pub.start()
        return True

    def _forget(self, stream: PeerStream[Any]) -> None:
        """A publisher or player that failed on its own leaves its dict."""
        streams: dict[str, Any] = (self._publishers if isinstance(stream, Publisher)
                                   else self._players)
        if streams.get(stream.stream_id) is stream:
            del streams[stream.stream_id]

    def stop_publishing(self, stream_id: str) -> bool:
        pub = self._publishers.pop(stream_id, None)
        if pub is None:
            return False
        pub.end("stop")
        self._ctx.spawn(pub.teardown(tell_server=True))
        return True

    def room_of_published(self, stream_id: str) -> RoomLink:
        pub = self._publishers.get(stream_id)
        if pub is None or pub.state != PublisherState.PUBLISHING:
            raise ZegoError(ErrorCode.NOT_LOGIN, f"not publishing {stream_id}")
        return pub.room

    # ------------------------------------------------------------------ playing
    async def start_playing(self, stream_id: str, option: dict[str, Any]) -> ZegoRemoteStream:
        validation.check_stream_id(stream_id)
        room = self._ctx.room_for(option.get("roomID"))
        if stream_id in self._players:
            raise ZegoError(ErrorCode.REPEATED_PULL_STREAM)
        if option.get("audio", True) is False and option.get("video", True) is False:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "play audio, video or both")
        play = Player(stream_id, room, ctx=self._ctx, ice=self._ice, speaker=self._speaker,
                      forget=self._forget)
        self._players[stream_id] = play
        await play.start(option)
        self._ensure_loops()
        if play.remote.mixer_input is not None:  # on the speaker: watch for it going
            self._ensure_device_watch()
        return play.remote

    def stop_playing(self, stream_id: str) -> None:
        play = self._players.pop(stream_id, None)
        if play is None:
            return
        play.end("stop")
        self._ctx.spawn(play.teardown(tell_server=True))

    def on_play_ended(self, stream_id: str, code: int) -> None:
        """The publisher went away: the player ends (NO_PLAY) without a request."""
        play = self._players.pop(stream_id, None)
        if play is None:
            return
        play.end("ended", f"stream ended (stream_delete_reason {code})")
        self._ctx.spawn(play.teardown(tell_server=False))

    def playing_ids(self) -> list[str]:
        return list(self._players)

    def mute_play_audio(self, stream_id: str, mute: bool) -> bool:
        play = self._players.get(stream_id)
        if play is None:
            return False
        play.mute(mute)
        return True

    def mute_play_video(self, stream_id: str, mute: bool) -> bool:
        play = self._players.get(stream_id)
        if play is None:
            return False
        play.remote.video.muted = bool(mute)
        return True

    def set_play_volume(self, stream_id: str, volume: int) -> bool:
        play = self._players.get(stream_id)
        return play is not None and play.set_volume(volume)

    def use_output_device(self, device_id: str) -> bool:
        return self._speaker.use_device(device_id)

    # ------------------------------------------------------------------ levels, quality
    def set_sound_level_delegate(self, enable: bool, interval: int) -> None:
        if self._level_task is not None:
            self._level_task.cancel()
            self._level_task = None
        if not enable:
            self._level_interval_s = None
            return
        self._level_interval_s = min(3000, max(500, int(interval))) / 1000
        self._level_task = self._ctx.spawn(self._level_loop(self._level_interval_s))

    async def _level_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            levels = [{"streamID": p.stream_id, "soundLevel": round(p.local.level, 1),
                       "type": "push"}
                      for p in self._publishers.values() if p.state == PublisherState.PUBLISHING]
            levels += [{"streamID": p.stream_id, "soundLevel": round(p.remote.level, 1),
                        "type": "pull"}
                       for p in self._players.values() if p.state == PlayerState.PLAYING]
            captured = max((p.local.level for p in self._publishers.values()), default=0.0)
            self._ctx.events.emit("capturedSoundLevelUpdate", round(captured, 1))
            if levels:
                self._ctx.events.emit("soundLevelUpdate", levels)

    def _ensure_loops(self) -> None:
        if self._quality_task is None or self._quality_task.done():
            self._quality_task = self._ctx.spawn(self._quality_loop())
        if self._watchdog_task is None or self._watchdog_task.done():
            self._watchdog_task = self._ctx.spawn(self._media_watchdog())

    async def _media_watchdog(self) -> None:
        """Rebuild a player whose packets stopped while its room is connected.

        aioice notices a dead path only after ~30 s of failed consent checks; a stream
        that is still announced but silent for ``mediaTimeout`` (10 s) is played again.
        Publishers keep sending (DTX still sends a small packet per frame), so silence
        here means the path, not the talker.
        """
        timeout = self._ctx.settings.media_timeout_s
        loop = asyncio.get_running_loop()
        while self._publishers or self._players:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            for play in list(self._players.values()):
                if play.stalled(now, timeout):
                    log.warning("no media on %s for %.0f s: playing it again",
                                play.stream_id, timeout)
                    play.replay()

    async def _quality_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._publishers or self._players:
            await asyncio.sleep(QUALITY_INTERVAL_S)
            up: list[int] = []
            for pub in list(self._publishers.values()):
                stats = await pub.quality(loop.time())
                if stats is not None:
                    self._quality[pub] = stats
                    self._ctx.events.emit("publishQualityUpdate", pub.stream_id, stats)
                    self._watch_capture(pub)
                    up.append(network_level(pub.meter, pub.meter.rtt_ms))
            down: list[int] = []
            remote_up: dict[str, list[int]] = {}
            for play in list(self._players.values()):
                stats = await play.quality(loop.time())
                if stats is not None:
                    self._quality[play] = stats
                    self._ctx.events.emit("playQualityUpdate", play.stream_id, stats)
                    self._watch_receive(play)
                    down.append(network_level(play.meter, play.room.link.latency_ms))
                    publisher = play.publisher_id()
                    if publisher is not None:
                        remote_up.setdefault(publisher, []).append(
                            network_level(play.meter, None))
            self._emit_network_quality(up, down, remote_up)

    def _watch_capture(self, pub: Publisher) -> None:
        """A muted or video-only publish is silent by design: not ZEGO's 1002."""
        local, loudest = pub.local, pub.local.loudest
        local.loudest = 0.0
        if not local.muted and local.source is not None:
            self._exception(local, ExceptionCode.captureVolumeToLow, loudest < LOW_LEVEL)

    def _watch_receive(self, play: Player) -> None:
        """A play that asked for no audio decodes none: not ZEGO's 1007."""
        if "audio" not in play.kinds:
            return
        remote, loudest = play.remote, play.remote.loudest
        remote.loudest = 0.0
        decoded = remote.frames_received
        silent_decoder = decoded == play.frames_seen
        play.frames_seen = decoded
        self._exception(remote, ExceptionCode.receiveAudioDecodedFail, silent_decoder)
        if not silent_decoder:
            self._exception(remote, ExceptionCode.receiveVolumeToLow, loudest < LOW_LEVEL)

    def _exception(self, stream: Any, start: ExceptionCode, holds: bool) -> None:
        data = self._exceptions.update(stream, start, holds)
        if data is not None:
            self._ctx.events.emit("exceptionUpdate", stream, data)

    def publishing_quality(self, stream_id: str) -> dict[str, Any] | None:
        """The latest publishQualityUpdate of a stream still publishing, else None."""
        return self._latest_quality(self._publishers.get(stream_id), PublisherState.PUBLISHING)

    def playing_quality(self, stream_id: str) -> dict[str, Any] | None:
        """The latest playQualityUpdate of a stream still playing, else None."""
        return self._latest_quality(self._players.get(stream_id), PlayerState.PLAYING)

    def _latest_quality(self, stream: PeerStream[Any] | None, live: str
                        ) -> dict[str, Any] | None:
        if stream is None or stream.state != live:
            return None
        return self._quality.get(stream)

    def _emit_network_quality(self, up: list[int], down: list[int],
                              remote_up: dict[str, list[int]]) -> None:
        """networkQuality: "" is this engine (as ZEGO Web); then each user whose streams
        it plays, whose uplink is judged by what arrives here (their downlink is not
        seen from here: UNKNOWN).  docs/api.md gives the mapping."""
        if not up and not down:
            return
        emit = self._ctx.events.emit
        emit("networkQuality", "", worst_level(up), worst_level(down))
        for user_id, levels in remote_up.items():
            emit("networkQuality", user_id, worst_level(levels), UNKNOWN)

    # ------------------------------------------------------------------ devices
    def _ensure_device_watch(self) -> None:
        """Started by the first real device in use (or a device event handler at login):
        one ``pactl subscribe`` per engine, none for engines that only use code streams."""
        if self._device_task is None:
            self._device_task = self._ctx.spawn(
                follow_devices(self._ctx.events.emit, self._local, self._speaker))

    # ------------------------------------------------------------------ lifecycle
    def on_relogin(self, room: RoomLink) -> None:
        """After logging in again (the server forgot us): publish and play everything again."""
        for pub in [p for p in self._publishers.values() if p.room is room]:
            pub.republish()
        for play in [p for p in self._players.values() if p.room is room]:
            play.replay()

    async def on_room_leaving(self, room: RoomLink) -> None:
        """Logout (or a lost room) stops this room's publishing and playing."""
        pubs = [p for p in self._publishers.values() if p.room is room]
        plays = [p for p in self._players.values() if p.room is room]
        for pub in pubs:
            del self._publishers[pub.stream_id]
            pub.end("stop")
        for play in plays:
            del self._players[play.stream_id]
            play.end("stop")
        await asyncio.gather(*(p.teardown(tell_server=False) for p in pubs),
                             *(p.teardown(tell_server=False) for p in plays))

    async def close(self) -> None:
        for task in (self._level_task, self._quality_task, self._watchdog_task,
                     self._device_task):
            if task is not None:
                task.cancel()
        pubs, plays = list(self._publishers.values()), list(self._players.values())
        self._publishers.clear()
        self._players.clear()
        for pub in pubs:
            pub.end(None)
        for play in plays:
            play.end(None)
        await asyncio.gather(*(p.teardown(tell_server=True) for p in pubs),
                             *(p.teardown(tell_server=True) for p in plays))
        self._local.close()
        self._speaker.close()
