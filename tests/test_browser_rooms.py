"""zego.js's switchRoom and transparent messages against zego_py engines: a Chromium page
and Python engines in the real server, bytes compared exactly, audio checked by FFT.
tests/test_browser.py has the fixtures and the reasons for the Chromium set-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chromium import browser, write_tone_wav
from conftest import Harness, Recorder, make_token, wait_until
from test_browser import (  # noqa: F401 - fixtures
    WAIT_S,
    Page,
    check_heard,
    check_page_heard,
    collect,
    engine_play,
    isolated,
    join_page,
    playwright,
    publish_tone,
    server_config,
)

pytestmark = pytest.mark.timeout(40)

# every byte value (0x00 too), then a sequence that is not UTF-8 (C3 28, a lone FF FE)
ALL_BYTES = bytes(range(256)) + b"\x00\xc3\x28\xff\xfe\x00"
LONGEST = bytes((i * 7 + 3) % 256 for i in range(4096))  # the server's limit

RECORD_TRANSPARENT = """() => {
    window.transparent = [];
    zegoTest.engine.on('recvRoomTransparentMessage', (roomID, msg) => transparent.push({
        roomID, sendUser: msg.sendUser, uint8: msg.content instanceof Uint8Array,
        bytes: Array.from(msg.content)}));
}"""

# The page's room and media events in emission order, reduced as test_switch_room's summary().
RECORD_ORDER = """() => {
    window.order = [];
    const zg = zegoTest.engine, ids = (list, key) => list.map((x) => x[key]);
    for (const name of ['publisherStateUpdate', 'playerStateUpdate']) {
        zg.on(name, (r) => order.push([name, r.streamID, r.state]));
    }
    for (const name of ['roomStateUpdate', 'roomStateChanged']) {
        zg.on(name, (rid, state, code) => order.push([name, rid, state, code]));
    }
    for (const [name, key] of [['roomUserUpdate', 'userID'], ['roomStreamUpdate', 'streamID']]) {
        zg.on(name, (rid, type, list) => order.push([name, rid, type, ids(list, key)]));
    }
}"""

# page -> engines: {roomID, message with content given as an array of bytes}
SEND = """async ([roomID, bytes, extra]) => {
    const message = {content: new Uint8Array(bytes), ...extra};
    try {
        return await zegoTest.engine.sendTransparentMessage(roomID, message);
    } catch (e) {
        return {rejected: e.code};
    }
}"""


async def page_sends(web: Page, room_id: str, content: bytes, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await web.js(SEND, [room_id, list(content), extra])
    return result


EVENT = "recvRoomTransparentMessage"


async def member(harness: Harness, user_id: str, room_id: str = "room1"
                 ) -> tuple[Any, Recorder]:
    """An engine in ``room_id`` that records its transparent messages too."""
    engine, rec = await harness.joined(user_id, room_id)
    rec.attach(engine, EVENT)
    return engine, rec


def received(rec: Recorder) -> list[tuple[str, str, bytes]]:
    """An engine's recvRoomTransparentMessage events: (roomID, sender, content)."""
    return [(rid, msg["sendUser"]["userID"], msg["content"])
            for rid, msg in rec[EVENT]]


async def test_transparent_messages_carry_any_bytes_between_page_and_engine(
        harness: Harness, playwright: Any, tmp_path: Path) -> None:  # noqa: F811
    py1, rec1 = await member(harness, "py1")
    py2, rec2 = await member(harness, "py2")
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1")
        await web.js(RECORD_TRANSPARENT)

        # engine -> page: the page gets a Uint8Array holding exactly the bytes sent
        web1 = [{"userID": "web1"}]
        for content in (ALL_BYTES, LONGEST):
            reply = await py1.sendTransparentMessage("room1", {"content": content,
                                                               "recvUserList": web1})
            assert reply == {"errorCode": 0, "extendedData": ""}
        await web.page.wait_for_function("window.transparent.length === 2",
                                         timeout=WAIT_S * 1000)
        got = await web.js("window.transparent")
        assert [(m["roomID"], m["sendUser"], m["uint8"], bytes(m["bytes"])) for m in got] == [
            ("room1", {"userID": "py1", "userName": "py1"}, True, ALL_BYTES),
            ("room1", {"userID": "py1", "userName": "py1"}, True, LONGEST)]

        # page -> engines: to py1 alone, then to everyone else; ONLY_SERVER reaches nobody
        ok = {"errorCode": 0, "extendedData": ""}
        assert await page_sends(web, "room1", ALL_BYTES, recvUserList=[{"userID": "py1"}]) == ok
        assert await page_sends(web, "room1", b"\x09", sendMode=1) == ok
        assert await page_sends(web, "room1", LONGEST, sendMode=2, sendType=1, timeOut=5) == ok
        await wait_until(lambda: len(rec1[EVENT]) == 2
                         and len(rec2[EVENT]) == 1,
                         timeout=WAIT_S, what="the page's messages at the engines")
        assert received(rec1) == [("room1", "web1", ALL_BYTES), ("room1", "web1", LONGEST)]
        assert received(rec2) == [("room1", "web1", LONGEST)]

        # ZEGO's codes for bad arguments, before anything is sent
        refusals = [
            (("room1", b""), {}, 1009001),
            (("room1", LONGEST + b"\x00"), {}, 1009002),
            (("room1", b"x"), {"sendMode": 3}, 1100001),
            (("room1", b"x"), {"sendType": 2}, 1100001),
            (("room1", b"x"), {"recvUserList": ["py1"]}, 1100001),
            (("room1", b"x"), {"timeOut": 0}, 1100001),
            (("nowhere", b"x"), {}, 1000002),
        ]
        for (room_id, content), extra, code in refusals:
            assert await page_sends(web, room_id, content, **extra) == {"rejected": code}, extra
        not_bytes = await web.js("zegoTest.engine.sendTransparentMessage('room1', "
                                 "{content: 'text'}).catch((e) => e.code)")
        assert not_bytes == 1100001
        assert len(rec1[EVENT]) == 2
        assert not [c for c in web.console if c.startswith(("error", "pageerror"))], web.console


async def test_page_switches_rooms_while_publishing(
        harness: Harness, playwright: Any, tmp_path: Path) -> None:  # noqa: F811
    py_a, a = await member(harness, "py_a", "room1")
    py_b, b = await member(harness, "py_b", "room2")
    await publish_tone(py_a, a, "s_py_a", 1000.0)
    await publish_tone(py_b, b, "s_py_b", 1380.0)
    candidates = [440.0, 1000.0, 1380.0]
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1")
        await web.wait_for("s.players.s_py_a === 'PLAYING'", "playing s_py_a")
        a_hears_web = await engine_play(py_a, a, "s_web1")
        await web.js(RECORD_ORDER)

        # Refused: the page stays in room1, publishing, and room2 gets LOGINING, LOGIN_FAILED.
        token = make_token("web1")
        switch = ("([from, to, config]) => zegoTest.engine.switchRoom(from, to, config)"
                  ".catch((e) => ({rejected: e.code}))")
        for args, code in ((("room1", "room2", {"token": "garbage"}), 1102016),
                           (("room1", "room2", {}), 1100001),
                           (("room1", "room2", {"token": token, "maxMemberCount": -1}), 1100001),
                           (("room1", "room1", {"token": token}), 1002056),
                           (("room1", "bad/room", {"token": token}), 1002012)):
            await web.js("window.order.length = 0")
            assert await web.js(switch, list(args)) == {"rejected": code}, args
            assert await web.js("window.order") == [
                ["roomStateChanged", args[1], "LOGINING", 0],
                ["roomStateChanged", args[1], "LOGIN_FAILED", code]], args
        assert await web.js(switch, ["nowhere", "room2", {"token": token}]) == {"rejected": 1000002}
        assert (await web.state())["publisherState"] == "PUBLISHING"
        check_heard((await collect(a_hears_web, 75))[-50:], 440.0, candidates)

        # Switched, with the Python engine's order of events.
        await web.js("window.order.length = 0")
        assert await web.js(switch, ["room1", "room2", {"token": token,
                                                        "isUserStatusNotify": True}]) is True
        order = [e for e in await web.js("window.order")
                 if e[:2] != ["playerStateUpdate", "s_py_b"]]  # the page plays what it is ADDed
        assert order == [
            ["publisherStateUpdate", "s_web1", "NO_PUBLISH"],
            ["playerStateUpdate", "s_py_a", "NO_PLAY"],
            ["roomStateUpdate", "room1", "DISCONNECTED", 0],
            ["roomStateChanged", "room1", "LOGOUT", 0],
            ["roomStateUpdate", "room2", "CONNECTING", 0],
            ["roomStateChanged", "room2", "LOGINING", 0],
            ["roomStateUpdate", "room2", "CONNECTED", 0],
            ["roomStateChanged", "room2", "LOGINED", 0],
            ["roomUserUpdate", "room2", "ADD", ["py_b"]],
            ["roomStreamUpdate", "room2", "ADD", ["s_py_b"]],
        ], order

        # room1's engine sees the stream go (reason 1), then the user; its player ends.
        await wait_until(lambda: any(e[1] == "DELETE" for e in a["roomUserUpdate"])
                         and any(e[0]["streamID"] == "s_web1" and e[0]["state"] == "NO_PLAY"
                                 for e in a["playerStateUpdate"]),
                         timeout=WAIT_S, what="web1 leaving room1")
        deletes = [(name, e) for name in ("roomStreamUpdate", "roomUserUpdate")
                   for e in a[name] if e[1] == "DELETE"]
        assert [(n, e[0], [x.get("streamID", x.get("userID")) for x in e[2]])
                for n, e in deletes] == [("roomStreamUpdate", "room1", ["s_web1"]),
                                         ("roomUserUpdate", "room1", ["web1"])]
        assert json.loads(deletes[0][1][3]) == {"stream_delete_reason": [{"code": 1}]}
        await wait_until(lambda: "s_web1" not in harness.server.relay.streams,
                         timeout=WAIT_S, what="the relay dropping s_web1")

        # room2's engine sees web1 arrive; once the page publishes again it hears 440 Hz,
        # and the page hears room2's 1380 Hz.
        await wait_until(lambda: ("room2", "ADD", [{"userID": "web1", "userName": "web1"}])
                         in b["roomUserUpdate"], timeout=WAIT_S, what="web1 at py_b")
        assert not any(s["streamID"] == "s_web1" for e in b["roomStreamUpdate"] for s in e[2])
        assert await web.js("zegoTest.engine.startPublishingStream('s_web1', "
                            "zegoTest.media('s_web1'))") is True
        b_hears_web = await engine_play(py_b, b, "s_web1")
        check_heard((await collect(b_hears_web, 100))[-50:], 440.0, candidates)
        await web.wait_for("s.players.s_py_b === 'PLAYING'", "playing s_py_b")
        check_page_heard(await web.spectrum("s_py_b", candidates, ms=1000), 1380.0,
                         [440.0, 1000.0])

        # Signaling follows the switch: room2's messages reach py_b, under room2.
        await web.js(RECORD_TRANSPARENT)
        assert (await page_sends(web, "room2", ALL_BYTES))["errorCode"] == 0
        await py_b.sendTransparentMessage("room2", {"content": b"\x00back"})
        await wait_until(lambda: received(b) == [("room2", "web1", ALL_BYTES)],
                         timeout=WAIT_S, what="the page's message in room2")
        await web.page.wait_for_function("window.transparent.length === 1",
                                         timeout=WAIT_S * 1000)
        assert [(m["roomID"], bytes(m["bytes"])) for m in await web.js("window.transparent")] \
            == [("room2", b"\x00back")]
        assert not received(a)
        assert not [c for c in web.console if c.startswith(("error", "pageerror"))], web.console
