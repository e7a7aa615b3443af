"""The forwarding relay (SFU): any user plays any stream by its ID.

Each publisher has one aiortc peer connection to the relay; each listener has one of
its own.  The relay never decodes: it takes the publisher's Opus packets as they come
off the wire, *before* aiortc's jitter buffer, and hands the same encoded packet to
every listener's sender, which only re-packetises it (new SSRC, sequence numbers and
timestamp origin).  A listener's audio therefore passes exactly one jitter buffer, its
own.  Measured on this machine kind (shared/reference/perf-baseline.md): ~0.23 % of a
core per listener and 82 ms mouth-to-ear, against 4.2 % and 163 ms for aiortc's
decode/re-encode MediaRelay.

Video is forwarded the same way, one encoded frame at a time: the publisher's VP8 or
H.264 RTP is reassembled into whole frames (video_frames.py, because aiortc's sender
packs an ``av.Packet`` as one frame) and the same frame goes to every listener.  A new
listener gets frames from the next keyframe on, and the relay asks the publisher for
one at once (RTCP PLI); listeners' own PLI/FIR, and frames lost on the way in, ask too.
Requests are merged: at most one PLI per ``KEYFRAME_MIN_INTERVAL_S`` reaches the
publisher however many listeners ask.  Retransmissions are aiortc's own NACK/RTX on
both hops (the publisher's RTX is unwrapped before reassembly).

The taps (zego_py.media.rtp_tap, the senders' ``_send_keyframe``) rely on aiortc
internals, pinned by ``aiortc==1.16.*`` and covered by tests/test_relay_internals.py
(docs/aiortc-internals.md).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription
from av.packet import Packet

from zego_py.errors import ErrorCode, ZegoError
from zego_py.media.ice import gathering_on, new_peer_connection
from zego_py.media.impairment import Impairment
from zego_py.media.opus import with_opus_fmtp
from zego_py.media.rtp_tap import tap_receiver
from zego_py.media.video_frames import EncodedFrame
from zego_py.media.video_inbound import VideoInbound, video_params_of

from .offers import BadOffer, check_media_offer

__all__ = ["NegotiationError", "Relay"]

log = logging.getLogger("mock_server.relay")

_OPUS_TIME_BASE = fractions.Fraction(1, 48000)
_VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
# A listener that falls this many packets (20 ms each) behind loses its oldest ones
# instead of buffering without bound.
_LISTENER_QUEUE_PACKETS = 25
# Video frames a listener may fall behind; past that it skips to the next keyframe.
_LISTENER_QUEUE_FRAMES = 10


class _ForwardedTrack(MediaStreamTrack):
    """A listener's track: yields the publisher's encoded data as ``av.Packet``s, which
    ``RTCRtpSender`` sends through ``encoder.pack()`` without encoding.  Its queue is
    bounded, so one slow listener never holds the others up."""

    capacity = _LISTENER_QUEUE_PACKETS

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[Packet | None] = asyncio.Queue(self.capacity)
        self.dropped = 0

    def offer(self, packet: Packet) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(packet)

    def end(self) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def recv(self) -> Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet


class ForwardedAudioTrack(_ForwardedTrack):
    """Opus packets, one ``av.Packet`` each."""

    kind = "audio"


class ForwardedVideoTrack(_ForwardedTrack):
    """Whole encoded video frames, from a keyframe on: a new listener, or one that fell
    ``_LISTENER_QUEUE_FRAMES`` behind, waits for the next keyframe (and asks for it)."""

    kind = "video"
    capacity = _LISTENER_QUEUE_FRAMES

    def __init__(self, request_keyframe: Callable[[], None]) -> None:
        super().__init__()
        self.request_keyframe = request_keyframe
        self.waiting_for_keyframe = True

    def offer_frame(self, packet: Packet, keyframe: bool) -> None:
        if self.waiting_for_keyframe:
            if not keyframe:
                return
            self.waiting_for_keyframe = False
        if self._queue.full():  # too slow: what is queued is useless without its past
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self.waiting_for_keyframe = True
            self.request_keyframe()
            return
        self._queue.put_nowait(packet)


class _Listener:
    def __init__(self, pc: RTCPeerConnection, audio: ForwardedAudioTrack | None,
                 video: ForwardedVideoTrack | None) -> None:
        self.pc, self.audio, self.video = pc, audio, video

    def end(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.end()


class _Published:
    """One published stream: its publisher connection and its listeners."""

    def __init__(self, stream_id: str, pc: RTCPeerConnection,
                 impairment: Impairment | None = None) -> None:
        self.stream_id = stream_id
        self.impairment = impairment
        self.pc = pc
        self.listeners: dict[int, _Listener] = {}
        self.first_timestamp: int | None = None
        self.packets_in = 0
        self.has_audio = False
        self.video: VideoInbound | None = None
        self.first_video_timestamp: int | None = None

    def forward(self, packet: RtpPacket) -> None:
        if not packet.payload:
            return
        if self.first_timestamp is None:
            self.first_timestamp = packet.timestamp
        self.packets_in += 1
        if not self.listeners:
            return
        # One av.Packet shared by every listener: senders only read it.
        av_packet = Packet(packet.payload)
        av_packet.pts = (packet.timestamp - self.first_timestamp) & 0xFFFFFFFF
        av_packet.time_base = _OPUS_TIME_BASE
        for listener in self.listeners.values():
            track = listener.audio
            if track is None:
                continue
            if self.impairment is None:
                track.offer(av_packet)
            else:
                self.impairment.deliver(track.offer, av_packet)

    def forward_video(self, frame: EncodedFrame) -> None:
        if self.first_video_timestamp is None:
            self.first_video_timestamp = frame.timestamp
        # One av.Packet per frame, shared by every listener: senders only read it.
        av_packet = Packet(frame.data)
        av_packet.pts = (frame.timestamp - self.first_video_timestamp) & 0xFFFFFFFF
        av_packet.time_base = _VIDEO_TIME_BASE
        for listener in self.listeners.values():
            if listener.video is not None:
                listener.video.offer_frame(av_packet, frame.keyframe)


def _opus_only(pc: RTCPeerConnection) -> None:
    for transceiver in pc.getTransceivers():
        caps = RTCRtpReceiver.getCapabilities("audio")
        if caps is not None and transceiver.kind == "audio":
            transceiver.setCodecPreferences(
                [c for c in caps.codecs if c.mimeType.lower() == "audio/opus"]
            )


def _only_video_codec(offer_sdp: str, codec: str) -> str:
    """A listener's offer with ``codec`` (and its RTX) as the only video codec: the relay
    forwards the publisher's frames as they are.  (aiortc applies codec preferences while
    it reads the offer, before the answerer could set any, so the offer is filtered.)"""
    desc = SessionDescription.parse(offer_sdp)
    if not any(media.kind == "video" for media in desc.media):
        return offer_sdp  # an audio-only player (a browser page): its offer as it came
    for media in desc.media:
        if media.kind != "video":
            continue
        kept = {c.payloadType for c in media.rtp.codecs if c.name.upper() == codec}
        media.rtp.codecs = [c for c in media.rtp.codecs if c.payloadType in kept or (
            c.name.lower() == "rtx" and c.parameters.get("apt") in kept)]
        media.fmt = [c.payloadType for c in media.rtp.codecs]
    return str(desc)


# Called when the relay drops a peer connection on its own (its transport failed or
# closed, or it never connected): (stream_id, listener key, or None for the publisher).
PeerGone = Callable[[str, int | None], Awaitable[None]]


class NegotiationError(ZegoError):
    """A refused offer or failed negotiation: a generic reply, ``detail`` for the log.

    The relay does not log these itself: any client can cause them at its request rate,
    so the server logs them under its log budget (server.py)."""

    def __init__(self, code: int, message: str, detail: str) -> None:
        super().__init__(code, message)
        self.detail = detail


def _checked_offer(sdp: str, code: int, what: str) -> None:
    try:
        check_media_offer(sdp)
    except BadOffer as exc:
        raise NegotiationError(code, f"the {what} offer is not an SDP offer of Opus audio "
                                     "or VP8/H.264 video",
                               f"refused a {what} offer of {len(sdp)} chars: {exc}") from None


def _has_candidate(sdp: str) -> bool:
    """No candidate in our answer means gathering found no usable socket (fds ran out)."""
    return "\na=candidate:" in sdp


def _watch_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """A listener's PLI/FIR reaches its sender's ``_send_keyframe``, which only flags
    aiortc's own encoder; the relay packs, so it asks the publisher instead."""
    sender._send_keyframe = request  # type: ignore[method-assign]


class Relay:
    def __init__(self, host_addresses: Sequence[str] | None,
                 ice_servers: Sequence[dict[str, Any]] | None = None,
                 impairment: Callable[[], Impairment | None] | None = None,
                 on_peer_gone: PeerGone | None = None,
                 connect_timeout_s: float = 20.0) -> None:
        self.host_addresses = host_addresses
        # tests and benchmarks only: a lossy, jittery path from the relay to listeners
        self.make_impairment = impairment or (lambda: None)
        self.ice_servers = ice_servers
        self.streams: dict[str, _Published] = {}
        self.on_peer_gone = on_peer_gone
        self.connect_timeout_s = connect_timeout_s
        self._reapers: set[asyncio.Task[None]] = set()

    def _watch(self, pc: RTCPeerConnection, stream_id: str, key: int | None) -> None:
        """Reap ``pc`` when its transport fails or closes, or if it never connects."""

        def reap() -> None:
            task = asyncio.ensure_future(self._reap(pc, stream_id, key))
            self._reapers.add(task)
            task.add_done_callback(self._reapers.discard)

        def deadline() -> None:
            if pc.connectionState not in ("connected", "closed"):
                log.info("stream %s: a peer connection did not connect within %.0f s",
                         stream_id, self.connect_timeout_s)
                reap()

        timer = asyncio.get_running_loop().call_later(self.connect_timeout_s, deadline)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState != "connecting":
                timer.cancel()
            if pc.connectionState in ("failed", "closed"):
                reap()

    async def _reap(self, pc: RTCPeerConnection, stream_id: str, key: int | None) -> None:
        """Drop ``pc`` if it is still the relay's; tell the server what went with it."""
        published = self.streams.get(stream_id)
        entry = None if published is None or key is None else published.listeners.get(key)
        if published is not None and key is None and published.pc is pc:
            log.info("stream %s: publisher transport %s, removing the stream", stream_id,
                     pc.connectionState)
            await self.remove_publisher(stream_id)
        elif key is not None and entry is not None and entry.pc is pc:
            log.info("stream %s: listener %d transport %s, removing it", stream_id, key,
                     pc.connectionState)
            await self.remove_listener(stream_id, key)
        else:  # already replaced or removed
            await pc.close()
            return
        if self.on_peer_gone is not None:
            await self.on_peer_gone(stream_id, key)

    async def _answer(self, pc: RTCPeerConnection, offer_sdp: str) -> str:
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        _opus_only(pc)
        answer = await pc.createAnswer()
        with gathering_on(self.host_addresses):
            await pc.setLocalDescription(answer)
        if not _has_candidate(pc.localDescription.sdp):
            raise RuntimeError("gathering produced no ICE candidate")
        # Ask publishers (browsers included) for in-band FEC: listeners recover from it.
        return with_opus_fmtp(pc.localDescription.sdp, {"useinbandfec": 1})

    async def add_publisher(self, stream_id: str, offer_sdp: str) -> str:
        """Accept a publisher's offer; returns the relay's SDP answer."""
        _checked_offer(offer_sdp, ErrorCode.PUBLISH_INNER_ERROR, "publish")
        pc = new_peer_connection(self.ice_servers)
        published = _Published(stream_id, pc, self.make_impairment())

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is not track:
                    continue
                if track.kind == "audio":
                    published.has_audio = True
                    tap_receiver(transceiver.receiver, published.forward)
                else:
                    video_receivers.append(transceiver.receiver)

        video_receivers: list[RTCRtpReceiver] = []
        try:
            answer = await self._answer(pc, offer_sdp)
        except Exception as exc:
            await pc.close()
            # the reply stays generic: exception text is internal (and may quote the offer)
            raise NegotiationError(ErrorCode.PUBLISH_INNER_ERROR, "publish negotiation failed",
                                   f"publish negotiation failed: {type(exc).__name__}"
                                   ) from None
        params = video_params_of(answer)
        if video_receivers and params is not None:
            published.video = VideoInbound(video_receivers[0], params, published.forward_video)
        self.streams[stream_id] = published
        self._watch(pc, stream_id, None)
        return answer

    async def remove_publisher(self, stream_id: str) -> None:
        published = self.streams.pop(stream_id, None)
        if published is None:
            return
        listeners = list(published.listeners.values())
        published.listeners.clear()
        if published.video is not None:
            published.video.close()
        for listener in listeners:
            listener.end()
        await asyncio.gather(published.pc.close(), *(li.pc.close() for li in listeners))

    async def add_listener(self, stream_id: str, key: int, offer_sdp: str) -> str:
        """Accept a listener's recvonly offer for ``stream_id``; returns the answer."""
        published = self.streams.get(stream_id)
        if published is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        _checked_offer(offer_sdp, ErrorCode.INPUT_PARAM_ERROR, "play")
        pc = new_peer_connection(self.ice_servers)
        video_in = published.video
        listener = _Listener(pc, None, None)
        try:
            if video_in is not None:
                offer_sdp = _only_video_codec(offer_sdp, video_in.codec)
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            kinds = {t.kind for t in pc.getTransceivers()}
            if published.has_audio and "audio" in kinds:
                listener.audio = ForwardedAudioTrack()
                pc.addTrack(listener.audio)
            if video_in is not None and "video" in kinds:
                listener.video = ForwardedVideoTrack(video_in.request_keyframe)
                _watch_keyframe_requests(pc.addTrack(listener.video),
                                         video_in.request_keyframe)
            _opus_only(pc)
            answer = await pc.createAnswer()
            with gathering_on(self.host_addresses):
                await pc.setLocalDescription(answer)
            if not _has_candidate(pc.localDescription.sdp):
                raise RuntimeError("gathering produced no ICE candidate")
        except Exception as exc:
            await pc.close()
            raise NegotiationError(ErrorCode.INPUT_PARAM_ERROR, "play negotiation failed",
                                   f"play negotiation failed: {type(exc).__name__}") from None
        if self.streams.get(stream_id) is not published:  # publisher left meanwhile
            await pc.close()
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        old = published.listeners.pop(key, None)
        published.listeners[key] = listener
        self._watch(pc, stream_id, key)
        if listener.video is not None and video_in is not None:
            video_in.request_keyframe()  # its first frame now, not at the next keyframe
        if old is not None:
            old.end()
            await old.pc.close()
        return with_opus_fmtp(pc.localDescription.sdp, {"useinbandfec": 1, "usedtx": 1})

    async def remove_listener(self, stream_id: str, key: int) -> None:
        published = self.streams.get(stream_id)
        if published is None:
            return
        listener = published.listeners.pop(key, None)
        if listener is not None:
            listener.end()
            await listener.pc.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.remove_publisher(s) for s in list(self.streams)))
