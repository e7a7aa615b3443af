"""Attacks on the room server (issue 10), each performed over real sockets against a
server with a non-dev secret on 127.0.0.1, in bounded loops.  Every test here failed
before its fix; docs/server.md lists what each attack now gets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from aiortc import RTCPeerConnection
from conftest import LOOPBACK, Recorder, wait_until
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mock_server import ServerConfig
from mock_server.server import RoomServer
from zego_py import ErrorCode, ZegoExpressEngine, generateToken04
from zego_py.media.ice import gathering_on, new_peer_connection

pytestmark = pytest.mark.timeout(60)

APP_ID = 987654321
SECRET = "Zx9!kq2LmN0pR7sT4vW6yB8dF1hJ3gE5"  # not the public dev secret
FAST = {"ping_interval_s": 1.0, "ping_timeout_s": 3.0, "login_deadline_s": 5.0,
        "session_grace_s": 1.0, "dev_mode": False}


def config(**overrides: Any) -> ServerConfig:
    return ServerConfig(app_id=APP_ID, server_secret=SECRET, **{**FAST, **overrides})


def token(user_id: str, seconds: int = 3600, payload: str = "") -> str:
    return generateToken04(APP_ID, user_id, SECRET, seconds, payload)


@contextlib.asynccontextmanager
async def hostile_server(**overrides: Any) -> AsyncIterator[tuple[RoomServer, str]]:
    server = RoomServer(config(**overrides))
    async with server.running("127.0.0.1", 0) as url:
        yield server, url


class Raw:
    """A client that speaks the wire protocol by hand, as an attacker would."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1
        self.pushes: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Raw:
        return cls(await websockets.connect(url, max_size=None, **kwargs))

    async def send(self, kind: str, **body: Any) -> int:
        rid, self.next_id = self.next_id, self.next_id + 1
        await self.ws.send(json.dumps({"v": 1, "id": rid, "type": kind, **body}))
        return rid

    async def reply(self, rid: int, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("type") == "reply" and frame["id"] == rid:
                    return frame
                self.pushes.append(frame)

    async def request(self, kind: str, **body: Any) -> dict[str, Any]:
        return await self.reply(await self.send(kind, **body))

    async def login(self, user_id: str, room_id: str = "room1", tok: str | None = None,
                    **user: Any) -> dict[str, Any]:
        return await self.request("login", roomID=room_id, token=tok or token(user_id),
                                  user={"userID": user_id, **user})

    async def close(self) -> None:
        await self.ws.close()


# ------------------------------------------------------------------ token oracle


def _cbc_token(plain: bytes, *, pad: bool) -> str:
    """A token whose ciphertext decrypts (with the real secret) to ``plain``, padded or not."""
    iv = b"0123456789abcdef"
    if pad:
        padder = padding.PKCS7(128).padder()
        plain = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(SECRET.encode()), modes.CBC(iv)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    binary = struct.pack(">qH", 2_000_000_000, 16) + iv + struct.pack(">H", len(ct)) + ct
    return "04" + base64.b64encode(binary).decode()


async def test_bad_padding_and_bad_json_tokens_get_the_same_reply() -> None:
    bad_padding = _cbc_token(b"x" * 31 + b"\x00", pad=False)  # last byte 0: invalid PKCS7
    bad_json = _cbc_token(b"not json at all", pad=True)
    async with hostile_server() as (_, url):
        replies = []
        for i, tok in enumerate([bad_padding, bad_json, "04!!!!", token("eve")[:-8],
                                 generateToken04(APP_ID + 1, "u3", SECRET, 60)]):
            raw = await Raw.connect(url)
            reply = await raw.login(f"u{i}", tok=tok)
            replies.append((reply["code"], reply["message"]))
            await raw.close()
    assert set(replies) == {(ErrorCode.TOKEN_ERROR, "token error")}, replies


async def test_rapid_bad_logins_are_throttled_per_address_and_per_user() -> None:
    async with hostile_server(login_free_failures=5, login_backoff_base_s=1.0) as (server, url):
        attacker = await Raw.connect(url, local_addr=("127.0.0.2", 0))
        codes = [(await attacker.login("victim", tok=token("victim")[:-8]))["code"]
                 for _ in range(8)]
        assert codes[:5] == [ErrorCode.TOKEN_ERROR] * 5
        assert codes[5:] == [ErrorCode.FREQUENCY_LIMITED] * 3
        # blocked: even a valid token from that address is not looked at
        assert (await attacker.login("someone", tok=token("someone")))["code"] \
            == ErrorCode.FREQUENCY_LIMITED
        # the userID is blocked from every address, other users from a fresh address are not
        other = await Raw.connect(url, local_addr=("127.0.0.3", 0))
        assert (await other.login("victim"))["code"] == ErrorCode.FREQUENCY_LIMITED
        assert (await other.login("bystander"))["code"] == 0
        # exponential: the next failure after the first penalty blocks twice as long
        first = server.login_throttle.blocked_for("address 127.0.0.2")
        assert 0 < first <= 1.0
        await asyncio.sleep(first + 0.05)
        assert (await attacker.login("x", tok="04AAAA"))["code"] == ErrorCode.TOKEN_ERROR
        assert 1.5 < server.login_throttle.blocked_for("address 127.0.0.2") <= 2.0
        await attacker.close()
        await other.close()


async def test_throttle_table_stays_bounded_under_invented_user_ids() -> None:
    async with hostile_server(login_free_failures=10_000, login_throttle_max_keys=50,
                              request_burst=1000, requests_per_s=1000) as (server, url):
        raw = await Raw.connect(url)
        rids = [await raw.send("login", roomID="r", token="04AAAA", user={"userID": f"id{i}"})
                for i in range(300)]
        for rid in rids:
            assert (await raw.reply(rid))["code"] == ErrorCode.TOKEN_ERROR
        assert len(server.login_throttle) <= 50
        await raw.close()


# ------------------------------------------------------------------ invalid Unicode

LONE = "\ud800"  # json.dumps sends it as the escape \ud800, which json.loads accepts


async def real_offer() -> tuple[RTCPeerConnection, str]:
    """A genuine aiortc audio offer (loopback candidates), as a hand-written client has."""
    pc = new_peer_connection()
    pc.addTransceiver("audio", direction="sendonly")
    with gathering_on(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


@contextlib.asynccontextmanager
async def victim_in_room(url: str, user_id: str = "victim"
                         ) -> AsyncIterator[tuple[ZegoExpressEngine, Recorder]]:
    engine = ZegoExpressEngine(APP_ID, url, options=dict(LOOPBACK))
    rec = Recorder()
    rec.attach(engine, "roomStateChanged", "IMRecvBroadcastMessage", "IMRecvCustomCommand",
               "roomUserUpdate", "roomExtraInfoUpdate", "streamExtraInfoUpdate",
               "roomStreamUpdate")
    try:
        await engine.loginRoom("room1", token(user_id), {"userID": user_id},
                               {"userUpdate": True})
        yield engine, rec
    finally:
        await engine.close()


async def test_lone_surrogates_are_rejected_and_the_room_survives() -> None:
    async with hostile_server() as (server, url), victim_in_room(url) as (_, rec):
        victim_conn = next(iter(server.connections.values()))
        attacker = await Raw.connect(url)
        assert (await attacker.login("mallory"))["code"] == 0
        pc, sdp = await real_offer()
        assert (await attacker.request("publish", roomID="room1", streamID="m1",
                                       sdp=sdp))["code"] == 0
        await wait_until(lambda: rec["roomStreamUpdate"], what="victim sees the stream")
        attacks = [
            ("sendBroadcastMessage", {"roomID": "room1", "message": "hi" + LONE}),
            ("sendBarrageMessage", {"roomID": "room1", "message": LONE}),
            ("sendCustomCommand", {"roomID": "room1", "command": LONE, "toUserIDs": []}),
            ("sendCustomCommand", {"roomID": "room1", "command": "x",
                                   "toUserIDs": ["victim" + LONE]}),
            ("setRoomExtraInfo", {"roomID": "room1", "key": "k", "value": LONE}),
            ("setStreamExtraInfo", {"streamID": "m1", "extraInfo": LONE}),
            ("publish", {"roomID": "room1", "streamID": "m2", "extraInfo": LONE, "sdp": sdp}),
        ]
        for n, (kind, body) in enumerate(attacks):
            reply = await attacker.request(kind, **body)
            assert reply["code"] == ErrorCode.INPUT_PARAM_ERROR, (kind, reply)
            assert "Unicode" in reply["message"]
            # the victim keeps its socket and keeps receiving
            await attacker.request("sendBroadcastMessage", roomID="room1", message=f"ok{n}")
            await wait_until(lambda n=n: any(m["message"] == f"ok{n}"  # type: ignore[misc]
                                             for e in rec["IMRecvBroadcastMessage"]
                                             for m in e[1]), what=f"broadcast after {kind}")
            await asyncio.sleep(0.1)  # pacing: 10 broadcasts/s per room
        # a userName with a lone surrogate never enters the room
        intruder = await Raw.connect(url)
        reply = await intruder.login("intruder", userName="bad" + LONE)
        assert reply["code"] == ErrorCode.INPUT_PARAM_ERROR
        assert "intruder" not in {s.user["userID"] for s in server.registry.sessions.values()}
        # nothing reached the room's state, so a later joiner logs in normally
        async with victim_in_room(url, "latecomer") as (_, late):
            assert late["roomStateChanged"][-1][1] == "LOGINED"
        assert victim_conn.ws.state.name == "OPEN"
        assert victim_conn is server.connections.get(victim_conn.key)
        assert not any("RECONNECT" in e[1] for e in rec["roomStateChanged"])
        assert server.registry.streams["m1"].extra_info == ""
        await attacker.close()
        await intruder.close()
        await pc.close()
