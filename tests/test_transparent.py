"""Transparent messages end to end: bytes in, the same bytes out, to the targeted users only."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest
import websockets
from conftest import Harness, Recorder, make_token, wait_until

from zego_py import ErrorCode, RoomTransparentMessageMode, ZegoError, ZegoExpressEngine
from zego_py.validation import MAX_TRANSPARENT_BYTES

pytestmark = pytest.mark.timeout(60)

EVENT = "recvRoomTransparentMessage"


async def member(harness: Harness, user_id: str) -> tuple[ZegoExpressEngine, Recorder]:
    engine, rec = await harness.joined(user_id)
    rec.attach(engine, EVENT)
    return engine, rec


PAYLOADS = [b"\x00", b"\xff\xfe\x80\x00binary\x00", "héllo".encode("utf-16"),
            bytes(range(256)), os.urandom(MAX_TRANSPARENT_BYTES)]


async def test_bytes_arrive_intact_to_the_listed_users_only(harness: Harness) -> None:
    alice, a = await member(harness, "alice")
    bob, b = await member(harness, "bob")
    carol, c = await member(harness, "carol")
    for payload in PAYLOADS:
        result = await alice.sendTransparentMessage("room1", {
            "content": payload, "recvUserList": [{"userID": "bob"}]})
        assert result == {"errorCode": 0, "extendedData": ""}
    await wait_until(lambda: len(b[EVENT]) == len(PAYLOADS), what="all at bob")
    alice_user = {"userID": "alice", "userName": "alice"}
    assert b[EVENT] == [("room1", {"sendUser": alice_user, "content": p}) for p in PAYLOADS]
    assert all(isinstance(e[1]["content"], bytes) for e in b[EVENT])
    # bytearray and memoryview are bytes too; an empty list means everyone else
    await bob.sendTransparentMessage("room1", {"content": bytearray(b"\x01\x02"),
                                               "sendMode": RoomTransparentMessageMode.ONLY_CLIENT})
    await bob.sendTransparentMessage("room1", {"content": memoryview(b"\x03"), "recvUserList": []})
    await wait_until(lambda: len(a[EVENT]) == 2 and len(c[EVENT]) == 2, what="to everyone else")
    assert [e[1]["content"] for e in c[EVENT]] == [b"\x01\x02", b"\x03"]
    await asyncio.sleep(0.1)
    assert len(b[EVENT]) == len(PAYLOADS)  # never to the sender; carol got none of alice's


async def test_modes(harness: Harness) -> None:
    alice, _ = await member(harness, "alice")
    bob, b = await member(harness, "bob")
    for mode in RoomTransparentMessageMode:
        await alice.sendTransparentMessage("room1", {"content": bytes([mode]), "sendMode": mode,
                                                     "sendType": 1, "timeOut": 3})
    await wait_until(lambda: len(b[EVENT]) == 2, what="client modes delivered")
    await asyncio.sleep(0.1)
    # ONLY_SERVER is ZEGO's business-server callback: accepted, delivered to no client
    assert [e[1]["content"] for e in b[EVENT]] == [b"\x00", b"\x02"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"content": b""}, ErrorCode.MESSAGE_EMPTY),
        ({"content": b"x" * (MAX_TRANSPARENT_BYTES + 1)}, ErrorCode.MESSAGE_TOO_LONG),
        ({"content": "text is not bytes"}, ErrorCode.INPUT_PARAM_ERROR),
        ({}, ErrorCode.INPUT_PARAM_ERROR),
        ({"content": b"x", "sendMode": 3}, ErrorCode.INPUT_PARAM_ERROR),
        ({"content": b"x", "sendType": True}, ErrorCode.INPUT_PARAM_ERROR),
        ({"content": b"x", "recvUserList": ["bob"]}, ErrorCode.INPUT_PARAM_ERROR),
        ({"content": b"x", "timeOut": 0}, ErrorCode.INPUT_PARAM_ERROR),
        (b"x", ErrorCode.INPUT_PARAM_ERROR),
    ],
)
async def test_engine_checks(harness: Harness, message: Any, code: int) -> None:
    alice, _ = await member(harness, "alice")
    with pytest.raises(ZegoError) as err:
        await alice.sendTransparentMessage("room1", message)
    assert err.value.code == code


async def test_needs_a_login_and_the_right_room(harness: Harness) -> None:
    engine, _ = harness.engine()
    with pytest.raises(ZegoError) as err:
        await engine.sendTransparentMessage("room1", {"content": b"x"})
    assert err.value.code == ErrorCode.NOT_LOGIN
    alice, _ = await member(harness, "alice")
    with pytest.raises(ZegoError) as err:
        await alice.sendTransparentMessage("elsewhere", {"content": b"x"})
    assert err.value.code == ErrorCode.NOT_LOGIN


async def test_rate_limit_to_several_users(harness: Harness) -> None:
    alice, _ = await member(harness, "alice")
    bob, b = await member(harness, "bob")
    results = await asyncio.gather(*(alice.sendTransparentMessage("room1", {"content": bytes([i])})
                                     for i in range(15)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, ZegoError)]
    assert len(refused) == 5 and all(r.code == ErrorCode.FREQUENCY_LIMITED for r in refused)
    await wait_until(lambda: len(b[EVENT]) == 10, what="the ten allowed")


async def test_hostile_client_gets_zego_codes_and_the_server_keeps_serving(
        harness: Harness) -> None:
    alice, a = await member(harness, "alice")
    bob, b = await member(harness, "bob")
    async with websockets.connect(harness.url, max_size=None) as ws:
        async def call(rid: int, kind: str, **body: Any) -> int:
            await ws.send(json.dumps({"v": 1, "id": rid, "type": kind, **body}))
            while (reply := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "reply":
                pass
            return int(reply["code"])

        assert await call(1, "login", roomID="room1", token=make_token("eve"),
                          user={"userID": "eve"}) == 0
        good = {"roomID": "room1", "content": base64.b64encode(b"\x00ok").decode(),
                "sendMode": 0, "sendType": 0, "recvUserList": [{"userID": "bob"}]}
        cases = [
            ({"content": "!!not base64!!"}, ErrorCode.INPUT_PARAM_ERROR),
            ({"content": "AAA"}, ErrorCode.INPUT_PARAM_ERROR),  # bad padding
            ({"content": "AA\nAA=="}, ErrorCode.INPUT_PARAM_ERROR),  # stray character
            ({"content": ""}, ErrorCode.MESSAGE_EMPTY),
            ({"content": base64.b64encode(b"x" * (MAX_TRANSPARENT_BYTES + 1)).decode()},
             ErrorCode.MESSAGE_TOO_LONG),
            ({"content": "A" * 60000}, ErrorCode.MESSAGE_TOO_LONG),
            ({"sendMode": 7}, ErrorCode.INPUT_PARAM_ERROR),
            ({"sendType": -1}, ErrorCode.INPUT_PARAM_ERROR),
            ({"recvUserList": [{"userID": 5}]}, ErrorCode.INPUT_PARAM_ERROR),
            ({"recvUserList": "bob"}, ErrorCode.INPUT_PARAM_ERROR),
            ({"content": 12}, ErrorCode.INPUT_PARAM_ERROR),
            ({"roomID": "room2"}, ErrorCode.NOT_LOGIN),
        ]
        for rid, (change, code) in enumerate(cases, 2):
            assert await call(rid, "sendTransparentMessage", **{**good, **change}) == code, change
        assert await call(99, "sendTransparentMessage", **good) == 0
    await wait_until(lambda: b[EVENT], what="eve's good message at bob")
    assert b[EVENT] == [("room1", {"sendUser": {"userID": "eve", "userName": "eve"},
                                   "content": b"\x00ok"})]
    await alice.sendTransparentMessage("room1", {"content": b"\xff", "recvUserList": [
        {"userID": "bob", "userName": "bob"}]})
    await wait_until(lambda: len(b[EVENT]) == 2, what="service continues")
    assert a[EVENT] == []
