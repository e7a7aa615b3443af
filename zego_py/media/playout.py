"""A played stream's receive path: RTP tap -> adaptive jitter buffer -> libopus.

``PlayoutTrack`` replaces aiortc's receive-side buffering and decoding for one played
stream.  Packets come straight off the receiver (rtp_tap), wait in an
``AdaptiveJitterBuffer`` only as long as measured jitter requires, and are decoded
inline (no thread hop per frame); lost frames are recovered from FEC or concealed.
``recv()`` returns each 20 ms frame as a mono 48 kHz s16 ``av.AudioFrame`` when it is
due, so the consumer's loop is the playout clock.
"""

from __future__ import annotations

import asyncio

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from .jitter import AdaptiveJitterBuffer, Playout
from .opus import OpusDecoder
from .pcm import SAMPLE_RATE, TIME_BASE
from .rtp_tap import tap_receiver

__all__ = ["PlayoutTrack"]


class PlayoutTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, receiver: RTCRtpReceiver, buffer: AdaptiveJitterBuffer | None = None
                 ) -> None:
        super().__init__()
        self.buffer = buffer or AdaptiveJitterBuffer(SAMPLE_RATE)
        self._decoder = OpusDecoder()
        self._clock = asyncio.get_running_loop()
        self._wake: asyncio.Future[None] | None = None
        self._pts = 0
        self.payload_bytes = 0  # for playQualityUpdate's bitrate, like the sender's count
        self.last_packet_at = self._clock.time()  # for the engine's media watchdog
        tap_receiver(receiver, self._on_packet)

    def _on_packet(self, packet: RtpPacket) -> None:
        if packet.payload and self.readyState == "live":
            self.payload_bytes += len(packet.payload)
            self.last_packet_at = self._clock.time()
            self.buffer.push(packet.timestamp, packet.payload, self._clock.time())
            self._wake_up()

    def _wake_up(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _decode(self, playout: Playout) -> np.ndarray:
        if playout.kind == "packet":
            return self._decoder.decode(playout.payload)
        if playout.kind == "fec":
            return self._decoder.decode_fec(playout.payload)
        return self._decoder.conceal()

    async def recv(self) -> av.AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            playout = self.buffer.pop(self._clock.time())
            if playout is not None:
                return self._frame(self._decode(playout))
            due = self.buffer.next_due()
            self._wake = self._clock.create_future()
            timer = None if due is None else self._clock.call_at(due, self._wake_up)
            try:
                await self._wake
            finally:
                if timer is not None:
                    timer.cancel()

    def _frame(self, pcm: np.ndarray) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += pcm.shape[0]
        return frame

    def stop(self) -> None:
        super().stop()
        self._wake_up()
