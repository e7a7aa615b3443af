"""One played stream: its peer connection from the relay and its PLAYER state.

Each state move is a row of ``states.PLAYER`` and one ``playerStateUpdate``.  The
player negotiates with the relay, plays again on a new peer after a re-login, a failed
media path or a stall the watchdog saw, feeds the speaker mix (volume, mute) and tears
itself down.  ``MediaController`` owns the players by stream ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection

from ..enums import PlayerState, RoomState
from ..errors import ErrorCode, ZegoError
from ..room import RoomLink
from ..states import PLAYER
from .context import IceConfig, MediaContext
from .opus import decoder_available
from .peer import close_peer, connect_peer, quality_stats, watch_failed
from .peer_stream import PeerStream
from .playout import PlayoutTrack
from .remote_stream import ZegoRemoteStream
from .remote_track import RemoteAudioTrack
from .speaker import Speaker
from .video_inbound import video_params_of
from .video_playout import VideoPlayoutTrack

__all__ = ["Player"]

log = logging.getLogger("zego_py.media")

# After a reconnect, how long a player waits for its stream to be published again.
REPLAY_WAIT_S = 15.0
# What a play can receive, one recvonly transceiver each; the play option's
# {"audio": bool, "video": bool} picks (both by default, as ZEGO).
RECEIVED_KINDS = ("audio", "video")


class Player(PeerStream[PlayerState]):
    """The engine's player of ``stream_id`` while ``live``."""

    def __init__(self, stream_id: str, room: RoomLink, *, ctx: MediaContext, ice: IceConfig,
                 speaker: Speaker, forget: Callable[[PeerStream[Any]], None]) -> None:
        super().__init__(stream_id, room, ctx=ctx, ice=ice, table=PLAYER,
                         initial=PlayerState.NO_PLAY, event="playerStateUpdate",
                         stop_request="stopPlay", forget=forget)
        self.remote = ZegoRemoteStream(stream_id)
        self.muted = False
        self.playout: PlayoutTrack | None = None
        self.frames_seen = 0  # remote.frames_received at the last quality check
        self._speaker = speaker
        self.kinds: tuple[str, ...] = RECEIVED_KINDS
        self._answer_sdp = ""

    async def start(self, option: dict[str, Any]) -> None:
        """Connect the first time; if that fails, report it (PLAYER failed) and raise."""
        self.kinds = tuple(k for k in RECEIVED_KINDS if option.get(k, True) is not False)
        self.transition("start")
        try:
            await self._negotiate()
        except ZegoError as exc:
            self._failed(exc)
            await self.remote.stop()
            raise
        if option.get("speaker", True) and option.get("audio", True) is not False:
            self._attach_speaker(option.get("audioOutput"))
        self.transition("connected")

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
        if track.kind == "video":
            params = video_params_of(self._answer_sdp)
            if params is not None:
                self.remote.video.start(VideoPlayoutTrack(receiver, params))
            return
        played: MediaStreamTrack = track
        if decoder_available():
            self.playout = played = PlayoutTrack(receiver)
        else:  # no libopus binding: aiortc's fixed 80 ms buffer, no PLC/FEC
            log.warning("libopus0/opuslib-next missing: %s uses aiortc's decoder",
                        self.stream_id)
        self.remote.start(played)
        # ZEGO's playerAudioTrackUpdate(streamID, track), on the first play and each
        # replay: a track of its own (remote_track.py), since the remote stream reads
        # ``played`` and a second recv() loop on it would steal frames.
        self._ctx.events.emit("playerAudioTrackUpdate", self.stream_id,
                              RemoteAudioTrack(self.remote))

    async def _negotiate(self) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            for kind in self.kinds:
                pc.addTransceiver(kind, direction="recvonly")
            pc.on("track", lambda track: self._on_track(pc, track))

        async def exchange(sdp: str) -> dict[str, Any]:
            reply = await self.room.link.request("play", {"streamID": self.stream_id, "sdp": sdp})
            self._answer_sdp = str(reply.get("sdp", ""))  # tracks fire before it is set
            return reply

        pc = await connect_peer(setup, exchange, ice_servers=self._ice.servers(),
                                host_addresses=self._ice.host_addresses(),
                                transport_policy=self._ice.transport_policy(),
                                failure_code=ErrorCode.PLAY_STREAM_NOT_FOUND,
                                offer_fmtp={"useinbandfec": 1})
        if not self.live:  # stopped while connecting
            await close_peer(pc)
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "stopped while connecting")
        self.pc = pc
        watch_failed(pc, self.replay)

    def replay(self) -> None:
        """Play again on a new peer connection, waiting (up to REPLAY_WAIT_S) for the
        publisher to come back too: after a server restart it may re-publish later."""
        self._start_over(self._play_again)

    async def _play_again(self) -> None:
        deadline = asyncio.get_running_loop().time() + REPLAY_WAIT_S
        while True:
            try:
                await self._negotiate()
                break
            except ZegoError as exc:
                waiting = (exc.code == ErrorCode.PLAY_STREAM_NOT_FOUND
                           and asyncio.get_running_loop().time() < deadline and self.live)
                if not waiting:
                    if self._failed(exc):
                        await self.teardown(tell_server=False)
                    return
                await asyncio.sleep(0.5)
        self.transition("connected")

    def stalled(self, now: float, timeout: float) -> bool:
        """Playing, with no packet (audio, or video for a video-only play) for
        ``timeout`` s while its room is connected."""
        video = self.remote.video.track
        last = (self.playout.last_packet_at if self.playout is not None
                else video.inbound.last_packet_at if video is not None else None)
        return (self.state == PlayerState.PLAYING and last is not None
                and now - last > timeout and self.room.state == RoomState.CONNECTED)

    def publisher_id(self) -> str | None:
        """The userID of who publishes this stream, when its room announced it."""
        stream = self.room.streams.get(self.stream_id)
        user = stream.get("user") if stream else None
        return str(user["userID"]) if isinstance(user, dict) and "userID" in user else None

    async def quality(self, now: float) -> dict[str, Any] | None:
        """playQualityUpdate's stats, or None while not playing."""
        if self.pc is None or self.state != PlayerState.PLAYING:
            return None
        payload = self.playout.payload_bytes if self.playout else None
        counts = ((self.playout.buffer.arrived, self.playout.buffer.lost) if self.playout
                  else None)
        return self.meter.play_stats(now, await quality_stats(self.pc), self.remote.level,
                                     self.muted, payload, video=self.remote.video,
                                     arrived_lost=counts)

    # ------------------------------------------------------------------ speaker
    def _attach_speaker(self, device_id: str | None) -> None:
        mixer_input = self._speaker.attach(self.stream_id, device_id)
        if mixer_input is not None:
            self.remote.mixer_input = mixer_input
            mixer_input.muted = self.muted

    def mute(self, mute: bool) -> None:
        self.muted = bool(mute)
        if self.remote.mixer_input is not None:
            self.remote.mixer_input.muted = self.muted

    def set_volume(self, volume: int) -> bool:
        if not 0 <= volume <= 200 or self.remote.mixer_input is None:
            return False
        self.remote.mixer_input.volume = volume
        return True

    async def teardown(self, tell_server: bool) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.remote.mixer_input is not None:
            self._speaker.detach(self.stream_id)
            self.remote.mixer_input = None
        if tell_server and self.room.link.connected:
            with contextlib.suppress(ZegoError):
                await self.room.link.request("stopPlay", {"streamID": self.stream_id},
                                             timeout=3)
        await self.remote.stop()
        if self.pc is not None:
            await close_peer(self.pc)
