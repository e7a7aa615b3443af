"""exceptionUpdate(stream, {code, message}): a silent capture and a silent played stream
are reported after LOW_AFTER_S, and again when sound comes back."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Harness, wait_until
from test_media import publish_tone

from zego_py.media.volume_watch import LOW_AFTER_S, SilenceTracker

pytestmark = pytest.mark.timeout(60)


def test_silence_tracker_reports_once_each_way() -> None:
    tracker = SilenceTracker((1002, 2002))
    assert [tracker.sample(0.0, t) for t in (0.0, 1.0, 4.9)] == [None, None, None]
    assert tracker.sample(0.0, 5.0) == 1002
    assert tracker.sample(0.0, 9.0) is None  # once
    assert tracker.sample(12.0, 10.0) == 2002
    assert tracker.sample(0.0, 11.0) is None  # the clock starts again
    tracker.reset()
    assert tracker.sample(0.0, 15.0) is None


async def test_silent_then_audible_stream_is_reported_on_both_ends(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    a.attach(alice, "exceptionUpdate")
    b.attach(bob, "exceptionUpdate")
    tone = await publish_tone(alice, a, "s1", 440, amplitude=0.0)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    local = alice._media._publishers["s1"].local
    await wait_until(lambda: a["exceptionUpdate"] and b["exceptionUpdate"],
                     timeout=LOW_AFTER_S + 5, what="the volume-too-low reports")
    assert a["exceptionUpdate"] == [(local, {"code": 1002, "message": "captureVolumeToLow"})]
    assert b["exceptionUpdate"] == [(remote, {"code": 1006, "message": "receiveVolumeToLow"})]

    tone.amplitude = 0.3
    await wait_until(lambda: len(a["exceptionUpdate"]) == 2 and len(b["exceptionUpdate"]) == 2,
                     timeout=5, what="the back-to-normal reports")
    assert a["exceptionUpdate"][1] == (local, {"code": 2002, "message": "captureVolumeNormal"})
    assert b["exceptionUpdate"][1] == (remote, {"code": 2006, "message": "receiveVolumeNormal"})
    await asyncio.sleep(1.5)
    assert len(a["exceptionUpdate"]) == 2 and len(b["exceptionUpdate"]) == 2  # no repeats
