"""switchRoom end to end: real engines, the real server, audio checked by FFT."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets
from conftest import Harness, Recorder, fast_config, make_token, running_harness, wait_until
from spectrum import tones_present
from test_media import collect

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET
from mock_server.rooms import STATE_TOO_LARGE
from mock_server.server import RoomServer
from zego_py import ErrorCode, ZegoError, ZegoExpressEngine, generateToken04
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(60)

ORDERED = ("publisherStateUpdate", "playerStateUpdate", "roomStateUpdate", "roomStateChanged",
           "roomUserUpdate", "roomStreamUpdate")
TONES = [440.0, 550.0, 660.0]


def ordered_log(engine: ZegoExpressEngine) -> list[tuple[Any, ...]]:
    """Every room and media event of ``engine``, in the order it was emitted."""
    log: list[tuple[Any, ...]] = []
    for name in ORDERED:
        engine.on(name, lambda *args, _n=name: log.append((_n, *args)))
    return log


def summary(event: tuple[Any, ...]) -> tuple[Any, ...]:
    """An event reduced to what the order test compares."""
    name, *args = event
    if name in ("publisherStateUpdate", "playerStateUpdate"):
        return (name, args[0]["streamID"], args[0]["state"])
    if name in ("roomStateUpdate", "roomStateChanged"):
        return (name, args[0], args[1], args[2])
    if name == "roomUserUpdate":
        return (name, args[0], args[1], [u["userID"] for u in args[2]])
    return (name, args[0], args[1], [s["streamID"] for s in args[2]])


async def heard(remote: ZegoRemoteStream) -> set[float]:
    """The tones in the last half second of 40 frames (0.8 s) of ``remote``."""
    return tones_present((await collect(remote, 40, 15))[-24000:], TONES)


async def tone_stream(engine: ZegoExpressEngine, freq: float) -> Any:
    return await engine.createStream({"custom": {"source": ToneSource(freq, 0.3)}})


async def publish(engine: ZegoExpressEngine, rec: Recorder, stream_id: str, local: Any) -> None:
    assert engine.startPublishingStream(stream_id, local)
    await wait_until(lambda: any(e[0] == {"streamID": stream_id, "state": "PUBLISHING",
                                          "errorCode": 0, "extendedData": ""}
                                 for e in rec["publisherStateUpdate"]), 10, f"{stream_id} up")


async def test_switch_while_publishing_moves_user_and_audio(harness: Harness) -> None:
    alice, a = await harness.joined("alice", "r1")
    bob, b = await harness.joined("bob", "r1")
    carol, c = await harness.joined("carol", "r2")
    tone = await tone_stream(alice, 440)
    await publish(alice, a, "s_alice", tone)
    await publish(bob, b, "s_bob", await tone_stream(bob, 550))
    await publish(carol, c, "s_carol", await tone_stream(carol, 660))
    bob_hears_alice = await bob.startPlayingStream("s_alice", {"speaker": False})
    assert await heard(bob_hears_alice) == {440.0}
    await alice.startPlayingStream("s_bob", {"speaker": False})
    await wait_until(lambda: any(e[0]["state"] == "PLAYING" for e in a["playerStateUpdate"]))
    log = ordered_log(alice)
    b_order = ordered_log(bob)

    assert await alice.switchRoom("r1", "r2", {"token": make_token("alice"),
                                               "isUserStatusNotify": True}) is True

    assert [summary(e) for e in log] == [
        ("publisherStateUpdate", "s_alice", "NO_PUBLISH"),
        ("playerStateUpdate", "s_bob", "NO_PLAY"),
        ("roomStateUpdate", "r1", "DISCONNECTED", 0),
        ("roomStateChanged", "r1", "LOGOUT", 0),
        ("roomStateUpdate", "r2", "CONNECTING", 0),
        ("roomStateChanged", "r2", "LOGINING", 0),
        ("roomStateUpdate", "r2", "CONNECTED", 0),
        ("roomStateChanged", "r2", "LOGINED", 0),
        ("roomUserUpdate", "r2", "ADD", ["carol"]),
        ("roomStreamUpdate", "r2", "ADD", ["s_carol"]),
    ]
    # the old room: the stream goes (reason 1), then the user; bob's player ends
    await wait_until(lambda: any(e[0] == "roomUserUpdate" for e in b_order), what="DELETE at bob")
    deletes = [e for e in b_order if e[0] in ("roomStreamUpdate", "roomUserUpdate")]
    assert [summary(e) for e in deletes] == [
        ("roomStreamUpdate", "r1", "DELETE", ["s_alice"]),
        ("roomUserUpdate", "r1", "DELETE", ["alice"]),
    ]
    assert json.loads(deletes[0][4]) == {"stream_delete_reason": [{"code": 1}]}
    await wait_until(lambda: any(e[0]["streamID"] == "s_alice" and e[0]["state"] == "NO_PLAY"
                                 for e in b["playerStateUpdate"]), what="bob's player ends")
    # the new room: carol sees alice arrive
    await wait_until(lambda: any(e[1] == "ADD" for e in c["roomUserUpdate"]), what="ADD at carol")
    assert c["roomUserUpdate"][-1] == ("r2", "ADD", [{"userID": "alice", "userName": "alice"}])
    registry = harness.server.registry
    assert registry.sessions[next(k for k, s in registry.sessions.items()
                                  if s.user["userID"] == "alice")].room_id == "r2"
    await wait_until(lambda: "s_alice" not in harness.server.relay.streams, what="relay drops it")

    # publish again in the new room: carol hears the tone, alice hears carol
    await publish(alice, a, "s_alice", tone)
    await wait_until(lambda: any(e[1] == "ADD" and e[2][0]["streamID"] == "s_alice"
                                 for e in c["roomStreamUpdate"]), what="stream ADD at carol")
    assert await heard(await carol.startPlayingStream("s_alice", {"speaker": False})) == {440.0}
    assert await heard(await alice.startPlayingStream("s_carol", {"speaker": False})) == {660.0}
    # messages follow the switch: r2's reach alice under r2, r1's no longer do
    await bob.sendBroadcastMessage("r1", "old room")
    await carol.sendBroadcastMessage("r2", "new room")
    await wait_until(lambda: a["IMRecvBroadcastMessage"], what="r2 broadcast at alice")
    await asyncio.sleep(0.2)
    assert [(rid, m[0]["message"]) for rid, m in a["IMRecvBroadcastMessage"]] == [
        ("r2", "new room")]


async def test_refused_switch_leaves_everything_in_the_old_room(harness: Harness) -> None:
    alice, a = await harness.joined("alice", "r1")
    bob, b = await harness.joined("bob", "r1")
    await publish(alice, a, "s_alice", await tone_stream(alice, 440))
    await harness.joined("carol", "r2")
    log = ordered_log(alice)
    cases = [
        ({"token": "garbage"}, "r2", ErrorCode.TOKEN_ERROR),
        ({"token": make_token("mallory")}, "r2", ErrorCode.TOKEN_USER_MISMATCH),
        ({"token": generateToken04(DEV_APP_ID, "alice", DEV_SERVER_SECRET, 1,
                                   _now=int(time.time()) - 10)}, "r2", ErrorCode.TOKEN_EXPIRED),
        ({}, "r2", ErrorCode.INPUT_PARAM_ERROR),
        ({"token": make_token("alice"), "maxMemberCount": -1}, "r2", ErrorCode.INPUT_PARAM_ERROR),
        ({"token": make_token("alice")}, "", ErrorCode.ROOM_ID_EMPTY),
        ({"token": make_token("alice")}, "bad/room", ErrorCode.ROOM_ID_ILLEGAL),
        ({"token": make_token("alice")}, "r1", ErrorCode.USER_REPEATED_LOGIN),
    ]
    for config, to_room, code in cases:
        log.clear()
        with pytest.raises(ZegoError) as err:
            await alice.switchRoom("r1", to_room, config)  # type: ignore[arg-type]
        assert err.value.code == code, (config, to_room)
        assert [summary(e) for e in log] == [
            ("roomStateChanged", to_room, "LOGINING", 0),
            ("roomStateChanged", to_room, "LOGIN_FAILED", int(code))], (config, to_room)
    with pytest.raises(ZegoError) as err:
        await alice.switchRoom("nowhere", "r2", {"token": make_token("alice")})
    assert err.value.code == ErrorCode.NOT_LOGIN
    # still in r1, still publishing: bob hears the tone, and r1's messages reach alice
    assert a["publisherStateUpdate"][-1][0]["state"] == "PUBLISHING"
    assert await heard(await bob.startPlayingStream("s_alice", {"speaker": False})) == {440.0}
    await bob.sendBroadcastMessage("r1", "still here")
    await wait_until(lambda: a["IMRecvBroadcastMessage"], what="r1 broadcast at alice")
    assert all(e[1] == "ADD" for e in b["roomUserUpdate"])  # bob never saw alice leave


async def test_switch_into_a_full_room_is_refused_by_the_server(harness: Harness) -> None:
    alice, a = await harness.joined("alice", "r1")
    carol, _ = harness.engine()
    await carol.loginRoom("r2", make_token("carol"), {"userID": "carol"}, {"maxMemberCount": 1})
    with pytest.raises(ZegoError) as err:
        await alice.switchRoom("r1", "r2", {"token": make_token("alice")})
    assert err.value.code == ErrorCode.ROOM_USER_COUNT_EXCEEDED
    assert alice._rooms["r1"].state == "CONNECTED"
    assert (await alice.sendBroadcastMessage("r1", "ok"))["errorCode"] == 0
    # a room nobody is in yet takes the switcher's maxMemberCount, as a login's would
    assert await alice.switchRoom("r1", "r3", {"token": make_token("alice"),
                                               "maxMemberCount": 1})
    dave, _ = harness.engine()
    with pytest.raises(ZegoError) as err:
        await dave.loginRoom("r3", make_token("dave"), {"userID": "dave"})
    assert err.value.code == ErrorCode.ROOM_USER_COUNT_EXCEEDED
    assert "r1" not in harness.server.registry.rooms  # the old room emptied and closed


async def test_switch_in_multi_room_mode_keeps_the_other_room(harness: Harness) -> None:
    alice, a = harness.engine()
    assert alice.enableMultiRoom(True)
    for room_id in ("r1", "r2"):
        await alice.loginRoom(room_id, make_token("alice"), {"userID": "alice"})
    with pytest.raises(ZegoError) as err:
        await alice.switchRoom("r1", "r2", {"token": make_token("alice")})
    assert err.value.code == ErrorCode.USER_REPEATED_LOGIN
    assert await alice.switchRoom("r1", "r3", {"token": make_token("alice")})
    assert sorted(alice._rooms) == ["r2", "r3"]
    bob, b = await harness.joined("bob", "r2")
    await bob.sendBroadcastMessage("r2", "r2 still works")
    await wait_until(lambda: a["IMRecvBroadcastMessage"], what="r2 broadcast at alice")


async def test_raw_switch_request_is_checked_by_the_server(harness: Harness) -> None:
    """A client that skips our engine's checks gets the same codes from the server."""
    bob, b = await harness.joined("bob", "r2")
    async with websockets.connect(harness.url) as ws:
        async def call(rid: int, kind: str, **body: Any) -> dict[str, Any]:
            await ws.send(json.dumps({"v": 1, "id": rid, "type": kind, **body}))
            while (reply := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "reply":
                pass
            return reply

        switch = {"fromRoomID": "r1", "toRoomID": "r2", "token": make_token("eve")}
        assert (await call(1, "switchRoom", **switch))["code"] == ErrorCode.NOT_LOGIN
        assert (await call(2, "login", roomID="r1", token=make_token("eve"),
                           user={"userID": "eve"}))["code"] == 0
        assert (await call(3, "switchRoom", **{**switch, "fromRoomID": "r9"}))["code"] == \
            ErrorCode.NOT_LOGIN
        assert (await call(4, "switchRoom", **{**switch, "token": make_token("bob")}))["code"] \
            == ErrorCode.TOKEN_USER_MISMATCH
        assert (await call(5, "switchRoom", **{**switch, "toRoomID": "a" * 129}))["code"] == \
            ErrorCode.ROOM_ID_TOO_LONG
        assert (await call(6, "switchRoom", **{**switch, "config": {"maxMemberCount": "x"}})
                )["code"] == ErrorCode.INPUT_PARAM_ERROR
        reply = await call(7, "switchRoom", **{**switch, "config": {"userUpdate": True}})
        assert reply["code"] == 0
        assert reply["data"]["users"] == [{"userID": "bob", "userName": "bob"}]
        assert reply["data"]["resumeToken"] and reply["data"]["sessionKey"]
    await wait_until(lambda: [e[1] for e in b["roomUserUpdate"]] == ["ADD", "DELETE"],
                     what="eve arrives in r2, then leaves")


async def test_joins_racing_the_switch_are_all_reported(harness: Harness) -> None:
    """Pushes for the new room can overtake the switch's reply (the server answers after
    the relay has dropped the old streams); the engine holds and replays them, so the
    users it reports are exactly the room's members."""
    alice, a = await harness.joined("alice", "r1")
    await publish(alice, a, "s_alice", await tone_stream(alice, 440))
    await harness.joined("carol", "r2")
    others = [harness.engine()[0] for _ in range(6)]
    joins = [e.loginRoom("r2", make_token(f"u{i}"), {"userID": f"u{i}"})
             for i, e in enumerate(others)]
    switch = alice.switchRoom("r1", "r2", {"token": make_token("alice"),
                                           "isUserStatusNotify": True})
    await asyncio.gather(switch, *joins)
    expected = {"carol", *(f"u{i}" for i in range(6))}

    def known() -> set[str]:
        users: set[str] = set()
        for room_id, kind, user_list in a["roomUserUpdate"]:
            assert room_id == "r2"
            ids = {u["userID"] for u in user_list}
            users = users | ids if kind == "ADD" else users - ids
        return users

    await wait_until(lambda: known() == expected, what=f"alice knows {expected}")
    await asyncio.sleep(0.2)
    assert known() == expected


async def test_a_dropped_socket_after_a_switch_resumes_into_the_new_room(
        harness: Harness) -> None:
    alice, a = await harness.joined("alice", "r1")
    carol, c = await harness.joined("carol", "r2")
    assert await alice.switchRoom("r1", "r2", {"token": make_token("alice")})
    await wait_until(lambda: c["roomUserUpdate"], what="alice arrives at carol")
    ws = alice._rooms["r2"].link._ws
    assert ws is not None
    ws.transport.abort()  # the server stays up: the session is held for the grace period
    await wait_until(lambda: a["roomStateChanged"][-1][:2] == ("r2", "RECONNECTED"),
                     what="RECONNECTED in r2")
    assert [e[1] for e in a["roomStateChanged"]][-2:] == ["RECONNECTING", "RECONNECTED"]
    await asyncio.sleep(0.3)
    assert [e[1] for e in c["roomUserUpdate"]] == ["ADD"]  # resumed: carol saw no change
    await alice.sendBroadcastMessage("r2", "back")
    await wait_until(lambda: c["IMRecvBroadcastMessage"], what="message after resume")


async def test_bad_switch_tokens_are_throttled_like_logins(harness: Harness) -> None:
    alice, _ = await harness.joined("alice", "r1")
    codes = []
    for _ in range(harness.server.config.login_free_failures + 1):
        with pytest.raises(ZegoError) as err:
            await alice.switchRoom("r1", "r2", {"token": "guess"})
        codes.append(err.value.code)
    assert codes[:-1] == [ErrorCode.TOKEN_ERROR] * harness.server.config.login_free_failures
    assert codes[-1] == ErrorCode.FREQUENCY_LIMITED
    assert alice._rooms["r1"].state == "CONNECTED"


async def test_room_limit_counts_the_room_a_switch_closes(harness: Harness) -> None:
    server = RoomServer(fast_config(max_rooms=2))
    async with running_harness(server) as h:
        alice, _ = await h.joined("alice", "r1")
        await h.joined("bob", "r2")
        # r1 closes as alice leaves it, so r3 fits under the limit of 2
        assert await alice.switchRoom("r1", "r3", {"token": make_token("alice")})
        carol, _ = await h.joined("carol", "r3")
        with pytest.raises(ZegoError) as err:  # r3 stays open (carol): no room for r4
            await carol.switchRoom("r3", "r4", {"token": make_token("carol")})
        assert err.value.code == ErrorCode.ROOM_INNER_ERROR
        assert sorted(server.registry.rooms) == ["r2", "r3"]


async def test_switch_into_a_room_whose_state_would_not_fit_a_reply_is_refused(
        harness: Harness) -> None:
    """The reply must fit a frame (docs/server.md): checked before the old room is left."""
    bloated = "\x01" * 256  # 6 bytes a character once JSON-escaped
    alice, _ = harness.engine()
    await alice.loginRoom("r1", make_token("alice"), {"userID": "alice", "userName": bloated})
    for n in range(80):
        filler, _ = harness.engine()
        try:
            await filler.loginRoom("r2", make_token(f"f{n}"), {"userID": f"f{n}",
                                                                "userName": bloated})
        except ZegoError as exc:
            assert exc.code == ErrorCode.ROOM_USER_COUNT_EXCEEDED
            break
    else:
        raise AssertionError("r2 took every bloated user")
    with pytest.raises(ZegoError) as err:
        await alice.switchRoom("r1", "r2", {"token": make_token("alice")})
    assert (err.value.code, err.value.message) == (ErrorCode.ROOM_USER_COUNT_EXCEEDED,
                                                   STATE_TOO_LARGE)
    assert alice._rooms["r1"].state == "CONNECTED"
    assert [s.room_id for s in harness.server.registry.sessions.values()
            if s.user["userID"] == "alice"] == ["r1"]
