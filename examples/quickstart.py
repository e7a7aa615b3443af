#!/usr/bin/env python3
"""Quickstart: ZEGO's multi-user flow in a few lines, runnable anywhere (no devices needed).

    python examples/quickstart.py [--duration 3] [--speaker]

Starts the bundled room server in this process, then two users (alice on a 440 Hz tone,
bob on 660 Hz instead of a microphone) each follow the seed article: create the engine,
listen for roomUserUpdate/roomStreamUpdate, loginRoom with userUpdate, createStream,
startPublishingStream, and startPlayingStream for every stream announced with ADD.
After ``--duration`` seconds each prints what it heard and logs out.  ``--speaker`` also
plays the streams on the default speaker.
"""

import argparse
import asyncio

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET
from mock_server.server import serve_rooms
from zego_py import ZegoExpressEngine, generateToken04
from zego_py.media.sources import ToneSource


async def join(server: str, user_id: str, tone_hz: float, speaker: bool) -> tuple:
    zg = ZegoExpressEngine(DEV_APP_ID, server)
    heard = {}  # streamID -> remote stream

    async def on_stream_update(room_id, update_type, stream_list, extended_data):
        for stream in stream_list:
            if update_type == "ADD":
                heard[stream["streamID"]] = await zg.startPlayingStream(
                    stream["streamID"], {"speaker": speaker})
            else:
                zg.stopPlayingStream(stream["streamID"])

    zg.on("roomUserUpdate", lambda room_id, update_type, users: print(
        f"{user_id}: {update_type} {[u['userID'] for u in users]}"))
    zg.on("roomStreamUpdate", on_stream_update)
    token = generateToken04(DEV_APP_ID, user_id, DEV_SERVER_SECRET, 3600)
    await zg.loginRoom("room1", token, {"userID": user_id}, {"userUpdate": True})
    local_stream = await zg.createStream({"custom": {"source": ToneSource(tone_hz)}})
    zg.startPublishingStream(f"{user_id}_stream", local_stream)
    return zg, heard


async def main(duration: float, speaker: bool) -> None:
    async with serve_rooms() as server:  # the bundled server on 127.0.0.1, any free port
        alice = await join(server, "alice", 440.0, speaker)
        bob = await join(server, "bob", 660.0, speaker)
        await asyncio.sleep(duration)
        for name, (_, heard) in (("alice", alice), ("bob", bob)):
            for stream_id, remote in heard.items():
                print(f"{name} heard {stream_id}: {remote.frames_received} frames, "
                      f"sound level {remote.level:.0f}")
        for zg, _ in (alice, bob):
            await zg.logoutRoom("room1")  # also stops its publishing and playing
            await zg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds to talk")
    parser.add_argument("--speaker", action="store_true", help="play to the speaker too")
    args = parser.parse_args()
    asyncio.run(main(args.duration, args.speaker))
