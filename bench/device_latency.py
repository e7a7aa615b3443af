"""6. True mouth-to-ear on the device path: virtual microphone -> room server -> virtual speaker.

A click every second is written into PulseAudio's ``vmic_sink`` (``pacat``), so it is
what the virtual microphone ``vmic`` hears.  One engine captures ``vmic`` (AEC/AGC/ANS
off, so the click keeps its edge) and publishes through the room server; another plays
it to its speaker, the virtual speaker ``vspk``.  Two identical ``parec`` recorders (10 ms
fragments, each read in its own thread and timed there, so an event-loop stall cannot
delay the timestamps) hear the "mouth" on ``vmic`` and the "ear" on ``vspk.monitor``:
their own buffering is the same on both ends and cancels out of the difference.

The listener's ``audioFrames()`` is timed too, which splits the path in two measured
halves: mouth -> decoded frame (microphone buffers, codec, relay, jitter buffer) and
decoded frame -> ear (mixer and the speaker's device buffer).  The engine-to-engine
click row (``bench.latency``'s synthetic track, run here too) takes the network part
out of the first half.  Anchor: a plain aiortc call (two RTCPeerConnections in this
process, aiortc's own Opus and jitter buffer, no room server) between the same devices,
opened with the same PortAudio code and buffer sizes (PyAV's bundled ALSA cannot open
PulseAudio, so aiortc's MediaPlayer/MediaRecorder are not an option here).

Needs the virtual devices: run under ``scripts/with-pulseaudio.sh``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from zego_py.media import devices
from zego_py.media.mixer import Mixer
from zego_py.media.pcm import frame_to_mono_int16

from .common import SAMPLE_RATE, ClickDetector, match_clicks, ms, summary
from .harness import close_all, joined_engine, listening, p2p_call
from .latency import p2p_latency, relay_latency, room_server
from .report import Row

NAME = "device_latency"
TITLE = "device mouth-to-ear (vmic -> vspk)"
AVAILABLE = (os.environ.get("ZEGO_PULSE") == "1" and devices.portaudio_available()
             and shutil.which("pacat") is not None and shutil.which("parec") is not None)
REASON = "" if AVAILABLE else ("needs the PulseAudio virtual devices and pacat/parec: run "
                               "under scripts/with-pulseaudio.sh")

PERIOD_S = 1.0  # between clicks: longer than any device-path latency, so none aliases
CHUNK = 480  # 10 ms: the writer's and the recorders' unit
FRAGMENT_MS = 10  # pacat/parec --latency-msec
WARMUP_S = 3.0  # every PulseAudio stream open stalls ~1-2 s (docs/audio-devices.md)
SPEAKER = {"blocksize": 960, "latency": 0.08}  # the engine's SpeakerOutput settings
_RAW = ["--raw", f"--rate={SAMPLE_RATE}", "--channels=1", "--format=s16le",
        f"--latency-msec={FRAGMENT_MS}"]


class PulseRecorder:
    """``parec`` on one PulseAudio source, read and timed in a thread, clicks detected."""

    def __init__(self, device: str) -> None:
        self.detector = ClickDetector()
        self._proc = subprocess.Popen(["parec", "-d", device, *_RAW], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while True:
            data = self._proc.stdout.read(CHUNK * 2)
            if len(data) < CHUNK * 2:
                return
            arrived = time.perf_counter()
            self.detector.feed(np.frombuffer(data, "<i2"), arrived - CHUNK / SAMPLE_RATE)

    def close(self) -> None:
        self._proc.terminate()  # our own child, by its handle
        self._proc.wait(5)
        self._thread.join(5)


class ClickWriter:
    """``pacat`` into ``vmic_sink``: silence with a 2 ms click every ``PERIOD_S``, written
    10 ms at a time on the wall clock from a thread (a little ahead, never far)."""

    def __init__(self, seconds: float) -> None:
        self._proc = subprocess.Popen(["pacat", "--playback", "-d", "vmic_sink", *_RAW],
                                      stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        assert self._proc.stdin is not None
        half = SAMPLE_RATE // 1000
        click = np.concatenate([np.full(half, 26000), np.full(half, -26000)]).astype("<i2")
        silence = np.zeros(CHUNK, "<i2")
        per_click = round(PERIOD_S * SAMPLE_RATE / CHUNK)
        start = time.perf_counter()
        for index in range(round(self._seconds * SAMPLE_RATE / CHUNK)):
            if self._stop.is_set():
                break
            chunk = silence.copy()
            if index % per_click == per_click // 2:
                chunk[:click.size] = click
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.write(chunk.tobytes())
                self._proc.stdin.flush()
            delay = start + (index - 2) * CHUNK / SAMPLE_RATE - time.perf_counter()
            if delay > 0:  # stay 2 chunks (20 ms) ahead of the device
                time.sleep(delay)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(BrokenPipeError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        self._proc.terminate()
        self._proc.wait(5)


@contextlib.asynccontextmanager
async def clicks_through_devices(clicks: int) -> AsyncIterator[tuple[PulseRecorder,
                                                                     PulseRecorder]]:
    """Mouth and ear recorders running, and the clicks being written, for the body."""
    mouth, ear = PulseRecorder("vmic"), PulseRecorder("vspk.monitor")
    writer = None
    try:
        await asyncio.sleep(WARMUP_S)
        writer = ClickWriter(clicks * PERIOD_S + 1.0)
        yield mouth, ear
    finally:
        if writer is not None:
            writer.close()
        mouth.close()
        ear.close()


@contextlib.asynccontextmanager
async def sampling(queued: Callable[[], int]) -> AsyncIterator[list[tuple[float, float]]]:
    """Sample a mixer input's queue every 10 ms for the body: (time, ms queued)."""
    values: list[tuple[float, float]] = []

    async def sample() -> None:
        while True:
            values.append((time.perf_counter(), 1000 * queued() / SAMPLE_RATE))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(sample())
    try:
        yield values
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _queue_at(samples: list[tuple[float, float]], times: list[float]) -> list[float]:
    """The sampled queue just after each time: what a click decoded then waited behind."""
    at = [t for t, _ in samples]
    return [samples[i][1] for i in (bisect.bisect_left(at, t) for t in times)
            if i < len(samples)]


def _paths(mouth: ClickDetector, decoded: ClickDetector, ear: ClickDetector,
           mixer_queue: list[tuple[float, float]]) -> dict[str, Any]:
    max_latency = PERIOD_S - 0.05
    total, lost = match_clicks(mouth.detected, ear.detected, max_latency)
    to_frames, _ = match_clicks(mouth.detected, decoded.detected, max_latency)
    to_ear, _ = match_clicks(decoded.detected, ear.detected, max_latency)
    return {"mouth_to_ear": ms(summary(total)) | {"clicks_lost": lost,
                                                   "clicks_sent": len(mouth.detected)},
            "mouth_to_frames": ms(summary(to_frames)),
            "frames_to_ear": ms(summary(to_ear)),
            "mixer_queue_ms": summary(_queue_at(mixer_queue, decoded.detected)),
            "latencies_ms": [round(v * 1000, 1) for v in total]}


async def _wait_clicks(clicks: int) -> None:
    await asyncio.sleep(clicks * PERIOD_S + 1.5)


async def zego_device_path(clicks: int, where: str) -> dict[str, Any]:
    """vmic -> engine (mic) -> room server -> engine (speaker) -> vspk."""
    async with room_server(where) as url:
        engines = []
        try:
            talker = await joined_engine(url, "dev_talker", room_id="devices")
            engines.append(talker)
            listener = await joined_engine(url, "dev_listener", room_id="devices")
            engines.append(listener)
            mic = await talker.createStream({"camera": {"audio": True, "video": False,
                                                        "AEC": False, "AGC": False,
                                                        "ANS": False}})
            assert talker.startPublishingStream("dev_mic", mic)
            await asyncio.sleep(0.5)
            remote = await listener.startPlayingStream("dev_mic")  # to vspk
            decoded = ClickDetector()
            async with listening(remote, decoded.feed), \
                    clicks_through_devices(clicks) as (mouth, ear):
                assert remote.mixer_input is not None, "the listener has no speaker"
                async with sampling(lambda: remote.mixer_input.queued_samples) as queue:
                    await _wait_clicks(clicks)
            return _paths(mouth.detector, decoded, ear.detector, queue)
        finally:
            await close_all(engines)


async def aiortc_device_path(clicks: int) -> dict[str, Any]:
    """vmic -> MicrophoneTrack -> plain aiortc call -> Mixer -> SpeakerOutput -> vspk."""
    mic = devices.MicrophoneTrack()
    mixer = Mixer()
    feed = mixer.add_input("call")
    speaker = devices.SpeakerOutput(mixer, **SPEAKER)  # type: ignore[arg-type]
    speaker.start()
    call = await p2p_call(mic)
    decoded = ClickDetector()
    on_pcm: Callable[[np.ndarray], None] = feed.push
    try:
        remote = await asyncio.wait_for(call.remote, 10)

        async def listen() -> None:
            while True:
                pcm = frame_to_mono_int16(await remote.recv())  # type: ignore[arg-type]
                decoded.feed(pcm, time.perf_counter())
                on_pcm(pcm)

        task = asyncio.create_task(listen())
        try:
            async with clicks_through_devices(clicks) as (mouth, ear):
                async with sampling(lambda: feed.queued_samples) as queue:
                    await _wait_clicks(clicks)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # PortAudio's own figure for each device buffer (sounddevice's stream.latency);
        # the engine opens the same classes with the same settings.
        reported = {"mic_input_s": mic._stream.latency,
                    "speaker_output_s": speaker._stream.latency}
        return _paths(mouth.detector, decoded, ear.detector, queue) | {"reported": reported}
    finally:
        await call.close()
        speaker.close()
        mic.stop()


def breakdown(path: dict[str, Any], network_ms: float, reported: dict[str, float]
              ) -> dict[str, float]:
    """Where the milliseconds go (medians): the two measured halves, minus sub-paths
    measured in the same run (engine to engine, the mixer queue) and PortAudio's own
    figure for the output buffer.  The split between the halves leans ~10 ms (the mouth
    recorder's fragment, which the decoded-frame timestamp does not share) toward the
    speaker; the total has no such error (both ends are the same recorder)."""
    mouth_to_frames = path["mouth_to_frames"]["median"]
    frames_to_ear = path["frames_to_ear"]["median"]
    mixer = path["mixer_queue_ms"]["median"]
    speaker_buffer = 1000 * reported["speaker_output_s"]
    return {
        "total": path["mouth_to_ear"]["median"],
        "microphone: vmic to sent frame (20 ms blocks)": mouth_to_frames - network_ms,
        "sent frame to decoded frame (codec, relay, jitter buffer)": network_ms,
        "decoded frame to vspk": frames_to_ear,
        "  of it mixer queue (sampled at each click)": mixer,
        "  of it PortAudio output buffer (reported)": speaker_buffer,
        "  rest: PulseAudio sink and monitor": frames_to_ear - mixer - speaker_buffer,
    }


async def run(quick: bool = False, clicks: int | None = None, where: str = "child"
              ) -> dict[str, Any]:
    clicks = clicks or (8 if quick else 30)
    anchor = await aiortc_device_path(clicks)
    zego = await zego_device_path(clicks, where)
    network = await relay_latency(clicks, where)  # engine -> engine, no devices
    p2p = await p2p_latency(clicks)  # aiortc -> aiortc, no devices
    reported = anchor["reported"]
    stages = {"zego": breakdown(zego, network["median"], reported),
              "aiortc": breakdown(anchor, p2p["median"], reported)}
    z, a = zego, anchor
    anchor_name = "aiortc call, same devices"
    rows = [
        Row(TITLE, "median", z["mouth_to_ear"]["median"], "ms", anchor_name,
            a["mouth_to_ear"]["median"]),
        Row(TITLE, "p95", z["mouth_to_ear"]["p95"], "ms", anchor_name, a["mouth_to_ear"]["p95"]),
        Row(TITLE, "clicks lost", z["mouth_to_ear"]["clicks_lost"],
            f"of {z['mouth_to_ear']['clicks_sent']}", anchor_name,
            a["mouth_to_ear"]["clicks_lost"]),
    ]
    for stage, value in stages["zego"].items():
        if stage != "total":
            rows.append(Row(TITLE, stage.replace("  of it", "- of it").replace("  rest", "- rest"),
                            value, "ms", anchor_name, stages["aiortc"][stage]))
    return {"name": NAME, "rows": rows,
            "raw": {"zego": zego, "aiortc": anchor, "engine_to_engine": network,
                    "aiortc_p2p": p2p, "stages_ms": stages, "clicks": clicks,
                    "speaker": SPEAKER, "fragment_ms": FRAGMENT_MS}}
