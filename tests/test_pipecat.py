"""The pipecat transport in a real pipecat pipeline, on the real room server over 127.0.0.1.

A bot runs ``[transport.input(), Repeat(), transport.output()]`` (pipecat's output plays
only ``OutputAudioRawFrame``s, so something must turn what it hears into speech; here that
is the audio itself).  A talker publishes 600 Hz and a listener plays both the talker's
stream and the bot's: the bot's is 600 Hz (FFT), and its onset trails the talker's by the
round trip through the bot, which is printed as a figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from audio_helpers import dominant_frequency, sine, tone_amplitude
from conftest import LOOPBACK, Harness, make_token, wait_until
from ear import Ear

from mock_server import DEV_APP_ID

pytest.importorskip("pipecat", reason="pipecat-ai is not installed (the `pipecat` extra)")

from pipecat.frames.frames import (  # noqa: E402
    BotConnectedFrame,
    ClientConnectedFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportReadyFrame,
    UserAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

from zego_py import AudioSource, ToneSource  # noqa: E402
from zego_py.integrations.pipecat import (  # noqa: E402
    ZegoParams,
    ZegoTransport,
    _RoomAudioConverter,
    _StreamMixer,
)

pytestmark = pytest.mark.timeout(40)

RATE = 48000
FRAME = 960  # 20 ms
TONE_HZ = 600.0
AUDIBLE = 0.02  # tone amplitude (fraction of full scale) that counts as heard
QUEUE_MS = 400  # the interruption test's AudioSource queue: what a missed clearQueue would play


class Repeat(FrameProcessor):
    """Says what it hears: each ``InputAudioRawFrame`` becomes an ``OutputAudioRawFrame``."""

    def __init__(self) -> None:
        super().__init__()
        self.users: set[str] = set()
        self.kinds: set[type] = set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.kinds.add(type(frame))
            if isinstance(frame, UserAudioRawFrame):
                self.users.add(frame.user_id)
            await self.push_frame(OutputAudioRawFrame(
                audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels))
        else:
            await self.push_frame(frame, direction)


class FrameTypes(FrameProcessor):
    """Passes every frame on, noting the type of each that goes downstream."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[type] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.seen.append(type(frame))
        await self.push_frame(frame, direction)


def bot_transport(url: str, user_id: str = "bot", **params: Any) -> ZegoTransport:
    return ZegoTransport(server=url, appID=DEV_APP_ID, token=make_token(user_id), roomID="room1",
                         userID=user_id, params=ZegoParams(
                             audio_in_enabled=True, audio_out_enabled=True,
                             audio_out_end_silence_secs=0, engine_options=dict(LOOPBACK),
                             **params))


@contextlib.asynccontextmanager
async def running(*processors: FrameProcessor, rate_in: int = 16000, rate_out: int = 16000,
                  errors: list[str] | None = None) -> AsyncIterator[PipelineWorker]:
    """A pipecat pipeline run by a WorkerRunner (PipelineRunner's 1.14 name) until cancelled;
    ``errors`` collects the pipeline's error messages."""
    worker = PipelineWorker(Pipeline(list(processors)), idle_timeout_secs=None,
                            params=PipelineParams(audio_in_sample_rate=rate_in,
                                                  audio_out_sample_rate=rate_out))
    if errors is not None:
        worker.add_event_handler("on_pipeline_error", lambda _w, frame: errors.append(frame.error))
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.ensure_future(runner.run())
    try:
        yield worker
    finally:
        await worker.cancel()
        await asyncio.wait_for(run, 10)


def tone_heard(pcm: np.ndarray) -> bool:
    return tone_amplitude(pcm, RATE, TONE_HZ, 60.0) > AUDIBLE


def onset(ear: Ear, stream_id: str, after: float) -> float | None:
    """When the tone became audible in ``stream_id`` (after ``after``), or None."""
    times = ear.times(stream_id, after, float("inf"), tone_heard)
    return times[0] if times else None


async def push_paced(source: AudioSource, tone_from: float, until: float) -> None:
    """Real-time 20 ms frames: silence, then 600 Hz from ``tone_from`` (monotonic seconds)."""
    start = time.monotonic()
    n = 0
    while (now := time.monotonic()) < until:
        pcm = (sine(TONE_HZ, FRAME, amplitude=0.3, start=n * FRAME) if now >= tone_from
               else np.zeros(FRAME, np.int16))
        await source.captureFrame(pcm)
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))


async def test_pipeline_repeats_what_it_hears_at_600_hz(harness: Harness) -> None:
    transport = bot_transport(harness.url)
    repeat = Repeat()
    listener, heard_of = await harness.joined("listener")
    talker, _ = await harness.joined("talker")
    ear = Ear(listener)
    try:
        async with running(transport.input(), repeat, transport.output()):
            bot_stream = "bot_main"
            await wait_until(lambda: bot_stream in heard_of.streams(), 15, "bot's stream")
            ear.play(bot_stream)
            source = AudioSource(RATE, 1)
            talker.startPublishingStream("talker", await talker.createStream(
                {"custom": {"source": source}}))
            await wait_until(lambda: "talker" in heard_of.streams(), 10, "talker's stream")
            ear.play("talker")
            # silence until both the bot and the listener surely play the talker, then the tone
            tone_from = time.monotonic() + 2.0
            pusher = asyncio.ensure_future(push_paced(source, tone_from, tone_from + 3.0))
            await wait_until(lambda: onset(ear, bot_stream, tone_from) is not None, 10,
                             "the bot repeating the tone")
            await asyncio.sleep(1.2)
            pusher.cancel()
            talker_on = onset(ear, "talker", tone_from)
            bot_on = onset(ear, bot_stream, tone_from)
            assert talker_on is not None and bot_on is not None
            heard = ear.pcm(bot_stream, bot_on + 0.1, bot_on + 1.1)
            freq = dominant_frequency(heard, RATE, 100)
            round_trip_ms = (bot_on - talker_on) * 1000
            print(f"\nFIGURE pipecat round trip (talker -> bot pipeline -> listener, beyond the "
                  f"direct path): {round_trip_ms:.0f} ms; bot's stream {freq:.1f} Hz")
            assert abs(freq - TONE_HZ) < 5, freq
            assert tone_amplitude(heard, RATE, TONE_HZ, 60.0) > 0.1  # repeated at level
            assert 0 < round_trip_ms < 400, round_trip_ms
            assert repeat.users == {"talker"}  # the listener publishes nothing; never itself
    finally:
        await ear.close()



async def test_room_events_reach_the_transports_handlers(harness: Harness) -> None:
    early, _ = await harness.joined("early")  # in the room before the bot: announced at login
    transport = bot_transport(harness.url)
    seen: list[tuple[str, Any]] = []
    for name in ("on_connected", "on_participant_joined", "on_first_participant_joined",
                 "on_participant_left", "on_client_disconnected", "on_audio_track_subscribed",
                 "on_participant_connected", "on_participant_disconnected",
                 "on_audio_track_unsubscribed", "on_disconnected"):
        transport.add_event_handler(name, lambda _t, *args, _n=name: seen.append((_n, args)))
    frames = FrameTypes()
    async with running(transport.input(), frames, transport.output()):
        await wait_until(lambda: ("on_connected", ()) in seen, 10, "on_connected")
        late, _ = await harness.joined("late")
        late.startPublishingStream("late_main", await late.createStream(
            {"custom": {"source": AudioSource(RATE, 1)}}))
        await wait_until(lambda: any(n == "on_audio_track_subscribed" for n, _ in seen), 10,
                         "the bot playing late's stream")
        await early.logoutRoom("room1")
        await wait_until(lambda: any(n == "on_participant_left" for n, _ in seen), 10,
                         "early leaving")
        assert transport.get_participants() == ["late"]
        late.stopPublishingStream("late_main")
        await wait_until(lambda: ("on_audio_track_unsubscribed", ("late",)) in seen, 10,
                         "the bot stopping late's stream")
    assert seen[-1] == ("on_disconnected", ())  # the pipeline's end left the room
    # and the frames pipecat's observers expect: the bot in, then a client per user
    assert frames.seen.count(BotConnectedFrame) == 1
    assert frames.seen.count(ClientConnectedFrame) == 2  # early (at start) and late
    joined = [args[0]["id"] for n, args in seen if n == "on_participant_joined"]
    assert joined == ["early", "late"]
    assert [args for n, args in seen if n == "on_first_participant_joined"] == [
        ({"id": "early", "info": {"userName": "early"}},)]
    assert ("on_participant_left", ({"id": "early", "info": {"userName": "early"}}, "left")) in seen
    assert ("on_client_disconnected", ({"id": "early", "info": {"userName": "early"}},)) in seen
    assert ("on_audio_track_subscribed", ("late",)) in seen
    # LiveKit's names and argument (the identity), in the order users came and went
    assert [args for n, args in seen if n == "on_participant_connected"] == [("early",), ("late",)]
    assert [args for n, args in seen if n == "on_participant_disconnected"] == [("early",)]


async def tones_through_the_bot(harness: Harness, **params: Any) -> tuple[np.ndarray, Repeat]:
    """A 600 Hz user "low" and a 1500 Hz user "high"; one second of the bot's stream."""
    transport = bot_transport(harness.url, **params)
    repeat = Repeat()
    listener, heard_of = await harness.joined("listener")
    ear = Ear(listener)
    try:
        async with running(transport.input(), repeat, transport.output()):
            for user, hz in (("low", TONE_HZ), ("high", 1500.0)):
                engine, _ = await harness.joined(user)
                engine.startPublishingStream(f"{user}_main", await engine.createStream(
                    {"custom": {"source": ToneSource(hz, 0.3)}}))
            await wait_until(lambda: "bot_main" in heard_of.streams(), 15, "bot's stream")
            ear.play("bot_main")
            start = time.monotonic()
            await wait_until(lambda: onset(ear, "bot_main", start) is not None, 10,
                             "the bot repeating low's tone")
            on = onset(ear, "bot_main", start)
            assert on is not None
            await asyncio.sleep(1.8)  # high's stream is played too, if it is to be
            return ear.pcm("bot_main", on + 0.6, on + 1.6), repeat
    finally:
        await ear.close()


async def test_input_plays_only_the_users_named_in_the_params(harness: Harness) -> None:
    heard, repeat = await tones_through_the_bot(harness, audio_in_users=["low"])
    assert tone_amplitude(heard, RATE, TONE_HZ, 60.0) > 0.1
    assert tone_amplitude(heard, RATE, 1500.0, 60.0) < 0.005  # high is not played
    assert repeat.users == {"low"} and repeat.kinds == {UserAudioRawFrame}


async def test_input_mixes_the_room_into_one_stream(harness: Harness) -> None:
    heard, repeat = await tones_through_the_bot(harness, audio_in_user_tracks=False)
    low, high = (tone_amplitude(heard, RATE, hz, 60.0) for hz in (TONE_HZ, 1500.0))
    assert low > 0.1 and high > 0.1 and abs(low - high) < 0.1, (low, high)  # both, at level
    assert repeat.kinds == {InputAudioRawFrame}  # one untagged stream, not per-user frames


def test_mixer_sums_frames_in_step_and_leaves_a_silent_stream_out() -> None:
    mixer = _StreamMixer()
    a, b = np.full(FRAME, 1000, np.int16), np.full(FRAME, 30000, np.int16)
    assert len(mixer.add("a", a)) == 1  # alone in the mix so far: straight through
    assert mixer.add("b", b) == []  # now b's frame waits for a's
    [mixed] = mixer.add("a", a)
    assert mixed.min() == mixed.max() == 31000
    assert mixer.add("a", b) == []
    [clipped] = mixer.add("b", b)
    assert clipped.min() == 32767
    out = [mixer.add("a", a) for _ in range(4)]  # b goes quiet: after 60 ms a plays alone
    assert [len(x) for x in out] == [0, 0, 3, 1]
    assert all(f.max() == 1000 for x in out for f in x)


class Speaker(FrameProcessor):
    """Pushes ``seconds`` of 600 Hz at once on the StartFrame: a TTS far ahead of real time."""

    def __init__(self, seconds: float, rate: int) -> None:
        super().__init__()
        self.seconds, self.rate = seconds, rate
        self.started = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, OutputTransportReadyFrame):
            pcm = sine(TONE_HZ, int(self.seconds * self.rate), self.rate, 0.3)
            await self.push_frame(OutputAudioRawFrame(audio=pcm.tobytes(), sample_rate=self.rate,
                                                      num_channels=1))
            self.started.set()


async def test_interruption_clears_the_published_audio(harness: Harness) -> None:
    transport = bot_transport(harness.url, audio_out_queue_size_ms=QUEUE_MS)
    speaker = Speaker(6.0, 24000)
    listener, heard_of = await harness.joined("listener")
    ear = Ear(listener)
    try:
        async with running(speaker, transport.output(), rate_out=24000) as worker:
            await wait_until(lambda: "bot_main" in heard_of.streams(), 15, "bot's stream")
            ear.play("bot_main")
            await wait_until(lambda: onset(ear, "bot_main", 0) is not None, 10, "the tone")
            await asyncio.sleep(1.0)
            interrupted = time.monotonic()
            await worker.queue_frame(InterruptionFrame())
            await asyncio.sleep(1.5)
        loud = ear.times("bot_main", 0, float("inf"), tone_heard)
        stop_ms = (max(loud) + 0.02 - interrupted) * 1000
        print(f"\nFIGURE pipecat InterruptionFrame -> bot silent at the listener: {stop_ms:.0f} ms "
              f"(the AudioSource held up to {QUEUE_MS} ms)")
        assert loud[0] < interrupted - 0.9  # it did speak
        assert stop_ms < QUEUE_MS - 100, stop_ms  # cleared, not played out
    finally:
        await ear.close()


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (24000, 2), (48000, 1)])
def test_room_audio_reaches_pipecat_at_its_rate_without_delay(rate: int, channels: int) -> None:
    """48 kHz mono frames to pipecat's rate and channels: same tone, same timing (< 2 ms)."""
    converter = _RoomAudioConverter(rate, channels)
    room = np.concatenate([np.zeros(RATE // 2, np.int16), sine(TONE_HZ, RATE // 2, amplitude=0.3)])
    out = b"".join(converter.convert(room[i:i + FRAME]) for i in range(0, room.size, FRAME))
    pcm = np.frombuffer(out, np.int16).reshape(-1, channels)
    assert abs(pcm.shape[0] - rate) <= rate * 0.002  # what is held back: under 2 ms
    for ch in range(channels):
        assert abs(dominant_frequency(pcm[rate // 2:, ch], rate) - TONE_HZ) < 2
        onset = int(np.argmax(np.abs(pcm[:, ch]) > 1000))
        assert abs(onset - rate // 2) <= rate * 0.002, onset / rate


async def test_end_frame_lets_the_room_hear_the_whole_answer(harness: Harness) -> None:
    transport = bot_transport(harness.url)
    speaker = Speaker(1.0, 24000)
    listener, heard_of = await harness.joined("listener")
    ear = Ear(listener)
    try:
        async with running(speaker, transport.output(), rate_out=24000) as worker:
            await wait_until(lambda: "bot_main" in heard_of.streams(), 15, "bot's stream")
            ear.play("bot_main")
            await asyncio.wait_for(speaker.started.wait(), 10)
            await worker.queue_frame(EndFrame())  # right behind the whole second of tone
            await wait_until(lambda: worker.has_finished(), 10, "the pipeline ending")
        loud = ear.times("bot_main", 0, float("inf"), tone_heard)
        assert loud, "the listener heard nothing"
        heard_s = loud[-1] + 0.02 - loud[0]
        assert 0.9 < heard_s < 1.15, heard_s  # all of it, once
    finally:
        await ear.close()


async def test_a_stream_id_taken_is_a_pipeline_error(harness: Harness) -> None:
    squatter, _ = await harness.joined("squatter")
    squatter.startPublishingStream("bot_main", await squatter.createStream(
        {"custom": {"source": ToneSource(440)}}))
    await asyncio.sleep(0.5)
    transport = bot_transport(harness.url)
    errors: list[str] = []
    async with running(transport.output(), errors=errors):
        await wait_until(lambda: bool(errors), 15, "the pipeline error")
    assert "cannot publish bot_main: error 1003028" in errors[0], errors  # ZEGO: ID in use


def _peer_connections(*states: str) -> int:
    """Live aiortc peer connections in this process in one of ``states``."""
    from aiortc import RTCPeerConnection
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, RTCPeerConnection) and o.connectionState in states)


OPEN = ("new", "connecting", "connected", "disconnected", "failed")


async def test_five_pipeline_runs_leave_no_tasks_or_peer_connections(harness: Harness) -> None:
    # A bot that is started and stopped again and again (one pipeline per call, as agent
    # servers run it) must leave the room, its peer connections and its tasks each time.
    talker, _ = await harness.joined("talker")
    talker.startPublishingStream("talker_main", await talker.createStream(
        {"custom": {"source": ToneSource(TONE_HZ, 0.3)}}))
    watcher, heard_of = await harness.joined("watcher")
    await wait_until(lambda: "talker_main" in heard_of.streams(), 10, "talker's stream")
    # the room's own peers up and their tasks (consent checks, DTLS) running
    await wait_until(lambda: _peer_connections(*OPEN) == _peer_connections("connected") > 0,
                     10, "the talker connected")
    await asyncio.sleep(0.5)
    pcs_before = _peer_connections(*OPEN)
    tasks_before = asyncio.all_tasks()
    subscribed: list[str] = []  # the users the current run's input played
    for cycle in range(5):
        transport = bot_transport(harness.url)
        subscribed.clear()
        transport.add_event_handler("on_audio_track_subscribed",
                                    lambda _t, user: subscribed.append(user))
        async with running(transport.input(), Repeat(), transport.output()):
            await wait_until(lambda: "bot_main" in heard_of.streams(), 15, f"run {cycle}: stream")
            await wait_until(lambda: subscribed == ["talker"], 10, f"run {cycle}: playing")
        await wait_until(lambda: "bot_main" not in heard_of.streams(), 10, f"run {cycle}: gone")
    leftover: set[asyncio.Task[Any]] = set()

    def settled() -> bool:
        nonlocal leftover
        leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
        leftover.discard(asyncio.current_task())  # type: ignore[arg-type]
        return not leftover and _peer_connections(*OPEN) == pcs_before

    with contextlib.suppress(AssertionError):
        await wait_until(settled, 10, "the runs' tasks and peer connections to end")
    assert not leftover, [(t.get_name(), t.get_coro()) for t in leftover]
    assert _peer_connections(*OPEN) == pcs_before
