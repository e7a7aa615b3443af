"""Browser participants: headless Chromium runs the page and /zego.js served by the room
server, and talks with zego_py engines through the relay.

Every check is on the audio itself: each side finds the other's tone by FFT (numpy on the
Python side, a WebAudio AnalyserNode on the page), plus getStats on both.  Chromium's fake
microphone plays a WAV of a pure tone written here.  When this process may (root), the
server, the engines and Chromium share a private network namespace with only loopback
(tests/chromium.py); docs/browser.md has the flags and the reasons.

Skips when /usr/bin/chromium or playwright is missing; with ZEGO_REQUIRE_BROWSER=1 (CI)
that is a failure instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromium import (
    browser,
    interface_names,
    open_page,
    private_network,
    require_browser,
    write_tone_wav,
)
from conftest import Harness, Recorder, fast_config, wait_until
from spectrum import tones_present
from test_media import collect as collect_pcm

from mock_server import ServerConfig
from zego_py import ZegoExpressEngine
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(120)

log = logging.getLogger("tests.browser")

WAIT_S = 20.0  # the longest any single wait below may take


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def isolated() -> Any:
    """Skip/fail first, then a private loopback-only network (when root) for everything."""
    require_browser()
    with private_network() as entered:
        if entered:
            assert interface_names() == ["lo"]
        yield entered


@pytest.fixture
def server_config(isolated: bool) -> ServerConfig:
    # Overrides conftest's: depending on `isolated` makes the server bind inside the
    # namespace.  A page needs a moment longer than an engine to send its login.
    return fast_config(login_deadline_s=10.0)


@pytest.fixture
async def playwright(isolated: bool) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        yield pw


@dataclass
class Page:
    """One browser participant: its page and what it logged."""

    page: Any
    user_id: str
    stream_id: str
    console: list[str] = field(default_factory=list)

    async def js(self, expression: str, arg: Any = None, timeout: float = WAIT_S) -> Any:
        async with asyncio.timeout(timeout):
            return await self.page.evaluate(expression, arg)

    async def state(self) -> dict[str, Any]:
        return await self.js("zegoTest.state()")

    async def wait_for(self, predicate: str, what: str, timeout: float = WAIT_S) -> None:
        """Wait until ``predicate`` (JS, with ``s`` = zegoTest.state()) holds."""
        try:
            await self.page.wait_for_function(f"(() => {{ const s = zegoTest.state(); "
                                              f"return {predicate}; }})()",
                                              timeout=timeout * 1000, polling=100)
        except Exception as exc:
            state = await self.state()
            raise AssertionError(f"{self.user_id}: timed out waiting for {what}: "
                                 f"{json.dumps(state)[:3000]}\nconsole: {self.console[-20:]}"
                                 ) from exc

    async def spectrum(self, stream_id: str, freqs: list[float], ms: int = 2000
                       ) -> dict[str, Any]:
        return await self.js("([sid, freqs, ms]) => zegoTest.spectrum(sid, {ms, freqs})",
                             [stream_id, freqs, ms])

    async def stats(self, stream_id: str) -> dict[str, Any]:
        return await self.js("(sid) => zegoTest.stats(sid)", stream_id)


def page_url(harness: Harness, user_id: str, stream_id: str, room_id: str = "room1") -> str:
    http = harness.url.replace("ws://", "http://").removesuffix("/ws")
    return f"{http}/?roomID={room_id}&userID={user_id}&streamID={stream_id}&processing=0"


async def join_page(harness: Harness, context: Any, user_id: str, stream_id: str) -> Page:
    page = Page(None, user_id, stream_id)
    page.page = await open_page(context, page_url(harness, user_id, stream_id), page.console)
    ok = await page.js("zegoTest.ready")
    assert ok, f"{user_id} failed to start: {await page.state()}\n{page.console}"
    await page.wait_for("s.publisherState === 'PUBLISHING'", "publishing")
    return page


# ---------------------------------------------------------------------- python side
async def publish_tone(engine: ZegoExpressEngine, rec: Recorder, stream_id: str,
                       freq: float) -> None:
    local = await engine.createStream({"custom": {"source": ToneSource(freq, 0.3)}})
    assert engine.startPublishingStream(stream_id, local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" and e[0]["streamID"] == stream_id
                                 for e in rec["publisherStateUpdate"]),
                     timeout=WAIT_S, what=f"{stream_id} publishing")


async def collect(remote: ZegoRemoteStream, frames: int, timeout: float = WAIT_S) -> np.ndarray:
    """The next ``frames`` 20 ms frames, one per row (test_media.collect, reshaped)."""
    return (await collect_pcm(remote, frames, timeout)).reshape(frames, -1)


async def engine_play(engine: ZegoExpressEngine, rec: Recorder, stream_id: str
                      ) -> ZegoRemoteStream:
    await wait_until(lambda: any(s["streamID"] == stream_id
                                 for e in rec["roomStreamUpdate"] if e[1] == "ADD"
                                 for s in e[2]),
                     timeout=WAIT_S, what=f"ADD {stream_id}")
    return await asyncio.wait_for(engine.startPlayingStream(stream_id, {"speaker": False}),
                                  WAIT_S)


async def engine_inbound_stats(engine: ZegoExpressEngine, stream_id: str) -> dict[str, Any]:
    """aiortc's inbound-rtp figures for a played stream (no public API has them raw)."""
    pc = engine._media._players[stream_id].pc
    assert pc is not None
    report = await pc.getStats()
    return next(vars(s) for s in report.values() if s.type == "inbound-rtp")


def check_heard(frames: np.ndarray, expected: float, candidates: list[float]) -> None:
    """The tone is there, alone, and never drops out (no silent 20 ms frame)."""
    pcm = frames.reshape(-1)
    assert tones_present(pcm, candidates) == {expected}, (expected, candidates)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    silent = int(np.sum(rms < 32768 * 10 ** (-40 / 20)))
    assert silent == 0, f"{silent} of {len(frames)} frames were silent"


def check_page_heard(spec: dict[str, Any], expected: float, others: list[float]) -> None:
    assert spec.get("frequency") is not None, spec
    assert abs(spec["frequency"] - expected) < 3.0, spec
    assert spec["concentration"] > 0.5, spec
    for f in others:
        assert spec["bands"][str(int(f))] < -20, (f, spec)


def check_page_stats(stats: dict[str, Any], isolated: bool) -> None:
    assert stats["codec"] == "audio/opus", stats
    assert stats["packetsReceived"] > 50, stats
    assert stats["packetsLost"] == 0, stats
    # Concealment: at most one startup event's worth (browser.md saw up to 10 080 samples
    # once in 18 runs); a steady tone through the relay on loopback needs none after.
    assert stats["totalSamplesReceived"] > 24000, stats  # playout ran for 0.5 s at least
    assert stats["concealedSamples"] <= 0.05 * stats["totalSamplesReceived"], stats
    assert stats["remote"].startswith("127.0.0.1:"), stats  # the relay
    if isolated:  # else Chromium may send from a real interface's address to 127.0.0.1
        assert stats["local"].startswith("127.0.0.1:"), stats


# ---------------------------------------------------------------------- tests
async def test_browser_and_engine_hear_each_other(harness: Harness, playwright: Any,
                                                  isolated: bool, tmp_path: Path) -> None:
    t0 = time.monotonic()
    engine, rec = await harness.joined("py1")
    await publish_tone(engine, rec, "s_py1", 1000.0)
    wav = write_tone_wav(tmp_path / "440.wav", 440.0)
    async with browser(playwright, wav) as context:
        t_launch = time.monotonic()
        web = await join_page(harness, context, "web1", "s_web1")
        t_ready = time.monotonic()

        # Python hears the browser's fake microphone: 440 Hz, nothing else, no dropouts.
        remote = await engine_play(engine, rec, "s_web1")
        frames = await collect(remote, 150)
        check_heard(frames[-100:], 440.0, [440.0, 1000.0])
        inbound = await engine_inbound_stats(engine, "s_web1")
        assert inbound["packetsReceived"] > 100 and inbound["packetsLost"] == 0, inbound

        # The page hears the engine: 1 kHz by WebAudio FFT, and its own mic is 440 Hz.
        await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1")
        heard = await web.spectrum("s_py1", [440, 1000])
        check_page_heard(heard, 1000.0, [440.0])
        mic = await web.spectrum("s_web1", [440, 1000], ms=500)
        check_page_heard(mic, 440.0, [1000.0])
        received = await web.stats("s_py1")
        check_page_stats(received, isolated)
        sent = await web.stats("s_web1")
        log.info("page hears %.2f Hz (%.0f %% of energy in the peak), its mic %.2f Hz; "
                 "inbound %s; outbound %s; engine inbound %s", heard["frequency"],
                 100 * heard["concentration"], mic["frequency"], received, sent, inbound)
        assert sent["type"] == "outbound-rtp" and sent["packetsSent"] > 100, sent
        assert sent["remote"].startswith("127.0.0.1:"), sent
        if isolated:
            assert sent["local"].startswith("127.0.0.1:"), sent

        # Events both ways: roster, broadcast messages, mic status, sound levels.
        await web.wait_for("s.users.includes('py1') && s.levels.s_py1 > 50", "py1's level")
        await engine.sendBroadcastMessage("room1", "hello from python")
        await web.wait_for("s.events.some(e => e.includes('message from py1: hello from python'))",
                           "the broadcast at the page")
        reply = await web.js("zegoTest.engine.sendBroadcastMessage('room1', 'hello from web')")
        assert reply["errorCode"] == 0, reply
        await wait_until(lambda: any(m["message"] == "hello from web"
                                     for e in rec["IMRecvBroadcastMessage"] for m in e[1]),
                         timeout=WAIT_S, what="the broadcast at the engine")
        assert rec["roomUserUpdate"][0][1:] == ("ADD", [{"userID": "web1", "userName": "web1"}])
        local = engine._media._publishers["s_py1"].local
        engine.mutePublishStreamAudio(local, True)
        await web.wait_for("s.events.some(e => e.includes('remoteMicStatusUpdate s_py1 MUTE'))",
                           "MUTE at the page")
        assert not any("pageerror" in line for line in web.console), web.console
        assert not [c for c in web.console if c.startswith("error")], web.console
    log.info("browser<->engine: launch %.1f s, page ready %.1f s, total %.1f s",
             t_launch - t0, t_ready - t_launch, time.monotonic() - t0)


async def test_page_shows_the_roster(harness: Harness, playwright: Any, tmp_path: Path) -> None:
    for user, freq in (("alice", 300.0), ("bob", 700.0)):
        engine, rec = await harness.joined(user)
        await publish_tone(engine, rec, f"s_{user}", freq)
    wav = write_tone_wav(tmp_path / "440.wav", 440.0)
    async with browser(playwright, wav) as context:
        web = await join_page(harness, context, "carol", "s_carol")
        await web.wait_for("s.players.s_alice === 'PLAYING' && s.players.s_bob === 'PLAYING'"
                           " && s.levels.s_alice > 0 && s.levels.s_bob > 0 && s.levels.s_carol > 0",
                           "both streams playing with levels")
        await asyncio.sleep(0.6)  # one more level update, so every meter is drawn
        rows = await web.js("""[...document.querySelectorAll('#roster tr')].map(r => ({
            user: r.dataset.user, stream: r.dataset.stream,
            text: r.innerText.replace(/\\s+/g, ' ').trim(),
            meter: parseFloat((r.querySelector('.meter > div') || {style: {}}).style.width)}))""")
        assert [r["user"] for r in rows] == ["carol", "alice", "bob"], rows
        assert [r["stream"] for r in rows] == ["s_carol", "s_alice", "s_bob"], rows
        assert all(r["meter"] > 0 for r in rows), rows
        assert "PLAYING" in rows[1]["text"] and "PUBLISHING" in rows[0]["text"], rows
        shot = Path(os.environ.get("ZEGO_SCREENSHOT_DIR", tmp_path)) / "browser-roster.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        await web.page.screenshot(path=str(shot), timeout=WAIT_S * 1000)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
        log.info("roster screenshot: %s", shot)


async def test_two_browsers_and_two_engines_all_hear_each_other(
        harness: Harness, playwright: Any, isolated: bool, tmp_path: Path) -> None:
    freqs = {"py1": 1000.0, "py2": 1380.0, "web1": 440.0, "web2": 620.0}
    candidates = list(freqs.values())
    engines = {}
    for user in ("py1", "py2"):
        engines[user] = await harness.joined(user)
        await publish_tone(*engines[user], f"s_{user}", freqs[user])
    async with (browser(playwright, write_tone_wav(tmp_path / "a.wav", freqs["web1"])) as b1,
                browser(playwright, write_tone_wav(tmp_path / "b.wav", freqs["web2"])) as b2):
        pages = {"web1": await join_page(harness, b1, "web1", "s_web1"),
                 "web2": await join_page(harness, b2, "web2", "s_web2")}

        # Each engine plays the three others and hears exactly the right tone in each.
        async def engine_hears(user: str) -> None:
            engine, rec = engines[user]
            others = [o for o in freqs if o != user]
            remotes = await asyncio.gather(*(engine_play(engine, rec, f"s_{o}") for o in others))
            heard = await asyncio.gather(*(collect(r, 75) for r in remotes))
            for other, frames in zip(others, heard, strict=True):
                check_heard(frames[-50:], freqs[other], candidates)

        # Each page plays the three others and finds each one's tone by FFT.
        async def page_hears(user: str) -> None:
            page = pages[user]
            others = [o for o in freqs if o != user]
            await page.wait_for(" && ".join(f"s.players.s_{o} === 'PLAYING'" for o in others),
                                "three streams playing")
            spectra = await asyncio.gather(*(page.spectrum(f"s_{o}", candidates, ms=1000)
                                             for o in others))
            for other, spec in zip(others, spectra, strict=True):
                log.info("%s hears s_%s: %.1f Hz", user, other, spec["frequency"])
                check_page_heard(spec, freqs[other], [f for f in candidates if f != freqs[other]])
                check_page_stats(await page.stats(f"s_{other}"), isolated)
            assert (await page.state())["users"] == sorted(others)

        await asyncio.gather(*(engine_hears(u) for u in engines), *(page_hears(u) for u in pages))


async def test_page_resumes_its_session_after_the_socket_drops(
        harness: Harness, playwright: Any, tmp_path: Path) -> None:
    engine, rec = await harness.joined("py1")
    await publish_tone(engine, rec, "s_py1", 1000.0)
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        web = await join_page(harness, context, "web1", "s_web1")
        remote = await engine_play(engine, rec, "s_web1")
        await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1")
        seen = len(rec["roomStreamUpdate"]), len(rec["roomUserUpdate"])

        key = next(k for k, s in harness.server.registry.sessions.items()
                   if s.user["userID"] == "web1")
        harness.server.connections[key].ws.transport.abort()  # the server side cuts it
        await web.wait_for("s.events.some(e => e.includes('roomStateChanged RECONNECTED'))",
                           "RECONNECTED")
        events = [e.split(" ", 1)[1] for e in (await web.state())["events"]]
        changes = [e for e in events if e.startswith("roomStateChanged")]
        assert changes[-2:] == ["roomStateChanged RECONNECTING 1000017",
                                "roomStateChanged RECONNECTED"], events
        # the same session: media never stopped, the engine saw no change in the room
        check_heard((await collect(remote, 75))[-50:], 440.0, [440.0, 1000.0])
        check_page_heard(await web.spectrum("s_py1", [440, 1000], ms=1000), 1000.0, [440.0])
        assert (len(rec["roomStreamUpdate"]), len(rec["roomUserUpdate"])) == seen
        assert (await web.state())["roomState"] == "CONNECTED"
        # and signaling works on the new socket
        reply = await web.js("zegoTest.engine.sendBroadcastMessage('room1', 'back')")
        assert reply["errorCode"] == 0, reply
        await wait_until(lambda: any(m["message"] == "back"
                                     for e in rec["IMRecvBroadcastMessage"] for m in e[1]),
                         timeout=WAIT_S, what="the message after the resume")
