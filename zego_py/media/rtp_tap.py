"""See every RTP packet an aiortc receiver gets, before its jitter buffer; never decode.

Used by the relay (forward encoded packets) and by players (our own jitter buffer and
decoder).  Two aiortc 1.16 internals, covered by tests/test_relay_internals.py and
described in docs/aiortc-internals.md:

- ``RTCRtpReceiver._handle_rtp_packet`` is wrapped on the instance;
- ``RTCRtpReceiver._RTCRtpReceiver__stop_decoder()`` ends the receiver's decoder thread,
  so aiortc never decodes (its statistics and receiver reports keep working).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

__all__ = ["tap_receiver"]


def tap_receiver(receiver: RTCRtpReceiver, on_packet: Callable[[RtpPacket], None]) -> None:
    original: Callable[[RtpPacket, int], Awaitable[None]] = receiver._handle_rtp_packet
    stop_decoder: Callable[[], None] = receiver._RTCRtpReceiver__stop_decoder  # type: ignore[attr-defined]

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        # Packets reach the receiver only after receive() started its decoder thread;
        # stopping it here (once; later calls are no-ops) leaves aiortc nothing to decode.
        stop_decoder()
        on_packet(packet)
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
