"""Rooms end to end: real engines, the real server, real WebSockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import Harness, PeerProcess, make_token, wait_until

from zego_py import ErrorCode, ZegoError


async def test_login_reports_states_and_users(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    assert [e[1] for e in a["roomStateUpdate"]] == ["CONNECTING", "CONNECTED"]
    assert [e[1] for e in a["roomStateChanged"]] == ["LOGINING", "LOGINED"]
    assert a["roomUserUpdate"] == []  # never told about itself

    bob, b = await harness.joined("bob")
    await wait_until(lambda: len(a["roomUserUpdate"]) == 1, what="alice sees bob")
    assert a["roomUserUpdate"][0] == ("room1", "ADD", [{"userID": "bob", "userName": "bob"}])
    assert b["roomUserUpdate"] == [("room1", "ADD", [{"userID": "alice", "userName": "alice"}])]

    await bob.logoutRoom()
    await wait_until(lambda: len(a["roomUserUpdate"]) == 2, what="alice sees bob leave")
    assert a["roomUserUpdate"][1] == ("room1", "DELETE", [{"userID": "bob", "userName": "bob"}])
    assert b["roomStateUpdate"][-1][1:3] == ("DISCONNECTED", 0)
    assert b["roomStateChanged"][-1][1] == "LOGOUT"


async def test_third_user_sees_users_and_streams_already_there(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    harness.server.registry.add_stream(
        next(k for k, s in harness.server.registry.sessions.items()
             if s.user["userID"] == "alice"), "s_alice", "hello")
    carol, c = await harness.joined("carol")
    users = {u["userID"] for u in c["roomUserUpdate"][0][2]}
    assert users == {"alice", "bob"}
    ((room, kind, streams, _),) = c["roomStreamUpdate"]
    assert (room, kind) == ("room1", "ADD")
    assert streams[0]["streamID"] == "s_alice"
    assert streams[0]["user"]["userID"] == "alice"
    assert streams[0]["extraInfo"] == "hello"


async def test_user_update_false_gets_no_user_events(harness: Harness) -> None:
    alice, a = await harness.joined("alice", user_update=False)
    await harness.joined("bob")
    await asyncio.sleep(0.2)
    assert a["roomUserUpdate"] == []


async def test_killed_client_is_removed_for_everyone(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob = await PeerProcess.start(harness.url, "bob", "s_bob")
    await wait_until(lambda: a["roomStreamUpdate"], what="bob's stream")
    await bob.kill()  # no logout, no unpublish: the process is gone
    await wait_until(lambda: any(e[1] == "DELETE" for e in a["roomUserUpdate"]),
                     what="alice sees bob vanish")
    ((_, kind, streams, extended),) = [e for e in a["roomStreamUpdate"] if e[1] == "DELETE"]
    assert streams[0]["streamID"] == "s_bob"
    assert _delete_reason(extended) == 2  # heartbeat timeout, after the grace period


@pytest.mark.parametrize(
    ("room_id", "user", "code"),
    [
        ("", {"userID": "u"}, ErrorCode.ROOM_ID_EMPTY),
        ("bad room", {"userID": "u"}, ErrorCode.ROOM_ID_ILLEGAL),
        ("r" * 129, {"userID": "u"}, ErrorCode.ROOM_ID_TOO_LONG),
        ("room1", {"userID": ""}, ErrorCode.USER_ID_EMPTY),
        ("room1", {"userID": "a/b"}, ErrorCode.USER_ID_ILLEGAL),
        ("room1", {"userID": "u" * 65}, ErrorCode.USER_ID_TOO_LONG),
        ("room1", {"userID": "u", "userName": "n" * 257}, ErrorCode.USER_NAME_TOO_LONG),
    ],
)
async def test_login_argument_errors(harness: Harness, room_id: str, user: dict[str, str],
                                     code: int) -> None:
    engine, rec = harness.engine()
    with pytest.raises(ZegoError) as err:
        await engine.loginRoom(room_id, make_token(user.get("userID") or "x"), user)  # type: ignore[arg-type]
    assert err.value.code == code
    assert rec["roomStateChanged"][-1][1] == "LOGIN_FAILED"


async def test_second_room_in_single_room_mode(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    with pytest.raises(ZegoError) as err:
        await alice.loginRoom("room2", make_token("alice"), {"userID": "alice"})
    assert err.value.code == ErrorCode.LOGIN_ROOMS_EXCEEDED


async def test_multi_room_mode(harness: Harness) -> None:
    engine, rec = harness.engine()
    assert engine.enableMultiRoom(True)
    await engine.loginRoom("r1", make_token("alice"), {"userID": "alice"})
    await engine.loginRoom("r2", make_token("alice"), {"userID": "alice"})
    assert not engine.enableMultiRoom(False)  # only before the first login
    with pytest.raises(ZegoError) as err:
        await engine.loginRoom("r3", make_token("bob"), {"userID": "bob"})
    assert err.value.code == ErrorCode.MULTI_ROOM_USER_MISMATCH
    with pytest.raises(ZegoError) as err:
        await engine.loginRoom("r1", make_token("alice"), {"userID": "alice"})
    assert err.value.code == ErrorCode.USER_REPEATED_LOGIN
    await engine.logoutRoom("r1")
    assert ("r1", "LOGOUT", 0, "") in rec["roomStateChanged"]


@pytest.mark.parametrize(
    ("token_user", "seconds", "mangle", "code"),
    [
        ("alice", 3600, lambda t: t[:-4] + "AAAA", ErrorCode.TOKEN_ERROR),
        ("alice", 3600, lambda t: "03" + t[2:], ErrorCode.TOKEN_ERROR),
        ("alice", -5, None, ErrorCode.TOKEN_EXPIRED),
        ("mallory", 3600, None, ErrorCode.TOKEN_USER_MISMATCH),
    ],
)
async def test_login_token_errors(harness: Harness, token_user: str, seconds: int,
                                  mangle: object, code: int) -> None:
    if seconds < 0:
        import time

        from mock_server import DEV_APP_ID, DEV_SERVER_SECRET
        from zego_py.token import generateToken04
        token = generateToken04(DEV_APP_ID, token_user, DEV_SERVER_SECRET, 1,
                                _now=int(time.time()) - 10)
    else:
        token = make_token(token_user, seconds)
    if callable(mangle):
        token = mangle(token)
    engine, rec = harness.engine()
    with pytest.raises(ZegoError) as err:
        await engine.loginRoom("room1", token, {"userID": "alice"})
    assert err.value.code == code
    assert rec["roomStateUpdate"][-1][1:3] == ("DISCONNECTED", code)


async def test_wrong_app_id_token(harness: Harness) -> None:
    engine, _ = harness.engine()
    token = make_token("alice", app_id=42)
    with pytest.raises(ZegoError) as err:
        await engine.loginRoom("room1", token, {"userID": "alice"})
    assert err.value.code == ErrorCode.TOKEN_ERROR


async def test_room_full(harness: Harness) -> None:
    first, _ = harness.engine()
    await first.loginRoom("small", make_token("a"), {"userID": "a"}, {"maxMemberCount": 2})
    second, _ = harness.engine()
    await second.loginRoom("small", make_token("b"), {"userID": "b"})
    third, _ = harness.engine()
    with pytest.raises(ZegoError) as err:
        await third.loginRoom("small", make_token("c"), {"userID": "c"})
    assert err.value.code == ErrorCode.ROOM_USER_COUNT_EXCEEDED


async def test_duplicate_user_id_kicks_the_old_session(harness: Harness) -> None:
    watcher, w = await harness.joined("watcher")
    old, o = await harness.joined("alice")
    new, n = await harness.joined("alice")
    await wait_until(lambda: any(e[1] == "KICKOUT" for e in o["roomStateChanged"]),
                     what="old session kicked")
    assert o["roomStateUpdate"][-1][1:3] == ("DISCONNECTED", ErrorCode.KICKED_DUPLICATE_LOGIN)
    assert n["roomStateUpdate"][-1][1] == "CONNECTED"
    # the watcher saw alice once (ADD) and never a DELETE: the user stayed
    await asyncio.sleep(0.2)
    kinds = [e[1] for e in w["roomUserUpdate"]]
    assert kinds == ["ADD"]


async def test_token_will_expire_and_renew(harness: Harness) -> None:
    engine, rec = harness.engine()
    await engine.loginRoom("room1", make_token("alice", seconds=31), {"userID": "alice"})
    await wait_until(lambda: len(rec["tokenWillExpire"]) == 1, timeout=4, what="tokenWillExpire")
    assert rec["tokenWillExpire"][0] == ("room1",)
    assert engine.renewToken(make_token("alice", seconds=3600), "room1")
    await wait_until(lambda: engine._rooms["room1"].token_expire > 3000, what="renewal applied")
    await asyncio.sleep(0.3)
    assert len(rec["tokenWillExpire"]) == 1  # the renewed token is far from expiry


async def test_online_user_count(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    await harness.joined("bob")
    await wait_until(lambda: any(e[1] == 2 for e in a["roomOnlineUserCountUpdate"]), what="count")


def _delete_reason(extended: str) -> int:
    return json.loads(extended)["stream_delete_reason"][0]["code"]
