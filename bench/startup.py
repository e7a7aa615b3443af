"""2. Start-up times and login throughput.

- loginRoom -> CONNECTED (``roomStateUpdate``), median over the sequential logins below;
- startPlayingStream call -> first frame with signal at the listener (a tone publisher
  is already in the room); anchor: a direct aiortc call, createOffer -> first frame
  with signal;
- logins per second the server holds: N engines logging in one after another, and all
  at once (3 rounds each, median); the server runs in a child process and its CPU per
  login is reported;
- anchor for the signaling figures: a bare ``websockets`` echo server in a child
  process, same machine, same run (connect + one echo; the echo round trip on an open
  connection beside our ``ping`` request round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import websockets

from mock_server import DEV_APP_ID
from zego_py import ZegoExpressEngine
from zego_py.media.pcm import frame_to_mono_int16
from zego_py.media.sources import ToneSource

from .common import ClickDetector, ms, proc_cpu_seconds, summary
from .harness import (
    LOOPBACK,
    close_all,
    joined_engine,
    make_token,
    p2p_call,
    publish,
    server_child,
)
from .report import Row

NAME = "startup"
LOGIN = "loginRoom -> CONNECTED"
PLAY = "startPlayingStream -> first audio"
THROUGHPUT = "logins per second"


async def _timed_login(url: str, user_id: str, room_id: str = "bench"
                       ) -> tuple[ZegoExpressEngine, float]:
    """A fresh engine logged in; returns it and seconds from loginRoom to CONNECTED."""
    engine = ZegoExpressEngine(DEV_APP_ID, url, options=dict(LOOPBACK))
    connected: list[float] = []

    def on_state(room: str, state: str, *_: Any) -> None:
        if state == "CONNECTED":
            connected.append(time.perf_counter())

    engine.on("roomStateUpdate", on_state)
    t0 = time.perf_counter()
    try:
        await engine.loginRoom(room_id, make_token(user_id), {"userID": user_id})
    except BaseException:
        await engine.close()
        raise
    return engine, (connected[0] if connected else time.perf_counter()) - t0


async def _first_signal(frames: Any, det: ClickDetector, timeout: float = 10.0) -> float:
    async def run() -> float:
        async for pcm in frames:
            det.feed(pcm, time.perf_counter())
            if det.first_signal_at is not None:
                return det.first_signal_at
        raise RuntimeError("stream ended before any audio")

    return await asyncio.wait_for(run(), timeout)


async def play_startup(url: str, n: int) -> dict[str, Any]:
    """N fresh listeners: loginRoom -> CONNECTED and startPlayingStream -> first audio."""
    pub = await joined_engine(url, "start_pub")
    logins: list[float] = []
    plays: list[float] = []
    resolves: list[float] = []
    late_iterators = 0
    try:
        await publish(pub, "start_tone", ToneSource(440, 0.3))
        await asyncio.sleep(0.3)
        for i in range(n):
            engine, login_s = await _timed_login(url, f"start_sub{i}")
            try:
                logins.append(login_s)
                t0 = time.perf_counter()
                remote = await engine.startPlayingStream("start_tone", {"speaker": False})
                resolves.append(time.perf_counter() - t0)
                if remote.frames_received:  # audio arrived before we could iterate
                    late_iterators += 1
                    assert remote.first_audio_at is not None
                    plays.append(remote.first_audio_at - t0)
                else:
                    plays.append(await _first_signal(remote.audioFrames(), ClickDetector()) - t0)
            finally:
                await engine.close()
    finally:
        await pub.close()
    return {"login_s": logins, "play_s": plays, "play_resolve_s": resolves,
            "first_frame_before_iterator": late_iterators}


async def p2p_startup(n: int) -> list[float]:
    """createOffer -> first decoded frame with signal on a direct call (the anchor)."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call = await p2p_call(ToneSource(440, 0.3))
        try:
            remote = await asyncio.wait_for(call.remote, 10)

            async def frames(remote: Any = remote) -> Any:
                while True:
                    yield frame_to_mono_int16(await remote.recv())

            out.append(await _first_signal(frames(), ClickDetector()) - t0)
        finally:
            await call.close()
    return out


async def _close_socks(socks: list[Any]) -> None:
    for ws in socks:
        with contextlib.suppress(Exception):
            await ws.close()


async def login_throughput(url: str, server_pid: int, n: int, repeats: int = 3
                           ) -> dict[str, Any]:
    """``repeats`` times: N engines log in one by one, then N all at once.

    Returns every sequential loginRoom -> CONNECTED time, the median logins/s of each
    way, the server's CPU per login and our ``ping`` request round trip.
    """
    warm, _ = await _timed_login(url, "warm", "warm")
    engines: list[ZegoExpressEngine] = []
    times: list[float] = []
    seq_rates, par_rates, seq_cpu, par_cpu = [], [], [], []
    failures: list[str] = []
    try:
        for r in range(repeats):
            cpu0, t0 = proc_cpu_seconds(server_pid), time.perf_counter()
            for i in range(n):
                engine, dt = await _timed_login(url, f"seq{r}_{i}", "logins")
                engines.append(engine)
                times.append(dt)
            seq_rates.append(n / (time.perf_counter() - t0))
            seq_cpu.append((proc_cpu_seconds(server_pid) - cpu0) / n)
            await close_all(engines)
            engines.clear()
            cpu0, t0 = proc_cpu_seconds(server_pid), time.perf_counter()
            results = await asyncio.gather(
                *(_timed_login(url, f"par{r}_{i}", "logins") for i in range(n)),
                return_exceptions=True)
            wall = time.perf_counter() - t0
            engines = [x[0] for x in results if isinstance(x, tuple)]
            failures += [repr(x) for x in results if not isinstance(x, tuple)]
            par_rates.append(len(engines) / wall)
            par_cpu.append((proc_cpu_seconds(server_pid) - cpu0) / max(1, len(engines)))
            await close_all(engines)
            engines.clear()
        rtts = []
        link = warm._rooms["warm"].link  # private, for one figure: the ping request RTT
        for _ in range(200):
            t = time.perf_counter()
            await link.request("ping", {})
            rtts.append(time.perf_counter() - t)
    finally:
        await close_all([warm, *engines])
    return {"n": n, "repeats": repeats, "login_s": times,
            "sequential_per_s": statistics.median(seq_rates), "sequential_runs": seq_rates,
            "sequential_server_cpu_ms_per_login": 1000 * statistics.median(seq_cpu),
            "concurrent_per_s": statistics.median(par_rates), "concurrent_runs": par_rates,
            "concurrent_server_cpu_ms_per_login": 1000 * statistics.median(par_cpu),
            "concurrent_failures": len(failures), "concurrent_failed": failures[:5],
            "ping_rtt": ms(summary(rtts))}


async def echo_anchor(url: str, n: int, repeats: int = 3) -> dict[str, Any]:
    """Bare websockets, the same pattern: connect + one echo, one by one then all at once."""

    async def connect_echo() -> Any:
        ws = await websockets.connect(url, ping_interval=None)
        await ws.send('{"v":1,"id":1,"type":"login"}')
        await ws.recv()
        return ws

    warm = await connect_echo()
    socks: list[Any] = []
    times: list[float] = []
    seq_rates, par_rates = [], []
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                t = time.perf_counter()
                socks.append(await connect_echo())
                times.append(time.perf_counter() - t)
            seq_rates.append(n / (time.perf_counter() - t0))
            await _close_socks(socks)
            socks.clear()
            t0 = time.perf_counter()
            socks += await asyncio.gather(*(connect_echo() for _ in range(n)))
            par_rates.append(n / (time.perf_counter() - t0))
            await _close_socks(socks)
            socks.clear()
        rtts = []
        for _ in range(200):
            t = time.perf_counter()
            await warm.send('{"v":1,"id":1,"type":"ping"}')
            await warm.recv()
            rtts.append(time.perf_counter() - t)
    finally:
        await _close_socks([warm, *socks])
    return {"connect_echo": ms(summary(times)), "connect_echo_s": times,
            "sequential_per_s": statistics.median(seq_rates), "sequential_runs": seq_rates,
            "concurrent_per_s": statistics.median(par_rates), "concurrent_runs": par_rates,
            "echo_rtt": ms(summary(rtts))}


async def run(quick: bool = False) -> dict[str, Any]:
    n_play = 6 if quick else 15
    n_logins = 50 if quick else 150
    async with server_child("echo") as (_, echo_url):
        echo = await echo_anchor(echo_url, n_logins)
    async with server_child("zego") as (child, url):
        plays = await play_startup(url, n_play)
        throughput = await login_throughput(url, child.pid, n_logins)
    p2p = await p2p_startup(n_play)
    login = ms(summary(throughput["login_s"]))
    play = ms(summary(plays["play_s"]))
    resolve = ms(summary(plays["play_resolve_s"]))
    p2p_s = ms(summary(p2p))
    conn_echo = echo["connect_echo"]
    rows = [
        Row(LOGIN, "median", login["median"], "ms", "ws connect+echo", conn_echo["median"],
            note=f"n={login['n']}"),
        Row(LOGIN, "p95", login["p95"], "ms", "ws connect+echo", conn_echo["p95"]),
        Row(PLAY, "median", play["median"], "ms", "aiortc P2P offer->audio", p2p_s["median"],
            note=f"n={n_play}; the call itself resolves after {resolve['median']:.0f} ms"),
        Row(PLAY, "p95", play["p95"], "ms", "aiortc P2P offer->audio", p2p_s["p95"]),
        Row(THROUGHPUT, "one by one (median of 3)", throughput["sequential_per_s"], "/s",
            "ws connect+echo", echo["sequential_per_s"],
            note=f"server {throughput['sequential_server_cpu_ms_per_login']:.1f} ms CPU/login"),
        Row(THROUGHPUT, f"{n_logins} at once (median of 3)", throughput["concurrent_per_s"], "/s",
            "ws connect+echo", echo["concurrent_per_s"],
            note=(f"server {throughput['concurrent_server_cpu_ms_per_login']:.1f} ms CPU/login"
                  + (f"; {throughput['concurrent_failures']} failed"
                     if throughput["concurrent_failures"] else ""))),
        Row("signaling request RTT (ping)", "median", throughput["ping_rtt"]["median"], "ms",
            "ws echo RTT", echo["echo_rtt"]["median"]),
    ]
    return {"name": NAME, "rows": rows,
            "raw": {"engine": plays, "login": login, "play": play, "play_resolve": resolve,
            "p2p_offer_to_audio": p2p_s,
                    "throughput": throughput, "echo": echo}}
