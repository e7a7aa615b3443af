"""One peer connection with the relay: negotiate it (offer here, answer there), notice
when its media path dies, retire it.

Offers are non-trickle: aiortc gathers every candidate inside setLocalDescription, so
one request/reply over signaling carries the whole exchange.  Opus is the only audio
codec offered, because the relay forwards Opus packets unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from ..errors import ZegoError
from .ice import gathering_on, new_peer_connection
from .opus import with_opus_fmtp

__all__ = ["close_peer", "connect_peer", "quality_stats", "retire", "watch_failed"]

CONNECT_TIMEOUT_S = 10.0
# How long a close may hold up its caller: with its TURN server gone, aioice retries the
# allocation's deletion for ~63 s (docs/aiortc-internals.md).
CLOSE_TIMEOUT_S = 3.0

log = logging.getLogger("zego_py.media")


def _prefer_opus(pc: RTCPeerConnection) -> None:
    caps = RTCRtpSender.getCapabilities("audio")
    opus = [c for c in caps.codecs if c.mimeType.lower() == "audio/opus"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(opus)


async def connect_peer(
    setup: Callable[[RTCPeerConnection], None],
    exchange: Callable[[str], Awaitable[dict[str, Any]]],
    *,
    ice_servers: Sequence[dict[str, Any]] | None,
    host_addresses: Sequence[str] | None,
    transport_policy: str = "all",
    failure_code: int,
    offer_fmtp: dict[str, int] | None = None,
) -> RTCPeerConnection:
    """Create a peer, let ``setup`` add its transceivers, send the offer through
    ``exchange`` (which returns the reply data with ``sdp``) and wait until connected.

    On failure the peer is closed and ZegoError(failure_code) raised, unless the
    exchange itself raised a ZegoError (then its code is kept).
    """
    pc = new_peer_connection(ice_servers, transport_policy)
    connected = asyncio.get_running_loop().create_future()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if connected.done():
            return
        if pc.connectionState == "connected":
            connected.set_result(True)
        elif pc.connectionState in ("failed", "closed"):
            connected.set_result(False)

    try:
        setup(pc)
        _prefer_opus(pc)
        offer = await pc.createOffer()
        with gathering_on(host_addresses):
            await pc.setLocalDescription(offer)
        offer_sdp = pc.localDescription.sdp
        if offer_fmtp:  # aiortc writes no Opus fmtp; announce FEC/DTX/bitrate ourselves
            offer_sdp = with_opus_fmtp(offer_sdp, offer_fmtp)
        reply = await exchange(offer_sdp)
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        ok = await asyncio.wait_for(connected, CONNECT_TIMEOUT_S)
        if not ok:
            raise ZegoError(failure_code, "media connection failed (ICE/DTLS)")
    except ZegoError:
        await close_peer(pc)
        raise
    except TimeoutError:
        await close_peer(pc)
        raise ZegoError(failure_code, "media connection timed out") from None
    except BaseException:
        await close_peer(pc)
        raise
    return pc


async def close_peer(pc: RTCPeerConnection) -> None:
    """``pc.close()``, waited for at most CLOSE_TIMEOUT_S; past that it finishes in the
    background (media has stopped by then: aiortc stops the transceivers first)."""
    closing = asyncio.ensure_future(pc.close())
    try:
        await asyncio.wait_for(asyncio.shield(closing), CLOSE_TIMEOUT_S)
    except TimeoutError:
        log.warning("a peer connection is still closing after %.0f s (its TURN server "
                    "gone?): not waiting for it", CLOSE_TIMEOUT_S)


def watch_failed(pc: RTCPeerConnection, on_failed: Callable[[], None]) -> None:
    """Call ``on_failed`` when a connected peer's media path dies (aioice's ICE consent
    checks fail after ~30 s), so its owner can rebuild it as after a reconnect."""
    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "failed":
            on_failed()


async def retire(pc: RTCPeerConnection | None, task: asyncio.Task[None] | None) -> None:
    """Stop what a previous attempt left running before starting a new one."""
    if task is not None and task is not asyncio.current_task():
        task.cancel()
    if pc is not None:
        await close_peer(pc)


async def quality_stats(pc: RTCPeerConnection) -> dict[str, dict[str, Any]]:
    """getStats() grouped by report type (first report of each type); video RTP
    reports under ``"video:" + type``, so audio and video never mix."""
    report = await pc.getStats()
    grouped: dict[str, dict[str, Any]] = {}
    for stats in report.values():
        video = getattr(stats, "kind", None) == "video"
        grouped.setdefault(f"video:{stats.type}" if video else stats.type, vars(stats))
    return grouped
