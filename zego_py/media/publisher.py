"""One published stream: its peer connection to the relay and its PUBLISHER state.

Each state move is a row of ``states.PUBLISHER`` and one ``publisherStateUpdate``.  The
publisher negotiates with the relay, publishes again on a new peer after a re-login or
a failed media path, tells the server its mic status, and tears itself down.
``MediaController`` owns the publishers by stream ID and decides when they stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection

from ..enums import PublisherState
from ..errors import ErrorCode, ZegoError
from ..room import RoomLink
from ..states import PUBLISHER
from .context import IceConfig, MediaContext
from .local_stream import ZegoLocalStream
from .opus import OpusSettings
from .peer import close_peer, connect_peer, quality_stats, watch_failed
from .peer_stream import PeerStream

__all__ = ["Publisher", "opus_settings"]

log = logging.getLogger("zego_py.media")

DEFAULT_BITRATE_KBPS = OpusSettings().bitrate_kbps


def opus_settings(option: dict[str, Any], local: ZegoLocalStream) -> OpusSettings:
    """The encoder settings of publishOption (``audioBitrate`` beats createStream's)."""
    bitrate = option.get("audioBitrate") or local.audio_bitrate_kbps or DEFAULT_BITRATE_KBPS
    if not isinstance(bitrate, int) or not 6 <= bitrate <= 510:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "audioBitrate is 6..510 kbps")
    return OpusSettings(bitrate_kbps=bitrate, channels=local.channels,
                        dtx=bool(option.get("enableDTX", True)))


class Publisher(PeerStream[PublisherState]):
    """The engine's publisher of ``stream_id`` while ``live``."""

    def __init__(self, stream_id: str, room: RoomLink, local: ZegoLocalStream, *,
                 extra_info: str, settings: OpusSettings, ctx: MediaContext, ice: IceConfig,
                 on_connected: Callable[[], None],
                 forget: Callable[[PeerStream[Any]], None]) -> None:
        super().__init__(stream_id, room, ctx=ctx, ice=ice, table=PUBLISHER,
                         initial=PublisherState.NO_PUBLISH, event="publisherStateUpdate",
                         stop_request="unpublish", forget=forget)
        self.local = local
        self.extra_info = extra_info
        self.settings = settings
        self.mic_status_sent = "OPEN"
        self._on_connected = on_connected  # the first publish starts the engine's loops

    def start(self) -> None:
        self.transition("start")
        self.task = self._ctx.spawn(self._negotiate())

    def tracks(self) -> list[MediaStreamTrack]:
        """What this publish sends, one sendonly transceiver each (audio only, so far)."""
        return [self.local.new_capture_track(self.settings)]

    async def _negotiate(self) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            for track in self.tracks():
                pc.addTransceiver(track, direction="sendonly")

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
        self.mic_status_sent = "OPEN"  # a new publish starts OPEN at the server
        if self.local.muted:
            await self.send_mic_status()

    def republish(self) -> None:
        """Publish again on a new peer connection (after a re-login or a failed path)."""
        self._start_over(self._negotiate)

    async def send_mic_status(self) -> None:
        """Tell the server (and so the players: remoteMicStatusUpdate) MUTE or OPEN."""
        status = "MUTE" if self.local.muted else "OPEN"
        if status == self.mic_status_sent or self.state != PublisherState.PUBLISHING:
            return
        self.mic_status_sent = status
        with contextlib.suppress(ZegoError):
            await self.room.link.request("setMicStatus",
                                         {"streamID": self.stream_id, "status": status})

    async def quality(self, now: float) -> dict[str, Any] | None:
        """publishQualityUpdate's stats, or None while not publishing."""
        if self.pc is None or self.state != PublisherState.PUBLISHING:
            return None
        return self.meter.publish_stats(now, await quality_stats(self.pc), self.local.muted)

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
