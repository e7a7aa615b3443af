"""A listener for load tests that costs almost nothing: a real WebRTC peer, no decoding.

It plays a stream exactly as the engine does (a recvonly aiortc peer negotiated with
``play`` over the room's signaling link, ICE and DTLS-SRTP included), but reads packets
through the receiver tap (zego_py.media.rtp_tap), which also stops aiortc's decoder.
It checks what a listener would hear: packets arrive at 50 per second, sequence numbers
have no gaps, payloads are not empty.  About 1/5 of a decoding player's CPU, so one
load generator fills a server (docs/loadtest.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.rtp import RtpPacket

from zego_py.errors import ErrorCode
from zego_py.media.peer import connect_peer
from zego_py.media.rtp_tap import tap_receiver
from zego_py.signaling import SignalingClient

__all__ = ["LeanPlayer"]


class LeanPlayer:
    """Counts one played stream's RTP packets: ``frames_received`` (one 20 ms Opus frame
    per packet), ``lost`` (sequence-number gaps), ``payload_bytes`` and ``empty``."""

    def __init__(self, link: SignalingClient, stream_id: str,
                 host_addresses: Sequence[str] | None) -> None:
        self.link = link
        self.stream_id = stream_id
        self.host_addresses = host_addresses
        self.frames_received = 0
        self.payload_bytes = 0
        self.empty = 0
        self.first_audio_at: float | None = None
        self._first_seq: int | None = None
        self._highest = 0  # extended (wrap-counted) highest sequence number
        self.pc: RTCPeerConnection | None = None

    @property
    def lost(self) -> int:
        """Packets never seen between the first and the highest (RFC 3550 A.3)."""
        if self._first_seq is None:
            return 0
        return max(0, self._highest - self._first_seq + 1 - self.frames_received - self.empty)

    def _on_packet(self, packet: RtpPacket) -> None:
        seq = packet.sequence_number
        if self._first_seq is None:
            self._first_seq = self._highest = seq
            self.first_audio_at = asyncio.get_running_loop().time()
        else:
            delta = (seq - self._highest) & 0xFFFF
            if delta < 0x8000:  # forward (a wrap counts as forward)
                self._highest += delta
        if packet.payload:
            self.frames_received += 1
            self.payload_bytes += len(packet.payload)
        else:
            self.empty += 1

    async def start(self) -> None:
        def setup(pc: RTCPeerConnection) -> None:
            pc.addTransceiver("audio", direction="recvonly")

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                for transceiver in pc.getTransceivers():
                    if transceiver.receiver.track is track:
                        tap_receiver(transceiver.receiver, self._on_packet)

        async def exchange(sdp: str) -> dict[str, Any]:
            return await self.link.request("play", {"streamID": self.stream_id, "sdp": sdp})

        self.pc = await connect_peer(setup, exchange, ice_servers=[],
                                     host_addresses=self.host_addresses,
                                     failure_code=ErrorCode.PLAY_STREAM_NOT_FOUND)

    async def stop(self) -> None:
        if self.pc is not None:
            await self.pc.close()
