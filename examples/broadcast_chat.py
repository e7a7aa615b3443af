#!/usr/bin/env python3
"""Room text chat with ZEGO's IM: ``sendBroadcastMessage`` -> ``IMRecvBroadcastMessage``.

    python examples/broadcast_chat.py                   # demo: alice and bob chat, then exit
    python examples/broadcast_chat.py --interactive --user carol    # type lines to send
    python examples/broadcast_chat.py --server ws://127.0.0.1:PORT/ws --interactive --user dave

Demo mode (the default) starts the bundled room server, logs alice and bob in, and plays
a short scripted conversation; each side prints what it receives (the sender never gets
its own broadcast, as in ZEGO).  Exit status 0 once every line arrived.

``--interactive`` logs in one user and sends each line read from stdin (a pipe works too);
without ``--server`` it starts the bundled server and prints the command that joins from
another terminal.  ``/quit`` or end of input leaves; so does ``--duration``.  Broadcasts
are limited to 1 KB and, per user, about 2 a second (error 1009015 beyond).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

try:
    import zego_py  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET  # noqa: E402
from mock_server.server import serve_rooms  # noqa: E402
from zego_py import ZegoError, ZegoExpressEngine, generateToken04  # noqa: E402

SCRIPT = [
    ("alice", "hi bob, can you hear me?"),
    ("bob", "loud and clear, alice"),
    ("alice", "great: the broadcast works"),
    ("bob", "bye!"),
]
SEND_GAP_S = 0.6  # ZEGO allows a user about 2 broadcasts a second


async def chat_user(server: str, room_id: str, user_id: str, app_id: int, secret: str,
                    received: list[tuple[str, str, str]]) -> ZegoExpressEngine:
    """Log a user in; every broadcast it receives is printed and appended to ``received``."""
    zg = ZegoExpressEngine(app_id, server)

    def on_message(room: str, messages: list[dict[str, Any]]) -> None:
        for msg in messages:
            sender = msg["fromUser"]["userID"]
            received.append((user_id, sender, msg["message"]))
            print(f"[{user_id}] <{sender}> {msg['message']}", flush=True)

    def on_users(room: str, update_type: str, users: list[dict[str, Any]]) -> None:
        verb = "joined" if update_type == "ADD" else "left"
        for user in users:
            print(f"[{user_id}] * {user['userID']} {verb}", flush=True)

    zg.on("IMRecvBroadcastMessage", on_message)
    zg.on("roomUserUpdate", on_users)
    token = generateToken04(app_id, user_id, secret, 3600)
    await zg.loginRoom(room_id, token, {"userID": user_id}, {"userUpdate": True})
    return zg


async def send(zg: ZegoExpressEngine, room_id: str, text: str) -> bool:
    try:
        result = await zg.sendBroadcastMessage(room_id, text)
    except ZegoError as exc:
        print(f"not sent ({exc})", file=sys.stderr, flush=True)
        return False
    return result.get("errorCode", 0) == 0


async def demo(server: str, args: argparse.Namespace) -> int:
    received: list[tuple[str, str, str]] = []
    users = {name: await chat_user(server, args.room, name, args.app_id, args.secret, received)
             for name in ("alice", "bob")}
    try:
        for sender, text in SCRIPT:
            print(f"[{sender}] > {text}", flush=True)
            await send(users[sender], args.room, text)
            await asyncio.sleep(SEND_GAP_S)
        expected = {(("bob" if s == "alice" else "alice"), s, t) for s, t in SCRIPT}
        deadline = time.monotonic() + (args.duration or 5.0)
        while not expected <= set(received) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        missing = expected - set(received)
        if missing:
            print(f"{len(missing)} message(s) never arrived", file=sys.stderr)
            return 1
        print(f"all {len(expected)} messages delivered", flush=True)
        return 0
    finally:
        for zg in users.values():
            await zg.logoutRoom(args.room)
            await zg.close()


def read_lines(queue: asyncio.Queue[str | None]) -> None:
    """Put stdin's lines into ``queue`` (None at end of input) from the event loop, without a
    thread that would block exit while waiting for a line."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    pending = b""

    def on_readable() -> None:
        nonlocal pending
        data = os.read(fd, 4096)
        if not data:
            loop.remove_reader(fd)
            if pending:
                queue.put_nowait(pending.decode(errors="replace"))
            queue.put_nowait(None)
            return
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            queue.put_nowait(line.decode(errors="replace").rstrip("\r"))

    loop.add_reader(fd, on_readable)


async def interactive(server: str, args: argparse.Namespace) -> int:
    received: list[tuple[str, str, str]] = []
    try:
        zg = await chat_user(server, args.room, args.user, args.app_id, args.secret, received)
    except ZegoError as exc:
        print(f"loginRoom failed: {exc}", file=sys.stderr)
        return 1
    print(f"[{args.user}] in room {args.room}: type a line and Enter to send, /quit to leave",
          flush=True)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    read_lines(lines)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = await asyncio.wait_for(lines.get(), timeout)
            except TimeoutError:
                break
            if line is None or line.strip() == "/quit":
                break
            if line.strip():
                await send(zg, args.room, line)
                await asyncio.sleep(SEND_GAP_S)  # stay under the per-user rate
    finally:
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        await zg.logoutRoom(args.room)
        await zg.close()
    return 0


async def main(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        server = args.server
        if server is None:
            server = await stack.enter_async_context(serve_rooms("127.0.0.1", args.port))
            if args.interactive:
                print(f"to join from another terminal:\n  python examples/broadcast_chat.py "
                      f"--server {server} --room {args.room} --interactive --user someone",
                      flush=True)
        if args.interactive:
            return await interactive(server, args)
        return await demo(server, args)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Room text chat with broadcast messages.")
    p.add_argument("--server", help="room server URL (default: the bundled server)")
    p.add_argument("--port", type=int, default=0, help="port for the bundled server")
    p.add_argument("--room", default="room1")
    p.add_argument("--user", default="me", help="your user ID (--interactive)")
    p.add_argument("--interactive", action="store_true", help="send lines read from stdin")
    p.add_argument("--app-id", type=int, default=DEV_APP_ID)
    p.add_argument("--secret", default=DEV_SERVER_SECRET)
    p.add_argument("--duration", type=float, default=None,
                   help="leave after S seconds (demo: wait at most S s for delivery)")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
