"""5. Speech quality (PESQ-WB) under loss and jitter: the engine through the relay, beside
a plain aiortc call with the same impairment.

- **Speech**: four Harvard sentences spoken by espeak-ng (~9.7 s), 16 kHz mono, peak at
  -6 dBFS, with 0.5 s of silence either side; cached in ``bench/results/``.  Both paths
  send the same 48 kHz upsampling of it from an ``AudioSource``.
- **zego_py path**: publisher engine -> the room server's relay (in this process) ->
  listener engine; the listener's ``audioFrames()`` is recorded.  The relay's seeded
  ``Impairment`` drops and delays packets on the relay->listener leg.
- **Anchor**: a direct aiortc call (two RTCPeerConnections on 127.0.0.1, no STUN), read
  with aiortc's own ``track.recv()``.  Its receiver's ``_handle_rtp_packet`` is wrapped
  (as ``zego_py.media.rtp_tap`` does) so each packet goes through an ``Impairment`` with
  the same seed: aiortc's jitter buffer then sees gaps, reordering and late packets as on
  a real network.
- Both impairments pass everything until the frame the speech starts in, then drop and
  delay: the same seed drops the same packets of the speech on both paths.
- **What is scored** is what a sound device would play (``play_out``): the received
  frames on a 48 kHz output clock, silence where nothing had arrived.  That recording is
  aligned to the reference by cross-correlation, resampled to 16 kHz and scored with
  ``pesq(16000, ref, deg, "wb")`` (ITU-T P.862.2, MOS-LQO 1.04..4.64).  The PESQ of the
  frames merely concatenated is kept in the raw results: PESQ hardly notices audio that
  is cut out without a gap, so it would flatter a receiver that throws frames away.

Per loss level the figure is the median over seeds; the engine's jitter buffer counters
(FEC and PLC frames, late packets, target delay) say what concealment did.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import statistics
import subprocess
import tempfile
import wave
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.clock import current_ms
from aiortc.rtp import RtpPacket

from mock_server.server import RoomServer
from zego_py.media.impairment import Impairment
from zego_py.media.pcm import SAMPLE_RATE, frame_to_mono_int16, int16_to_frame
from zego_py.media.sources import AudioSource

from .harness import close_all, joined_engine, p2p_call, publish
from .report import Row

try:
    from pesq import NoUtterancesError
    from pesq import pesq as _pesq
except ImportError:  # the `bench` extra is not installed
    AVAILABLE = False
    REASON = "the pesq package is not installed (pip install -e '.[bench]')"
else:
    AVAILABLE = True
    REASON = ""

__all__ = [
    "ArmedImpairment",
    "Recording",
    "SpeechTrack",
    "align",
    "impair_receiver",
    "pesq_wb",
    "play_out",
    "resample",
    "run",
    "score",
    "speech_reference",
]

NAME = "quality"
TITLE = "speech quality, PESQ-WB"
PESQ_RATE = 16000
FRAME = 960  # 20 ms at 48 kHz
FRAME_S = FRAME / SAMPLE_RATE
DEVICE_BUFFER_S = 0.040  # the simulated sound device's start-up buffer (play_out)
JITTER_S = 0.030
LOSSES = (0.0, 0.02, 0.05, 0.10)
SEEDS = (1, 2, 3)
GOAL_LOSS, GOAL_DIFF = 0.05, 0.5  # issue 6: PESQ at 5 % loss >= aiortc's + 0.5
WARMUP_S = 1.0  # media flowing before the speech starts (the buffers settle)
TAIL_S = 1.5  # recorded after the speech's length (path delay, aiortc's stalls)
LEAD_S = 0.5  # silence before and after the speech in the reference
SPEECH_TEXT = (
    "The birch canoe slid on the smooth planks. "
    "Glue the sheet to the dark blue background. "
    "It's easy to tell the depth of a well. "
    "These days a chicken leg is a rare dish."
)
RESULTS = Path(__file__).resolve().parent / "results"


class SpeechUnavailable(RuntimeError):
    """No cached speech sample and no espeak-ng to make one."""


# ---------------------------------------------------------------------- audio helpers
def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Mono int16 from ``src_rate`` to ``dst_rate`` with libswresample (PyAV)."""
    if src_rate == dst_rate or pcm.size == 0:
        return pcm.astype(np.int16, copy=True)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
    frames = resampler.resample(int16_to_frame(pcm.reshape(-1), 0, src_rate))
    frames += resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return data.reshape(-1, w.getnchannels())[:, 0].copy(), w.getframerate()


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype(np.int16).tobytes())


def speech_reference(text: str = SPEECH_TEXT, cache_dir: Path = RESULTS) -> np.ndarray:
    """The reference speech: 16 kHz mono int16, espeak-ng, cached per text.

    Raises SpeechUnavailable when neither the cache nor espeak-ng is there.
    """
    key = f"{zlib.crc32(text.encode()):08x}"
    path = cache_dir / f"quality-speech-16k-{key}.wav"
    if path.exists():
        return _read_wav(path)[0]
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechUnavailable(
            "espeak-ng is not installed (make bench installs it; or: "
            "apt-get install -y --no-install-recommends espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "165", "-w", str(raw_path), text],
                       check=True, timeout=60, capture_output=True)
        raw, rate = _read_wav(raw_path)
    speech = resample(raw, rate, PESQ_RATE).astype(np.float64)
    speech *= 0.5 * 32767 / max(1.0, float(np.abs(speech).max()))  # peak at -6 dBFS
    pad = np.zeros(int(LEAD_S * PESQ_RATE))
    pcm = np.concatenate([pad, speech, pad]).round().astype(np.int16)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp")
    _write_wav(tmp_path, pcm, PESQ_RATE)
    tmp_path.replace(path)
    return pcm


def align(ref: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, int]:
    """The part of ``rec`` that matches ``ref`` best (cross-correlation), and its offset.

    ``rec`` is assumed to start no later than ``ref`` (the recording starts when the
    speech is pushed, so the path delay is a positive lag).  Zero-padded to ``ref``'s length.
    """
    ref_f = ref.astype(np.float64)
    rec_f = rec.astype(np.float64)
    n = 1 << int(math.ceil(math.log2(len(ref_f) + len(rec_f))))
    corr = np.fft.irfft(np.fft.rfft(rec_f, n) * np.conj(np.fft.rfft(ref_f, n)), n)
    lag = int(np.argmax(corr[: len(rec_f)]))
    out = np.zeros(len(ref), dtype=np.int16)
    part = rec[lag: lag + len(ref)]
    out[: len(part)] = part
    return out, lag


@dataclass
class Recording:
    """The frames a receiver yielded after the speech started, each with its arrival time."""

    frames: list[tuple[float, np.ndarray]]
    dropped: int
    passed: int
    buffer: dict[str, Any] = field(default_factory=dict)


def play_out(frames: list[tuple[float, np.ndarray]], seconds: float,
             device_buffer_s: float = DEVICE_BUFFER_S) -> tuple[np.ndarray, int]:
    """What a 48 kHz sound device plays from these frames: (PCM, underrun frames).

    The device starts ``device_buffer_s`` after the first frame arrives and takes one
    20 ms frame per 20 ms from a FIFO, playing silence when nothing has arrived
    (an underrun).  Frames are never dropped, so a burst after a stall stays as delay,
    as in a plain player.  This is what a listener hears; concatenating the frames
    instead would hide both the stalls and the frames a receiver threw away (PESQ barely
    penalizes audio that is cut out without a gap: docs/benchmarks.md).
    """
    if not frames:
        return np.zeros(0, dtype=np.int16), 0
    start = frames[0][0] + device_buffer_s
    count = max(0, round((seconds - device_buffer_s) / FRAME_S))
    silence = np.zeros(FRAME, dtype=np.int16)
    out: list[np.ndarray] = []
    underruns = 0
    j = 0
    for k in range(count):
        if j < len(frames) and frames[j][0] <= start + k * FRAME_S:
            out.append(frames[j][1])
            j += 1
        else:
            out.append(silence)
            underruns += 1
    return np.concatenate(out) if out else silence[:0], underruns


def pesq_wb(ref16: np.ndarray, rec48: np.ndarray) -> tuple[float, int]:
    """PESQ-WB of a 48 kHz recording against the 16 kHz reference, after alignment:
    (MOS-LQO or NaN if PESQ finds no speech, lag in 16 kHz samples)."""
    deg, lag = align(ref16, resample(rec48, SAMPLE_RATE, PESQ_RATE))
    try:
        return float(_pesq(PESQ_RATE, ref16, deg, "wb")), lag
    except NoUtterancesError:
        return math.nan, lag


def score(ref16: np.ndarray, recording: Recording, seconds: float) -> dict[str, Any]:
    """PESQ of what a sound device plays (the figure), and of the bare concatenated frames
    (kept in the raw results only: it does not see audio a receiver threw away)."""
    played, underruns = play_out(recording.frames, seconds)
    value, lag = pesq_wb(ref16, played)
    concatenated = np.concatenate([pcm for _, pcm in recording.frames])
    bare, _ = pesq_wb(ref16, concatenated)
    return {"pesq": value, "lag_ms": round(1000 * lag / PESQ_RATE, 1),
            "underrun_frames": underruns, "frames_received": len(recording.frames),
            "pesq_concatenated": bare}


# ---------------------------------------------------------------------- impairment
@dataclass
class ArmedImpairment(Impairment):
    """An ``Impairment`` that passes every packet through until ``armed`` is set, so the
    same seed drops and delays the same packets of the speech on both paths."""

    armed: bool = field(default=False, init=False)

    def deliver(self, deliver: Callable[..., Any], *args: Any) -> None:
        if self.armed:
            super().deliver(deliver, *args)
        else:
            deliver(*args)


def impair_receiver(receiver: RTCRtpReceiver, impairment: Impairment) -> None:
    """Deliver each RTP packet to an aiortc receiver through ``impairment``.

    Wraps ``_handle_rtp_packet`` on the instance as ``zego_py.media.rtp_tap`` does, but
    keeps aiortc's jitter buffer and decoder: a delayed packet is handed on later (its
    arrival time taken then), so aiortc sees loss, reordering and late packets.
    """
    original: Callable[[RtpPacket, int], Awaitable[None]] = receiver._handle_rtp_packet
    pending: set[asyncio.Task[None]] = set()

    def hand_on(packet: RtpPacket) -> None:
        task = asyncio.ensure_future(original(packet, current_ms()))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        impairment.deliver(hand_on, packet)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


# ---------------------------------------------------------------------- the two paths
class SpeechTrack(MediaStreamTrack):
    """The sender's track: an ``AudioSource`` that arms the impairment on the frame the
    speech starts in, so on both paths the first impaired packet is the speech's first
    (the impairment sits less than a frame's time downstream of the sender)."""

    kind = "audio"

    def __init__(self, impairment: ArmedImpairment) -> None:
        super().__init__()
        self.source = AudioSource(queueSizeMs=2000)
        self.impairment = impairment
        self._pushed = False

    async def recv(self) -> av.AudioFrame:
        frame = await self.source.recv()
        if self._pushed:
            self.impairment.armed = True
        return frame

    async def speak(self, pcm: np.ndarray) -> None:
        # The flag and the enqueue happen in one step (captureFrame does not yield
        # before queueing when there is room), so the next frame out is the speech's.
        self._pushed = True
        await self.source.captureFrame(pcm)

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def _record_seconds(ref48: np.ndarray) -> float:
    return len(ref48) / SAMPLE_RATE + TAIL_S


async def zego_path(ref48: np.ndarray, impairment: ArmedImpairment, timeout: float,
                    bitrate_kbps: int | None = None) -> Recording:
    """Engine -> relay (impaired towards the listener) -> engine, recording audioFrames()."""
    loop = asyncio.get_running_loop()
    server = RoomServer(impairment=lambda: impairment)
    async with server.running("127.0.0.1", 0) as url:
        engines = []
        speaker: asyncio.Task[None] | None = None
        try:
            pub = await joined_engine(url, "q_pub", "quality")
            engines.append(pub)
            sub = await joined_engine(url, "q_sub", "quality")
            engines.append(sub)
            source = SpeechTrack(impairment)
            await publish(pub, "q_speech", source, audio_bitrate=bitrate_kbps)
            remote = await sub.startPlayingStream("q_speech", {"speaker": False})
            await asyncio.sleep(WARMUP_S)
            track: Any = remote._track
            buffer = track.buffer
            before = {k: getattr(buffer, k) for k in ("fec_frames", "plc_frames", "late")}
            frames: list[tuple[float, np.ndarray]] = []
            targets: list[float] = []
            deadline = loop.time() + _record_seconds(ref48)

            async def record() -> None:
                async for pcm in remote.audioFrames():
                    now = loop.time()
                    frames.append((now, pcm))
                    targets.append(buffer.target_delay)
                    if now >= deadline:
                        return

            recorder = asyncio.create_task(record())
            await asyncio.sleep(0)  # the iterator is registered before the speech starts
            speaker = asyncio.create_task(source.speak(ref48))
            await asyncio.wait_for(recorder, timeout)
            stats: dict[str, Any] = {k: getattr(buffer, k) - v for k, v in before.items()}
            stats["target_delay_ms"] = {
                "median": round(1000 * statistics.median(targets), 1),
                "max": round(1000 * max(targets), 1)}
            return Recording(frames, impairment.dropped, impairment.passed, stats)
        finally:
            if speaker is not None:
                speaker.cancel()
            await close_all(engines)


async def aiortc_path(ref48: np.ndarray, impairment: ArmedImpairment,
                      timeout: float) -> Recording:
    """A direct aiortc call, impaired at the receiver, recording aiortc's track.recv()."""
    loop = asyncio.get_running_loop()
    source = SpeechTrack(impairment)
    call = await p2p_call(source)
    speaker: asyncio.Task[None] | None = None
    reader: asyncio.Task[None] | None = None
    try:
        (transceiver,) = call.receiver_pc.getTransceivers()
        impair_receiver(transceiver.receiver, impairment)
        remote: MediaStreamTrack = await asyncio.wait_for(call.remote, 10)
        frames: list[tuple[float, np.ndarray]] = []
        deadline = math.inf
        done: asyncio.Future[None] = loop.create_future()

        async def read() -> None:
            while True:
                frame = await remote.recv()
                now = loop.time()
                if now < deadline - _record_seconds(ref48):
                    continue  # before the speech: keep the call flowing, record nothing
                frames.append((now, frame_to_mono_int16(frame)))  # type: ignore[arg-type]
                if now >= deadline and not done.done():
                    done.set_result(None)

        reader = asyncio.create_task(read())
        await asyncio.sleep(WARMUP_S)
        deadline = loop.time() + _record_seconds(ref48)
        speaker = asyncio.create_task(source.speak(ref48))
        await asyncio.wait_for(done, timeout)
        return Recording(frames, impairment.dropped, impairment.passed)
    finally:
        for task in (speaker, reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        source.stop()
        await call.close()


async def one_condition(ref16: np.ndarray, ref48: np.ndarray, loss: float, jitter_s: float,
                        seed: int, bitrate_kbps: int | None = None) -> dict[str, Any]:
    """Both paths at once (independent, a few % of a core each), same loss/jitter/seed."""
    timeout = len(ref48) / SAMPLE_RATE + TAIL_S + 15.0

    def impairment() -> ArmedImpairment:
        return ArmedImpairment(loss=loss, jitter_s=jitter_s, seed=seed)

    zego, anchor = await asyncio.gather(zego_path(ref48, impairment(), timeout, bitrate_kbps),
                                        aiortc_path(ref48, impairment(), timeout))
    seconds = _record_seconds(ref48)

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        # one after the other: P.862's reference code is not known to be thread-safe
        return score(ref16, zego, seconds), score(ref16, anchor, seconds)

    # PESQ takes ~0.5 s of CPU per recording: off the event loop.
    zego_score, anchor_score = await asyncio.get_running_loop().run_in_executor(None, both)
    return {
        "loss": loss, "jitter_s": jitter_s, "seed": seed,
        "zego": {**zego_score, "dropped": zego.dropped, "passed": zego.passed,
                 "buffer": zego.buffer},
        "aiortc": {**anchor_score, "dropped": anchor.dropped, "passed": anchor.passed},
    }


# ---------------------------------------------------------------------- the measurement
def _median(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def _label(loss: float, jitter_s: float) -> str:
    if not loss and not jitter_s:
        return "clean"
    return f"{loss * 100:g} % loss + {jitter_s * 1000:g} ms jitter"


def _summarize(runs: list[dict[str, Any]], loss: float, jitter_s: float) -> dict[str, Any]:
    zego = [r["zego"]["pesq"] for r in runs]
    anchor = [r["aiortc"]["pesq"] for r in runs]
    buffers = [r["zego"]["buffer"] for r in runs]
    return {
        "loss": loss, "jitter_s": jitter_s, "label": _label(loss, jitter_s),
        "seeds": [r["seed"] for r in runs],
        "zego_pesq": _median(zego), "aiortc_pesq": _median(anchor),
        "diff": _median([z - a for z, a in zip(zego, anchor, strict=True)]),
        "zego_pesq_concatenated": _median([r["zego"]["pesq_concatenated"] for r in runs]),
        "aiortc_pesq_concatenated": _median([r["aiortc"]["pesq_concatenated"] for r in runs]),
        "zego_underrun_frames": _median([r["zego"]["underrun_frames"] for r in runs]),
        "aiortc_underrun_frames": _median([r["aiortc"]["underrun_frames"] for r in runs]),
        "aiortc_frames_received": _median([r["aiortc"]["frames_received"] for r in runs]),
        "zego_frames_received": _median([r["zego"]["frames_received"] for r in runs]),
        "dropped": _median([r["zego"]["dropped"] for r in runs]),
        "passed": _median([r["zego"]["passed"] for r in runs]),
        "fec_frames": _median([b["fec_frames"] for b in buffers]),
        "plc_frames": _median([b["plc_frames"] for b in buffers]),
        "late": _median([b["late"] for b in buffers]),
        "target_delay_ms": _median([b["target_delay_ms"]["median"] for b in buffers]),
        "target_delay_max_ms": max(b["target_delay_ms"]["max"] for b in buffers),
        "runs": runs,
    }


def _skipped(reason: str) -> dict[str, Any]:
    return {"name": NAME, "skipped": reason,
            "rows": [Row(TITLE, "skipped", None, "", note=reason)]}


def _rows(conditions: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for c in conditions:
        n = len(c["seeds"])
        rows.append(Row(
            TITLE, c["label"], c["zego_pesq"], "MOS-LQO", "aiortc P2P", c["aiortc_pesq"],
            note=f"zego_py - aiortc = {c['diff']:+.2f}"
                 + (f", median of {n} runs" if n > 1 else "")
                 + f"; silent frames (underruns) {c['zego_underrun_frames']:g} / "
                   f"{c['aiortc_underrun_frames']:g}"))
    for c in conditions:
        if c["loss"]:
            rows.append(Row(
                "zego_py concealment", c["label"], c["fec_frames"], "FEC frames",
                "packets dropped", c["dropped"],
                note=f"PLC {c['plc_frames']:g}, late {c['late']:g}, target delay "
                     f"{c['target_delay_ms']:.0f} ms (max {c['target_delay_max_ms']:.0f}); "
                     f"aiortc yielded {c['aiortc_frames_received']:g} frames, "
                     f"zego_py {c['zego_frames_received']:g}"))
    goal = next((c for c in conditions if c["loss"] == GOAL_LOSS), None)
    if goal is not None:
        met = goal["diff"] >= GOAL_DIFF
        rows.append(Row("goal (issue 6)", f"5 % loss: zego_py >= aiortc + {GOAL_DIFF}",
                        goal["diff"], "MOS", note="met" if met else "NOT met"))
    return rows


async def run(quick: bool = False, losses: tuple[float, ...] = LOSSES,
              seeds: tuple[int, ...] | None = None, jitter_s: float = JITTER_S,
              text: str = SPEECH_TEXT, bitrate_kbps: int | None = None,
              cache_dir: Path = RESULTS) -> dict[str, Any]:
    """PESQ per loss level, one run per seed (1 in quick mode, else 3), medians."""
    if not AVAILABLE:
        return _skipped(REASON)
    try:
        ref16 = await asyncio.get_running_loop().run_in_executor(None, speech_reference, text,
                                                                   cache_dir)
    except (SpeechUnavailable, subprocess.SubprocessError, OSError) as exc:
        print(f"   quality: skipped ({exc})", flush=True)
        return _skipped(str(exc))
    ref48 = resample(ref16, PESQ_RATE, SAMPLE_RATE)
    seeds = seeds or (SEEDS[:1] if quick else SEEDS)
    conditions = []
    for loss in losses:
        jitter = jitter_s if loss else 0.0
        runs = []
        # Clean runs too are repeated: nothing random, but a stall of this shared machine
        # (a late frame, silent frames in the note) can hit any single run.
        for seed in seeds:
            r = await one_condition(ref16, ref48, loss, jitter, seed, bitrate_kbps)
            runs.append(r)
            z, a = r["zego"], r["aiortc"]
            print(f"   {_label(loss, jitter)}, seed {seed}: PESQ zego_py {z['pesq']:.2f}, "
                  f"aiortc {a['pesq']:.2f}; dropped {z['dropped']}/{a['dropped']}, "
                  f"FEC {z['buffer']['fec_frames']}, PLC {z['buffer']['plc_frames']}",
                  flush=True)
        conditions.append(_summarize(runs, loss, jitter))
    return {"name": NAME, "rows": _rows(conditions),
            "raw": {"conditions": conditions, "speech_s": len(ref16) / PESQ_RATE,
                    "text": text, "bitrate_kbps": bitrate_kbps, "jitter_s": jitter_s,
                    "device_buffer_s": DEVICE_BUFFER_S,
                    "goal": {"loss": GOAL_LOSS, "diff": GOAL_DIFF}}}
