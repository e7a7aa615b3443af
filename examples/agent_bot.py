#!/usr/bin/env python3
"""An offline voice agent you can talk to: it hears you, answers, and stops when you talk over it.

    python examples/agent_bot.py                    # bundled server: prints how to join it
    python examples/agent_bot.py --server ws://127.0.0.1:PORT/ws --room room1
    python examples/agent_bot.py --plain ...        # the same agent without pipecat

Join it from the voice-chat example (``python examples/voice_chat.py --server URL --room
ROOM``, the command it prints) or from the browser page the server serves at ``/``.  Speak;
when you pause it answers "I heard you speak for 1.2 seconds" in espeak-ng's voice (Debian
package ``espeak-ng``).  Speak while it answers and it falls silent at once (barge-in).

Voice activity detection is WebRTC's (the ``webrtcvad-wheels`` package, 0.2 MB, no model to
load): 20 ms frames, speech once 100 ms are voiced, the end of a turn after 500 ms of quiet.

With pipecat installed (``pip install -e '.[pipecat]'``) the agent is a pipecat pipeline
on ``zego_py.integrations.pipecat.ZegoTransport`` (docs/agents.md):

    [transport.input(), VADProcessor(WebRTCVADAnalyzer()), CannedAnswer(), transport.output()]

``CannedAnswer`` is the whole "brain": on ``VADUserStartedSpeakingFrame`` it interrupts
(pipecat's ``InterruptionFrame``, which the transport maps to ``AudioSource.clearQueue()``),
on ``VADUserStoppedSpeakingFrame`` it pushes espeak-ng speech as ``TTSAudioRawFrame``s.
To make it a real assistant, put pipecat's cloud services in its place, e.g.::

    stt = DeepgramSTTService(api_key=...)             # pipecat.services.deepgram.stt
    llm = OpenAILLMService(api_key=..., model=...)    # pipecat.services.openai.llm
    tts = CartesiaTTSService(api_key=..., voice_id=...)  # pipecat.services.cartesia.tts
    context = LLMContext([{"role": "system", "content": "You are a helpful voice agent."}])
    pair = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        vad_analyzer=WebRTCVADAnalyzer()))        # the aggregator then runs the VAD itself
    Pipeline([transport.input(), stt, pair.user(), llm, tts, transport.output(),
              pair.assistant()])

(``LLMContext`` and ``LLMContextAggregatorPair`` are in
``pipecat.processors.aggregators``; the user aggregator interrupts the bot when you speak.)
Without pipecat (or with ``--plain``) the same agent runs on the engine directly:
``audioFrames()`` -> VAD -> espeak-ng -> ``AudioSource.captureFrame``, and ``clearQueue()``
on barge-in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import signal
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    import webrtcvad
except ImportError:
    sys.exit("agent_bot needs WebRTC's VAD: pip install -e '.[pipecat]' (or webrtcvad-wheels)")

try:
    import zego_py  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET  # noqa: E402
from mock_server.server import serve_rooms  # noqa: E402
from zego_py import AudioSource, ZegoError, ZegoExpressEngine, generateToken04  # noqa: E402

try:
    import pipecat  # noqa: F401

    HAVE_PIPECAT = True
except ImportError:
    HAVE_PIPECAT = False

ROOM_RATE = 48000
VAD_FRAME_S = 0.02
VAD_AGGRESSIVENESS = 2  # webrtcvad 0 (lenient) .. 3 (strict)
START_S = 0.1  # voiced this long: the person is speaking (and the agent stops)
STOP_S = 0.5  # quiet this long: the turn is over (and the agent answers)


def answer_text(spoken_s: float) -> str:
    return f"I heard you speak for {spoken_s:.1f} seconds."


async def speak(text: str) -> tuple[np.ndarray, int]:
    """espeak-ng's speech for ``text``: int16 mono PCM and its rate (22050 Hz)."""
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", "en-us", "-s", "165", "--stdout", text,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    wav_bytes, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"espeak-ng exited with {proc.returncode}")
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        # espeak-ng streams the WAV, so its header leaves the length open: read to the end
        pcm = np.frombuffer(wav.readframes(sys.maxsize), np.int16)
        return pcm, wav.getframerate()


# ------------------------------------------------------------------ without pipecat
class Turns:
    """Voiced/unvoiced 20 ms frames in, turn events out (the VAD's hysteresis).

    States and what moves them, as a table: (state, voiced) -> (next state, event).
    "started" fires START_S after speech begins, "stopped" STOP_S after it ends.
    """

    TABLE: dict[tuple[str, bool], tuple[str, str | None]] = {
        ("quiet", False): ("quiet", None),
        ("quiet", True): ("starting", None),
        ("starting", False): ("quiet", None),
        ("starting", True): ("starting", None),  # -> speaking after START_S (below)
        ("speaking", True): ("speaking", None),
        ("speaking", False): ("stopping", None),
        ("stopping", True): ("speaking", None),
        ("stopping", False): ("stopping", None),  # -> quiet after STOP_S (below)
    }

    def __init__(self) -> None:
        self.state = "quiet"
        self.run = 0  # frames in the current state
        self.started_at = 0.0

    def step(self, voiced: bool, now: float) -> tuple[str, float] | None:
        state, _ = self.TABLE[(self.state, voiced)]
        self.run = self.run + 1 if state == self.state else 1
        self.state = state
        if state == "starting" and self.run * VAD_FRAME_S >= START_S:
            self.state, self.run = "speaking", 0
            self.started_at = now - START_S
            return "started", 0.0
        if state == "stopping" and self.run * VAD_FRAME_S >= STOP_S:
            self.state, self.run = "quiet", 0
            return "stopped", now - STOP_S - self.started_at
        return None


class PlainAgent:
    """The agent on the engine alone: plays every other stream, answers on its own stream."""

    def __init__(self, engine: ZegoExpressEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id
        self.source = AudioSource(22050, 1, queueSizeMs=30000)  # espeak-ng's rate; a long answer
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.answering: asyncio.Task[None] | None = None
        engine.on("roomStreamUpdate", self._on_streams)  # before login: it reports streams

    async def start(self, stream_id: str) -> None:
        local = await self.engine.createStream({"custom": {"source": self.source}})
        self.engine.startPublishingStream(stream_id, local)

    def _on_streams(self, roomID: str, updateType: str,  # noqa: N803
                    streamList: list[dict[str, Any]], extendedData: str) -> None:  # noqa: N803
        for stream in streamList:
            stream_id = stream["streamID"]
            if stream["user"]["userID"] == self.user_id:
                continue
            if updateType == "ADD" and stream_id not in self.tasks:
                self.tasks[stream_id] = asyncio.ensure_future(self._listen(stream_id))
            elif updateType == "DELETE":
                self.engine.stopPlayingStream(stream_id)

    async def _listen(self, stream_id: str) -> None:
        vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)
        turns = Turns()
        try:
            remote = await self.engine.startPlayingStream(stream_id, {"speaker": False})
            async for pcm in remote.audioFrames():
                event = turns.step(vad.is_speech(pcm.tobytes(), ROOM_RATE), time.monotonic())
                if event and event[0] == "started":
                    self._barge_in()
                elif event:
                    self.answering = asyncio.ensure_future(self._answer(event[1]))
        except ZegoError as exc:
            print(f"cannot play {stream_id}: {exc}", file=sys.stderr, flush=True)
        finally:
            self.tasks.pop(stream_id, None)

    def _barge_in(self) -> None:
        if self.answering is not None:
            self.answering.cancel()
        self.source.clearQueue()

    async def _answer(self, spoken_s: float) -> None:
        text = answer_text(spoken_s)
        pcm, _rate = await speak(text)
        print(f"answering: {text}", flush=True)
        await self.source.captureFrame(pcm)

    async def stop(self) -> None:
        for task in [*self.tasks.values(), *([self.answering] if self.answering else [])]:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


async def run_plain(server: str, room: str, user_id: str, token: str, app_id: int,
                    stream_id: str, stop: asyncio.Event) -> int:
    engine = ZegoExpressEngine(app_id, server)
    agent = PlainAgent(engine, user_id)
    try:
        await engine.loginRoom(room, token, {"userID": user_id, "userName": "Agent"},
                               {"userUpdate": True})
        await agent.start(stream_id)
        print(f"agent {user_id} is in room {room}, publishing {stream_id} (plain)", flush=True)
        await stop.wait()
        return 0
    except ZegoError as exc:
        print(f"loginRoom failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await agent.stop()
        await engine.close()


# ------------------------------------------------------------------ with pipecat
def pipecat_pipeline(transport: Any, on_answer: Callable[[str], None]) -> Any:
    """[input, VAD, CannedAnswer, output]: pipecat's own pieces but for the answer."""
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
    from pipecat.frames.frames import (
        Frame,
        TTSAudioRawFrame,
        TTSStartedFrame,
        TTSStoppedFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

    class WebRTCVADAnalyzer(VADAnalyzer):
        """pipecat's VAD interface on WebRTC's VAD: 20 ms frames, each voiced or not."""

        def __init__(self) -> None:
            super().__init__(params=VADParams(confidence=0.5, start_secs=START_S,
                                              stop_secs=STOP_S, min_volume=0.0))
            self._vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)

        def num_frames_required(self) -> int:
            return int(self.sample_rate * VAD_FRAME_S)

        def voice_confidence(self, buffer: bytes) -> float:
            return 1.0 if self._vad.is_speech(buffer, self.sample_rate) else 0.0

    class CannedAnswer(FrameProcessor):
        """Turns a detected utterance into a spoken answer; interrupts when the user speaks."""

        def __init__(self) -> None:
            super().__init__()
            self._started = 0.0
            self._answer: asyncio.Task[None] | None = None

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if direction != FrameDirection.DOWNSTREAM:
                return
            if isinstance(frame, VADUserStartedSpeakingFrame):
                self._started = time.monotonic() - frame.start_secs
                if self._answer is not None:
                    await self.cancel_task(self._answer)
                    self._answer = None
                await self.broadcast_interruption()  # -> the transport's clearQueue()
            elif isinstance(frame, VADUserStoppedSpeakingFrame):
                spoken = time.monotonic() - frame.stop_secs - self._started
                self._answer = self.create_task(self._say(answer_text(spoken)))

        async def cleanup(self) -> None:
            await super().cleanup()
            if self._answer is not None:
                await self.cancel_task(self._answer)

        async def _say(self, text: str) -> None:
            pcm, rate = await speak(text)
            on_answer(text)
            await self.push_frame(TTSStartedFrame())
            await self.push_frame(TTSAudioRawFrame(audio=pcm.tobytes(), sample_rate=rate,
                                                   num_channels=1))
            await self.push_frame(TTSStoppedFrame())

    return Pipeline([transport.input(), VADProcessor(vad_analyzer=WebRTCVADAnalyzer()),
                     CannedAnswer(), transport.output()])


async def run_pipecat(server: str, room: str, user_id: str, token: str, app_id: int,
                      stream_id: str, stop: asyncio.Event) -> int:
    from loguru import logger
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner

    from zego_py.integrations.pipecat import ZegoParams, ZegoTransport

    logger.remove()  # pipecat logs every frame at DEBUG
    logger.add(sys.stderr, level="INFO")
    transport = ZegoTransport(server=server, appID=app_id, token=token, roomID=room,
                              userID=user_id, params=ZegoParams(
                                  audio_in_enabled=True, audio_out_enabled=True,
                                  audio_in_user_tracks=False,  # one VAD hears the room's mix
                                  audio_out_stream_id=stream_id, user_name="Agent",
                                  audio_out_end_silence_secs=0))

    @transport.event_handler("on_connected")
    async def on_connected(_transport: Any) -> None:
        print(f"agent {user_id} is in room {room}, publishing {stream_id} (pipecat)", flush=True)

    @transport.event_handler("on_participant_joined")
    async def on_joined(_transport: Any, participant: dict[str, Any]) -> None:
        print(f"{participant['id']} joined", flush=True)

    pipeline = pipecat_pipeline(transport, lambda text: print(f"answering: {text}", flush=True))
    worker = PipelineWorker(pipeline, idle_timeout_secs=None, params=PipelineParams(
        audio_in_sample_rate=16000, audio_out_sample_rate=24000))
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.ensure_future(runner.run())
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([run, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if not run.done():
        await worker.cancel()
        await run
    return 0


# ------------------------------------------------------------------ main
async def main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration:
        loop.call_later(args.duration, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        server = args.server or await stack.enter_async_context(serve_rooms())
        if args.server is None:
            http = server.replace("ws://", "http://").removesuffix("/ws")
            print(f"room server at {server}; talk to the agent from another terminal:\n"
                  f"  python examples/voice_chat.py --server {server} --room {args.room}\n"
                  f"or in a browser at {http}/", flush=True)
        token = args.token or generateToken04(args.app_id, args.user, args.secret, 3600)
        stream_id = args.stream or f"{args.user}_main"
        run = run_pipecat if HAVE_PIPECAT and not args.plain else run_plain
        if not HAVE_PIPECAT and not args.plain:
            print("pipecat is not installed: running without it", flush=True)
        return await run(server, args.room, args.user, token, args.app_id, stream_id, stop)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="An offline voice agent: VAD, espeak-ng, barge-in.")
    p.add_argument("--server", help="room server URL (default: a bundled server)")
    p.add_argument("--room", default="room1")
    p.add_argument("--user", default="agent")
    p.add_argument("--stream", help="the agent's streamID (default: USER_main)")
    p.add_argument("--token", help="login token (default: minted with the dev secret)")
    p.add_argument("--app-id", type=int, default=DEV_APP_ID)
    p.add_argument("--secret", default=DEV_SERVER_SECRET)
    p.add_argument("--plain", action="store_true", help="run without pipecat")
    p.add_argument("--duration", type=float, help="leave after S seconds (default: Ctrl-C)")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
