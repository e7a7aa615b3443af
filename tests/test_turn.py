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
from conftest import Harness, wait_until
from coturn import free_udp_port, running_coturn, turnserver_available
from spectrum import tones_present
from test_media import collect, publish_tone

from zego_py.media.ice import selected_candidate_types
from zego_py.media.peer import CLOSE_TIMEOUT_S
from zego_py.media.sources import ToneSource

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

        await alice.close()  # while coturn runs, so that it logs the allocations' usage
        await bob.close()
        # coturn logs what each allocation relayed when it ends: alice's allocation sent
        # her 2+ s of 20 ms packets on to the room server's relay, bob's received them.
        # (A player offering audio and video gathers on two transports before BUNDLE
        # keeps one: its second allocation relays nothing.)
        def relayed() -> list[tuple[int, int]]:
            return [p for p in turn.peer_packets() if p != (0, 0)]

        for _ in range(50):
            if len(relayed()) >= 2:
                break
            await asyncio.sleep(0.1)
        relayed_packets = relayed()
        assert len(relayed_packets) == 2, turn.log()[-3000:]
        assert max(sent for _, sent in relayed_packets) >= 100  # alice -> coturn -> relay
        assert max(received for received, _ in relayed_packets) >= 100  # relay -> coturn -> bob


async def test_relay_only_without_a_reachable_turn_server_fails_the_publish(
        harness: Harness) -> None:
    """No direct candidate is offered, so nothing connects: ZEGO's publish failure."""
    alice, a = await harness.joined("alice")
    dead = {"urls": f"turn:127.0.0.1:{free_udp_port()}", "username": "u", "credential": "p"}
    assert alice.setTurnServer({"iceServers": [dead], "iceTransportPolicy": "relay"})
    local = await alice.createStream({"custom": {"source": ToneSource(440, 0.3)}})
    assert alice.startPublishingStream("s1", local)
    await wait_until(lambda: any(e[0]["state"] == "NO_PUBLISH" for e in a["publisherStateUpdate"]),
                     timeout=25, what="the publish to fail")
    failed = a["publisherStateUpdate"][-1][0]
    assert failed["errorCode"] == 1003099, failed


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
        await alice.close()  # while coturn runs (closing after it is the next test)


async def test_closing_after_the_turn_server_died_is_bounded(harness: Harness,
                                                             tmp_path: Path) -> None:
    """aioice retries the allocation's deletion for ~63 s; close() waits 3 s of it."""
    async with running_coturn(tmp_path) as turn:
        alice, a = await harness.joined("alice")
        assert alice.setTurnServer({"iceServers": [turn.ice_server],
                                    "iceTransportPolicy": "relay"})
        await publish_tone(alice, a, "s1", 440)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(alice.close(), 20)
    assert loop.time() - start < CLOSE_TIMEOUT_S + 3
