"""``python -m mock_server.loadtest``: R rooms x U users x S speakers against one room server.

    python -m mock_server.loadtest --spawn --rooms 2 --users 4 --speakers 2 --duration 10
    python -m mock_server.loadtest --url ws://127.0.0.1:9000/ws --server-pid 1234 ...
    python -m mock_server.loadtest --spawn-cluster 2 --lean --rooms 8 --users 16 ...

Every user is a ZegoExpressEngine.  The first S users of each room publish a ToneSource
(a distinct frequency per speaker); every user plays every other speaker of its room
(``{"speaker": False}``) and counts decoded frames, or with ``--lean`` plays through a
``LeanPlayer`` (mock_server/lean_listener.py: a real peer that counts RTP packets and
sequence gaps without decoding).  ``--spawn-cluster N`` measures ``python -m mock_server
--workers N``: room r enters through node r mod N, and ``--cross-node`` makes room r's
users play room r+1's speakers instead (a pulled copy).  Users are spread round-robin over
``--workers`` processes so the load generator is not limited by one GIL.  After every
stream has played its first frame, and ``--warmup`` more seconds, the steady window of
``--duration`` seconds is measured.  docs/loadtest.md explains each printed figure.

Only loopback servers unless ``--allow-remote``.  Everything is bounded: sizes, the
set-up time (``--setup-timeout``), the window, and tear-down; the tool always stops.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing as mp
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import urlparse

from zego_py import (
    ErrorCode,
    ToneSource,
    ZegoError,
    ZegoExpressEngine,
    generateToken04,
    makePrivilegePayload,
)

from .addresses import is_loopback
from .config import DEV_APP_ID, DEV_SERVER_SECRET
from .lean_listener import LeanPlayer

FPS = 50  # 20 ms Opus frames
MAX_USERS = 250  # the server accepts 256 connections per address; one per user
MAX_DURATION_S = 600.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = {"hostAddresses": ["127.0.0.1"], "iceServers": []}


@dataclass(frozen=True)
class UserSpec:
    room: str
    user_id: str
    stream_id: str | None  # set for speakers
    freq: float
    expect: tuple[str, ...]  # the streams this user plays
    entry: int = 0  # the room's index: its users enter through node entry mod N
    cross: bool = False  # plays another room's streams (started once they exist)


def plan_users(rooms: int, users: int, speakers: int, cross: bool = False) -> list[UserSpec]:
    """Room r's users play their room's other speakers, or with ``cross`` every speaker
    of room r+1 (hosted on the next node when rooms alternate over nodes)."""
    plan = []
    for r in range(rooms):
        streams = [f"lt-r{r}-s{s}" for s in range(speakers)]
        nxt = [f"lt-r{(r + 1) % rooms}-s{s}" for s in range(speakers)]
        for u in range(users):
            own = streams[u] if u < speakers else None
            plan.append(UserSpec(
                room=f"lt-room-{r}", user_id=f"lt-r{r}-u{u}", stream_id=own,
                freq=200.0 + 40.0 * (r * speakers + u) if own else 0.0,
                expect=tuple(nxt) if cross else tuple(s for s in streams if s != own),
                entry=r, cross=cross))
    return plan


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


# ============================================================== worker (child process)
class _CountingTone(ToneSource):
    """A ToneSource that counts the frames the publisher actually took from it."""

    sent = 0

    async def recv(self) -> Any:
        frame = await super().recv()
        self.sent += 1
        return frame


class _LogCounter(logging.Handler):
    """Counts WARNING+ records of zego_py/aiortc in this worker; keeps the first few."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])


class _User:
    def __init__(self, spec: UserSpec, urls: list[str], options: dict[str, Any], app_id: int,
                 lean: bool = False) -> None:
        self.spec = spec
        first = spec.entry % len(urls)
        self.engine = ZegoExpressEngine(app_id, urls[first:] + urls[:first],
                                        options=dict(options))
        self.lean = lean
        self.join_s: float | None = None
        self.tone: _CountingTone | None = None
        self.remotes: dict[str, Any] = {}
        self.first_audio_s: dict[str, float] = {}
        self.quality: dict[str, list[tuple[float, float, int]]] = {}
        self.errors: list[str] = []
        self.interruptions: list[tuple[float, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.engine.on("roomStreamUpdate", self._on_streams)
        self.engine.on("playQualityUpdate", self._on_quality)
        self.engine.on("playerStateUpdate", self._on_player)

    def _on_streams(self, room_id: str, update: str, streams: list[dict[str, Any]],
                    extended: str) -> None:
        if update != "ADD" or self.spec.cross:
            return
        for stream in streams:
            sid = stream["streamID"]
            if sid in self.spec.expect and sid not in self.remotes:
                self.start_play(sid)

    def start_play(self, sid: str) -> None:
        self.remotes[sid] = None
        task = asyncio.ensure_future(self._play(sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_quality(self, stream_id: str, stats: dict[str, Any]) -> None:
        audio = stats["audio"]
        self.quality.setdefault(stream_id, []).append(
            (time.monotonic(), float(audio["audioPacketsLostRate"]),
             int(audio["audioPacketsLost"])))

    def _on_player(self, result: dict[str, Any]) -> None:
        if result["state"] != "PLAYING" and result["streamID"] in self.first_audio_s:
            # a stream that had played stopped or is retrying
            self.interruptions.append((time.monotonic(), (
                f"{self.spec.user_id} {result['streamID']} -> {result['state']} "
                f"[{result['errorCode']}] {result['extendedData']}")[:300]))

    async def _start_remote(self, stream_id: str, deadline: float) -> Any:
        """A started player; another room's stream may not exist yet: retry until it does."""
        while True:
            try:
                if self.lean:
                    room = self.engine._rooms[self.spec.room]
                    player = LeanPlayer(room.link, stream_id, LOOPBACK["hostAddresses"])
                    await player.start()
                    return player
                return await self.engine.startPlayingStream(stream_id, {"speaker": False})
            except ZegoError as exc:
                if exc.code != ErrorCode.PLAY_STREAM_NOT_FOUND or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def _play(self, stream_id: str, timeout: float = 20.0) -> None:
        start = time.monotonic()
        try:
            remote = await asyncio.wait_for(
                self._start_remote(stream_id, start + timeout), timeout)
            self.remotes[stream_id] = remote
            while remote.first_audio_at is None and time.monotonic() < start + timeout:
                await asyncio.sleep(0.01)
            if remote.first_audio_at is None:
                raise TimeoutError("no audio")
            self.first_audio_s[stream_id] = remote.first_audio_at - start
        except Exception as exc:  # noqa: BLE001 - reported, never fatal to the run
            self.errors.append(f"{self.spec.user_id} play {stream_id}: {exc!r}"[:300])

    async def join(self, app_id: int, secret: str, timeout: float) -> None:
        s = self.spec
        token = generateToken04(app_id, s.user_id, secret, 3600, makePrivilegePayload(s.room))
        try:
            start = time.monotonic()
            await asyncio.wait_for(self.engine.loginRoom(
                s.room, token, {"userID": s.user_id, "userName": s.user_id}), timeout)
            self.join_s = time.monotonic() - start
            if s.stream_id is not None:
                published = asyncio.Event()
                self.engine.on("publisherStateUpdate", lambda r: published.set()
                               if r["state"] == "PUBLISHING" else None)
                self.tone = _CountingTone(s.freq)
                local = await self.engine.createStream({"custom": {"source": self.tone}})
                self.engine.startPublishingStream(s.stream_id, local)
                await asyncio.wait_for(published.wait(), timeout)
            if s.cross:
                for sid in s.expect:
                    self.start_play(sid)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{s.user_id} join/publish: {exc!r}"[:300])

    def snapshot(self) -> dict[str, int]:
        return {sid: (r.frames_received if r is not None else 0)
                for sid, r in self.remotes.items()}

    def rtp_lost(self) -> int:
        """Sequence gaps seen by lean players (decoding players report playQualityUpdate)."""
        return sum(r.lost for r in self.remotes.values() if isinstance(r, LeanPlayer))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for remote in self.remotes.values():
            if isinstance(remote, LeanPlayer):
                await remote.stop()
        await self.engine.close()


def _lost_at(events: list[tuple[float, float, int]], t: float) -> int:
    """The cumulative packets-lost count last reported at or before ``t``."""
    return max((lost for when, _, lost in events if when <= t), default=0)


async def _worker(conn: Connection, specs: list[UserSpec], cfg: dict[str, Any]) -> None:
    counter = _LogCounter()
    for name in ("zego_py", "aiortc", "aioice", "asyncio"):
        logging.getLogger(name).addHandler(counter)
    users = [_User(s, cfg["urls"], cfg["options"], cfg["app_id"], cfg["lean"]) for s in specs]
    deadline = time.monotonic() + cfg["setup_timeout"]
    gate = asyncio.Semaphore(8)  # logins in flight per worker

    async def join(user: _User) -> None:
        async with gate:
            await user.join(cfg["app_id"], cfg["secret"], cfg["setup_timeout"])

    joins = [asyncio.ensure_future(join(u)) for u in users]
    await asyncio.wait(joins, timeout=cfg["setup_timeout"])
    for user, task in zip(users, joins, strict=True):
        if not task.done():
            task.cancel()
            user.errors.append(f"{user.spec.user_id}: not joined within the set-up timeout")
    expected = sum(len(u.spec.expect) for u in users)
    while (sum(len(u.first_audio_s) for u in users) < expected
           and time.monotonic() < deadline):
        await asyncio.sleep(0.05)
    conn.send(("ready", {
        "joins": [u.join_s for u in users if u.join_s is not None],
        "first_audio": [t for u in users for t in u.first_audio_s.values()]}))

    if not await asyncio.to_thread(conn.poll, cfg["setup_timeout"] + 30):
        return  # the parent is gone
    _, t_start, t_end = conn.recv()
    await asyncio.sleep(max(0.0, t_start - time.monotonic()))
    t1, before = time.monotonic(), [u.snapshot() for u in users]
    lean_lost1 = sum(u.rtp_lost() for u in users)
    sent1 = sum(u.tone.sent for u in users if u.tone is not None)
    lags: list[float] = []
    while time.monotonic() < t_end:  # event-loop lag: how late a 20 ms sleep wakes up
        tick = time.monotonic()
        await asyncio.sleep(0.02)
        lags.append(time.monotonic() - tick - 0.02)
    t2, after = time.monotonic(), [u.snapshot() for u in users]
    lean_lost = sum(u.rtp_lost() for u in users) - lean_lost1
    sent2 = sum(u.tone.sent for u in users if u.tone is not None)
    span = t2 - t1
    ratios, received = [], 0
    for u, b, a in zip(users, before, after, strict=True):
        for sid in u.spec.expect:  # a stream that never played counts as 0 frames
            got = a.get(sid, 0) - b.get(sid, 0)
            received += got
            ratios.append(got / (span * FPS))
    rates = [rate for u in users for ev in u.quality.values()
             for when, rate, _ in ev if t1 <= when <= t2]
    lost = sum(_lost_at(ev, t2) - _lost_at(ev, t1) for u in users for ev in u.quality.values())
    lost += lean_lost
    stops = [what for u in users for when, what in u.interruptions if when <= t2]
    conn.send(("result", {
        "span": span, "received": received, "expected_streams": expected,
        "played_streams": sum(len(u.first_audio_s) for u in users),
        "stream_ratios": ratios, "sent": sent2 - sent1,
        "speakers": sum(1 for u in users if u.tone is not None),
        "loss_rates": rates, "lost_packets": lost,
        "interruptions": len(stops),
        "lag_ms": [1000 * pct(lags, 0.99), 1000 * max(lags, default=0.0)],
        "errors": ([e for u in users for e in u.errors] + stops)[:10],
        "log": [counter.count, counter.first]}))
    # Leave only when every worker has measured, so no stream ends inside a window.
    await asyncio.to_thread(conn.poll, 60)
    await asyncio.wait_for(asyncio.gather(*(u.close() for u in users),
                                          return_exceptions=True), 20)


def worker_main(conn: Connection, specs: list[UserSpec], cfg: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    try:
        asyncio.run(_worker(conn, specs, cfg))
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", repr(exc)[:500]))
        raise


# ============================================================== parent: processes, /proc
def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all threads) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _spawn_mock_server(options: list[str], log_file: Any, started: Callable[[bytes], bool],
                       timeout: float, what: str) -> tuple[subprocess.Popen[bytes], bytes]:
    """``python -m mock_server OPTIONS`` as a child; returns it and its output so far,
    once ``started(output)`` (bounded by ``timeout``)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "mock_server", *options],
                            stdout=subprocess.PIPE, stderr=log_file, env=env)
    assert proc.stdout is not None
    out, deadline = b"", time.monotonic() + timeout
    while not started(out):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            stop_process(proc)
            raise SystemExit(f"{what} did not start: {out.decode(errors='replace')}")
        if select.select([proc.stdout], [], [], remaining)[0]:
            out += os.read(proc.stdout.fileno(), 4096)
    return proc, out


# Every load-test peer comes from 127.0.0.1: lift the per-address peer cap (64) that
# guards a real server against one hostile address.
_ONE_ADDRESS = ["--log-level", "WARNING", "--max-peers-per-address", "100000"]
_URL = rb"room server on (ws://\S+)\s"


def start_server(log_file: Any, timeout: float = 20.0) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m mock_server --port 0`` as a child; returns it and its ws:// URL."""
    proc, out = _spawn_mock_server(["--port", "0", *_ONE_ADDRESS], log_file,
                                   lambda out: re.search(_URL, out) is not None, timeout,
                                   "the room server")
    return proc, re.findall(_URL, out)[0].decode()


@dataclass
class Spawned:
    """What --spawn / --spawn-cluster started: the process to stop, and what to measure."""

    proc: subprocess.Popen[bytes]
    urls: list[str]
    pids: list[int]
    redis_url: str | None = None


def start_cluster(nodes: int, log_file: Any, timeout: float = 30.0) -> Spawned:
    """``python -m mock_server --workers N --port 0`` (and its local redis-server)."""
    proc, out = _spawn_mock_server(
        ["--workers", str(nodes), "--port", "0", *_ONE_ADDRESS], log_file,
        lambda out: len(re.findall(_URL, out)) >= nodes, timeout, "the cluster")
    by_port = {int(port): int(pid) for pid, port in re.findall(rb"pid (\d+) port (\d+)", out)}
    ordered = sorted(u.decode() for u in re.findall(_URL, out))
    redis_url = re.search(rb"redis-server on (redis://\S+)", out)
    return Spawned(proc, ordered, [by_port[urlparse(u).port or 0] for u in ordered],
                   redis_url.group(1).decode() if redis_url else None)


def redis_calls(redis_url: str | None) -> dict[str, int]:
    """Commands Redis has run so far, by name (INFO commandstats), INFO itself aside."""
    if redis_url is None:
        return {}
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
            if k != "cmdstat_info"}


def _ops(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}


def stop_process(proc: subprocess.Popen[bytes] | BaseProcess, timeout: float = 10.0) -> None:
    if isinstance(proc, subprocess.Popen):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _receive(conn: Connection, what: str, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError(f"a worker sent no {what} within {timeout:.0f} s")
    kind, body = conn.recv()
    if kind != what:
        raise RuntimeError(f"a worker failed: {body}")
    return body


def run(args: argparse.Namespace, urls: list[str], server_pids: list[int],
        redis_url: str | None = None) -> int:
    plan = plan_users(args.rooms, args.users, args.speakers, args.cross_node)
    host = urlparse(urls[0]).hostname or ""
    options = LOOPBACK if is_loopback(host) else {"iceServers": []}
    cfg = {"urls": urls, "options": options, "app_id": args.app_id,
           "secret": args.server_secret, "setup_timeout": args.setup_timeout,
           "lean": args.lean}
    redis0 = redis_calls(redis_url)
    ctx = mp.get_context("spawn")
    workers: list[tuple[BaseProcess, Connection]] = []
    completed = False
    for i in range(args.workers):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=worker_main, args=(child_end, plan[i::args.workers], cfg),
                           name=f"loadtest-worker-{i}", daemon=True)
        proc.start()
        workers.append((proc, parent_end))
    try:
        setup_start = time.monotonic()
        ready = [_receive(c, "ready", args.setup_timeout + 60) for _, c in workers]
        setup_s = time.monotonic() - setup_start
        redis_setup = _ops(redis0, redis_calls(redis_url))
        t_start = time.monotonic() + args.warmup
        t_end = t_start + args.duration
        for _, c in workers:
            c.send(("window", t_start, t_end))
        pids = [p.pid for p, _ in workers if p.pid is not None]
        time.sleep(max(0.0, t_start - time.monotonic()))
        wall1, m1, w1 = time.monotonic(), machine_ticks(), [cpu_seconds(p) for p in pids]
        s1 = [cpu_seconds(p) for p in server_pids]
        rss1 = sum(rss_mb(p) for p in server_pids) if server_pids else math.nan
        redis1 = redis_calls(redis_url)
        time.sleep(max(0.0, t_end - time.monotonic()))
        wall2, m2, w2 = time.monotonic(), machine_ticks(), [cpu_seconds(p) for p in pids]
        s2 = [cpu_seconds(p) for p in server_pids]
        rss2 = sum(rss_mb(p) for p in server_pids) if server_pids else math.nan
        redis_window = _ops(redis1, redis_calls(redis_url))
        results = [_receive(c, "result", 30) for _, c in workers]
        for _, c in workers:
            c.send(("close",))
        completed = True
    finally:  # after a result, a worker closes its engines (<= 20 s); on failure, stop now
        for worker, _ in workers:
            stop_process(worker, 30 if completed else 1)
    stalled = [p.name for p, _ in workers if p.exitcode != 0]
    span, cores = wall2 - wall1, os.cpu_count() or 1
    per_node = [100 * (b - a) / span for a, b in zip(s1, s2, strict=True)]
    server = {"cpu": sum(per_node) if server_pids else None, "per_node": per_node,
              "rss": rss2, "rss_growth": rss2 - rss1,
              "redis": (redis_setup, redis_window, span) if redis_url else None}
    return report(args, ", ".join(urls), server_pids, setup_s, ready, results, server,
                  [100 * (b - a) / span for a, b in zip(w1, w2, strict=True)],
                  100 * cores * (m2[0] - m1[0]) / max(1, m2[1] - m1[1]), stalled)


def report(args: argparse.Namespace, url: str, server_pids: list[int], setup_s: float,
           ready: list[dict[str, Any]], results: list[dict[str, Any]], server: dict[str, Any],
           worker_cpu: list[float], machine_busy: float, stalled: list[str]) -> int:
    joins = [t for r in ready for t in r["joins"]]
    first = [t for r in ready for t in r["first_audio"]]
    expected_streams = sum(r["expected_streams"] for r in results)
    played = sum(r["played_streams"] for r in results)
    expected_frames = sum(r["span"] * FPS * r["expected_streams"] for r in results)
    received = sum(r["received"] for r in results)
    ratio = received / expected_frames if expected_frames else math.nan
    ratios = [x for r in results for x in r["stream_ratios"]]
    speakers = sum(r["speakers"] for r in results)
    sent_expected = sum(r["span"] * FPS * r["speakers"] for r in results)
    sent_ratio = sum(r["sent"] for r in results) / sent_expected if sent_expected else math.nan
    rates = [x for r in results for x in r["loss_rates"]]
    lost = sum(r["lost_packets"] for r in results)
    lag_p99 = max(r["lag_ms"][0] for r in results)
    lag_max = max(r["lag_ms"][1] for r in results)
    errors = [e for r in results for e in r["errors"]]
    log_count = sum(r["log"][0] for r in results)
    cores = os.cpu_count() or 1
    ms = 1000.0

    print(f"zego_py load test: {args.rooms} rooms x {args.users} users x {args.speakers} "
          f"speakers, {args.duration:g} s steady after {args.warmup:g} s warm-up, "
          f"{args.workers} workers, {time.strftime('%Y-%m-%d %H:%M')}")
    where = f"pid {', '.join(map(str, server_pids))}" if server_pids else "pid unknown"
    spawned = ", spawned" if args.spawn or args.spawn_cluster else ""
    print(f"server           : {url} ({where}{spawned})")
    print(f"listeners        : {'lean (RTP counted, not decoded)' if args.lean else 'decoding'}"
          f"{'; cross-node: room r plays room r+1' if args.cross_node else ''}")
    print(f"set-up           : {setup_s:.1f} s; {played} of {expected_streams} streams played, "
          f"{speakers} published")
    print(f"join (loginRoom) : p50 {pct(joins, .5) * ms:.0f} ms  p95 {pct(joins, .95) * ms:.0f}"
          f" ms  (n={len(joins)})")
    print(f"first audio      : p50 {pct(first, .5) * ms:.0f} ms  p95 {pct(first, .95) * ms:.0f}"
          f" ms  (n={len(first)}; startPlayingStream -> first decoded frame)")
    print(f"frames delivered : {ratio:.4f} ({received} of {expected_frames:.0f} expected at "
          f"{FPS} fps); worst stream {min(ratios, default=math.nan):.3f}")
    print(f"frames sent      : {sent_ratio:.4f} (tone frames the speakers sent / expected)")
    print(f"loss             : RTP {sum(rates) / len(rates) if rates else 0:.2f} % mean, "
          f"{max(rates, default=0):.2f} % worst (playQualityUpdate, n={len(rates)}), "
          f"{lost} packets; frame deficit {max(0.0, 1 - ratio) * 100:.2f} %")
    if server["cpu"] is None:
        print("server           : CPU/RSS unknown (give --server-pid, or use --spawn)")
    else:
        nodes = (f" ({' + '.join(f'{c:.1f}' for c in server['per_node'])} over "
                 f"{len(server['per_node'])} nodes)" if len(server["per_node"]) > 1 else "")
        print(f"server           : CPU {server['cpu']:.1f} % of one core{nodes}, RSS "
              f"{server['rss']:.1f} MB ({server['rss_growth']:+.1f} MB over the window)")
        if expected_streams:
            print(f"server per stream: {server['cpu'] / expected_streams:.3f} % of a core per "
                  f"listening stream (all server CPU / {expected_streams} streams)")
    if server.get("redis"):
        setup_ops, window_ops, span = server["redis"]
        logins = args.rooms * args.users
        print(f"redis            : {sum(setup_ops.values()) / logins:.1f} commands per login "
              f"during set-up (with its publish/play), "
              f"{sum(window_ops.values()) / span / args.rooms:.2f} per second per room "
              f"in the window ({', '.join(f'{k} {v}' for k, v in sorted(window_ops.items()))})")
    print(f"clients          : CPU {sum(worker_cpu):.1f} % of one core in {len(worker_cpu)} "
          f"workers ({', '.join(f'{c:.0f}' for c in worker_cpu)}); loop lag p99 "
          f"{lag_p99:.1f} ms, max {lag_max:.0f} ms")
    others = max(0.0, machine_busy - sum(worker_cpu) - (server["cpu"] or 0.0))
    print(f"machine          : {machine_busy:.0f} % of one core busy, of {cores * 100} % "
          f"({others:.0f} % outside this test's server and workers)")
    interruptions = sum(r["interruptions"] for r in results)
    if interruptions or errors or log_count or stalled:
        print(f"problems         : {interruptions} player interruptions, {len(errors)} errors, "
              f"{log_count} client warnings, workers not exiting cleanly: {stalled or 'none'}")
        for line in errors[:5] + [x for r in results for x in r["log"][1]][:5]:
            print(f"                   {line}")
    held = (played == expected_streams and ratio >= 0.99 and sent_ratio >= 0.99
            and not any(rates) and lost == 0)
    print(f"verdict          : {'held' if held else 'NOT held'} (every stream played, frames "
          "delivered and sent >= 0.99, no RTP loss)")
    limits = []  # what ran out, judged from the figures above
    if sent_ratio < 0.99 or lag_p99 > 100:
        limits.append("the load generator fell behind (frames sent < 0.99 or loop lag > 100 ms)")
    if server["cpu"] is not None and server["cpu"] > 80:
        limits.append("the server is near one full core")
    if machine_busy > 0.9 * cores * 100:
        limits.append(f"the machine's {cores} cores are > 90 % busy")
    if limits:
        print(f"limit            : {'; '.join(limits)}")
    return 0 if played == expected_streams and not stalled else 1


# ============================================================== command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m mock_server.loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", action="append",
                        help="a running server's ws://host:port/ws (repeat for each node)")
    target.add_argument("--spawn", action="store_true",
                        help="start `python -m mock_server --port 0` as a child (and measure it)")
    target.add_argument("--spawn-cluster", type=int, default=0, metavar="N",
                        help="start `python -m mock_server --workers N` (N nodes and a local "
                             "redis-server) and measure every node")
    p.add_argument("--server-pid", type=int, action="append", default=None,
                   help="with --url: the server's pid, for CPU/RSS (repeat for each node)")
    p.add_argument("--redis", default=None,
                   help="with --url: the cluster's Redis, to count its commands")
    p.add_argument("--lean", action="store_true",
                   help="listeners count RTP packets instead of decoding (LeanPlayer)")
    p.add_argument("--cross-node", action="store_true",
                   help="room r's users play room r+1's speakers (rooms alternate over nodes)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    p.add_argument("--rooms", type=int, default=1)
    p.add_argument("--users", type=int, default=2, help="users per room")
    p.add_argument("--speakers", type=int, default=1, help="publishing users per room")
    p.add_argument("--duration", type=float, default=10.0, help="steady window, seconds")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds after every stream played before the window")
    p.add_argument("--workers", type=int, default=2, help="client processes")
    p.add_argument("--setup-timeout", type=float, default=30.0,
                   help="seconds for joins, publishes and first audio")
    p.add_argument("--app-id", type=int, default=DEV_APP_ID)
    p.add_argument("--server-secret", default=DEV_SERVER_SECRET)
    args = p.parse_args(argv)
    total = args.rooms * args.users
    checks = [
        (args.rooms >= 1, "--rooms must be >= 1"),
        (args.users >= 2, "--users must be >= 2"),
        (1 <= args.speakers <= args.users, "--speakers must be 1..users"),
        (total <= MAX_USERS * max(1, args.spawn_cluster, len(args.url or ())),
         f"rooms x users must be <= {MAX_USERS} per node"),
        (not args.cross_node or args.rooms >= 2, "--cross-node needs --rooms >= 2"),
        (0 < args.duration <= MAX_DURATION_S, f"--duration must be in (0, {MAX_DURATION_S:g}]"),
        (0 <= args.warmup <= 60, "--warmup must be 0..60"),
        (1 <= args.workers <= min(16, total), "--workers must be 1..min(16, rooms x users)"),
        (1 <= args.setup_timeout <= 300, "--setup-timeout must be 1..300"),
        (args.server_pid is None or not args.spawn, "--server-pid is for --url"),
    ]
    for ok, message in checks:
        if not ok:
            p.error(message)
    for url in args.url or ():
        parsed = urlparse(url)
        if parsed.scheme not in ("ws", "wss"):
            p.error("--url must be ws:// or wss://")
        if not is_loopback(parsed.hostname or "") and not args.allow_remote:
            p.error(f"refusing non-loopback host {parsed.hostname!r} (use --allow-remote)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except (RuntimeError, OSError, EOFError) as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    if args.url:
        return run(args, args.url, args.server_pid or [], args.redis)
    with tempfile.NamedTemporaryFile("w+b", prefix="loadtest-server-", suffix=".log",
                                     delete=False) as log_file:
        if args.spawn_cluster:
            spawned = start_cluster(args.spawn_cluster, log_file)
        else:
            server, url = start_server(log_file)
            spawned = Spawned(server, [url], [server.pid])
        try:
            code = run(args, spawned.urls, spawned.pids, spawned.redis_url)
        finally:
            stop_process(spawned.proc)
        log_file.seek(0)
        lines = log_file.read().decode(errors="replace").splitlines()
    problems = [line for line in lines if (" WARNING " in line or " ERROR " in line)
                and "dev token endpoint" not in line]  # dev mode says so at start-up
    if problems:
        print(f"server log       : {len(problems)} warnings/errors, in {log_file.name}")
        for line in problems[:5]:
            print(f"                   {line[:200]}")
    else:
        os.unlink(log_file.name)
    return code


if __name__ == "__main__":
    sys.exit(main())
