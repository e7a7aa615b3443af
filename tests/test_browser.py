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
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from chromium import (
    WEB,
    browser,
    interface_names,
    open_page,
    private_network,
    require_browser,
    serve_file,
    write_tone_wav,
)
from conftest import ALL_EVENTS, LOOPBACK, Harness, Recorder, fast_config, make_token, wait_until
from spectrum import tones_present
from test_media import collect as collect_pcm

from mock_server import DEV_APP_ID, ServerConfig
from mock_server.server import RoomServer
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
    """One browser participant: its page and what it logged.

    ``state_js`` is the page's own summary of what it saw: the bundled page's
    ``zegoTest.state()``, or the ZEGO sample page's ``window.sample``.
    """

    page: Any
    user_id: str
    stream_id: str
    console: list[str] = field(default_factory=list)
    state_js: str = "zegoTest.state()"

    async def js(self, expression: str, arg: Any = None, timeout: float = WAIT_S) -> Any:
        async with asyncio.timeout(timeout):
            return await self.page.evaluate(expression, arg)

    async def state(self) -> dict[str, Any]:
        return await self.js(f"JSON.parse(JSON.stringify({self.state_js}, "
                             "(k, v) => v instanceof MediaStream || k === 'zg' ? undefined : v))")

    async def wait_for(self, predicate: str, what: str, timeout: float = WAIT_S) -> None:
        """Wait until ``predicate`` (JS, with ``s`` = the page's state) holds."""
        try:
            await self.page.wait_for_function(f"(() => {{ const s = {self.state_js}; "
                                              f"return {predicate}; }})()",
                                              timeout=timeout * 1000, polling=100)
        except Exception as exc:
            state = await self.state()
            raise AssertionError(f"{self.user_id}: timed out waiting for {what}: "
                                 f"{json.dumps(state)[:3000]}\nconsole: {self.console[-20:]}"
                                 ) from exc

    async def spectrum(self, stream_id: str, freqs: list[float], ms: int = 2000,
                       media_js: str = "zegoTest.media(sid)") -> dict[str, Any]:
        """tests/web/analysis.js on the stream ``media_js`` names (``sid`` = stream_id)."""
        return await self.js(f"([sid, freqs, ms]) => "
                             f"zegoAnalysis.spectrum({media_js}, {{ms, freqs}})",
                             [stream_id, freqs, ms])

    async def stats(self, stream_id: str) -> dict[str, Any]:
        return await self.js("(sid) => zegoTest.stats(sid)", stream_id)


def http_base(ws_url: str) -> str:
    """The room server's own origin: its pages and its WebSocket share it."""
    return ws_url.replace("ws://", "http://").removesuffix("/ws")


def page_url(ws_url: str, user_id: str, stream_id: str, room_id: str = "room1") -> str:
    return (f"{http_base(ws_url)}/?roomID={room_id}&userID={user_id}&streamID={stream_id}"
            "&processing=0")


async def join_page(ws_url: str, context: Any, user_id: str, stream_id: str) -> Page:
    """The bundled page of the server at ``ws_url``, logged in and publishing."""
    page = Page(None, user_id, stream_id)
    page.page = await open_page(context, page_url(ws_url, user_id, stream_id), page.console)
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
        web = await join_page(harness.url, context, "web1", "s_web1")
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
        web = await join_page(harness.url, context, "carol", "s_carol")
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
        pages = {"web1": await join_page(harness.url, b1, "web1", "s_web1"),
                 "web2": await join_page(harness.url, b2, "web2", "s_web2")}

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


@contextlib.asynccontextmanager
async def py1_and_a_browser(harness: Harness, playwright: Any, tmp_path: Path
                            ) -> AsyncIterator[tuple[ZegoExpressEngine, Recorder, Any]]:
    """Engine py1 in room1 publishing 1 kHz as s_py1, and a Chromium whose mic plays 440 Hz."""
    engine, rec = await harness.joined("py1")
    await publish_tone(engine, rec, "s_py1", 1000.0)
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        yield engine, rec, context


async def test_page_resumes_its_session_after_the_socket_drops(
        harness: Harness, playwright: Any, tmp_path: Path) -> None:
    async with py1_and_a_browser(harness, playwright, tmp_path) as (engine, rec, context):
        web = await join_page(harness.url, context, "web1", "s_web1")
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
        # Played again on a new peer connection (what a re-login does when the publisher is
        # back first): the page keeps the same MediaStream, the new track replaces the old
        # one in it, and the page's <audio> plays it (WebAudio hears only what an element plays).
        swap = await web.js("""async () => {
            const zg = zegoTest.engine, before = zegoTest.media('s_py1');
            const old = before.getAudioTracks()[0];
            await zg._replay(zg._playing.get('s_py1'));
            const after = zegoTest.media('s_py1');
            return {same: before === after, tracks: after.getAudioTracks().length,
                    fresh: after.getAudioTracks()[0] !== old, old: old.readyState};
        }""")
        assert swap == {"same": True, "tracks": 1, "fresh": True, "old": "ended"}, swap
        await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1 again")
        check_page_heard(await web.spectrum("s_py1", [440, 1000], ms=1000), 1000.0, [440.0])
        # and signaling works on the new socket
        reply = await web.js("zegoTest.engine.sendBroadcastMessage('room1', 'back')")
        assert reply["errorCode"] == 0, reply
        await wait_until(lambda: any(m["message"] == "back"
                                     for e in rec["IMRecvBroadcastMessage"] for m in e[1]),
                         timeout=WAIT_S, what="the message after the resume")


# ---------------------------------------------------------------------- a page written for ZEGO
SAMPLE_PATH = "/samples/zego_sample.html"

# ZEGO's result shapes (shared/reference/zego-api.md)
SYSTEM_KEYS = {"webRTC", "customCapture", "camera", "microphone", "screenSharing", "videoCodec",
               "errInfo", "result"}
AUDIO_QUALITY_KEYS = {"audioBitrate", "audioCodec", "audioFPS", "audioPacketsLost",
                      "audioPacketsLostRate", "audioQuality", "googCodecName", "muteState"}


async def open_sample(ws_url: str, context: Any, user_id: str, stream_id: str) -> Page:
    """tests/web/zego_sample.html on the room server's origin; it logs in and publishes."""
    await serve_file(context, http_base(ws_url) + SAMPLE_PATH, WEB / "zego_sample.html",
                     "text/html; charset=utf-8")
    query = urlencode({"appID": DEV_APP_ID, "server": ws_url, "token": make_token(user_id),
                       "roomID": "room1", "userID": user_id, "streamID": stream_id})
    page = Page(None, user_id, stream_id, state_js="window.sample")
    page.page = await open_page(context, f"{http_base(ws_url)}{SAMPLE_PATH}?{query}", page.console)
    await page.wait_for("s.error || s.publisher === 'PUBLISHING'", "the sample publishing")
    assert (await page.state())["error"] is None, page.console
    return page


def warnings_about(console: list[str], word: str) -> int:
    return sum(1 for line in console if line.startswith("warning") and word in line)


async def test_a_page_written_for_zego_web_runs_on_zego_js(
        harness: Harness, playwright: Any, tmp_path: Path) -> None:
    async with py1_and_a_browser(harness, playwright, tmp_path) as (engine, rec, context):
        web = await open_sample(harness.url, context, "web1", "s_web1")

        # Both directions of audio, by content.
        remote = await engine_play(engine, rec, "s_web1")
        check_heard((await collect(remote, 100))[-75:], 440.0, [440.0, 1000.0])
        await web.wait_for("s.players.s_py1 === 'PLAYING'", "the sample playing s_py1")
        heard = await web.spectrum("s_py1", [440, 1000], ms=1000, media_js="sample.remote[sid]")
        check_page_heard(heard, 1000.0, [440.0])

        # ZEGO's result shapes.
        state = await web.state()
        assert set(state["system"]) == SYSTEM_KEYS, state["system"]
        assert set(state["system"]["videoCodec"]) == {"H264", "VP8", "H265"}, state["system"]
        assert state["system"]["webRTC"] and state["system"]["microphone"], state["system"]
        assert state["system"]["result"] is True and state["system"]["errInfo"] == {}
        devices = state["devices"]
        assert set(devices) == {"microphones", "speakers", "cameras"}, devices
        assert devices["microphones"] and all(set(d) == {"deviceName", "deviceID"}
                                              for d in devices["microphones"]), devices
        assert isinstance(state["version"], str) and state["version"], state
        one = await web.js("Promise.all([sample.zg.checkSystemRequirements('microphone'), "
                           "sample.zg.checkSystemRequirements('VP8')])")
        assert one == [{"microphone": True, "errInfo": {}, "result": True},
                       {"videoCodec": {"VP8": True}, "errInfo": {}, "result": True}], one
        # setAudioConfig and useAudioDevice change the microphone live: the engine still
        # hears the page's tone, through the new track.
        live = await web.js("""async () => {
            const zg = sample.zg, stream = sample.localStream;
            const config = await zg.setAudioConfig(stream, {AEC: true, ANS: false, AGC: false});
            const s = stream.getAudioTracks()[0].getSettings();
            const mics = sample.devices.microphones;
            const device = await zg.useAudioDevice(stream, mics[mics.length - 1].deviceID);
            const t = stream.getAudioTracks();
            return {config: [config.errorCode, s.echoCancellation, s.noiseSuppression,
                             s.autoGainControl],
                    device: device.errorCode, tracks: t.length,
                    deviceId: t[0].getSettings().deviceId, wanted: mics[mics.length - 1].deviceID};
        }""")
        assert live["config"] == [0, True, False, False], live
        assert live["device"] == 0 and live["tracks"] == 1, live
        assert live["deviceId"] == live["wanted"], live
        check_heard((await collect(remote, 75))[-50:], 440.0, [440.0, 1000.0])
        assert state["users"] == {"py1": "py1"}, state["users"]
        assert ("ADD", [{"userID": "web1", "userName": "web1"}]) in [e[1:] for e in
                                                                      rec["roomUserUpdate"]]

        # Sound levels (the fake mic is at -6 dBFS, the engine's tone at -10) and quality.
        await web.wait_for("s.levels.s_py1 && s.levels.s_py1.level > 50 && s.levels.s_py1.type "
                           "=== 'pull' && s.levels.s_web1 && s.levels.s_web1.level > 50 && "
                           "s.levels.s_web1.type === 'push'", "sound levels")
        await web.wait_for("s.quality.play && s.quality.publish && s.quality.play.audio.audioFPS"
                           " > 45 && s.quality.publish.audio.audioFPS > 45", "quality events")
        quality = (await web.state())["quality"]
        for kind in ("play", "publish"):
            audio = quality[kind]["audio"]
            assert AUDIO_QUALITY_KEYS <= set(audio), audio
            assert audio["audioCodec"] == "opus" and audio["audioPacketsLost"] == 0, audio
            assert 45 < audio["audioFPS"] < 55 and audio["audioBitrate"] > 10, audio
            assert audio["audioQuality"] == 0, audio
        assert quality["play"]["streamID"] == "s_py1" and "audioJitter" in quality["play"]["audio"]
        on_demand = await web.js("sample.zg.getPlayingStreamQuality('s_py1')")
        assert set(on_demand) == {"video", "audio", "peerToPeerDelay", "peerToPeerPacketLostRate"}

        # IM and room extra info, both ways.
        await engine.sendBroadcastMessage("room1", "hello")
        await engine.sendBarrageMessage("room1", "wow")
        await engine.sendCustomCommand("room1", "mute please", ["web1"])
        await engine.setRoomExtraInfo("room1", "topic", "tones")
        await web.wait_for("s.messages.length === 3 && s.extraInfo.length === 1", "three messages")
        state = await web.state()
        assert state["messages"] == [
            {"kind": "broadcast", "from": "py1", "text": "hello"},
            {"kind": "barrage", "from": "py1", "text": "wow"},
            {"kind": "command", "from": "py1", "text": "mute please"}], state["messages"]
        assert state["extraInfo"] == [{"key": "topic", "value": "tones", "from": "py1"}]
        replies = await web.js("""Promise.all([
            sample.zg.sendBroadcastMessage('room1', 'hi'),
            sample.zg.sendBarrageMessage('room1', 'yay'),
            sample.zg.sendCustomCommand('room1', 'ok', ['py1'])])""")
        assert [r["errorCode"] for r in replies] == [0, 0, 0], replies
        await wait_until(lambda: rec["IMRecvBroadcastMessage"] and rec["IMRecvBarrageMessage"]
                         and rec["IMRecvCustomCommand"], timeout=WAIT_S, what="the page's IM")
        assert rec["IMRecvBroadcastMessage"][-1][1][0]["message"] == "hi"
        assert rec["IMRecvBarrageMessage"][-1][1][0]["message"] == "yay"
        assert rec["IMRecvCustomCommand"][-1][1:] == ({"userID": "web1", "userName": "web1"}, "ok")

        # Options and calls ZEGO has but we lack: one warning each, never an exception.
        lacking = await web.js("""async () => {
            const zg = sample.zg;
            const streams = [];
            for (let i = 0; i < 2; i++) {
              const s = await zg.createStream({camera: {audio: true, video: true, videoQuality: 4,
                                                        width: 640, fancyOption: i}});
              streams.push([s.getAudioTracks().length, s.getVideoTracks().length]);
              zg.destroyStream(s);
            }
            const video = [zg.mutePublishStreamVideo(sample.localStream, true),
                           zg.mutePublishStreamVideo(sample.localStream, false)];
            const cdn = await zg.addPublishCdnUrl('s_web1', 'rtmp://127.0.0.1/live');
            let mixer = null;
            try { await zg.startMixerTask({taskID: 't'}); } catch (e) { mixer = e.code; }
            const onSilent = zg.on('networkQuality', () => {});
            const onBogus = zg.on('noSuchEvent', () => {});
            return {streams, video, cdn, mixer, onSilent, onBogus};
        }""")
        assert lacking["streams"] == [[1, 0], [1, 0]], lacking
        assert lacking["video"] == [False, False], lacking
        assert lacking["cdn"]["errorCode"] == 1000010 and lacking["mixer"] == 1000010, lacking
        assert lacking["onSilent"] is True and lacking["onBogus"] is False, lacking
        for word in ("createStream camera: video ", "videoQuality", "width", "fancyOption",
                     "mutePublishStreamVideo", "addPublishCdnUrl", "startMixerTask",
                     "on(networkQuality)"):
            assert warnings_about(web.console, word) == 1, (word, web.console)

        # Leaving: the engine sees the stream and the user go, the page DISCONNECTED.
        await web.js("sample.zg.logoutRoom('room1')")
        await wait_until(lambda: any(e[1] == "DELETE" for e in rec["roomUserUpdate"])
                         and any(e[1] == "DELETE" for e in rec["roomStreamUpdate"]),
                         timeout=WAIT_S, what="web1 leaving")
        await web.wait_for("s.log.some(l => l.startsWith('roomStateUpdate DISCONNECTED'))",
                           "DISCONNECTED")
        await web.js("sample.zg.destroyEngine()")
        assert not [c for c in web.console if c.startswith(("error", "pageerror"))], web.console


# ---------------------------------------------------------------------- server restart
def since(events: list[str], marker: str) -> list[str]:
    """The page's events after the last one that starts with ``marker``."""
    last = max(i for i, e in enumerate(events) if e.startswith(marker))
    return events[last + 1:]


async def test_page_logs_in_again_after_a_server_restart(
        playwright: Any, isolated: bool, tmp_path: Path, unused_tcp_port: int) -> None:
    """Two restarts on the same port.  First the engine is back before the page (the page
    is held offline until then): the page finds s_py1 still there and plays it again on
    the same MediaStream.  Then the engine does not come back: the page learns, as
    DELETE events, that py1 and its stream are gone."""
    port = unused_tcp_port
    url = f"ws://127.0.0.1:{port}/ws"
    config = fast_config(login_deadline_s=10.0)
    engine = ZegoExpressEngine(DEV_APP_ID, url, options={**LOOPBACK, "pingInterval": 1.0,
                                                         "pingTimeout": 3.0})
    rec = Recorder()
    rec.attach(engine, *ALL_EVENTS)
    try:
        async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
            async with RoomServer(config).running("127.0.0.1", port):
                await engine.loginRoom("room1", make_token("py1"), {"userID": "py1"},
                                       {"userUpdate": True})
                await publish_tone(engine, rec, "s_py1", 1000.0)
                web = await join_page(url, context, "web1", "s_web1")
                remote = await engine_play(engine, rec, "s_web1")
                await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1")
                check_heard((await collect(remote, 50))[-25:], 440.0, [440.0, 1000.0])
                await web.js("window.keptStream = zegoTest.media('s_py1')")
            # The server is gone; the page retries and fails, then is held offline.
            await web.wait_for("s.roomState === 'CONNECTING'", "RECONNECTING")
            await context.set_offline(True)
            async with RoomServer(config).running("127.0.0.1", port):
                up_at = time.monotonic()
                await wait_until(lambda: rec["roomStateChanged"][-1][1] == "RECONNECTED"
                                 and rec["publisherStateUpdate"][-1][0]["state"] == "PUBLISHING",
                                 timeout=WAIT_S, what="the engine back and publishing")
                await context.set_offline(False)  # "online": the page retries at once
                await web.wait_for("s.roomState === 'CONNECTED' && s.publisherState === "
                                   "'PUBLISHING' && s.players.s_py1 === 'PLAYING'",
                                   "logged in, publishing and playing again")
                restored_s = time.monotonic() - up_at
                # audio flows again, both ways, on the same stream IDs
                check_heard((await collect(remote, 75))[-50:], 440.0, [440.0, 1000.0])
                heard = await web.spectrum("s_py1", [440, 1000], ms=1000)
                check_page_heard(heard, 1000.0, [440.0])
                assert await web.js("window.keptStream === zegoTest.media('s_py1')")
                events = [e.split(" ", 1)[1] for e in (await web.state())["events"]]
                assert [e for e in events if e.startswith("roomStateChanged")][-2:] == [
                    "roomStateChanged RECONNECTING 1000017", "roomStateChanged RECONNECTED"]
                assert [u.split()[1] for u in events if u.startswith("roomStateUpdate")][-3:] \
                    == ["CONNECTED", "CONNECTING", "CONNECTED"], events
                after = since(events, "roomStateChanged RECONNECTING")
                assert [e for e in after if e.startswith("publisherStateUpdate")] == [
                    "publisherStateUpdate s_web1 PUBLISH_REQUESTING",
                    "publisherStateUpdate s_web1 PUBLISHING"], events
                assert [e for e in after if e.startswith(("playerStateUpdate",
                                                          "roomStreamUpdate"))] == [
                    "playerStateUpdate s_py1 PLAY_REQUESTING",
                    "playerStateUpdate s_py1 PLAYING"], events  # no DELETE/ADD: played again
                log.info("after the restart: the page publishes and plays again %.1f s after "
                         "the server came back (the engine first, then the page); both "
                         "directions checked audible %.1f s after", restored_s,
                         time.monotonic() - up_at)
            # The second restart: the engine gives up meanwhile and never comes back.
            await web.wait_for("s.roomState === 'CONNECTING'", "RECONNECTING again")
            await engine.close()
            async with RoomServer(config).running("127.0.0.1", port):
                await web.wait_for("s.roomState === 'CONNECTED' && s.publisherState === "
                                   "'PUBLISHING' && s.users.length === 0 && !('s_py1' in "
                                   "s.players)", "logged in again, alone")
                after = since([e.split(" ", 1)[1] for e in (await web.state())["events"]],
                              "roomStateChanged RECONNECTING")
                assert "roomUserUpdate DELETE py1" in after, after
                assert "roomStreamUpdate DELETE s_py1" in after, after
                assert after.index("roomStreamUpdate DELETE s_py1") < after.index(
                    "roomStateChanged RECONNECTED"), after  # ZEGO's order: changes first
                assert not [c for c in web.console if c.startswith("pageerror")], web.console
    finally:
        await engine.close()
