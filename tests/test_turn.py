"""setTurnServer: media through a real TURN server (coturn on 127.0.0.1), relay-only.

With ``iceTransportPolicy: "relay"`` aioice gathers no host candidate, so the only
path between an engine and the room server's relay is the TURN allocation: the tone
arriving at all proves the path, the nominated pair's type and coturn's own traffic
count prove it again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import Harness
from coturn import running_coturn, turnserver_available
from spectrum import tones_present
from test_media import collect, publish_tone

from zego_py.media.ice import selected_candidate_types

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not turnserver_available(), reason="coturn (turnserver) not installed"),
]


def test_malformed_turn_configs_are_refused(harness: Harness) -> None:
    engine, _ = harness.engine()
    assert engine.setTurnServer([]) is False
    assert engine.setTurnServer([{"urls": "stun:127.0.0.1:3478"}]) is False
    assert engine.setTurnServer({"iceServers": [{"url": "turn:127.0.0.1:3478"}],
                                 "iceTransportPolicy": "direct"}) is False
    assert engine.setTurnServer([{"url": "turn:127.0.0.1:3478", "username": "u",
                                  "credential": "p"}]) is True


async def test_relay_only_media_flows_through_coturn(harness: Harness, tmp_path: Path) -> None:
    async with running_coturn(tmp_path) as turn:
        config = {"iceServers": [turn.ice_server], "iceTransportPolicy": "relay"}
        alice, a = await harness.joined("alice")
        bob, _ = await harness.joined("bob")
        assert alice.setTurnServer(config) and bob.setTurnServer(config)
        await publish_tone(alice, a, "s1", 440)
        remote = await bob.startPlayingStream("s1", {"speaker": False})
        pcm = await collect(remote, 100)
        assert tones_present(pcm[-48000:], [440.0, 880.0]) == {440.0}

        publisher_pc = alice._media._publishers["s1"].pc
        player_pc = bob._media._players["s1"].pc
        assert publisher_pc is not None and player_pc is not None
        assert selected_candidate_types(publisher_pc) == [("relay", "host")]
        assert selected_candidate_types(player_pc) == [("relay", "host")]
        assert "a=candidate" in publisher_pc.localDescription.sdp
        assert " typ host" not in publisher_pc.localDescription.sdp  # relay-only offer

        await alice.close()  # while coturn runs: aioice deletes its allocation on close
        await bob.close()
        # coturn logs what each allocation relayed when it ends: alice's allocation sent
        # her 2+ s of 20 ms packets on to the room server's relay, bob's received them.
        for _ in range(50):
            if len(turn.peer_packets()) >= 2:
                break
            await asyncio.sleep(0.1)
        relayed = turn.peer_packets()
        assert len(relayed) == 2, turn.log()[-3000:]
        assert max(sent for _, sent in relayed) >= 100  # alice -> coturn -> relay
        assert max(received for received, _ in relayed) >= 100  # relay -> coturn -> bob


async def test_without_relay_policy_the_direct_path_is_kept(harness: Harness,
                                                            tmp_path: Path) -> None:
    """A TURN server alone only adds a candidate: on loopback the host pair wins."""
    async with running_coturn(tmp_path) as turn:
        alice, a = await harness.joined("alice")
        assert alice.setTurnServer([turn.ice_server])
        await publish_tone(alice, a, "s1", 440)
        pc = alice._media._publishers["s1"].pc
        assert pc is not None
        assert " typ relay" in pc.localDescription.sdp
        assert selected_candidate_types(pc) == [("host", "host")]
        await alice.close()  # while coturn runs: aioice deletes its allocation on close
