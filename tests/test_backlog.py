"""StandingBacklog on a virtual clock: producer rates too long to run in real time.

A queue is modelled exactly as ``AudioSource`` keeps it (push, then the sender takes
960 samples every 20 ms and the rule may drop a surplus); the end-to-end cases, by
content over real time, are in test_sources.py and test_push_latency.py.
"""

from __future__ import annotations

import pytest

from zego_py.media.backlog import StandingBacklog

FRAME = 960
RATE = 48000


def _run(speed: float, chunk: int, seconds: float) -> tuple[int, int]:
    """A producer at ``speed`` x real time in ``chunk``-sample pushes, a sender on the
    20 ms clock; returns (samples dropped, deepest queue the sender left)."""
    now = 0.0
    rule = StandingBacklog(clock=lambda: now)
    queued = dropped = deepest = 0
    next_push, pushed_total, total = 0.0, 0, round(seconds * RATE)
    for tick in range(round(seconds / 0.02) + 1):
        tick_at = tick * 0.02
        while pushed_total < total and next_push <= tick_at:
            now = next_push
            rule.pushed(chunk)
            queued += chunk
            pushed_total += chunk
            next_push = pushed_total / RATE / speed
        now = tick_at + 0.001
        queued -= min(FRAME, queued)
        surplus = rule.observe(queued)
        queued -= surplus
        dropped += surplus
        deepest = max(deepest, queued)
    return dropped, deepest


def test_a_producer_1_percent_fast_for_30_s_is_kept_near_one_frame() -> None:
    # A relay whose clock runs 1 % fast is a standing backlog that grows: it is cut
    # a frame at a time (the 1 % it is ahead), so latency stays bounded, not 300 ms.
    dropped, deepest = _run(1.01, FRAME, 30.0)
    assert deepest <= 3 * FRAME
    assert 0.5 * 0.01 * 30 * RATE <= dropped <= 1.5 * 0.01 * 30 * RATE


def test_a_producer_1_percent_slow_loses_nothing() -> None:
    # Slower than the sender: the queue runs dry now and then (a frame of silence), and
    # there is never anything standing to drop.
    dropped, deepest = _run(0.99, FRAME, 30.0)
    assert dropped == 0 and deepest <= FRAME


@pytest.mark.parametrize("speed,chunk", [(1.03, FRAME), (1.05, 3 * FRAME), (1.1, 5 * FRAME),
                                         (1.5, FRAME // 2), (1.5, FRAME)])
def test_a_tts_ahead_of_real_time_loses_nothing(speed: float, chunk: int) -> None:
    # Faster than real time but never blocked (no queue bound here): the queue grows
    # all along and drains at the end; nothing of it is standing.
    dropped, deepest = _run(speed, chunk, 6.0)
    assert dropped == 0
    assert deepest >= (1 - 1 / speed) * 6.0 * RATE - 2 * chunk  # it really was ahead


def test_a_paced_producer_behind_a_backlog_is_cut_once() -> None:
    now = 0.0
    rule = StandingBacklog(clock=lambda: now)
    queued = 300 * RATE // 1000  # pushed before the sender started
    rule.pushed(queued)
    cuts = []
    for tick in range(150):
        now = 0.3 + tick * 0.02
        rule.pushed(FRAME)  # one frame in, one frame taken: the queue stands
        surplus = rule.observe(queued)
        queued -= surplus
        if surplus:
            cuts.append((round(now, 2), surplus))
    assert len(cuts) == 1 and cuts[0][1] >= 0.25 * RATE, cuts
    assert cuts[0][0] <= 0.3 + 1.6  # once 1.5 s of pushes show the producer at 1.0x
