"""Messaging end to end: broadcast, barrage, custom commands, room and stream extra info."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Harness, wait_until

from zego_py import ErrorCode, ZegoError
from zego_py.media.sources import ToneSource


async def test_broadcast_reaches_everyone_but_the_sender(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    carol, c = await harness.joined("carol")
    result = await alice.sendBroadcastMessage("room1", "hello 你好")
    assert result["errorCode"] == 0 and isinstance(result["messageID"], int)
    await wait_until(lambda: b["IMRecvBroadcastMessage"] and c["IMRecvBroadcastMessage"])
    room_id, messages = b["IMRecvBroadcastMessage"][0]
    assert room_id == "room1"
    assert messages[0]["message"] == "hello 你好"
    assert messages[0]["fromUser"] == {"userID": "alice", "userName": "alice"}
    assert messages[0]["messageID"] == result["messageID"]
    assert isinstance(messages[0]["sendTime"], int)
    await asyncio.sleep(0.1)
    assert a["IMRecvBroadcastMessage"] == []


async def test_barrage_message_id_is_a_string(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    result = await alice.sendBarrageMessage("room1", "wow")
    assert isinstance(result["messageID"], str)
    await wait_until(lambda: b["IMRecvBarrageMessage"])
    assert b["IMRecvBarrageMessage"][0][1][0]["messageID"] == result["messageID"]


async def test_custom_command_goes_only_to_the_listed_users(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    carol, c = await harness.joined("carol")
    await alice.sendCustomCommand("room1", '{"op":"raise-hand"}', ["bob"])
    await wait_until(lambda: b["IMRecvCustomCommand"])
    assert b["IMRecvCustomCommand"][0] == ("room1", {"userID": "alice", "userName": "alice"},
                                           '{"op":"raise-hand"}')
    await asyncio.sleep(0.1)
    assert c["IMRecvCustomCommand"] == [] and a["IMRecvCustomCommand"] == []


@pytest.mark.parametrize(
    ("message", "code"),
    [("", ErrorCode.MESSAGE_EMPTY), ("x" * 1025, ErrorCode.MESSAGE_TOO_LONG),
     ("é" * 513, ErrorCode.MESSAGE_TOO_LONG)],
)
async def test_message_size_limits(harness: Harness, message: str, code: int) -> None:
    alice, _ = await harness.joined("alice")
    with pytest.raises(ZegoError) as err:
        await alice.sendBroadcastMessage("room1", message)
    assert err.value.code == code
    assert (await alice.sendBroadcastMessage("room1", "x" * 1024))["errorCode"] == 0


async def test_broadcast_rate_limit_per_room(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    results = await asyncio.gather(*(alice.sendBroadcastMessage("room1", f"m{i}")
                                     for i in range(15)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, ZegoError)]
    assert len(refused) == 5
    assert all(r.code == ErrorCode.FREQUENCY_LIMITED for r in refused)
    await wait_until(lambda: len(b["IMRecvBroadcastMessage"]) == 10)


async def test_messages_need_a_login(harness: Harness) -> None:
    engine, _ = harness.engine()
    with pytest.raises(ZegoError) as err:
        await engine.sendBroadcastMessage("room1", "hi")
    assert err.value.code == ErrorCode.NOT_LOGIN


async def test_room_extra_info(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    assert (await alice.setRoomExtraInfo("room1", "topic", "music"))["errorCode"] == 0
    await wait_until(lambda: b["roomExtraInfoUpdate"])
    info = b["roomExtraInfoUpdate"][0][1][0]
    assert (info["key"], info["value"], info["updateUser"]["userID"]) == ("topic", "music", "alice")
    with pytest.raises(ZegoError) as err:
        await alice.setRoomExtraInfo("room1", "second", "x")
    assert err.value.code == ErrorCode.ROOM_EXTRA_KEY_COUNT_EXCEEDED
    for key, value, code in [("", "v", ErrorCode.ROOM_EXTRA_KEY_EMPTY),
                             ("k" * 11, "v", ErrorCode.ROOM_EXTRA_KEY_TOO_LONG),
                             ("topic", "v" * 101, ErrorCode.ROOM_EXTRA_VALUE_TOO_LONG)]:
        with pytest.raises(ZegoError) as err:
            await alice.setRoomExtraInfo("room1", key, value)
        assert err.value.code == code
    # a later joiner gets the current extra info at login
    carol, c = await harness.joined("carol")
    assert c["roomExtraInfoUpdate"][0][1][0]["value"] == "music"


async def test_stream_extra_info(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    local = await alice.createStream({"custom": {"source": ToneSource(440)}})
    alice.startPublishingStream("s1", local, {"extraInfo": "v1"})
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" for e in a["publisherStateUpdate"]))
    assert (await alice.setStreamExtraInfo("s1", "v2"))["errorCode"] == 0
    await wait_until(lambda: b["streamExtraInfoUpdate"])
    room_id, streams = b["streamExtraInfoUpdate"][0]
    assert room_id == "room1"
    assert streams[0]["streamID"] == "s1" and streams[0]["extraInfo"] == "v2"
    with pytest.raises(ZegoError) as err:
        await alice.setStreamExtraInfo("s1", "x" * 1025)
    assert err.value.code == ErrorCode.STREAM_EXTRA_INFO_TOO_LONG
    with pytest.raises(ZegoError) as err:
        await bob.setStreamExtraInfo("s1", "mine now")
    assert err.value.code == ErrorCode.NOT_LOGIN  # bob does not publish s1


async def test_a_lone_surrogate_is_refused_and_the_sender_stays_connected(
        harness: Harness) -> None:
    """websockets cannot encode "\\ud800": sent as is, it would close the sender's socket."""
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    with pytest.raises(ZegoError) as err:
        await alice.sendBroadcastMessage("room1", "bad \ud800")
    assert err.value.code == ErrorCode.INPUT_PARAM_ERROR
    assert (await alice.sendBroadcastMessage("room1", "fine"))["errorCode"] == 0
    await wait_until(lambda: b["IMRecvBroadcastMessage"])
    assert [m["message"] for e in b["IMRecvBroadcastMessage"] for m in e[1]] == ["fine"]
    assert not any("RECONNECT" in e[1] for e in a["roomStateChanged"])
