#!/usr/bin/env python3
"""Snapshot: join a room and save one frame of each video stream as a PNG.

    python examples/video_snapshot.py                      # self-contained demo
    python examples/video_snapshot.py --server ws://127.0.0.1:PORT/ws --room room1 --out shots

It plays every stream published in the room (video only: ``{"audio": False}``), waits
for its first decoded frame, writes ``<out>/<streamID>.png`` (PyAV's PNG encoder, no
imaging library needed) and prints its size and average colour.  A stream that shows no
frame within ``--wait`` seconds is reported as having no video.  It leaves once every
stream announced at login has been handled.

Without ``--server`` it runs a demo: the bundled server and two bots publishing a
red and a blue ``VideoSource``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

import av
import numpy as np

try:
    import zego_py  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET  # noqa: E402
from mock_server.server import serve_rooms  # noqa: E402
from zego_py import VideoSource, ZegoError, ZegoExpressEngine, generateToken04  # noqa: E402

DEMO_BOTS = {"red_cam": (220, 40, 40), "blue_cam": (40, 60, 220)}


def save_png(frame: av.VideoFrame, path: Path) -> None:
    """Write one frame as PNG with FFmpeg's encoder."""
    rgb = frame.reformat(format="rgb24")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.width, rgb.height, "rgb24"
    path.write_bytes(b"".join(bytes(p) for p in codec.encode(rgb)))


async def snapshot(engine: ZegoExpressEngine, stream_id: str, out: Path, wait: float) -> str:
    """Play ``stream_id`` until its first frame and save it; returns a report line."""
    try:
        remote = await engine.startPlayingStream(stream_id, {"audio": False})
    except ZegoError as exc:
        return f"{stream_id}: cannot play ({exc})"
    try:
        frames = remote.videoFrames(avFrames=True)
        frame = await asyncio.wait_for(anext(aiter(frames)), wait)
    except (TimeoutError, StopAsyncIteration):
        return f"{stream_id}: no video within {wait:.0f} s"
    finally:
        engine.stopPlayingStream(stream_id)
    path = out / f"{stream_id}.png"
    save_png(frame, path)
    mean = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    colour = tuple(int(round(c)) for c in mean)
    return f"{stream_id}: {frame.width}x{frame.height} -> {path} (mean RGB {colour})"


async def take_snapshots(server: str, room: str, user: str, out: Path, wait: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    streams: list[str] = []
    async with ZegoExpressEngine(DEV_APP_ID, server) as engine:
        engine.on("roomStreamUpdate", lambda _room, kind, stream_list, _extra: streams.extend(
            s["streamID"] for s in stream_list) if kind == "ADD" else None)
        token = generateToken04(DEV_APP_ID, user, DEV_SERVER_SECRET, 3600)
        await engine.loginRoom(room, token, {"userID": user})  # ADD events come first
        if not streams:
            print(f"no streams in room {room}")
            return 1
        reports = await asyncio.gather(*(snapshot(engine, s, out, wait) for s in streams))
        print("\n".join(reports))
        await engine.logoutRoom(room)
    return 0 if any("->" in r for r in reports) else 1


async def _paint(source: VideoSource, colour: tuple[int, int, int]) -> None:
    frame = np.empty((source.height, source.width, 3), np.uint8)
    frame[:] = colour
    while True:
        source.captureFrame(frame)
        await asyncio.sleep(1 / source.frameRate)


async def demo(out: Path, wait: float) -> int:
    async with serve_rooms() as server, contextlib.AsyncExitStack() as stack:
        painters = []
        for stream_id, colour in DEMO_BOTS.items():
            bot = await stack.enter_async_context(ZegoExpressEngine(DEV_APP_ID, server))
            user = stream_id.replace("_cam", "")
            await bot.loginRoom("demo", generateToken04(DEV_APP_ID, user, DEV_SERVER_SECRET,
                                                        3600), {"userID": user})
            source = VideoSource(320, 240, 15)
            painters.append(asyncio.create_task(_paint(source, colour)))
            published = asyncio.Event()
            bot.on("publisherStateUpdate",
                   lambda r, ev=published: ev.set() if r["state"] == "PUBLISHING" else None)
            bot.startPublishingStream(stream_id, await bot.createStream(
                {"custom": {"source": source}}))
            await asyncio.wait_for(published.wait(), 10)
        try:
            return await take_snapshots(server, "demo", "snapshotter", out, wait)
        finally:
            for task in painters:
                task.cancel()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", help="room server ws:// URL (omit for the demo)")
    p.add_argument("--room", default="room1")
    p.add_argument("--user", default="snapshotter")
    p.add_argument("--out", type=Path, default=Path("snapshots"))
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for a frame")
    a = p.parse_args()
    if a.server:
        return asyncio.run(take_snapshots(a.server, a.room, a.user, a.out, a.wait))
    return asyncio.run(demo(a.out, a.wait))


if __name__ == "__main__":
    sys.exit(main())
