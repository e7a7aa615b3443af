"""A room-server cluster (docs/cluster.md): real redis-server, real node processes on
127.0.0.1, real engines.  Users enter through different nodes and end up on the room's
host; streams of another node play through one pulled copy; a SIGKILLed host's rooms
come back on the other node; a Redis restart does not interrupt calls."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import LEASE_MS, Cluster
from conftest import ALL_EVENTS, LOOPBACK, Recorder, make_token, wait_until
from spectrum import tones_present
from test_media import collect, publish_tone

from mock_server import DEV_APP_ID
from zego_py import ErrorCode, ZegoError, ZegoExpressEngine
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(60)

FAST_LINK = {**LOOPBACK, "pingInterval": 1.0, "pingTimeout": 3.0}


class Users:
    """Engines made for one test, each with its recorder; all closed at the end."""

    def __init__(self) -> None:
        self.engines: list[ZegoExpressEngine] = []

    def make(self, servers: list[str]) -> tuple[ZegoExpressEngine, Recorder]:
        engine = ZegoExpressEngine(DEV_APP_ID, servers, options=dict(FAST_LINK))
        rec = Recorder()
        rec.attach(engine, *ALL_EVENTS)
        self.engines.append(engine)
        return engine, rec

    async def joined(self, user_id: str, servers: list[str], room_id: str = "room1"
                     ) -> tuple[ZegoExpressEngine, Recorder]:
        engine, rec = self.make(servers)
        await engine.loginRoom(room_id, make_token(user_id), {"userID": user_id},
                               {"userUpdate": True})
        return engine, rec

    async def close(self) -> None:
        await asyncio.gather(*(e.close() for e in self.engines), return_exceptions=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A Redis and two nodes, n1 and n2."""
    if shutil.which("redis-server") is None:
        pytest.skip(reason="redis-server is not installed (scripts/install-system-deps.sh)")
    c = Cluster(tmp_path)
    c.start_redis()
    c.start_node("n1")
    c.start_node("n2")
    try:
        yield c
    finally:
        c.close()
        c.print_logs()


@pytest.fixture
async def users() -> AsyncIterator[Users]:
    u = Users()
    try:
        yield u
    finally:
        await u.close()


def node_of(engine: ZegoExpressEngine, room_id: str = "room1") -> str:
    return engine._rooms[room_id].server


def _user_ids(rec: Recorder, kind: str = "ADD") -> set[str]:
    return {u["userID"] for e in rec["roomUserUpdate"] if e[1] == kind for u in e[2]}


async def test_users_entering_through_different_nodes_share_one_room(
        cluster: Cluster, users: Users) -> None:
    n1, n2 = cluster.nodes
    await cluster.ready()
    freqs = {"alice": 440.0, "bob": 660.0, "carol": 990.0}
    entry = {"alice": n1.url, "bob": n2.url, "carol": n2.url}
    joined = {u: await users.joined(u, [entry[u]]) for u in freqs}
    # the first login claimed the room for n1; the others were redirected there
    assert cluster.owner("room:room1") == "n1"
    assert {node_of(e) for e, _ in joined.values()} == {n1.url}
    await wait_until(lambda: _user_ids(joined["alice"][1]) == {"bob", "carol"}, what="roster")
    assert _user_ids(joined["carol"][1]) == {"alice", "bob"}
    for user, (engine, rec) in joined.items():
        await publish_tone(engine, rec, f"s_{user}", freqs[user])
    assert {k for k in cluster.keys() if k.startswith("stream:")} == {
        "stream:s_alice", "stream:s_bob", "stream:s_carol"}
    for user, (_, rec) in joined.items():
        await wait_until(lambda rec=rec, user=user: {
            s["streamID"] for e in rec["roomStreamUpdate"] if e[1] == "ADD" for s in e[2]}
            == {f"s_{o}" for o in freqs if o != user}, what=f"{user}'s stream list")
    for user, (engine, _) in joined.items():
        others = [o for o in freqs if o != user]
        for other in others:
            remote = await engine.startPlayingStream(f"s_{other}", {"speaker": False})
            heard = tones_present(await collect(remote, 25), list(freqs.values()))
            assert heard == {freqs[other]}, (user, other, heard)
    await joined["bob"][0].sendBroadcastMessage("room1", "hello from bob")
    for user in ("alice", "carol"):
        rec = joined[user][1]
        await wait_until(lambda rec=rec: any(m["message"] == "hello from bob"
                                             for e in rec["IMRecvBroadcastMessage"]
                                             for m in e[1]), what=f"{user} gets the message")


async def test_a_stream_hosted_on_another_node_plays_through_one_pulled_copy(
        cluster: Cluster, users: Users) -> None:
    n1, n2 = cluster.nodes
    await cluster.ready()
    alice, a = await users.joined("alice", [n1.url], "roomA")
    await publish_tone(alice, a, "s_alice", 523.0)
    dave, d = await users.joined("dave", [n2.url], "roomB")
    erin, _ = await users.joined("erin", [n2.url], "roomB")
    assert (cluster.owner("room:roomA"), cluster.owner("room:roomB")) == ("n1", "n2")
    for listener in (dave, erin):
        remote = await listener.startPlayingStream("s_alice", {"speaker": False})
        assert tones_present(await collect(remote, 25), [523.0, 660.0]) == {523.0}
    # stream IDs are unique across the cluster: roomB cannot publish s_alice too
    tone_engine, t = await users.joined("frank", [n2.url], "roomB")
    stream = await tone_engine.createStream({"custom": {"source": ToneSource(660)}})
    tone_engine.startPublishingStream("s_alice", stream)
    await wait_until(lambda: any(e[0]["errorCode"] == ErrorCode.DUPLICATE_STREAM_ID
                                 for e in t["publisherStateUpdate"]), what="1003028")
    # the publisher leaves: the far players end too (the host's playEnded crosses nodes)
    alice.stopPublishingStream("s_alice")
    await wait_until(lambda: any(e[0]["state"] == "NO_PLAY" and e[0]["streamID"] == "s_alice"
                                 for e in d["playerStateUpdate"]), what="dave's player ends")


async def test_sigkill_of_the_host_moves_the_room_and_audio_resumes(
        cluster: Cluster, users: Users) -> None:
    n1, n2 = cluster.nodes
    await cluster.ready()
    everyone = [n1.url, n2.url]
    alice, a = await users.joined("alice", everyone)
    bob, b = await users.joined("bob", [n2.url, n1.url])
    assert cluster.owner("room:room1") == "n1"
    await publish_tone(alice, a, "s_alice", 440.0)
    await publish_tone(bob, b, "s_bob", 660.0)
    at_bob = await bob.startPlayingStream("s_alice", {"speaker": False})
    at_alice = await alice.startPlayingStream("s_bob", {"speaker": False})
    assert tones_present(await collect(at_bob, 20), [440.0, 660.0]) == {440.0}

    n1.kill()
    killed_at = time.monotonic()
    await wait_until(lambda: a["roomStateChanged"][-1][1] == "RECONNECTED"
                     and b["roomStateChanged"][-1][1] == "RECONNECTED",
                     timeout=LEASE_MS / 1000 + 10, what="both back")
    for rec, sid in ((b, "s_alice"), (a, "s_bob")):
        await wait_until(lambda rec=rec, sid=sid: any(
            e[0]["state"] == "PLAYING" and e[0]["streamID"] == sid
            for e in rec["playerStateUpdate"][-3:]), timeout=10, what=f"{sid} re-played")
    assert tones_present(await collect(at_bob, 20), [440.0, 660.0]) == {440.0}
    assert tones_present(await collect(at_alice, 20), [440.0, 660.0]) == {660.0}
    back_s = time.monotonic() - killed_at
    assert cluster.owner("room:room1") == "n2"
    assert {node_of(alice), node_of(bob)} == {n2.url}
    assert {cluster.owner("stream:s_alice"), cluster.owner("stream:s_bob")} == {"n2"}
    # Not asserted: that each side's ADD/DELETE events, applied in order, end with the
    # other user.  When both re-login at once, a userUpdate push that reaches the new
    # socket before its login reply is applied is undone by that reply's diff (engine
    # _apply_relogin); seen about once in 5 runs.  Open issue, docs/cluster.md.
    print(f"node-kill recovery: audio back {back_s:.2f} s after SIGKILL (lease {LEASE_MS} ms)")
    assert back_s < LEASE_MS / 1000 + 3.0 + 0.5, back_s  # + the 0.4 s of audio collected


async def test_redis_restart_keeps_calls_and_new_logins_work_once_it_is_back(
        cluster: Cluster, users: Users) -> None:
    n1, n2 = cluster.nodes
    await cluster.ready()
    alice, a = await users.joined("alice", [n1.url])
    bob, b = await users.joined("bob", [n2.url])
    await publish_tone(alice, a, "s_alice", 440.0)
    remote = await bob.startPlayingStream("s_alice", {"speaker": False})
    assert tones_present(await collect(remote, 20), [440.0]) == {440.0}

    cluster.stop_redis()
    # the call goes on without Redis: the host node serves what it hosts
    assert tones_present(await collect(remote, 50), [440.0]) == {440.0}
    await bob.sendBroadcastMessage("room1", "during the outage")
    await wait_until(lambda: a["IMRecvBroadcastMessage"], what="message during the outage")
    # a login for a room no node hosts cannot be routed until Redis is back
    lost, _ = users.make([n2.url])
    with pytest.raises(ZegoError) as failed:
        await lost.loginRoom("room2", make_token("zed"), {"userID": "zed"})
    assert failed.value.code == ErrorCode.ROOM_INNER_ERROR

    cluster.start_redis()  # empty: no persistence
    await wait_until(lambda: cluster.owner("room:room1") == "n1", timeout=10,
                     what="n1 re-claims its room")
    assert cluster.owner("stream:s_alice") == "n1"
    carol, c = await users.joined("carol", [n2.url])
    assert node_of(carol) == n1.url
    heard = await carol.startPlayingStream("s_alice", {"speaker": False})
    assert tones_present(await collect(heard, 20), [440.0]) == {440.0}
    assert tones_present(await collect(remote, 20), [440.0]) == {440.0}
    assert a["roomStateChanged"][-1][1] == "LOGINED"  # never reconnected
    assert _user_ids(a) == {"bob", "carol"}


# 300 keeps the test well under its 60 s on a busy 2-core box; ZEGO_CLUSTER_CHURN=500 is
# the figure (11-36 s here, docs/cluster.md)
CHURN_CYCLES = int(os.environ.get("ZEGO_CLUSTER_CHURN", "300"))


async def test_churn_across_two_nodes_leaves_no_keys(cluster: Cluster, users: Users) -> None:
    """Login / publish / play / logout, rooms spread over both nodes, 8 at a time."""
    n1, n2 = cluster.nodes
    await cluster.ready()
    rng = random.Random(14)

    async def cycle(i: int) -> None:
        room = f"churn{i % 7}"
        pub = ZegoExpressEngine(DEV_APP_ID, rng.choice([n1.url, n2.url]), options=dict(LOOPBACK))
        sub = ZegoExpressEngine(DEV_APP_ID, rng.choice([n1.url, n2.url]), options=dict(LOOPBACK))
        try:
            await pub.loginRoom(room, make_token(f"p{i}"), {"userID": f"p{i}"})
            # the listener is in another room half the time: a cross-node play
            other = room if i % 2 else f"churn{(i + 3) % 7}"
            await sub.loginRoom(other, make_token(f"l{i}"), {"userID": f"l{i}"})
            done = asyncio.Event()
            pub.on("publisherStateUpdate",
                   lambda r: done.set() if r["state"] == "PUBLISHING" else None)
            stream = await pub.createStream({"custom": {"source": ToneSource(440)}})
            pub.startPublishingStream(f"c{i}", stream)
            await asyncio.wait_for(done.wait(), 10)
            remote = await sub.startPlayingStream(f"c{i}", {"speaker": False})
            async with asyncio.timeout(10):
                async for _ in remote.audioFrames():
                    break
        finally:
            await asyncio.gather(pub.close(), sub.close())

    started = time.monotonic()
    sem = asyncio.Semaphore(8)

    async def bounded(i: int) -> None:
        async with sem:
            await cycle(i)

    results = await asyncio.gather(*(bounded(i) for i in range(CHURN_CYCLES)),
                                   return_exceptions=True)
    assert [r for r in results if r is not None] == []
    took = time.monotonic() - started
    # leases of emptied rooms and ended streams are released within two renew ticks
    await wait_until(lambda: not cluster.keys(), timeout=3 * LEASE_MS / 1000,
                     what=f"no keys left (left: {cluster.keys()})")
    print(f"churn: {CHURN_CYCLES} cycles in {took:.1f} s, no keys left")


def _calls(cluster: Cluster) -> dict[str, int]:
    stats = cluster.redis().info("commandstats")
    # INFO is ours; HELLO and CLIENT SETINFO open a pooled connection, not an operation
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
            if k not in ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo")}


async def test_redis_commands_per_operation(cluster: Cluster, users: Users) -> None:
    """What a deployment pays Redis (docs/loadtest.md): nothing for what a room's host
    node does alone, one command per claim, one lookup per redirect or pulled copy."""
    for node in cluster.nodes:
        node.kill()
    cluster.nodes.clear()
    # a 60 s lease: renew ticks (every 20 s) stay out of the counts
    n3 = cluster.start_node("n3", "--lease-ms", "60000")
    n4 = cluster.start_node("n4", "--lease-ms", "60000")
    await cluster.ready()

    async def count(step: Any) -> int:
        before = _calls(cluster)
        await step
        after = _calls(cluster)
        return sum(n - before.get(k, 0) for k, n in after.items())

    alice, a = users.make([n3.url])
    bob, _ = users.make([n3.url])
    carol, _ = users.make([n4.url])
    dave, _ = users.make([n4.url])
    assert await count(alice.loginRoom("r1", make_token("alice"), {"userID": "alice"})) == 1
    assert await count(bob.loginRoom("r1", make_token("bob"), {"userID": "bob"})) == 0
    assert await count(carol.loginRoom("r1", make_token("carol"), {"userID": "carol"})) == 2
    assert await count(publish_tone(alice, a, "s1", 440.0)) == 1
    assert await count(bob.startPlayingStream("s1", {"speaker": False})) == 0
    assert await count(dave.loginRoom("r2", make_token("dave"), {"userID": "dave"})) == 1
    remote = await dave.startPlayingStream("s1", {"speaker": False})  # pulled from n3
    assert tones_present(await collect(remote, 20), [440.0]) == {440.0}


async def test_the_engine_tries_its_server_list_in_order(unused_tcp_port: int) -> None:
    """ZEGO's ``server`` may be a list of backups: a dead first entry is skipped."""
    from mock_server import serve_rooms

    with pytest.raises(ZegoError) as bad:
        ZegoExpressEngine(DEV_APP_ID, ["ws://127.0.0.1:1/ws", "http://x"])
    assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR
    dead = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    async with serve_rooms() as live:
        engine = ZegoExpressEngine(DEV_APP_ID, [dead, live], options=dict(LOOPBACK))
        try:
            assert await engine.loginRoom("room1", make_token("u"), {"userID": "u"})
            assert node_of(engine) == live
        finally:
            await engine.close()


async def test_a_clean_node_shutdown_gives_its_leases_back(
        cluster: Cluster, users: Users) -> None:
    n1, n2 = cluster.nodes
    await cluster.ready()
    alice, a = await users.joined("alice", [n1.url, n2.url])
    assert cluster.owner("room:room1") == "n1"
    assert n1.proc is not None
    n1.proc.terminate()  # SIGTERM: leases released at once, no TTL to wait out
    n1.proc.wait(10)
    stopped_at = time.monotonic()
    assert cluster.owner("room:room1") in (None, "n2")  # alice may be back already
    assert cluster.owner("node:n1") is None
    await wait_until(lambda: a["roomStateChanged"][-1][1] == "RECONNECTED", timeout=5,
                     what="alice on n2")
    # no lease to wait out: back well inside the TTL a crash would cost
    assert time.monotonic() - stopped_at < LEASE_MS / 1000
    assert node_of(alice) == n2.url and cluster.owner("room:room1") == "n2"


async def test_a_lease_taken_while_redis_was_empty_is_reported_once(
        cluster: Cluster, users: Users) -> None:
    """After a Redis restart another node may claim a room first (two logins racing the
    re-claim): the host keeps serving and logs the split once (docs/cluster.md)."""
    n1, _ = cluster.nodes
    await cluster.ready()
    alice, a = await users.joined("alice", [n1.url])
    cluster.stop_redis()
    cluster.start_redis()
    cluster.redis().set("room:room1", "n2", px=60_000)  # n2's claim won the race
    await asyncio.sleep(4 * LEASE_MS / 3000)  # four renew ticks
    log = n1.log.read_text()
    assert log.count("another node holds ['room:room1']") == 1, log[-2000:]
    await alice.sendBroadcastMessage("room1", "still served")  # n1 still hosts it
    assert a["roomStateChanged"][-1][1] == "LOGINED"


async def test_switch_room_to_a_room_hosted_elsewhere_is_refused_unchanged(
        cluster: Cluster, users: Users) -> None:
    """switchRoom keeps its socket, so it cannot follow a redirect: refused, as ZEGO
    refuses a full room, and the user stays where it was; a free room is claimed."""
    n1, n2 = cluster.nodes
    await cluster.ready()
    await users.joined("bob", [n2.url], "r2")
    alice, _ = await users.joined("alice", [n1.url], "r1")
    with pytest.raises(ZegoError) as refused:
        await alice.switchRoom("r1", "r2", {"token": make_token("alice")})
    assert refused.value.code == ErrorCode.ROOM_INNER_ERROR
    assert node_of(alice, "r1") == n1.url and cluster.owner("room:r2") == "n2"
    assert await alice.switchRoom("r1", "r3", {"token": make_token("alice")})
    assert cluster.owner("room:r3") == "n1"
