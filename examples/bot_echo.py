#!/usr/bin/env python3
"""Echo bot: plays back what it hears, through ``audioFrames()`` -> ``AudioSource.captureFrame``.

    python examples/bot_echo.py                      # self-contained demo (bundled server)
    python examples/bot_echo.py --server ws://127.0.0.1:PORT/ws --room room1 --duration 60

The bot logs in, and for every stream announced in the room it starts playing it (to code
only, no speaker), then republishes the audio ``--delay`` seconds later as
``echo_<streamID>``.  Streams whose ID starts with ``echo_`` are not echoed (two bots
would otherwise echo each other forever).  When a stream ends, so does its echo.

Without ``--server`` it runs a demo: the bundled server, a "talker" publishing a 523 Hz
tone, the bot, and a listener that plays ``echo_talker`` and reports the frequency and
level it heard (exit status 1 if it heard no echo).  Ctrl-C (or ``--duration``) leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import zego_py  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET  # noqa: E402
from mock_server.server import serve_rooms  # noqa: E402
from zego_py import AudioSource, ZegoError, ZegoExpressEngine, generateToken04  # noqa: E402
from zego_py.media.sources import ToneSource  # noqa: E402

RATE = 48000
ECHO_PREFIX = "echo_"


class EchoBot:
    """One engine; one echo stream per stream it hears."""

    def __init__(self, server: str, room_id: str, user_id: str, token: str,
                 delay_s: float, app_id: int = DEV_APP_ID) -> None:
        self.engine = ZegoExpressEngine(app_id, server)
        self.room_id = room_id
        self.user_id = user_id
        self.token = token
        self.delay_s = delay_s
        self.echoes: dict[str, asyncio.Task[None]] = {}
        self._publishing: dict[str, asyncio.Event] = {}

    async def start(self) -> None:
        self.engine.on("roomStreamUpdate", self._on_stream_update)
        self.engine.on("publisherStateUpdate", self._on_publisher_state)
        await self.engine.loginRoom(self.room_id, self.token,
                                    {"userID": self.user_id, "userName": "Echo bot"},
                                    {"userUpdate": True})
        print(f"echo bot {self.user_id} is in room {self.room_id}", flush=True)

    def _on_stream_update(self, room_id: str, update_type: str,
                          streams: list[dict[str, Any]], extended_data: str) -> None:
        for stream in streams:
            stream_id = stream["streamID"]
            if stream_id.startswith(ECHO_PREFIX):
                continue
            if update_type == "ADD" and stream_id not in self.echoes:
                self.echoes[stream_id] = asyncio.ensure_future(self._echo(stream_id))
            elif update_type == "DELETE":
                self.engine.stopPlayingStream(stream_id)  # ends audioFrames(): the echo stops

    def _on_publisher_state(self, result: dict[str, Any]) -> None:
        if result["state"] == "PUBLISHING" and result["streamID"] in self._publishing:
            self._publishing[result["streamID"]].set()

    async def _echo(self, stream_id: str) -> None:
        echo_id = (ECHO_PREFIX + stream_id)[:256]
        local = None
        try:
            remote = await self.engine.startPlayingStream(stream_id, {"speaker": False})
            source = AudioSource(RATE, 1, queueSizeMs=int(self.delay_s * 1000) + 500)
            local = await self.engine.createStream({"custom": {"source": source}})
            self._publishing[echo_id] = asyncio.Event()
            self.engine.startPublishingStream(echo_id, local)
            await asyncio.wait_for(self._publishing[echo_id].wait(), 10)
            print(f"echoing {stream_id} as {echo_id}", flush=True)
            if self.delay_s > 0:  # the delay is silence queued ahead of the first frame
                await source.captureFrame(np.zeros(int(self.delay_s * RATE), np.int16))
            async for pcm in remote.audioFrames():
                await source.captureFrame(pcm)
            print(f"{stream_id} ended: stopping {echo_id}", flush=True)
        except (ZegoError, TimeoutError) as exc:
            print(f"cannot echo {stream_id}: {exc}", file=sys.stderr, flush=True)
        finally:
            self._publishing.pop(echo_id, None)
            self.echoes.pop(stream_id, None)
            self.engine.stopPublishingStream(echo_id)
            if local is not None:
                self.engine.destroyStream(local)

    async def stop(self) -> None:
        for task in list(self.echoes.values()):
            task.cancel()
        await asyncio.gather(*self.echoes.values(), return_exceptions=True)
        await self.engine.logoutRoom(self.room_id)
        await self.engine.close()


def dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    return float(np.argmax(spectrum[1:]) + 1) * RATE / pcm.size


async def demo(server: str, room_id: str, bot: EchoBot, duration: float) -> int:
    """A talker publishes a tone; a listener plays the bot's echo of it and measures it."""
    talker = ZegoExpressEngine(DEV_APP_ID, server)
    listener = ZegoExpressEngine(DEV_APP_ID, server)
    echo_added = asyncio.Event()
    listener.on("roomStreamUpdate", lambda room, kind, streams, ext: echo_added.set()
                if kind == "ADD" and any(s["streamID"] == "echo_talker" for s in streams)
                else None)
    code = 1
    try:
        for engine, user in ((talker, "talker"), (listener, "listener")):
            token = generateToken04(DEV_APP_ID, user, DEV_SERVER_SECRET, 3600)
            await engine.loginRoom(room_id, token, {"userID": user}, {"userUpdate": True})
        tone = await talker.createStream({"custom": {"source": ToneSource(523.25, 0.3)}})
        started = time.monotonic()
        talker.startPublishingStream("talker", tone)
        await asyncio.wait_for(echo_added.wait(), 10)
        remote = await listener.startPlayingStream("echo_talker", {"speaker": False})
        heard: list[np.ndarray] = []
        first_loud: float | None = None
        async with asyncio.timeout(max(duration, 3.0)):
            async for pcm in remote.audioFrames():
                if np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300:
                    first_loud = first_loud or time.monotonic() - started
                    heard.append(pcm)
                if len(heard) >= 50:  # one second of echo
                    break
        if heard:
            pcm = np.concatenate(heard)
            rms = 20 * np.log10(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) / 32768)
            print(f"listener heard echo_talker: {dominant_hz(pcm):.0f} Hz at {rms:.1f} dBFS, "
                  f"first audible {first_loud:.2f} s after the talker started", flush=True)
            code = 0
    except TimeoutError:
        pass
    finally:
        for engine in (talker, listener):
            await engine.close()
    if code:
        print("listener heard no echo", file=sys.stderr)
    return code


async def main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        server = args.server or await stack.enter_async_context(serve_rooms())
        token = args.token or generateToken04(args.app_id, args.user, args.secret, 3600)
        bot = EchoBot(server, args.room, args.user, token, args.delay, args.app_id)
        try:
            await bot.start()
        except ZegoError as exc:
            print(f"loginRoom failed: {exc}", file=sys.stderr)
            return 1
        try:
            if args.server is None:
                return await demo(server, args.room, bot, args.duration or 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
            return 0
        finally:
            await bot.stop()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Echo bot: republishes every stream it hears.")
    p.add_argument("--server", help="room server URL (default: demo on the bundled server)")
    p.add_argument("--room", default="room1")
    p.add_argument("--user", default="echo-bot")
    p.add_argument("--token", help="login token (default: minted with the dev secret)")
    p.add_argument("--app-id", type=int, default=DEV_APP_ID)
    p.add_argument("--secret", default=DEV_SERVER_SECRET)
    p.add_argument("--delay", type=float, default=0.5, help="echo delay in seconds (0.5)")
    p.add_argument("--duration", type=float, default=None,
                   help="leave after S seconds (default: until Ctrl-C; the demo: 5 s at most)")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
