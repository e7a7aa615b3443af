"""A publisher's video RTP packets -> whole encoded frames, sans I/O (the relay's).

aiortc's sender packs an ``av.Packet`` as one *frame*: ``Vp8Encoder.pack`` cuts it into
RTP payloads with a fresh VP8 payload descriptor each, ``H264Encoder.pack`` splits its
Annex B NAL units.  So the relay hands it whole depayloaded frames, never RTP payloads.
aiortc's own ``JitterBuffer`` could reassemble them, but it releases a frame only when
the next frame's first packet arrives (one frame interval late, at every hop); this
releases a frame on the packet that completes it.

A frame is complete when its first packet (VP8: S=1 and partition 0; H.264: the packet
that starts its first slice, or parameter sets; or the packet after the previous
frame's marker), its marker packet and every sequence number in between are in.
Frames go out in timestamp order; one that never completes is skipped and ``add``
reports the loss, so the relay asks the publisher for a keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor

__all__ = ["EncodedFrame", "FrameAssembler", "is_keyframe"]

# Frames (distinct timestamps) waiting for their packets before the oldest is given up.
MAX_PENDING_FRAMES = 32


@dataclass
class EncodedFrame:
    data: bytes  # depayloaded: a VP8 frame, or H.264 Annex B NAL units
    timestamp: int  # RTP timestamp (90 kHz)
    keyframe: bool
    first_seq: int
    after_loss: bool = False  # frames before it were lost: its decoder lacks references


@dataclass
class _Pending:
    packets: dict[int, bytes] = field(default_factory=dict)  # seq -> depayloaded data
    start: int | None = None  # seq of the first packet, once known
    end: int | None = None  # seq of the marker packet


def _seq_after(a: int, b: int) -> int:
    """How many sequence numbers ``a`` comes after ``b`` (mod 2^16)."""
    return (a - b) & 0xFFFF


def _newer(ts: int, than: int) -> bool:
    return ts != than and ((ts - than) & 0xFFFFFFFF) < 0x80000000


def is_keyframe(codec: str, data: bytes) -> bool:
    """VP8: frame tag bit 0 is 0 on a key frame.  H.264: an IDR slice (NAL type 5)."""
    if not data:
        return False
    if codec == "VP8":
        return data[0] & 0x01 == 0
    pos = data.find(b"\x00\x00\x01")
    while pos != -1 and pos + 3 < len(data):
        if data[pos + 3] & 0x1F == 5:
            return True
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return False


# NAL unit types that come before a frame's first slice: SEI, SPS, PPS, access unit delimiter.
_H264_PREFIX_NALS = (6, 7, 8, 9)
_H264_STAP_A, _H264_FU_A = 24, 28


def _h264_starts_frame(payload: bytes) -> bool:
    """Does this RTP payload begin an H.264 frame?  Yes if it starts with a NAL that
    precedes slices, or with a slice whose first_mb_in_slice is 0 (its ue(v) code is a
    single 1 bit: the slice header's first bit is set)."""
    if len(payload) < 3:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type == _H264_FU_A:
        if not payload[1] & 0x80:  # not the first fragment
            return False
        nal_type, header_byte = payload[1] & 0x1F, payload[2]
    elif nal_type == _H264_STAP_A:  # look at the first aggregated NAL
        if len(payload) < 5:
            return False
        nal_type, header_byte = payload[3] & 0x1F, payload[4]
    else:
        header_byte = payload[1]
    if nal_type in _H264_PREFIX_NALS:
        return True
    return nal_type in (1, 5) and bool(header_byte & 0x80)


class FrameAssembler:
    def __init__(self, codec: str) -> None:
        if codec not in ("VP8", "H264"):
            raise ValueError(f"cannot reassemble {codec}")
        self.codec = codec
        self._pending: dict[int, _Pending] = {}
        self._last_ts: int | None = None  # the newest frame handed out
        self._last_end: int | None = None  # its marker packet's seq

    def add(self, seq: int, timestamp: int, marker: bool, payload: bytes
            ) -> tuple[list[EncodedFrame], bool]:
        """Take one RTP packet; returns the frames it completed and whether frames were
        lost on the way (a reason to ask for a keyframe)."""
        if self._last_ts is not None and not _newer(timestamp, self._last_ts):
            return [], False  # a late or duplicate packet of a frame already done
        try:
            start, data = self._depayload(payload)
        except ValueError:
            return [], True
        pending = self._pending.setdefault(timestamp, _Pending())
        pending.packets[seq] = data
        if start and (pending.start is None or _seq_after(pending.start, seq) < 0x8000):
            pending.start = seq
        if marker:
            pending.end = seq

        def oldest_first(ts: int) -> int:
            return (ts - timestamp + 0x80000000) & 0xFFFFFFFF

        lost = False
        if len(self._pending) > MAX_PENDING_FRAMES:
            del self._pending[min(self._pending, key=oldest_first)]
            lost = True
        done: list[EncodedFrame] = []
        for ts in sorted(self._pending, key=oldest_first):
            if ts not in self._pending:
                continue  # skipped by a newer frame completed in this loop
            previous_end = self._last_end
            frame = self._complete(ts, self._pending[ts])
            if frame is None:
                continue
            skipped = [t for t in self._pending if not _newer(t, ts)]
            whole_frames_lost = (previous_end is not None
                                 and _seq_after(frame.first_seq, previous_end) != 1)
            lost = lost or len(skipped) > 1 or whole_frames_lost
            for t in skipped:
                del self._pending[t]
            done.append(frame)
        return done, lost

    def _depayload(self, payload: bytes) -> tuple[bool, bytes]:
        if self.codec == "VP8":
            descr, data = VpxPayloadDescriptor.parse(payload)
            return bool(descr.partition_start and descr.partition_id == 0), data
        _, data = H264PayloadDescriptor.parse(payload)
        return _h264_starts_frame(payload), data

    def _complete(self, ts: int, pending: _Pending) -> EncodedFrame | None:
        if pending.end is None:
            return None
        start = pending.start
        if self._last_end is not None and (self._last_end + 1) & 0xFFFF in pending.packets:
            start = (self._last_end + 1) & 0xFFFF
        if start is None:
            return None
        count = _seq_after(pending.end, start) + 1
        if count > len(pending.packets):
            return None
        seqs = [(start + i) & 0xFFFF for i in range(count)]
        if any(s not in pending.packets for s in seqs):
            return None
        data = b"".join(pending.packets[s] for s in seqs)
        self._last_ts, self._last_end = ts, pending.end
        return EncodedFrame(data, ts, is_keyframe(self.codec, data), start)
