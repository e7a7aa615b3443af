"""One published stream: its peer connection to the relay and its PUBLISHER state.

Each state move is a row of ``states.PUBLISHER`` and one ``publisherStateUpdate``.  The
publisher negotiates with the relay (Opus audio and/or VP8/H.264 video), publishes
again on a new peer after a re-login or a failed media path, tells the server its mic
and camera status, and tears itself down.
``MediaController`` owns the publishers by stream ID and decides when they stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender

from ..enums import PublisherState
from ..errors import ErrorCode, ZegoError
from ..room import RoomLink
from ..states import PUBLISHER
from .context import IceConfig, MediaContext
from .local_stream import VideoCaptureTrack, ZegoLocalStream
from .opus import OpusSettings
from .peer import close_peer, connect_peer, quality_stats, watch_failed
from .peer_stream import PeerStream

__all__ = ["Publisher", "opus_settings", "video_codec"]

log = logging.getLogger("zego_py.media")

DEFAULT_BITRATE_KBPS = OpusSettings().bitrate_kbps


def opus_settings(option: dict[str, Any], local: ZegoLocalStream) -> OpusSettings:
    """The encoder settings of publishOption (``audioBitrate`` beats createStream's)."""
    bitrate = option.get("audioBitrate") or local.audio_bitrate_kbps or DEFAULT_BITRATE_KBPS
    if not isinstance(bitrate, int) or not 6 <= bitrate <= 510:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "audioBitrate is 6..510 kbps")
    return OpusSettings(bitrate_kbps=bitrate, channels=local.channels,
                        dtx=bool(option.get("enableDTX", True)))


VIDEO_CODECS = ("VP8", "H264")


def video_codec(option: dict[str, Any]) -> str:
    """publishOption's ``videoCodec``, upper-cased as ZEGO does; VP8 unless told."""
    codec = str(option.get("videoCodec", "VP8")).upper()
    if codec not in VIDEO_CODECS:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "videoCodec is VP8 or H264")
    return codec


def _prefer_video_codec(transceiver: Any, codec: str) -> None:
    """Offer only ``codec`` (and its RTX), so the relay forwards one known format."""
    caps = RTCRtpSender.getCapabilities("video")
    wanted = [c for c in caps.codecs if c.mimeType.lower() == f"video/{codec.lower()}"]
    rtx = [c for c in caps.codecs if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(wanted + rtx)


# The server's status request for each local mute, and what reads it off the stream.
_STATUS_REQUESTS: tuple[tuple[str, Callable[[ZegoLocalStream], bool]], ...] = (
    ("setMicStatus", lambda local: local.muted),
    ("setCameraStatus", lambda local: local.video_muted),
)


class Publisher(PeerStream[PublisherState]):
    """The engine's publisher of ``stream_id`` while ``live``."""

    def __init__(self, stream_id: str, room: RoomLink, local: ZegoLocalStream, *,
                 extra_info: str, settings: OpusSettings, ctx: MediaContext, ice: IceConfig,
                 codec: str = "VP8",
                 on_connected: Callable[[], None],
                 forget: Callable[[PeerStream[Any]], None]) -> None:
        super().__init__(stream_id, room, ctx=ctx, ice=ice, table=PUBLISHER,
                         initial=PublisherState.NO_PUBLISH, event="publisherStateUpdate",
                         stop_request="unpublish", forget=forget)
        self.local = local
        self.extra_info = extra_info
        self.settings = settings
        self.codec = codec
        self.video_track: VideoCaptureTrack | None = None  # this publish's, for its stats
        self.status_sent = {request: "OPEN" for request, _ in _STATUS_REQUESTS}
        self._on_connected = on_connected  # the first publish starts the engine's loops

    def start(self) -> None:
        self.transition("start")
        self.task = self._ctx.spawn(self._negotiate())

    def tracks(self) -> list[MediaStreamTrack]:
        """What this publish sends, one sendonly transceiver each: audio, video or both."""
        tracks: list[MediaStreamTrack] = []
        if self.local.source is not None:
            tracks.append(self.local.new_capture_track(self.settings))
        self.video_track = None
        if self.local.video_source is not None:
            self.video_track = self.local.new_video_track(self.codec)
            tracks.append(self.video_track)
        return tracks

    async def _negotiate(self) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            for track in self.tracks():
                transceiver = pc.addTransceiver(track, direction="sendonly")
                if isinstance(track, VideoCaptureTrack):
                    _prefer_video_codec(transceiver, self.codec)
                    # aiortc's hook for PLI/FIR flags its own encoder; ours encodes
                    transceiver.sender._send_keyframe = (  # type: ignore[method-assign]
                        track.request_keyframe)

        async def exchange(sdp: str) -> dict[str, Any]:
            return await self.room.link.request("publish", {
                "roomID": self.room.room_id, "streamID": self.stream_id,
                "extraInfo": self.extra_info, "sdp": sdp})

        try:
            self.pc = await connect_peer(setup, exchange, ice_servers=self._ice.servers(),
                                         host_addresses=self._ice.host_addresses(),
                                         transport_policy=self._ice.transport_policy(),
                                         failure_code=ErrorCode.PUBLISH_INNER_ERROR,
                                         offer_fmtp=self.settings.fmtp())
        except ZegoError as exc:
            self._failed(exc)
            return
        if not self.live:  # stopped while connecting
            await close_peer(self.pc)
            return
        watch_failed(self.pc, self.republish)
        self.transition("connected")
        self._on_connected()
        # a new publish starts OPEN at the server
        self.status_sent = {request: "OPEN" for request, _ in _STATUS_REQUESTS}
        await self.send_status()

    def republish(self) -> None:
        """Publish again on a new peer connection (after a re-login or a failed path)."""
        self._start_over(self._negotiate)

    async def send_status(self) -> None:
        """Tell the server (and so the players: remoteMicStatusUpdate and
        remoteCameraStatusUpdate) what changed of the mic and camera MUTE/OPEN."""
        for request, is_muted in _STATUS_REQUESTS:
            status = "MUTE" if is_muted(self.local) else "OPEN"
            if status == self.status_sent[request] or self.state != PublisherState.PUBLISHING:
                continue
            self.status_sent[request] = status
            with contextlib.suppress(ZegoError):
                await self.room.link.request(request,
                                             {"streamID": self.stream_id, "status": status})

    async def quality(self, now: float) -> dict[str, Any] | None:
        """publishQualityUpdate's stats, or None while not publishing."""
        if self.pc is None or self.state != PublisherState.PUBLISHING:
            return None
        return self.meter.publish_stats(now, await quality_stats(self.pc), self.local.muted,
                                        video=self.video_track, codec=self.codec,
                                        video_muted=self.local.video_muted)

    async def teardown(self, tell_server: bool) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if tell_server and self.pc is not None and self.room.link.connected:
            try:
                await self.room.link.request("unpublish", {"streamID": self.stream_id},
                                             timeout=3)
            except ZegoError as exc:
                log.info("unpublish %s: %s", self.stream_id, exc)
        if self.pc is not None:
            await close_peer(self.pc)
