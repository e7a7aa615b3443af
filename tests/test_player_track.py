"""playerAudioTrackUpdate(streamID, track): the played audio as an aiortc track, again
for each new peer (a replay), heard by content."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from conftest import Harness, wait_until
from spectrum import tones_present
from test_media import publish_tone

pytestmark = pytest.mark.timeout(60)


async def _tone_of(track: Any, frames: int = 50) -> np.ndarray:
    got = []
    for _ in range(frames):
        frame = await asyncio.wait_for(track.recv(), 5)
        assert (frame.sample_rate, frame.samples, frame.layout.name) == (48000, 960, "mono")
        got.append(frame.to_ndarray().reshape(-1))
    return np.concatenate(got)


async def test_each_new_player_track_carries_the_stream(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    a.attach(alice, "playerAudioTrackUpdate")
    b.attach(bob, "playerAudioTrackUpdate")
    await publish_tone(alice, a, "s1", 440)
    await bob.startPlayingStream("s1", {"speaker": False})
    assert [e[0] for e in b["playerAudioTrackUpdate"]] == ["s1"]
    first = b["playerAudioTrackUpdate"][0][1]
    assert first.kind == "audio" and first.readyState == "live"
    assert a["playerAudioTrackUpdate"] == []  # publishing gets no player track
    assert tones_present(await _tone_of(first), [440.0, 880.0]) == {440.0}

    bob._media._players["s1"].replay()  # a new peer, as after a reconnect
    await wait_until(lambda: len(b["playerAudioTrackUpdate"]) == 2, timeout=15,
                     what="the second track")
    second = b["playerAudioTrackUpdate"][1][1]
    assert second is not first
    assert tones_present(await _tone_of(second), [440.0, 880.0]) == {440.0}
