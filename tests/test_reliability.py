"""Connection resilience: a signaling blip resumes the session, a server restart logs in
again and restores audio, an exhausted retry budget gives up with ZEGO's code."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import LOOPBACK, Harness, Recorder, fast_config, make_token, wait_until
from spectrum import tones_present
from test_media import collect, publish_tone

from mock_server import DEV_APP_ID
from mock_server.server import RoomServer
from zego_py import ErrorCode, ZegoExpressEngine
from zego_py.backoff import retry_delays
from zego_py.protocol import Push, encode_push

pytestmark = pytest.mark.timeout(120)

FAST_LINK = {**LOOPBACK, "pingInterval": 1.0, "pingTimeout": 3.0}


def _drop_socket(engine: ZegoExpressEngine, room_id: str = "room1") -> None:
    """Cut the signaling socket under a live engine (the server stays up)."""
    ws = engine._rooms[room_id].link._ws
    assert ws is not None
    ws.transport.abort()


async def test_signaling_blip_resumes_the_same_session(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 440)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert tones_present(await collect(remote, 20), [440.0]) == {440.0}
    b_events = len(b["roomStreamUpdate"]), len(b["roomUserUpdate"])
    pub_events = len(a["publisherStateUpdate"])

    _drop_socket(alice)
    await wait_until(lambda: a["roomStateChanged"][-1][1] == "RECONNECTED", what="RECONNECTED")
    reasons = [e[1] for e in a["roomStateChanged"]]
    assert reasons[-2:] == ["RECONNECTING", "RECONNECTED"]
    assert [e[1] for e in a["roomStateUpdate"]][-2:] == ["CONNECTING", "CONNECTED"]
    # same session: no re-publish, and the peer saw nothing change
    assert len(a["publisherStateUpdate"]) == pub_events
    await asyncio.sleep(0.3)
    assert (len(b["roomStreamUpdate"]), len(b["roomUserUpdate"])) == b_events
    assert tones_present(await collect(remote, 20), [440.0]) == {440.0}
    # and signaling works on the new socket
    await alice.sendBroadcastMessage("room1", "back")
    await wait_until(lambda: b["IMRecvBroadcastMessage"], what="message after resume")


async def test_pushes_sent_while_detached_are_delivered_after_resume(harness: Harness) -> None:
    import json

    import websockets

    async def request(ws: websockets.ClientConnection, rid: int, kind: str, **body: object
                      ) -> dict:
        await ws.send(json.dumps({"v": 1, "id": rid, "type": kind, **body}))
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "reply":
            pass
        return msg

    ws = await websockets.connect(harness.url)
    login = await request(ws, 1, "login", roomID="room1", token=make_token("alice"),
                          user={"userID": "alice"})
    key, resume_token = login["data"]["sessionKey"], login["data"]["resumeToken"]
    await ws.close()
    await wait_until(lambda: key in harness.server._detached, what="session detached")
    bob, _ = await harness.joined("bob")
    await bob.sendBroadcastMessage("room1", "while you were away")
    ws = await websockets.connect(harness.url)
    bad = await request(ws, 2, "resume", roomID="room1", sessionKey=key, resumeToken="forged")
    assert bad["code"] == ErrorCode.NOT_LOGIN
    good = await request(ws, 3, "resume", roomID="room1", sessionKey=key, resumeToken=resume_token)
    assert good["code"] == 0
    pushes: list[dict] = []
    async with asyncio.timeout(5):
        while not any(p.get("type") == "broadcastMessage" for p in pushes):
            pushes.append(json.loads(await ws.recv()))
    message = next(p for p in pushes if p["type"] == "broadcastMessage")
    assert message["messageList"][0]["message"] == "while you were away"
    await ws.close()


async def test_server_restart_logs_in_again_and_audio_returns(
        harness: Harness, unused_tcp_port: int) -> None:
    server = RoomServer(fast_config())
    url = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    alice = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
    bob = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
    a, b = Recorder(), Recorder()
    from conftest import ALL_EVENTS
    a.attach(alice, *ALL_EVENTS)
    b.attach(bob, *ALL_EVENTS)
    try:
        async with server.running("127.0.0.1", unused_tcp_port):
            await alice.loginRoom("room1", make_token("alice"), {"userID": "alice"},
                                  {"userUpdate": True})
            await bob.loginRoom("room1", make_token("bob"), {"userID": "bob"},
                                {"userUpdate": True})
            await publish_tone(alice, a, "s1", 440)
            remote = await bob.startPlayingStream("s1", {"speaker": False})
            assert tones_present(await collect(remote, 20), [440.0]) == {440.0}
        down_at = time.monotonic()
        await wait_until(lambda: a["roomStateChanged"][-1][1] == "RECONNECTING", what="lost")
        await asyncio.sleep(1.0)  # the outage
        async with RoomServer(fast_config()).running("127.0.0.1", unused_tcp_port):
            up_at = time.monotonic()
            await wait_until(lambda: a["roomStateChanged"][-1][1] == "RECONNECTED"
                             and b["roomStateChanged"][-1][1] == "RECONNECTED",
                             timeout=15, what="both back")
            # the same stream ID is published again and bob plays it again
            await wait_until(lambda: a["publisherStateUpdate"][-1][0]["state"] == "PUBLISHING",
                             timeout=10, what="re-published")
            await wait_until(lambda: b["playerStateUpdate"][-1][0]["state"] == "PLAYING",
                             timeout=15, what="re-played")
            assert tones_present(await collect(remote, 20), [440.0]) == {440.0}
            back_at = time.monotonic()
            assert [e[0]["state"] for e in a["publisherStateUpdate"]][-2:] == [
                "PUBLISH_REQUESTING", "PUBLISHING"]
            # audio returns within the outage plus 3 s (plus the 0.4 s of audio we collect)
            assert back_at - up_at < 3.0 + 0.5, (back_at - up_at, up_at - down_at)
    finally:
        await asyncio.gather(alice.close(), bob.close())


async def test_retry_budget_exhausted_gives_reconnect_failed(unused_tcp_port: int) -> None:
    server = RoomServer(fast_config())
    url = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    engine = ZegoExpressEngine(DEV_APP_ID, url, options={**FAST_LINK, "reconnectTimeout": 2.0})
    rec = Recorder()
    from conftest import ALL_EVENTS
    rec.attach(engine, *ALL_EVENTS)
    try:
        async with server.running("127.0.0.1", unused_tcp_port):
            await engine.loginRoom("room1", make_token("alice"), {"userID": "alice"})
            await publish_tone(engine, rec, "s1", 440)
        await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECT_FAILED",
                         timeout=10, what="gave up")
        assert rec["roomStateUpdate"][-1][1:3] == ("DISCONNECTED", ErrorCode.RECONNECT_FAILED)
        assert rec["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH"
        assert not engine._rooms
    finally:
        await engine.close()


async def test_half_open_socket_is_noticed_by_heartbeat() -> None:
    """A client whose packets stop (no FIN) is dropped by the server's ping timeout and,
    after the grace period, removed for everyone with reason 2."""
    server = RoomServer(fast_config(ping_interval_s=0.3, ping_timeout_s=0.6))
    async with server.running() as url:
        watcher = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
        w = Recorder()
        w.attach(watcher, "roomUserUpdate")
        silent = ZegoExpressEngine(DEV_APP_ID, url, options={**FAST_LINK, "pingInterval": 1000,
                                                             "reconnectTimeout": 0.1})
        try:
            await watcher.loginRoom("room1", make_token("w"), {"userID": "w"},
                                    {"userUpdate": True})
            await silent.loginRoom("room1", make_token("s"), {"userID": "s"})
            ws = silent._rooms["room1"].link._ws
            assert ws is not None
            ws.transport.pause_reading()  # stop answering pings, keep the socket open
            await wait_until(lambda: any(e[1] == "DELETE" for e in w["roomUserUpdate"]),
                             timeout=10, what="half-open client removed")
        finally:
            await asyncio.gather(watcher.close(), silent.close())


def test_retry_delays_stay_in_budget() -> None:
    import random

    delays = list(retry_delays(30.0, random.Random(1)))
    assert delays[0] == 0.0
    assert sum(delays) <= 30.0
    assert delays == sorted(delays[:5]) + delays[5:]  # grows, then steady
    assert all(d <= 8.0 for d in delays)


async def test_media_watchdog_replays_a_stream_whose_packets_stopped() -> None:
    """Signaling stays up but the media path goes silent (a relay->listener outage from
    the seeded impairment layer): the player is rebuilt well before aioice's ~30 s."""
    from zego_py.media.impairment import Impairment

    impairment = Impairment(burst=(1.0, 3.0), seed=2)
    server = RoomServer(fast_config(), impairment=lambda: impairment)
    async with server.running() as url:
        alice = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
        bob = ZegoExpressEngine(DEV_APP_ID, url, options={**FAST_LINK, "mediaTimeout": 1.0})
        a, b = Recorder(), Recorder()
        from conftest import ALL_EVENTS
        a.attach(alice, *ALL_EVENTS)
        b.attach(bob, *ALL_EVENTS)
        try:
            await alice.loginRoom("room1", make_token("alice"), {"userID": "alice"})
            await bob.loginRoom("room1", make_token("bob"), {"userID": "bob"})
            await publish_tone(alice, a, "s1", 440)
            remote = await bob.startPlayingStream("s1", {"speaker": False})
            await wait_until(lambda: any(e[0]["state"] == "PLAY_REQUESTING"
                                         for e in b["playerStateUpdate"][2:]),
                             timeout=6, what="watchdog retry")
            assert b["roomStateChanged"][-1][1] == "LOGINED"  # signaling never dropped
            await wait_until(lambda: impairment.dropped and not impairment.burst_active(),
                             timeout=6, what="burst over")
            await wait_until(lambda: b["playerStateUpdate"][-1][0]["state"] == "PLAYING",
                             timeout=8, what="playing again")
            assert tones_present(await collect(remote, 25, timeout=8), [440.0]) == {440.0}
        finally:
            await asyncio.gather(alice.close(), bob.close())


async def test_renew_token_mid_call_leaves_no_audio_gap(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 440)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    await collect(remote, 10)
    frames: list = []

    async def listen() -> None:
        async for pcm in remote.audioFrames():
            frames.append(pcm)
            if len(frames) == 75:
                return

    listening = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    assert alice.renewToken(make_token("alice", seconds=7200), "room1")
    await wait_until(lambda: alice._rooms["room1"].token_expire > time.time() + 7000,
                     what="renewed")
    await asyncio.wait_for(listening, 5)
    from zego_py.media.pcm import rms_dbfs

    assert min(rms_dbfs(f) for f in frames) > -20  # every 20 ms frame carried the tone
    assert remote._track.buffer.plc_frames == 0  # type: ignore[union-attr]


async def test_reconnect_after_restart_does_not_need_the_expired_app_token(
        unused_tcp_port: int) -> None:
    """The app token expires during the call; after a server restart the engine logs in
    again with the server-minted reconnect token instead of failing with 1102018."""
    from mock_server.config import DEV_SERVER_SECRET
    from zego_py import generateToken04

    url = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    engine = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
    rec = Recorder()
    from conftest import ALL_EVENTS
    rec.attach(engine, *ALL_EVENTS)
    try:
        async with RoomServer(fast_config()).running("127.0.0.1", unused_tcp_port):
            short = generateToken04(DEV_APP_ID, "alice", DEV_SERVER_SECRET, 2)
            await engine.loginRoom("room1", short, {"userID": "alice"})
            await asyncio.sleep(2.5)  # the app token is now expired
        await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECTING")
        async with RoomServer(fast_config()).running("127.0.0.1", unused_tcp_port):
            await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECTED",
                             timeout=15, what="logged in again")
    finally:
        await engine.close()


async def test_duplicate_login_removes_the_old_sessions_streams(harness: Harness) -> None:
    import json

    watcher, w = await harness.joined("watcher")
    old, o = await harness.joined("alice")
    await publish_tone(old, o, "alice-old", 440)
    await wait_until(lambda: w["roomStreamUpdate"], what="ADD")
    await harness.joined("alice")
    await wait_until(lambda: any(e[1] == "DELETE" for e in w["roomStreamUpdate"]),
                     what="old stream deleted")
    _, _, streams, extended = [e for e in w["roomStreamUpdate"] if e[1] == "DELETE"][0]
    assert streams[0]["streamID"] == "alice-old"
    assert json.loads(extended)["stream_delete_reason"][0]["code"] == 3  # repeated login
    assert o["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH"


async def test_connections_per_address_are_capped() -> None:
    import websockets

    server = RoomServer(fast_config(max_connections_per_address=3))
    async with server.running() as url:
        kept = [await websockets.connect(url) for _ in range(3)]
        refused = await websockets.connect(url)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(refused.recv(), 5)
        assert refused.close_code == 1013
        for ws in kept:
            await ws.close()


class _PushRightAfterLogin(RoomServer):
    """The real server, plus one userUpdate ADD sent right behind a login reply, as a user
    logging in at that instant produces (a race a node kill makes common in a cluster):
    the push reaches the client before the coroutine awaiting the reply resumes."""

    async def _login(self, conn: Any, req: Any) -> dict[str, Any]:
        data = await super()._login(conn, req)
        push = Push("userUpdate", {"roomID": req.body["roomID"], "updateType": "ADD",
                                   "userList": [{"userID": "carol", "userName": "carol"}]})
        asyncio.get_running_loop().call_soon(conn.send, encode_push(push))
        return data


async def test_a_push_right_behind_the_relogin_reply_is_not_undone(unused_tcp_port: int) -> None:
    url = f"ws://127.0.0.1:{unused_tcp_port}/ws"
    alice = ZegoExpressEngine(DEV_APP_ID, url, options=dict(FAST_LINK))
    rec = Recorder()
    rec.attach(alice, "roomUserUpdate", "roomStateChanged")
    try:
        async with RoomServer(fast_config()).running("127.0.0.1", unused_tcp_port):
            await alice.loginRoom("room1", make_token("alice"), {"userID": "alice"},
                                  {"userUpdate": True})
        await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECTING", what="lost")
        async with _PushRightAfterLogin(fast_config()).running("127.0.0.1", unused_tcp_port):
            await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECTED",
                             timeout=15, what="back")
            await wait_until(lambda: rec["roomUserUpdate"], timeout=5, what="carol's ADD")
            await asyncio.sleep(0.2)
        # carol was announced once, as ADD, and the engine's roster keeps her
        assert [(e[1], [u["userID"] for u in e[2]]) for e in rec["roomUserUpdate"]] == [
            ("ADD", ["carol"])]
        assert "carol" in alice._rooms["room1"].users
    finally:
        await alice.close()
