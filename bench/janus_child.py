"""Janus VideoRoom fan-out, run inside a private network namespace (``unshare -n``).

``bench.janus`` starts ``unshare -n python -m bench.janus_child --sizes 1,8 ...``; this
process brings up lo and a veth pair that stays in the namespace (127.0.0.2 on jx0,
because Janus skips loopback interfaces and libnice cannot send to 127.0.0.1), starts
Debian's ``janus`` with a minimal config (videoroom plugin, websockets transport on
127.0.0.1:8188, nothing else), and measures each point the way ``bench.relay_cpu``
does: one ClickTrack publisher, one decoding probe subscriber, N-1 counting
subscribers, Janus' CPU from /proc/PID/stat.  With ``--video`` it measures as
``bench.video_relay_cpu`` does instead: a 640x360 30 fps VP8 ``VideoSource`` publisher
and N counting video subscribers.  It prints ``RESULT <json>`` at the end.
Recipe: shared/reference/perf-baseline.md section 5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from zego_py import VideoSource
from zego_py.media.ice import gathering_on, new_peer_connection
from zego_py.media.local_stream import ZegoLocalStream
from zego_py.media.pcm import frame_to_mono_int16
from zego_py.media.rtp_tap import tap_receiver

from .common import (
    FRAME_S,
    ClickDetector,
    ClickTrack,
    match_clicks,
    measure_window,
    ms,
    paint_noise,
    summary,
)
from .relay_cpu import classify

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
HOST = "127.0.0.2"
WS_URL = "ws://127.0.0.1:8188"
ROOM = 1234


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def setup_network() -> None:
    for cmd in ("ip link set lo up",
                "ip link add jx0 type veth peer name jx1",
                f"ip addr add {HOST}/32 dev jx0",
                "ip link set jx0 up",
                "ip link set jx1 up"):
        subprocess.run(cmd.split(), check=True)


def write_config(folder: Path) -> Path:
    def others(kind: str, keep: str = "") -> str:
        names = sorted(p.name for p in (JANUS_LIB / kind).glob("*.so"))
        return ",".join(n for n in names if n != keep)

    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{JANUS_LIB}/plugins"
    transports_folder = "{JANUS_LIB}/transports"
    events_folder = "{JANUS_LIB}/events"
    loggers_folder = "{JANUS_LIB}/loggers"
    debug_level = 3
}}
media: {{
    ipv6 = false
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "jx0"
}}
plugins: {{
    disable = "{others('plugins', 'libjanus_videoroom.so')}"
}}
transports: {{
    disable = "{others('transports', 'libjanus_websockets.so')}"
}}
loggers: {{
    disable = "{others('loggers')}"
}}
events: {{
    broadcast = false
    disable = "{others('events')}"
}}
""")
    (folder / "janus.transport.websockets.jcfg").write_text("""general: {
    json = "compact"
    ws = true
    ws_port = 8188
    ws_ip = "127.0.0.1"
    wss = false
}
admin: {
    admin_ws = false
    admin_wss = false
}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text(f"""general: {{
}}
room-{ROOM}: {{
    description = "bench"
    publishers = 4
    audiocodec = "opus"
    videocodec = "vp8"
    bitrate = 128000
}}
""")
    return folder / "janus.jcfg"


class Janus:
    """A minimal Janus client: one session, handles, request -> first non-ack reply."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.session = 0
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self._keepalive: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            fut = self._waiting.get(msg.get("transaction", ""))
            if fut is not None and not fut.done() and msg.get("janus") != "ack":
                fut.set_result(msg)

    async def call(self, body: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        tx = f"t{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[tx] = fut
        if self.session:
            body = {"session_id": self.session, **body}
        await self.ws.send(json.dumps({**body, "transaction": tx}))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            del self._waiting[tx]

    async def start(self) -> None:
        self.session = (await self.call({"janus": "create"}))["data"]["id"]
        self._keepalive = asyncio.create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(25)
            await self.call({"janus": "keepalive"})

    async def attach(self) -> int:
        reply = await self.call({"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return int(reply["data"]["id"])

    async def message(self, handle: int, body: dict[str, Any],
                      jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        return await self.call(msg)

    async def close(self) -> None:
        for task in (self._keepalive, self._reader):
            if task is not None:
                task.cancel()
        await self.ws.close()


def _die_with_parent() -> None:
    """In the forked child before exec: SIGTERM Janus if this process dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@contextlib.asynccontextmanager
async def janus_running(config: Path) -> AsyncIterator[int]:
    logf = open(config.parent / "janus.log", "wb")  # noqa: SIM115 - closed below
    proc = await asyncio.create_subprocess_exec(
        "janus", "-F", str(config.parent), "-C", str(config), "--ice-enforce-list=jx0",
        stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ws = await websockets.connect(WS_URL, subprotocols=["janus-protocol"])  # type: ignore[list-item]
                await ws.close()
                break
            except OSError:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError("janus did not start; log: "
                                       + (config.parent / "janus.log").read_text()[-800:]
                                       ) from None
                await asyncio.sleep(0.1)
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        logf.close()


async def _offer_answer(pc: RTCPeerConnection) -> dict[str, Any]:
    offer = await pc.createOffer()
    with gathering_on([HOST]):
        await pc.setLocalDescription(offer)
    return {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False}


async def _subscriber(janus: Janus, feed: int, on_track: Any) -> RTCPeerConnection:
    handle = await janus.attach()
    for _ in range(50):
        reply = await janus.message(handle, {"request": "join", "ptype": "subscriber",
                                             "room": ROOM, "streams": [{"feed": feed}]})
        if "jsep" in reply:
            break
        await asyncio.sleep(0.05)  # 428 No such feed until the publisher is connected
    else:
        raise RuntimeError(f"subscriber join failed: {reply}")
    pc = new_peer_connection([])
    pc.on("track", lambda track: on_track(pc, track))
    await pc.setRemoteDescription(RTCSessionDescription(reply["jsep"]["sdp"], "offer"))
    answer = await pc.createAnswer()
    with gathering_on([HOST]):
        await pc.setLocalDescription(answer)
    await janus.message(handle, {"request": "start"},
                        {"type": "answer", "sdp": pc.localDescription.sdp})
    return pc


async def point(n: int, warmup: float, window: float, config: Path) -> dict[str, Any]:
    async with janus_running(config) as janus_pid:
        ws = await websockets.connect(WS_URL, subprotocols=["janus-protocol"],  # type: ignore[list-item]
                                      max_size=None)
        janus = Janus(ws)
        pcs: list[RTCPeerConnection] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            await janus.start()
            track = ClickTrack()
            feed, pub = await _publisher(janus, track, audio=True)
            pcs.append(pub)
            det = ClickDetector()
            counts = [0] * max(0, n - 1)

            def probe_track(pc: RTCPeerConnection, t: MediaStreamTrack) -> None:
                async def listen() -> None:
                    while True:
                        frame = await t.recv()
                        det.feed(frame_to_mono_int16(frame), time.perf_counter())  # type: ignore[arg-type]
                tasks.append(asyncio.create_task(listen()))

            pcs.append(await _subscriber(janus, feed, probe_track))
            for i in range(n - 1):
                def counting(pc: RTCPeerConnection, t: MediaStreamTrack, i: int = i) -> None:
                    def bump(packet: Any) -> None:
                        if packet.payload:
                            counts[i] += 1
                    for tr in pc.getTransceivers():
                        if tr.receiver.track is t:
                            tap_receiver(tr.receiver, bump)
                pcs.append(await _subscriber(janus, feed, counting))
            await asyncio.sleep(warmup)
            sent0, probe0, counts0 = track.frames_sent, det.frames, list(counts)
            measured = await measure_window(window, {"server": janus_pid})
            cpu, loop_lag, t0, t1 = measured.cpu, measured.loop_lag, measured.t0, measured.t1
            sent = track.frames_sent - sent0
            received = [det.frames - probe0] + [c - c0 for c, c0 in zip(counts, counts0,
                                                                         strict=True)]
            await asyncio.sleep(0.5)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
            await janus.close()
    latencies, lost = match_clicks([s for s in track.sent if t0 <= s <= t1],
                                   [d for d in det.detected if d >= t0])
    delivered = [r / sent if sent else 0.0 for r in received]
    pace = sent * FRAME_S / cpu.wall
    result: dict[str, Any] = {
        "listeners": n, "server_cpu_pct": cpu.percent("server"),
        "client_cpu_pct": cpu.percent("self"), "system_busy_pct": 100 * cpu.system_busy,
        "window_s": cpu.wall, "publisher_pace": pace, "delivered_worst": min(delivered),
        "delivered_median": sorted(delivered)[len(delivered) // 2],
        "probe_delivered": delivered[0], "latency_ms": ms(summary(latencies)),
        # the probe here is aiortc's own receiver (no zego engine speaks Janus' protocol)
        "latency_aiortc_receiver_ms": ms(summary(latencies)),
        "clicks_lost": lost, "client_loop_lag_ms": loop_lag,
    }
    result["bottleneck"] = classify(result["server_cpu_pct"], result["client_cpu_pct"],
                                    cpu.system_busy, pace, result["delivered_worst"],
                                    loop_lag)
    return result


async def _publisher(janus: Janus, track: MediaStreamTrack, audio: bool
                     ) -> tuple[int, RTCPeerConnection]:
    handle = await janus.attach()
    joined = await janus.message(handle, {"request": "join", "ptype": "publisher",
                                          "room": ROOM, "display": "pub"})
    pub = new_peer_connection([])
    pub.addTransceiver(track, direction="sendonly")
    reply = await janus.message(handle, {"request": "configure", "audio": audio,
                                         "video": not audio}, await _offer_answer(pub))
    await pub.setRemoteDescription(RTCSessionDescription(reply["jsep"]["sdp"], "answer"))
    return joined["plugindata"]["data"]["id"], pub


async def video_point(n: int, warmup: float, window: float, config: Path) -> dict[str, Any]:
    """Janus' CPU forwarding one 640x360 30 fps VP8 stream to ``n`` counting listeners
    (the publisher encodes as a zego_py publisher does: media/local_stream.py)."""
    async with janus_running(config) as janus_pid:
        ws = await websockets.connect(WS_URL, subprotocols=["janus-protocol"],  # type: ignore[list-item]
                                      max_size=None)
        janus = Janus(ws)
        pcs: list[RTCPeerConnection] = []
        source = VideoSource(640, 360, 30)
        painter = asyncio.create_task(paint_noise(source))
        try:
            await janus.start()
            video = ZegoLocalStream(None, "custom", video_source=source).new_video_track("VP8")
            feed, pub = await _publisher(janus, video, audio=False)
            pcs.append(pub)
            frames = [0] * n

            for i in range(n):
                def counting(pc: RTCPeerConnection, t: MediaStreamTrack, i: int = i) -> None:
                    def bump(packet: Any) -> None:
                        frames[i] += bool(packet.payload and packet.marker)
                    for tr in pc.getTransceivers():
                        if tr.receiver.track is t:
                            tap_receiver(tr.receiver, bump)
                pcs.append(await _subscriber(janus, feed, counting))
            await asyncio.sleep(warmup)
            sent0, frames0 = video.frames_sent, list(frames)
            measured = await measure_window(window, {"server": janus_pid})
            sent = video.frames_sent - sent0
            got = [f - f0 for f, f0 in zip(frames, frames0, strict=True)]
        finally:
            painter.cancel()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
            await janus.close()
    cpu = measured.cpu
    return {"listeners": n, "server_cpu_pct": cpu.percent("server"),
            "client_cpu_pct": cpu.percent("self"), "system_busy_pct": 100 * cpu.system_busy,
            "window_s": cpu.wall, "frames_sent": sent, "publisher_fps": sent / cpu.wall,
            "delivered_worst": min(g / sent if sent else 0.0 for g in got)}


async def main_async(sizes: list[int], warmup: float, window: float, video: bool = False
                     ) -> list[dict[str, Any]]:
    setup_network()
    with tempfile.TemporaryDirectory(prefix="bench-janus-") as tmp:
        config = write_config(Path(tmp))
        points = []
        for n in sizes:
            if video:
                p = await video_point(n, warmup, window, config)
                log(f"  Janus VideoRoom    N={n:3d}: server {p['server_cpu_pct']:5.1f} %  "
                    f"client {p['client_cpu_pct']:5.1f} %  publisher "
                    f"{p['publisher_fps']:.1f} fps  delivered {p['delivered_worst']:.3f}")
                points.append(p)
                continue
            p = await point(n, warmup, window, config)
            log(f"  Janus VideoRoom    N={n:3d}: server {p['server_cpu_pct']:5.1f} %  "
                f"client {p['client_cpu_pct']:5.1f} %  delivered {p['delivered_worst']:.3f}  "
                f"latency {p['latency_ms']['median']:.1f} ms (p95 {p['latency_ms']['p95']:.0f})  "
                f"loop lag p99 {p['client_loop_lag_ms']['p99_ms']:.0f} ms  {p['bottleneck']}")
            points.append(p)
        return points


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.janus_child")
    parser.add_argument("--sizes", default="1,8")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--video", action="store_true")
    args = parser.parse_args()
    if os.getuid() != 0:
        raise SystemExit("needs root (run through unshare -n)")
    points = asyncio.run(main_async([int(s) for s in args.sizes.split(",")],
                                    args.warmup, args.window, args.video))
    print("RESULT " + json.dumps(points), flush=True)


if __name__ == "__main__":
    main()
