"""Setting up what the measurements measure: child processes, engines and raw peers.

- ``Child``: a bench child process (``python -m bench.<module>``) that prints
  ``READY <info>`` once it is up and exits when its stdin closes, so its CPU and RSS
  can be read from /proc while the parent drives clients.
- ``server_child``: the room server (stock relay, or aiortc's MediaRelay in its place).
- Engine helpers (LOOPBACK options, tokens, publish-and-wait).
- ``CountingListener``: a raw RTCPeerConnection that speaks our signaling protocol and
  counts the RTP packets it gets without decoding them (a cheap listener for fan-out;
  it sees them through ``zego_py.media.rtp_tap.tap_receiver``, as the relay does).
- ``p2p_call``: two RTCPeerConnections in this process, pinned to 127.0.0.1, no STUN.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtp import RtpPacket

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET
from zego_py import ZegoExpressEngine, generateToken04
from zego_py.errors import ErrorCode
from zego_py.media.ice import gathering_on, new_peer_connection
from zego_py.media.pcm import frame_to_mono_int16
from zego_py.media.peer import connect_peer
from zego_py.media.rtp_tap import tap_receiver
from zego_py.signaling import SignalingClient

from .common import proc_cpu_seconds, proc_rss_bytes

__all__ = [
    "LOOPBACK",
    "Child",
    "CountingListener",
    "P2PCall",
    "close_all",
    "joined_engine",
    "listening",
    "make_token",
    "p2p_call",
    "publish",
    "server_child",
    "sleep_until",
]

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"hostAddresses": ["127.0.0.1"], "iceServers": []}
HOSTS = ["127.0.0.1"]


def make_token(user_id: str, seconds: int = 3600) -> str:
    return generateToken04(DEV_APP_ID, user_id, DEV_SERVER_SECRET, seconds, "")


# ---------------------------------------------------------------------- child processes
class Child:
    """A ``python -m bench.<module> ARGS`` child: READY line in, stdin EOF to stop."""

    def __init__(self, module: str, *args: str, ready_timeout: float = 60.0) -> None:
        self.cmd = [sys.executable, "-m", module, *args]
        self.ready_timeout = ready_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.info = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    async def __aenter__(self) -> Child:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd, cwd=str(ROOT), env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(self.proc.stdout.readline(),
                                               self.ready_timeout)).decode()
                if not line:
                    raise RuntimeError(f"{' '.join(self.cmd)} exited before READY")
                if line.startswith("READY"):
                    self.info = line[len("READY"):].strip()
                    return self
        except BaseException:
            await self._stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()  # our own child, by its handle
            await proc.wait()


@contextlib.asynccontextmanager
async def server_child(mode: str = "zego") -> AsyncIterator[tuple[Child, str]]:
    """The room server in a child process; yields (child, ws URL).

    ``mode``: ``zego`` (the stock forwarding relay), ``mediarelay`` (aiortc's MediaRelay
    in the relay's place) or ``echo`` (a bare websockets echo server).
    """
    async with Child("bench.server_child", "--mode", mode) as child:
        yield child, child.info


# ---------------------------------------------------------------------- engines
async def joined_engine(url: str, user_id: str, room_id: str = "bench",
                        user_update: bool = False) -> ZegoExpressEngine:
    engine = ZegoExpressEngine(DEV_APP_ID, url, options=dict(LOOPBACK))
    try:
        await engine.loginRoom(room_id, make_token(user_id), {"userID": user_id},
                               {"userUpdate": user_update})
    except BaseException:
        await engine.close()
        raise
    return engine


async def publish(engine: ZegoExpressEngine, stream_id: str,
                  track: MediaStreamTrack | list[MediaStreamTrack],
                  timeout: float = 10.0, audio_bitrate: int | None = None) -> None:
    """Publish ``track`` and wait until PUBLISHING (raise on failure).

    ``audio_bitrate`` (kbps): createStream's ``audioBitrate``; None keeps the engine's default.
    """
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_state(result: dict[str, Any]) -> None:
        if result["streamID"] == stream_id and not done.done():
            if result["state"] == "PUBLISHING" or result["errorCode"]:
                done.set_result(result)

    engine.on("publisherStateUpdate", on_state)
    try:
        custom: dict[str, Any] = {"source": track}
        if audio_bitrate is not None:
            custom["audioBitrate"] = audio_bitrate
        local = await engine.createStream({"custom": custom})
        engine.startPublishingStream(stream_id, local)
        result = await asyncio.wait_for(done, timeout)
    finally:
        engine.off("publisherStateUpdate", on_state)
    if result["state"] != "PUBLISHING":
        raise RuntimeError(f"publishing {stream_id} failed: {result}")


async def close_all(engines: list[ZegoExpressEngine]) -> None:
    await asyncio.gather(*(e.close() for e in engines), return_exceptions=True)


@contextlib.asynccontextmanager
async def listening(remote: Any, on_frame: Callable[[np.ndarray, float], object]
                    ) -> AsyncIterator[None]:
    """For the body, hand each frame of ``remote.audioFrames()`` and its arrival time
    (``perf_counter()``) to ``on_frame``."""
    async def listen() -> None:
        async for pcm in remote.audioFrames():
            on_frame(pcm, time.perf_counter())

    task = asyncio.create_task(listen())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------- raw peers
def _opus_only(pc: RTCPeerConnection) -> None:
    caps = RTCRtpSender.getCapabilities("audio")
    opus = [c for c in caps.codecs if c.mimeType.lower() == "audio/opus"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(opus)


class CountingListener:
    """A listener with no engine: login + play over our protocol on a raw peer connection.

    By default it counts RTP packets and never decodes (a cheap listener for fan-out);
    with ``decode=True`` it reads the decoded track like a bare aiortc app would and
    counts frames instead, handing each (mono int16 PCM, arrival time) to ``on_frame``.
    ``kind="video"`` receives video instead (packets counted, and ``frames``: packets
    with the marker bit, one per video frame).
    """

    def __init__(self, url: str, user_id: str, room_id: str = "bench",
                 decode: bool = False,
                 on_frame: Callable[[np.ndarray, float], object] | None = None,
                 kind: str = "audio") -> None:
        self.url = url
        self.user_id = user_id
        self.room_id = room_id
        self.decode = decode or on_frame is not None
        self.on_frame = on_frame
        self.kind = kind
        self.packets = 0
        self.frames = 0
        self.link: SignalingClient | None = None
        self.pc: RTCPeerConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                self.packets += 1
                if self.on_frame is not None:
                    self.on_frame(frame_to_mono_int16(frame), time.perf_counter())  # type: ignore[arg-type]

    def _on_packet(self, packet: RtpPacket) -> None:
        if packet.payload:
            self.packets += 1
            self.frames += packet.marker

    async def start(self, stream_id: str) -> None:
        self.link = SignalingClient(self.url, lambda push: None, lambda: None)
        await self.link.connect()
        await self.link.request("login", {
            "roomID": self.room_id, "token": make_token(self.user_id),
            "user": {"userID": self.user_id, "userName": self.user_id},
            "config": {"userUpdate": False, "maxMemberCount": 0}})

        def setup(pc: RTCPeerConnection) -> None:
            transceiver = pc.addTransceiver(self.kind, direction="recvonly")
            if not self.decode:
                tap_receiver(transceiver.receiver, self._on_packet)
                return

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                self._reader = asyncio.create_task(self._read(track))

        link = self.link

        async def exchange(sdp: str) -> dict[str, Any]:
            return await link.request("play", {"streamID": stream_id, "sdp": sdp})

        self.pc = await connect_peer(setup, exchange, ice_servers=[], host_addresses=HOSTS,
                                     failure_code=ErrorCode.PLAY_STREAM_NOT_FOUND)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.pc is not None:
            await self.pc.close()
        if self.link is not None:
            await self.link.close()


class P2PCall:
    """Two peer connections in this process: ``sender_pc`` sends ``track`` to ``receiver_pc``."""

    def __init__(self, sender_pc: RTCPeerConnection, receiver_pc: RTCPeerConnection,
                 remote: asyncio.Future[MediaStreamTrack]) -> None:
        self.sender_pc = sender_pc
        self.receiver_pc = receiver_pc
        self.remote = remote

    async def close(self) -> None:
        await asyncio.gather(self.sender_pc.close(), self.receiver_pc.close())


async def p2p_call(track: MediaStreamTrack) -> P2PCall:
    """Connect a direct aiortc call on 127.0.0.1 (no STUN); returns before media flows.

    ``call.remote`` resolves to the receiving side's track (aiortc's ``track`` event).
    """
    a, b = new_peer_connection([]), new_peer_connection([])
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    @b.on("track")
    def on_track(t: MediaStreamTrack) -> None:
        if not remote.done():
            remote.set_result(t)

    a.addTransceiver(track, direction="sendonly")
    _opus_only(a)
    offer = await a.createOffer()
    with gathering_on(HOSTS):
        await a.setLocalDescription(offer)
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    _opus_only(b)
    answer = await b.createAnswer()
    with gathering_on(HOSTS):
        await b.setLocalDescription(answer)
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    return P2PCall(a, b, remote)


async def sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
