"""Child process: a server to measure from outside (CPU and RSS from /proc/PID).

``python -m bench.server_child --mode zego|mediarelay|echo`` prints ``READY <ws URL>``
and runs until its stdin closes.

- ``zego``: ``RoomServer`` as shipped (the forwarding relay in mock_server/relay.py).
  (mock_server has no ``__main__`` yet; when it gets one this could run that instead.)
- ``mediarelay``: the same RoomServer, rooms and protocol, with the relay swapped for
  ``MediaRelayRelay``: aiortc's ``MediaRelay`` decodes the publisher once and every
  listener's sender re-encodes Opus (the textbook aiortc SFU, the anchor).
- ``echo``: a bare ``websockets`` server echoing each frame (the signaling anchor).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from mock_server import ServerConfig
from mock_server.server import RoomServer
from zego_py.errors import ErrorCode, ZegoError
from zego_py.media.ice import gathering_on, new_peer_connection


def _opus_only(pc: RTCPeerConnection) -> None:
    caps = RTCRtpReceiver.getCapabilities("audio")
    assert caps is not None
    opus = [c for c in caps.codecs if c.mimeType.lower() == "audio/opus"]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio":
            transceiver.setCodecPreferences(opus)


class _Published:
    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.track: MediaStreamTrack | None = None
        self.listeners: dict[int, RTCPeerConnection] = {}


class MediaRelayRelay:
    """Duck-types mock_server.relay.Relay (the calls RoomServer makes) on MediaRelay."""

    def __init__(self, host_addresses: Sequence[str] | None) -> None:
        self.host_addresses = host_addresses
        self.streams: dict[str, _Published] = {}
        self._relay = MediaRelay()

    async def _answer(self, pc: RTCPeerConnection) -> str:
        answer = await pc.createAnswer()
        with gathering_on(self.host_addresses):
            await pc.setLocalDescription(answer)
        return pc.localDescription.sdp

    async def add_publisher(self, stream_id: str, offer_sdp: str) -> str:
        pc = new_peer_connection([])
        published = _Published(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            published.track = track

        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        _opus_only(pc)
        answer = await self._answer(pc)
        self.streams[stream_id] = published
        return answer

    async def remove_publisher(self, stream_id: str) -> None:
        published = self.streams.pop(stream_id, None)
        if published is not None:
            await asyncio.gather(published.pc.close(),
                                 *(pc.close() for pc in published.listeners.values()))

    async def add_listener(self, stream_id: str, key: int, offer_sdp: str) -> str:
        published = self.streams.get(stream_id)
        if published is None or published.track is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        pc = new_peer_connection([])
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        # buffered=False: a slow sender drops frames instead of queueing (the reference's setup).
        pc.addTrack(self._relay.subscribe(published.track, buffered=False))
        _opus_only(pc)
        answer = await self._answer(pc)
        old = published.listeners.pop(key, None)
        published.listeners[key] = pc
        if old is not None:
            await old.close()
        return answer

    async def remove_listener(self, stream_id: str, key: int) -> None:
        published = self.streams.get(stream_id)
        pc = published.listeners.pop(key, None) if published is not None else None
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.remove_publisher(s) for s in list(self.streams)))


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)


async def _echo() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY ws://127.0.0.1:{port}/ws", flush=True)
        await _until_stdin_closes()


async def _room_server(mode: str) -> None:
    config = ServerConfig(requests_per_s=1000.0, request_burst=1000)
    server = RoomServer(config)
    if mode == "mediarelay":
        relay: Any = MediaRelayRelay(config.host_addresses)
        server.relay = relay
    async with server.running("127.0.0.1", 0) as url:
        print(f"READY {url}", flush=True)
        await _until_stdin_closes()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_child")
    parser.add_argument("--mode", choices=("zego", "mediarelay", "echo"), default="zego")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mock_server.http").setLevel(logging.ERROR)  # the dev-token notice
    asyncio.run(_echo() if args.mode == "echo" else _room_server(args.mode))


if __name__ == "__main__":
    main()
