"""Hostile and broken clients over real sockets: each gets a clear error or a closed
socket, and everyone else keeps working."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import websockets
from conftest import Harness, fast_config, make_token, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.server import RoomServer
from zego_py import ErrorCode

pytestmark = pytest.mark.timeout(120)

# A longer fuzz run: ZEGO_FUZZ_EXAMPLES=5000 make test PYTEST_ARGS="-k fuzz -o timeout=0"
FUZZ_EXAMPLES = int(os.environ.get("ZEGO_FUZZ_EXAMPLES", "150"))


async def _raw(url: str) -> websockets.ClientConnection:
    return await websockets.connect(url, max_size=None)


async def _recv_json(ws: websockets.ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_malformed_frames_get_errors_and_others_keep_working(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    ws = await _raw(harness.url)
    await ws.send("{not json")
    reply = await _recv_json(ws)
    assert reply["type"] == "error" and reply["code"] == ErrorCode.INPUT_PARAM_ERROR
    await ws.send(json.dumps({"v": 1, "id": 5, "type": "login", "roomID": 7}))
    reply = await _recv_json(ws)
    assert (reply["type"], reply["id"], reply["code"]) == ("reply", 5, ErrorCode.INPUT_PARAM_ERROR)
    assert "roomID" in reply["message"]
    await ws.send(json.dumps({"v": 1, "id": 6, "type": "publish", "roomID": "room1",
                              "streamID": "s", "sdp": "v=0"}))
    reply = await _recv_json(ws)
    assert reply["code"] == ErrorCode.NOT_LOGIN  # out of order: publish before login
    await ws.send(b"\x00\x01binary")
    assert (await _recv_json(ws))["type"] == "error"
    await ws.close()
    await alice.sendBroadcastMessage("room1", "still here")
    await wait_until(lambda: b["IMRecvBroadcastMessage"], what="service continues")


async def test_oversized_frame_closes_with_1009(harness: Harness) -> None:
    ws = await _raw(harness.url)
    await ws.send("x" * (harness.server.config.max_frame_bytes + 1))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_garbage_sdp_is_refused_cleanly(harness: Harness) -> None:
    ws = await _raw(harness.url)
    await ws.send(json.dumps({"v": 1, "id": 1, "type": "login", "roomID": "room1",
                              "token": make_token("eve"), "user": {"userID": "eve"}}))
    assert (await _recv_json(ws))["code"] == 0
    bad_offers = ["", "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2"]
    for rid, sdp in enumerate(bad_offers, 2):
        await ws.send(json.dumps({"v": 1, "id": rid, "type": "publish", "roomID": "room1",
                                  "streamID": f"s{rid}", "sdp": sdp}))
        while (reply := await _recv_json(ws))["type"] != "reply":
            pass
        assert reply["code"] in (ErrorCode.PUBLISH_INNER_ERROR, ErrorCode.INPUT_PARAM_ERROR)
    assert not harness.server.registry.streams and not harness.server.relay.streams
    await ws.close()


async def test_socket_that_never_logs_in_is_closed() -> None:
    server = RoomServer(fast_config(login_deadline_s=0.5))
    async with server.running() as url:
        ws = await _raw(url)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008


async def test_http_on_other_paths_is_a_plain_404(harness: Harness) -> None:
    host, port = harness.url.removeprefix("ws://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status = await asyncio.wait_for(reader.readline(), 5)
    assert b"404" in status
    writer.close()


async def test_request_flood_is_rate_limited() -> None:
    server = RoomServer(fast_config(requests_per_s=5, request_burst=10))
    async with server.running() as url:
        ws = await _raw(url)
        for i in range(30):
            await ws.send(json.dumps({"v": 1, "id": i, "type": "ping"}))
        codes = [(await _recv_json(ws))["code"] for _ in range(30)]
        assert codes.count(0) <= 12
        assert codes.count(ErrorCode.FREQUENCY_LIMITED) >= 18
        await ws.close()


_frames = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, st.dictionaries(
        st.sampled_from(["v", "id", "type", "roomID", "streamID", "token", "user", "message",
                         "sdp", "toUserIDs", "key", "value", "status", "extraInfo", "command"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                  st.sampled_from(["login", "logout", "publish", "play", "stopPlay", "ping",
                                   "sendBroadcastMessage", "setRoomExtraInfo", "setMicStatus",
                                   "room1", 1]),
                  st.lists(st.text(max_size=5), max_size=3),
                  st.dictionaries(st.sampled_from(["userID", "userName"]),
                                  st.text(max_size=10), max_size=2)),
        max_size=8)),
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frames=st.lists(_frames, min_size=1, max_size=8))
async def test_fuzzed_frames_never_break_the_server(harness: Harness, frames: list[str]) -> None:
    ws = await _raw(harness.url)
    try:
        for frame in frames:
            await ws.send(frame)
        await ws.send(json.dumps({"v": 1, "id": 999999, "type": "ping"}))
        while True:  # the server still answers this socket, in order
            reply = await _recv_json(ws)
            if reply.get("id") == 999999:
                assert reply["code"] in (0, ErrorCode.NOT_LOGIN, ErrorCode.FREQUENCY_LIMITED)
                break
    except websockets.ConnectionClosed:
        pass  # closing a hostile socket is an acceptable answer
    finally:
        await ws.close()
    assert not any(t.done() and not t.cancelled() and t.exception()
                   for t in asyncio.all_tasks())
