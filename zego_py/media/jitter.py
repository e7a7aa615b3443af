"""An adaptive, time-based jitter buffer for one Opus stream, sans I/O.

aiortc's audio receiver holds a fixed 4 packets (~80 ms) and never shrinks, and one
lost packet leaves ~280 ms of permanent extra delay (aiortc issue #543).  This buffer
instead schedules each 20 ms frame at

    due(ts) = base + ts / 48000 + target

where ``base`` is the smallest transit offset (arrival - ts/48000) seen in the last
``window_s`` and ``target`` is a high percentile of how much later than that packets
arrived in the same window, plus a small margin.  On a clean path the target is a few
milliseconds; it grows with measured jitter and shrinks back once a burst leaves the
window.  A frame missing at its due time is concealed (FEC from the next packet when it
is already here, else Opus PLC) and the packet, if it comes later, is dropped as late:
the buffer never stalls on a gap.  A frame missing with nothing after it waits up to
``fec_wait_s`` (one frame) for the next packet, whose FEC can rebuild it; the frames
after it are still due on time, so that wait leaves no lasting delay.  After
``max_conceal_frames`` of nothing at all (the sender paused), it stops producing and
re-anchors on the next packet.

Time is passed in explicitly (seconds, any monotonic clock), so tests drive it without
sleeping.  The caller decodes what ``pop`` returns.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["AdaptiveJitterBuffer", "Playout"]

FRAME_TICKS = 960  # 20 ms of 48 kHz RTP timestamp


@dataclass(frozen=True, slots=True)
class Playout:
    """What to play next: a packet, FEC recovered from the next packet, or PLC."""

    kind: Literal["packet", "fec", "plc"]
    timestamp: int
    payload: bytes  # for "fec": the *next* packet, which carries this frame's redundancy


class AdaptiveJitterBuffer:
    def __init__(
        self,
        clock_rate: int = 48000,
        *,
        window_s: float = 2.0,
        margin_s: float = 0.004,
        min_delay_s: float = 0.0,
        max_delay_s: float = 0.5,
        percentile: float = 0.95,
        max_conceal_frames: int = 5,
        fec_wait_s: float = 0.025,
        capacity: int = 100,
    ) -> None:
        self.rate = clock_rate
        self.window_s = window_s
        self.margin_s = margin_s
        self.min_delay_s = min_delay_s
        self.max_delay_s = max_delay_s
        self.percentile = percentile
        self.max_conceal_frames = max_conceal_frames
        self.fec_wait_s = fec_wait_s
        self.capacity = capacity
        self._packets: dict[int, bytes] = {}
        self._transits: deque[tuple[float, float]] = deque()  # (arrival, transit)
        self._first_rtp: int | None = None
        self._last_ext: int = 0
        self._highest_ext: int = 0
        self._next_ts: int | None = None
        self._concealed_run = 0
        self._paused = False
        self._base = 0.0
        self._target = min_delay_s + margin_s
        # statistics
        self.packets = 0
        self.late = 0
        self.duplicates = 0
        self.fec_frames = 0
        self.plc_frames = 0

    # ------------------------------------------------------------------ input
    def _extend(self, rtp_timestamp: int) -> int:
        """32-bit RTP timestamp -> a monotonic integer near the previous one."""
        if self._first_rtp is None:
            self._first_rtp = rtp_timestamp
            self._last_ext = 0
            return 0
        delta = (rtp_timestamp - self._first_rtp - self._last_ext) & 0xFFFFFFFF
        if delta >= 1 << 31:
            delta -= 1 << 32
        self._last_ext += delta
        return self._last_ext

    def push(self, rtp_timestamp: int, payload: bytes, arrival: float) -> bool:
        """Add a packet; False when it came too late to play (or twice)."""
        ts = self._extend(rtp_timestamp)
        self._highest_ext = max(self._highest_ext, ts)
        transit = arrival - ts / self.rate
        if self._paused:  # transit times from before a pause say nothing about now
            self._transits.clear()
            self._paused = False
        self._transits.append((arrival, transit))
        while self._transits and arrival - self._transits[0][0] > self.window_s:
            self._transits.popleft()
        self._retarget()
        if self._next_ts is not None and ts < self._next_ts:
            self.late += 1
            return False
        if ts in self._packets:
            self.duplicates += 1
            return False
        self.packets += 1
        self._packets[ts] = payload
        if len(self._packets) > self.capacity:  # far behind: drop the oldest
            oldest = min(self._packets)
            del self._packets[oldest]
            if self._next_ts is not None and self._next_ts <= oldest:
                self._next_ts = min(self._packets)
        return True

    @property
    def arrived(self) -> int:
        """Packets that came at all (on time or late), duplicates not counted."""
        return self.packets + self.late

    @property
    def lost(self) -> int:
        """Frames that never came, counted by RTP timestamp (one per FRAME_TICKS up to
        the highest seen).  Sequence numbers cannot tell: the relay renumbers them."""
        if self._first_rtp is None:
            return 0
        return max(0, self._highest_ext // FRAME_TICKS + 1 - self.arrived)

    def _retarget(self) -> None:
        transits = sorted(t for _, t in self._transits)
        base = transits[0]
        spread = transits[min(len(transits) - 1, int(self.percentile * len(transits)))] - base
        self._base = base
        self._target = min(self.max_delay_s, max(self.min_delay_s, spread) + self.margin_s)

    # ------------------------------------------------------------------ output
    @property
    def target_delay(self) -> float:
        """Seconds between the fastest packet's arrival and its playout."""
        return self._target

    @property
    def buffered_frames(self) -> int:
        return len(self._packets)

    def next_due(self) -> float | None:
        """When the next frame is due, or None while there is nothing to play."""
        if self._next_ts is None:
            if not self._packets:
                return None
            self._next_ts = min(self._packets)
        due = self._base + self._next_ts / self.rate + self._target
        if self._next_ts not in self._packets and not self._packets:
            # Missing with nothing after it: wait up to one frame more, so that if the
            # next packet comes it can rebuild this one from its FEC.  Later frames are
            # still due on time, so this costs no lasting delay.
            due += self.fec_wait_s
        return due

    def pop(self, now: float) -> Playout | None:
        """The frame due at ``now``, if any (call again until None)."""
        due = self.next_due()
        if due is None or now < due:
            return None
        assert self._next_ts is not None
        ts = self._next_ts
        payload = self._packets.pop(ts, None)
        if payload is not None:
            self._concealed_run = 0
            self._next_ts = ts + FRAME_TICKS
            return Playout("packet", ts, payload)
        if not self._packets and self._concealed_run >= self.max_conceal_frames:
            self._next_ts = None  # the sender paused: wait for it, then re-anchor
            self._concealed_run = 0
            self._paused = True
            return None
        self._concealed_run += 1
        self._next_ts = ts + FRAME_TICKS
        following = self._packets.get(ts + FRAME_TICKS)
        if following is not None:
            self.fec_frames += 1
            return Playout("fec", ts, following)
        self.plc_frames += 1
        return Playout("plc", ts, b"")
