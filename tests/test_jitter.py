"""The adaptive jitter buffer, driven by an explicit clock (no sleeping, no sockets)."""

from __future__ import annotations

import random

from zego_py.media.jitter import FRAME_TICKS, AdaptiveJitterBuffer

FRAME_S = 0.02


def _run(jb: AdaptiveJitterBuffer, arrivals: list[tuple[float, int]], until: float,
         step: float = 0.001) -> list[tuple[float, str, int]]:
    """Feed (arrival, rtp_ts) pairs and poll every ``step``; returns (time, kind, ts)."""
    out = []
    pending = sorted(arrivals)
    t = 0.0
    while t <= until:
        while pending and pending[0][0] <= t:
            arrival, ts = pending.pop(0)
            jb.push(ts, b"x%d" % ts, arrival)
        while (p := jb.pop(t)) is not None:
            out.append((t, p.kind, p.timestamp))
        t = round(t + step, 6)
    return out


def test_clean_path_plays_each_packet_on_arrival() -> None:
    jb = AdaptiveJitterBuffer()
    arrivals = [(0.05 + i * FRAME_S, 1000 + i * FRAME_TICKS) for i in range(100)]
    out = _run(jb, arrivals, 2.2)[:100]
    assert [k for _, k, _ in out] == ["packet"] * 100
    delays = [t - (0.05 + i * FRAME_S) for i, (t, _, _) in enumerate(out)]
    assert max(delays) <= 0.006  # the margin only: nothing like aiortc's 80 ms


def test_jitter_grows_the_target_and_it_shrinks_after_the_burst() -> None:
    rng = random.Random(3)
    jb = AdaptiveJitterBuffer()
    arrivals = []
    for i in range(300):
        jitter = rng.uniform(0, 0.03) if 50 <= i < 100 else 0.0
        arrivals.append((i * FRAME_S + jitter, i * FRAME_TICKS))
    targets = {}
    pending = sorted(arrivals)
    t = 0.0
    late_before = 0
    while t < 6.1:
        while pending and pending[0][0] <= t:
            arrival, ts = pending.pop(0)
            jb.push(ts, b"p", arrival)
        while jb.pop(t) is not None:
            pass
        targets[round(t, 3)] = jb.target_delay
        if round(t, 3) == 1.5:
            late_before = jb.late
        t = round(t + 0.001, 6)
    assert targets[0.9] < 0.01  # clean start
    assert targets[1.9] > 0.02  # grew with 0..30 ms of jitter
    assert targets[5.0] < 0.01  # and came back 2 s after the burst
    assert jb.late <= late_before + 5  # once grown, few packets come too late


def test_a_lost_packet_is_concealed_not_waited_for() -> None:
    jb = AdaptiveJitterBuffer()
    arrivals = [(i * FRAME_S, i * FRAME_TICKS) for i in range(20) if i not in (5, 9, 10)]
    out = [o for o in _run(jb, arrivals, 0.5) if o[2] < 20 * FRAME_TICKS]
    kinds = {ts // FRAME_TICKS: k for _, k, ts in out}
    assert kinds[5] == "fec"  # waited for packet 6 and rebuilt 5 from its FEC
    assert kinds[9] == "plc" and kinds[10] == "fec"  # two in a row: PLC, then FEC
    assert len(out) == 20 and [ts for _, _, ts in out] == sorted(ts for _, _, ts in out)
    # the wait for FEC delayed frame 5 by at most one frame; frame 6 was back on time
    times = {ts // FRAME_TICKS: t for t, _, ts in out}
    assert times[5] - 5 * FRAME_S <= 0.03 and times[6] - 6 * FRAME_S < 0.01
    # playout time did not slip: frame 19 plays when it arrives
    assert out[-1][0] - 19 * FRAME_S < 0.01


def test_late_packets_are_dropped_and_duplicates_ignored() -> None:
    jb = AdaptiveJitterBuffer(margin_s=0.0)
    assert jb.push(0, b"a", 0.0)
    assert jb.pop(0.0) is not None
    assert jb.push(2 * FRAME_TICKS, b"c", 0.04)
    assert jb.pop(0.041).kind == "fec"  # frame 1 missing at its due time
    assert not jb.push(FRAME_TICKS, b"b", 0.05)  # frame 1 arrives too late
    assert jb.late == 1
    assert not jb.push(2 * FRAME_TICKS, b"c", 0.05)
    assert jb.duplicates == 1


def test_sender_pause_stops_output_and_reanchors() -> None:
    jb = AdaptiveJitterBuffer(max_conceal_frames=3)
    arrivals = [(i * FRAME_S, i * FRAME_TICKS) for i in range(10)]
    # the sender pauses 1 s; its timestamps continue where they left off
    arrivals += [(1.2 + i * FRAME_S, (10 + i) * FRAME_TICKS) for i in range(10)]
    out = [o for o in _run(jb, arrivals, 1.5) if o[0] < 1.2]
    kinds = [k for _, k, _ in out]
    assert kinds.count("plc") == 3  # a short concealment, then silence (no frames)
    resumed = [t for t, k, ts in out if ts == 10 * FRAME_TICKS]
    assert resumed and resumed[0] - 1.2 < 0.01  # plays at once when packets return
    assert jb.target_delay < 0.01  # the pause did not inflate the target


def test_rtp_timestamp_wraps() -> None:
    jb = AdaptiveJitterBuffer()
    start = (1 << 32) - 3 * FRAME_TICKS
    arrivals = [(i * FRAME_S, (start + i * FRAME_TICKS) & 0xFFFFFFFF) for i in range(8)]
    out = _run(jb, arrivals, 0.2)[:8]
    assert [k for _, k, _ in out] == ["packet"] * 8


def test_lost_counts_frames_that_never_came_not_late_ones() -> None:
    """networkQuality's downlink loss: by RTP timestamp, across the 32-bit wrap."""
    jb = AdaptiveJitterBuffer()
    start = 2**32 - 5 * FRAME_TICKS  # wraps after five frames
    missing = {7, 8, 30}
    late = 50  # arrives 300 ms after its turn: played as PLC, but it did arrive
    arrivals = [(0.05 + i * FRAME_S + (0.3 if i == late else 0.0),
                 (start + i * FRAME_TICKS) % 2**32)
                for i in range(100) if i not in missing]
    _run(jb, arrivals, 2.5)
    assert jb.late == 1
    assert jb.arrived == 97
    assert jb.lost == 3
