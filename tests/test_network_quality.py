"""networkQuality(userID, upQuality, downQuality) every 3 s, measured on real paths.

The relay's seeded impairment drops packets on its way to listeners, so a listener's
downlink is lossy while the publisher's uplink stays clean: the levels must say so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import fast_config, running_harness
from spectrum import tones_present
from test_media import collect, publish_tone

from mock_server.server import RoomServer
from zego_py.media.impairment import Impairment
from zego_py.media.quality import UNKNOWN, QualityMeter, network_level, worst_level

pytestmark = pytest.mark.timeout(60)


async def _levels(impairment: Impairment | None) -> dict[str, Any]:
    """alice publishes, bob plays, through a relay with ``impairment`` towards listeners;
    returns both engines' networkQuality events after two 3 s intervals."""
    async with running_harness(RoomServer(fast_config(), impairment=lambda: impairment)) as h:
        alice, a = await h.joined("alice")
        bob, b = await h.joined("bob")
        a.attach(alice, "networkQuality")
        b.attach(bob, "networkQuality")
        loop = asyncio.get_running_loop()
        stamps: list[float] = []
        bob.on("networkQuality", lambda uid, *_: uid == "" and stamps.append(loop.time()))
        await publish_tone(alice, a, "s1", 440)
        remote = await bob.startPlayingStream("s1", {"speaker": False})
        pcm = await collect(remote, 50)
        assert tones_present(pcm, [440.0, 880.0]) == {440.0}  # audio flows either way
        await asyncio.sleep(6.5)  # the first interval only starts the meters
        loss = bob._media._players["s1"].meter.audio.loss_rate
        return {"alice": list(a["networkQuality"]), "bob": list(b["networkQuality"]),
                "bob_loss": loss, "stamps": stamps}


def _last(events: list[tuple[Any, ...]], user_id: str) -> tuple[int, int]:
    mine = [(up, down) for uid, up, down in events if uid == user_id]
    assert mine, f"no networkQuality for {user_id!r} in {events}"
    return mine[-1]


async def test_high_loss_towards_the_listener_worsens_its_down_quality_only() -> None:
    clean = await _levels(None)
    lossy = await _levels(Impairment(loss=0.25, seed=3))

    clean_down = _last(clean["bob"], "")[1]
    lossy_up, lossy_down = _last(lossy["bob"], "")
    print(f"\nbob's downlink: clean loss {clean['bob_loss']:.1f} % -> level {clean_down}; "
          f"25 % relay loss: measured {lossy['bob_loss']:.1f} % -> level {lossy_down}")
    assert lossy["bob_loss"] > 15.0  # the meter saw the relay's drops
    assert clean["bob_loss"] < 5.0
    assert lossy_down == 4 and clean_down <= 2 and lossy_down > clean_down
    assert lossy_up == UNKNOWN  # bob publishes nothing: his uplink is not measured

    # alice's uplink is clean in both runs (the loss is after the relay's receiver)
    alice_up, alice_down = _last(lossy["alice"], "")
    print(f"alice's uplink during the lossy run: level {alice_up}")
    assert alice_up <= 2 and alice_down == UNKNOWN
    # bob also reports alice, judged by what reaches him; her downlink is unseen here
    remote_up, remote_down = _last(lossy["bob"], "alice")
    assert remote_up == 4 and remote_down == UNKNOWN
    assert _last(clean["bob"], "alice")[0] <= 2

    gaps = [b - a for a, b in zip(clean["stamps"], clean["stamps"][1:], strict=False)]
    assert gaps and all(2.5 < gap < 4.0 for gap in gaps), gaps  # every 3 s


def test_levels_take_the_worse_of_loss_and_round_trip() -> None:
    meter = QualityMeter()
    assert network_level(meter, 20.0) == UNKNOWN  # no interval yet
    meter.audio.loss_rate, meter.audio.interval_packets = 0.5, 150
    assert [network_level(meter, rtt) for rtt in (None, 50, 150, 300, 600, 900)] == [
        0, 0, 1, 2, 3, 4]
    meter.audio.loss_rate = 10.0
    assert network_level(meter, 50) == 3  # the loss decides
    meter.audio.interval_packets = 0
    assert network_level(meter, 50) == 4  # nothing came: die
    assert worst_level([UNKNOWN, 1, 0]) == 1 and worst_level([UNKNOWN]) == UNKNOWN


def test_a_video_only_stream_is_graded_by_its_video() -> None:
    meter = QualityMeter()
    meter.audio.loss_rate, meter.audio.interval_packets = 0.0, 0  # no audio at all
    meter.video.loss_rate, meter.video.interval_packets = 5.0, 300
    meter.video.last_packets = 900
    assert network_level(meter, None) == 2  # not "die" for the missing audio
