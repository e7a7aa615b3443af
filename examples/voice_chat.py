#!/usr/bin/env python3
"""Multi-party voice chat on zego_py: the ZEGO "multi-user voice chat" flow, in a terminal.

    python examples/voice_chat.py                 # start the bundled server, talk on the mic
    python examples/voice_chat.py --server ws://127.0.0.1:PORT/ws --room R  # 2nd terminal
    python examples/voice_chat.py --bots 2        # two local bots speaking sample voices
    python examples/voice_chat.py --bots 2 --duration 10 --record heard.wav --no-mic
    python examples/voice_chat.py --list-devices  # enumDevices, then exit
    python examples/voice_chat.py --bots 2 --video  # bots also publish a moving test pattern

The flow is the seed article's (and ZEGO's VideoForMultipleUsers sample): create a
``ZegoExpressEngine``; register ``roomStateUpdate``, ``roomUserUpdate``,
``roomStreamUpdate`` and the publisher/player/quality/sound-level handlers; ``loginRoom``
with ``{"userUpdate": True}``; ``createStream`` from the microphone and
``startPublishingStream``; ``startPlayingStream`` for every stream announced with ADD and
``stopPlayingStream`` on DELETE; on leaving, stop everything and ``logoutRoom``.

Without ``--server`` the bundled room server runs in this process on 127.0.0.1 and the
command for a second terminal is printed.  Tokens are minted with ``generateToken04`` and
the development credentials (``--app-id``/``--secret``), or passed with ``--token``.

On a terminal you get a live view (who is in the room, who is speaking, mute state,
connection and quality) and keys: ``m`` mutes/unmutes the microphone, ``q`` leaves
(Ctrl-C too).  When stdout is not a terminal it prints plain log lines instead.  With no
audio devices at all it runs a short listen-only call with two bots (8 s unless
``--duration``), prints a summary and exits 0.

Echo cancellation, noise suppression and gain control run in the engine, on the
microphone stream, when the optional extra is installed (``pip install 'zego_py[aec]'``):
they are ZEGO's ``AEC``/``ANS``/``AGC`` flags of ``createStream``, and the echo reference
is the engine's own speaker mix.  ``--no-aec``, ``--no-ns`` and ``--no-agc`` turn stages
off.  Without the extra, use headphones.

With ``--video`` the bots also publish a ``VideoSource`` test pattern (their frame number
in blocks on a colour that changes every second, ``zego_py.media.video_pattern``), every
stream is played with video, the view shows each stream's size, fps and bitrate, and the
summary says how many frames arrived and whether their numbers came in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent
try:
    import zego_py  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(EXAMPLES.parent))
sys.path[:0] = [str(EXAMPLES), str(EXAMPLES / "assets")]  # chat_view, mixdown, make_samples

from chat_view import ChatState, render, summary  # noqa: E402
from make_samples import VOICES, sample_path  # noqa: E402
from mixdown import MixRecorder  # noqa: E402

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET, ServerConfig  # noqa: E402
from mock_server.server import RoomServer  # noqa: E402
from zego_py import (  # noqa: E402
    FileSource,
    VideoSource,
    ZegoError,
    ZegoExpressEngine,
    generateToken04,
)
from zego_py.media.aec import INSTALL_HINT  # noqa: E402
from zego_py.media.devices import list_devices  # noqa: E402
from zego_py.media.video_pattern import pattern_frame, read_number  # noqa: E402

HEADLESS_BOTS = 2
HEADLESS_DURATION_S = 8.0
TOKEN_SECONDS = 24 * 3600
VIDEO_SIZE, VIDEO_FPS = (320, 240), 15

log = logging.getLogger("voice_chat")


# ---------------------------------------------------------------------- arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Multi-party voice chat on zego_py (ZEGO's multi-user flow).",
        epilog="Keys on a terminal: m = mute/unmute the mic, q = leave.")
    p.add_argument("--server", help="room server URL (ws://host:port/ws); default: start the "
                                    "bundled server on 127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="port for the bundled server (default: any free port)")
    p.add_argument("--room", default="room1", help="room ID (default room1)")
    p.add_argument("--user", help="your user ID (default: user-XXXX)")
    p.add_argument("--name", help="your display name (userName)")
    p.add_argument("--token", help="login token (default: minted with --app-id/--secret)")
    p.add_argument("--app-id", type=int, default=DEV_APP_ID, help="app ID (default: dev ID)")
    p.add_argument("--secret", default=DEV_SERVER_SECRET,
                   help="server secret for minting tokens (default: the dev secret)")
    p.add_argument("--input-device", default="default", help="microphone deviceID")
    p.add_argument("--output-device", default="default", help="speaker deviceID")
    p.add_argument("--list-devices", action="store_true", help="print enumDevices and exit")
    p.add_argument("--source", metavar="FILE", help="publish this audio file (looped) "
                                                    "instead of the microphone")
    p.add_argument("--no-mic", action="store_true", help="listen only: publish nothing")
    p.add_argument("--no-speaker", action="store_true",
                   help="do not play to the speaker (streams are still received and metered)")
    p.add_argument("--bots", type=int, default=None,
                   help="add N local participants speaking sample voices "
                        f"(default 0; {HEADLESS_BOTS} without audio devices)")
    p.add_argument("--duration", type=float, default=None,
                   help="leave after S seconds (default: until q/Ctrl-C; "
                        f"{HEADLESS_DURATION_S:.0f} s without audio devices)")
    p.add_argument("--video", action="store_true",
                   help="bots publish a moving test pattern; play every stream's video")
    p.add_argument("--record", metavar="FILE", help="write what you heard (the mix of the "
                                                    "played streams) to a WAV file")
    p.add_argument("--no-aec", action="store_true", help="no echo cancellation")
    p.add_argument("--no-ns", action="store_true", help="no noise suppression")
    p.add_argument("--no-agc", action="store_true", help="no automatic gain control")
    p.add_argument("--plain", action="store_true",
                   help="plain log lines even on a terminal (no live view)")
    p.add_argument("-v", "--verbose", action="store_true", help="log zego_py's INFO messages")
    args = p.parse_args(argv)
    if args.bots is not None and args.bots < 0:
        p.error("--bots must be >= 0")
    if args.duration is not None and args.duration <= 0:
        p.error("--duration must be positive")
    if args.source and not Path(args.source).is_file():
        p.error(f"--source: no such file: {args.source}")
    return args


def safe_id(text: str) -> str:
    """A stream ID part from any user ID (ZEGO's strict stream charset is [A-Za-z0-9_-])."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:200] or "user"


# ---------------------------------------------------------------------- small helpers
class Keyboard:
    """Single keys from stdin in cbreak mode (Ctrl-C still works), only on a terminal."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self._on_key = on_key
        self._fd: int | None = None
        self._saved: Any = None

    @property
    def enabled(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> Keyboard:
        if not sys.stdin.isatty():
            return self
        import termios
        import tty

        fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        asyncio.get_running_loop().add_reader(fd, self._read)
        self._fd = fd
        return self

    def _read(self) -> None:
        assert self._fd is not None
        data = os.read(self._fd, 64).decode(errors="ignore")
        for ch in data:
            self._on_key(ch.lower())

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        import termios

        asyncio.get_running_loop().remove_reader(self._fd)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._fd = None


class Tasks:
    """Background tasks of the example, cancelled together at the end."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def make_token(args: argparse.Namespace, user_id: str) -> str:
    return generateToken04(args.app_id, user_id, args.secret, TOKEN_SECONDS, "")


# ---------------------------------------------------------------------- bots
class Bot:
    """A local participant: its own engine, publishing a sample voice in a loop."""

    def __init__(self, url: str, args: argparse.Namespace, index: int, suffix: str) -> None:
        self.voice = VOICES[index % len(VOICES)]
        self.user_id = f"bot{index + 1}-{self.voice.name}-{suffix}"
        self.stream_id = f"{self.user_id}_voice"
        self.path = sample_path(index)
        self.engine = ZegoExpressEngine(args.app_id, url)
        self._args = args
        self._painter: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.engine.loginRoom(self._args.room, make_token(self._args, self.user_id),
                                    {"userID": self.user_id,
                                     "userName": self.voice.name.title()})
        source: Any = str(self.path)
        if self._args.video:
            camera = VideoSource(*VIDEO_SIZE, VIDEO_FPS)
            self._painter = asyncio.create_task(self._paint(camera))
            source = [FileSource(str(self.path), loop=True), camera]
        local = await self.engine.createStream({"custom": {"source": source, "loop": True}})
        self.engine.startPublishingStream(self.stream_id, local)

    async def _paint(self, camera: VideoSource) -> None:
        """The test pattern: the frame number in blocks, the colour changing every second."""
        start, number = time.monotonic(), 0
        while True:
            camera.captureFrame(pattern_frame(number, number // VIDEO_FPS % 8, *VIDEO_SIZE))
            number += 1
            await asyncio.sleep(max(0.0, start + number / VIDEO_FPS - time.monotonic()))

    async def stop(self) -> None:
        if self._painter is not None:
            self._painter.cancel()
        await self.engine.close()  # logs out: peers see the user and its stream go


# ---------------------------------------------------------------------- the call
class VoiceChat:
    def __init__(self, args: argparse.Namespace, url: str, plain: bool) -> None:
        self.args = args
        self.url = url
        self.plain = plain
        self.user_id = args.user or f"user-{secrets.token_hex(2)}"
        self.engine = ZegoExpressEngine(args.app_id, url)
        self.state = ChatState(room_id=args.room, user_id=self.user_id,
                               user_name=args.name or "", server=url)
        self.stop = asyncio.Event()
        self.tasks = Tasks()
        self.playing: dict[str, str] = {}  # userID -> streamID being played (playObj)
        self.local: Any = None
        self.recorder: MixRecorder | None = None
        self.logged_in = False
        self.leaving = False

    # -------------------------------------------------------------- output
    def out(self, message: str | None) -> None:
        if message and self.plain:
            print(f"[{self.state.elapsed():5.1f}s] {message}", flush=True)

    # -------------------------------------------------------------- event handlers
    def register_handlers(self) -> None:
        zg, st = self.engine, self.state
        zg.on("roomStateUpdate", self.on_room_state_update)
        zg.on("roomUserUpdate", lambda room, kind, users:
              self.out(st.room_user_update(room, kind, users)))
        zg.on("roomStreamUpdate", self.on_room_stream_update)
        zg.on("publisherStateUpdate", lambda result: self.out(st.publisher_state_update(result)))
        zg.on("playerStateUpdate", lambda result: self.out(st.player_state_update(result)))
        zg.on("publishQualityUpdate", st.publish_quality_update)
        zg.on("playQualityUpdate", st.play_quality_update)
        zg.on("soundLevelUpdate", st.sound_level_update)
        zg.on("capturedSoundLevelUpdate", st.captured_sound_level_update)
        zg.on("remoteMicStatusUpdate", lambda stream_id, status:
              self.out(st.remote_mic_status_update(stream_id, status)))

    def on_room_state_update(self, room_id: str, state: str, error_code: int,
                             extended_data: str) -> None:
        self.out(self.state.room_state_update(room_id, state, error_code, extended_data))
        if state == "DISCONNECTED" and self.logged_in and not self.leaving:
            self.out(self.state.note("lost the room: leaving"))
            self.stop.set()

    def on_room_stream_update(self, room_id: str, update_type: str,
                              streams: list[dict[str, Any]], extended_data: str) -> None:
        for stream in streams:
            stream_id, user_id = stream["streamID"], stream["user"]["userID"]
            if update_type == "ADD":
                old = self.playing.get(user_id)
                if old is not None and old != stream_id:  # the user switched streams
                    self.stop_playing(old)
                self.playing[user_id] = stream_id
                self.tasks.spawn(self.play(stream_id))
            else:
                if self.playing.get(user_id) == stream_id:
                    del self.playing[user_id]
                self.stop_playing(stream_id)
        self.out(self.state.room_stream_update(room_id, update_type, streams, extended_data))

    # -------------------------------------------------------------- playing
    async def play(self, stream_id: str) -> None:
        # The engine mixes every played stream into its one speaker output (the device of
        # useAudioOutputDevice, see run()); that mix is also the echo canceller's reference.
        option = {"speaker": not self.args.no_speaker, "video": self.args.video}
        try:
            remote = await self.engine.startPlayingStream(stream_id, option)
        except ZegoError as exc:
            if not self.leaving:
                self.out(self.state.play_failed(stream_id, str(exc)))
            return
        if self.recorder is not None:
            self.tasks.spawn(self.record(stream_id, remote, self.recorder))
        if self.args.video:
            self.tasks.spawn(self.watch_video(stream_id, remote))

    async def watch_video(self, stream_id: str, remote: Any) -> None:
        """Count the stream's frames and check the test pattern's numbers come in order."""
        last = -1
        async for frame in remote.videoFrames():
            number = read_number(frame)
            self.state.video_frame(stream_id, in_order=number > last)
            last = number

    async def record(self, stream_id: str, remote: Any, recorder: MixRecorder) -> None:
        """Feed the stream's audio to the recording (independent of the speaker)."""
        try:
            async for pcm in remote.audioFrames():
                recorder.add(stream_id, pcm)
        finally:
            recorder.remove(stream_id)

    def stop_playing(self, stream_id: str) -> None:
        self.engine.stopPlayingStream(stream_id)

    # -------------------------------------------------------------- publishing
    def processing_flags(self) -> dict[str, bool]:
        """ZEGO's createStream processing flags (the engine runs them on the microphone)."""
        a = self.args
        return {
            # Nothing reaches a speaker with --no-speaker, so there is no echo to cancel.
            "AEC": not (a.no_aec or a.no_speaker),
            "ANS": not a.no_ns,
            "AGC": not a.no_agc,
        }

    def show_processing(self, flags: dict[str, bool]) -> None:
        """What the engine actually runs on the microphone, for the status line."""
        done = self.local.audioProcessing
        if done:
            self.state.processing = f"{done} (pywebrtc-audio)"
        elif any(flags.values()):
            self.state.processing = "no echo cancellation: use headphones"
            self.warn(f"no echo cancellation ({INSTALL_HINT} adds it): "
                      "use headphones so the others don't hear themselves")
        else:
            self.state.processing = "no processing (--no-aec --no-ns --no-agc)"

    def warn(self, message: str) -> None:
        print(f"note: {message}", file=sys.stderr, flush=True)
        self.state.note(message)

    async def create_local_stream(self, has_mic: bool) -> None:
        a, st = self.args, self.state
        if a.no_mic:
            st.publish_source = ""
            self.out(st.note("listen-only (--no-mic)"))
            return
        if a.source:
            self.local = await self.engine.createStream(
                {"custom": {"source": a.source, "loop": True}})
            st.publish_source = Path(a.source).name
            return
        if not has_mic:
            st.publish_source = ""
            self.warn("no microphone found: carrying on listen-only")
            return
        flags = self.processing_flags()
        try:
            self.local = await self.engine.createStream(
                {"camera": {"audio": True, "video": False, "audioInput": a.input_device,
                            **flags}})
        except ZegoError as exc:
            st.publish_source = ""
            self.warn(f"cannot open the microphone ({exc}): carrying on listen-only")
            return
        st.publish_source = "microphone"
        self.show_processing(flags)

    # -------------------------------------------------------------- keys, signals
    def on_signal(self) -> None:
        if not self.stop.is_set():
            self.out(self.state.note("leaving (Ctrl-C)"))
        self.stop.set()

    def on_key(self, key: str) -> None:
        if key == "q":
            self.out(self.state.note("leaving (q)"))
            self.stop.set()
        elif key == "m":
            if not self.state.publish_source:
                self.out(self.state.note("nothing to mute: listen-only"))
                return
            muted = not self.engine.isMicrophoneMuted()
            self.engine.muteMicrophone(muted)
            if self.local is not None and self.local.kind != "microphone":
                self.engine.mutePublishStreamAudio(self.local, muted)  # a file: mute the stream
            self.out(self.state.set_muted(muted))

    # -------------------------------------------------------------- run
    async def run(self, has_mic: bool, bots: int, duration: float | None) -> int:
        a = self.args
        if a.output_device not in (None, "default"):
            await self.engine.useAudioOutputDevice(None, a.output_device)
        self.register_handlers()
        if a.record:
            self.recorder = MixRecorder(a.record)
            self.state.recording = a.record
            self.tasks.spawn(self.recorder.run())
        token = a.token or make_token(a, self.user_id)
        user: dict[str, str] = {"userID": self.user_id}
        if a.name:
            user["userName"] = a.name
        try:
            await self.engine.loginRoom(a.room, token, user, {"userUpdate": True})
        except ZegoError as exc:
            print(f"loginRoom failed: {exc}", file=sys.stderr)
            await self.shutdown()
            return 1
        self.logged_in = True
        self.engine.setSoundLevelDelegate(True, 500)
        try:
            await self.create_local_stream(has_mic)
        except ZegoError as exc:
            print(f"createStream failed: {exc}", file=sys.stderr)
            await self.engine.logoutRoom(a.room)
            await self.shutdown()
            return 1
        if self.local is not None:
            self.state.publish_stream = f"{safe_id(self.user_id)}_main"
            self.engine.startPublishingStream(self.state.publish_stream, self.local)

        bot_list: list[Bot] = []
        suffix = secrets.token_hex(2)
        for i in range(bots):
            bot = Bot(self.url, a, i, suffix)
            try:
                await bot.start()
            except ZegoError as exc:
                self.warn(f"bot {bot.user_id} could not join: {exc}")
                await bot.stop()
                continue
            bot_list.append(bot)

        with contextlib.ExitStack() as stack:
            keyboard = stack.enter_context(Keyboard(self.on_key))
            self.state.keys_enabled = keyboard.enabled
            if not self.plain:
                from rich.live import Live

                stack.enter_context(Live(get_renderable=lambda: render(self.state),
                                         refresh_per_second=8, transient=False))
            try:
                await asyncio.wait_for(self.stop.wait(), duration)
            except TimeoutError:
                self.out(self.state.note(f"{duration:g} s are up: leaving"))
            await self.leave(bot_list)
        return 0

    async def leave(self, bots: list[Bot]) -> None:
        """The seed's logout: stop publishing and playing, then logoutRoom."""
        for bot in bots:
            await bot.stop()
        if bots:
            await asyncio.sleep(0.3)  # let their DELETEs arrive, for the view and summary
        self.leaving = True
        self.state.left_room = True
        if self.state.publish_stream is not None:
            self.engine.stopPublishingStream(self.state.publish_stream)
        for stream_id in list(self.playing.values()):
            self.engine.stopPlayingStream(stream_id)
        self.playing.clear()
        await self.engine.logoutRoom(self.args.room)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Release everything (also after a failed login)."""
        if self.local is not None:
            self.engine.destroyStream(self.local)
        await self.engine.close()
        await self.tasks.cancel_all()
        if self.recorder is not None:
            self.recorder.close()
            self.state.recording = self.recorder.describe()
        if self.local is not None and "AEC" in self.local.audioProcessing.split("+"):
            stats = self.local.audioProcessingStats
            self.state.processing += (f", echo reference ran dry {stats['render_underruns']}x, "
                                      f"{stats['render_dropped'] / 48000:.2f} s dropped")
        self.state.ended_at = time.monotonic()


# ---------------------------------------------------------------------- entry points
async def list_devices_and_exit(args: argparse.Namespace) -> int:
    engine = ZegoExpressEngine(args.app_id, args.server or "ws://127.0.0.1/ws")
    try:
        found = await engine.enumDevices()
        requirements = await engine.checkSystemRequirements()
    finally:
        await engine.close()
    for kind in ("microphones", "speakers", "cameras"):
        entries = found.get(kind, [])
        print(f"{kind}:")
        if not entries:
            print("  (none)" if kind != "cameras" else "  (none: zego_py is audio-only)")
        for dev in entries:
            print(f"  {dev['deviceID']:>8}  {dev['deviceName']}")
    for what, why in requirements.get("errInfo", {}).items():
        print(f"note: {what}: {why}")
    return 0


async def main_async(args: argparse.Namespace) -> int:
    if args.list_devices:
        return await list_devices_and_exit(args)
    devices = list_devices()
    has_mic, has_speaker = bool(devices["microphones"]), bool(devices["speakers"])
    headless = not has_mic and not has_speaker
    bots = args.bots if args.bots is not None else (HEADLESS_BOTS if headless else 0)
    duration = args.duration if args.duration is not None else (
        HEADLESS_DURATION_S if headless else None)
    plain = args.plain or not sys.stdout.isatty()
    if headless:
        print(f"no audio devices found: a {duration:g} s listen-only call with {bots} bot(s)"
              if duration else f"no audio devices found: listen-only, {bots} bot(s)",
              flush=True)

    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        if args.server:
            url = args.server
        else:
            config = ServerConfig(app_id=args.app_id, server_secret=args.secret)
            url = await stack.enter_async_context(
                RoomServer(config).running("127.0.0.1", args.port))
            join = f"python examples/voice_chat.py --server {url} --room {args.room}"
            if args.app_id != DEV_APP_ID or args.secret != DEV_SERVER_SECRET:
                join += f" --app-id {args.app_id} --secret {args.secret}"
            print(f"room server running at {url}\nto join this room from another terminal:\n"
                  f"  {join}", flush=True)
        chat = VoiceChat(args, url, plain)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, chat.on_signal)
        code = await chat.run(has_mic and not args.no_mic, bots, duration)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if code == 0:
        print(summary(chat.state), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
