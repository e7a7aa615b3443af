"""Browser pages (zego.js) in rooms with video, checked by the pictures themselves.

- Chromium's fake camera plays a Y4M of solid palette colours (written here, one second
  each); an engine decodes the page's stream from ``videoFrames()`` and finds the
  colours in their order.
- An engine publishes ``video_pattern`` frames (the background colour steps through the
  palette); the page reads the pixels of its playing <video> through a canvas
  (tests/web/analysis.js ``colours``) and finds the same steps.
- Mute, quality fields, a late joiner's first frame, and a room of three engines and a
  page that each see and hear everyone else.

Fixtures and helpers are tests/test_browser.py's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromium import browser, write_colour_y4m, write_tone_wav
from conftest import Harness, Recorder, wait_until
from spectrum import tones_present
from test_browser import (  # noqa: F401 - fixtures
    WAIT_S,
    Page,
    check_heard,
    check_page_heard,
    collect,
    engine_play,
    isolated,
    join_page,
    playwright,
    server_config,
)
from test_video import frames_for, pushers  # noqa: F401 - the fixture

from zego_py import ToneSource, VideoSource, ZegoExpressEngine
from zego_py.media.video_pattern import PALETTE, pattern_frame, read_colour, read_number

log = logging.getLogger("tests.video_browser")

FPS = 15
COLOUR_EVERY = 8  # frames: an engine's pattern changes colour every 0.53 s
CAMERA = [0, 1, 2, 3]  # the page's fake camera: these palette colours, one second each
VIDEO = "&video=1"


def colour_of(number: int) -> int:
    return (number // COLOUR_EVERY) % len(PALETTE)


def nearest(rgb: Any) -> tuple[int, float]:
    """The palette index nearest ``rgb`` and how far it is (Euclidean, 0..441)."""
    distance = np.sqrt(((PALETTE - np.asarray(rgb, np.float64)) ** 2).sum(axis=1))
    return int(np.argmin(distance)), float(distance.min())


def runs(indices: list[int]) -> list[int]:
    """Consecutive repeats collapsed: [1, 1, 2, 2, 2, 3] -> [1, 2, 3]."""
    return [c for i, c in enumerate(indices) if i == 0 or c != indices[i - 1]]


def check_steps(indices: list[int], order: list[int], at_least: int) -> None:
    """``indices`` (one per frame) step through ``order`` cyclically, one step at a time
    (no colour skipped or out of order), with ``at_least`` steps."""
    seq = runs(indices)
    assert len(seq) >= at_least + 1, seq
    for a, b in itertools.pairwise(seq):
        assert order[(order.index(a) + 1) % len(order)] == b, (a, b, seq)


def camera_y4m(tmp_path: Path) -> Path:
    return write_colour_y4m(tmp_path / "colours.y4m",
                            [tuple(int(v) for v in PALETTE[i]) for i in CAMERA], fps=FPS)


async def paint(source: VideoSource, base: int = 0, colour: int | None = None) -> None:
    """video_pattern frames at FPS until cancelled: number from ``base``, the colour
    stepping (or fixed at ``colour``)."""
    start, n = time.monotonic(), 0
    while True:
        source.captureFrame(pattern_frame(base + n, colour_of(n) if colour is None else colour))
        n += 1
        await asyncio.sleep(max(0.0, start + n / FPS - time.monotonic()))


async def publish_pattern(engine: ZegoExpressEngine, rec: Recorder, stream_id: str,
                          freq: float, tasks: list[asyncio.Task[None]], base: int = 0,
                          colour: int | None = None, codec: str = "VP8") -> Any:
    camera = VideoSource(320, 240, FPS)
    tasks.append(asyncio.create_task(paint(camera, base, colour)))
    local = await engine.createStream({"custom": {"source": [ToneSource(freq, 0.3), camera]}})
    assert engine.startPublishingStream(stream_id, local, {"videoCodec": codec})
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" and e[0]["streamID"] == stream_id
                                 for e in rec["publisherStateUpdate"]),
                     timeout=WAIT_S, what=f"{stream_id} publishing")
    return local


async def page_colours(web: Page, stream_id: str, ms: int = 3000) -> list[tuple[int, float]]:
    """(palette index, distance) of each canvas sample of the page's <video> of the stream."""
    got = await web.js("([sid, ms]) => zegoAnalysis.colours(zegoTest.element(sid), {ms})",
                       [stream_id, ms], timeout=ms / 1000 + 10)
    assert "samples" in got, got
    return [nearest(s["rgb"]) for s in got["samples"]]


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_page_camera_reaches_the_engine_with_its_colours(
        harness: Harness, playwright: Any, tmp_path: Path, codec: str) -> None:  # noqa: F811
    engine, rec = await harness.joined("py1")
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0),
                       camera_y4m(tmp_path)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1",
                              f"{VIDEO}&videoCodec={codec}")
        remote = await engine_play(engine, rec, "s_web1")
        frames = [f for _, f in await frames_for(remote, 4.5)]
        assert len(frames) >= 0.7 * 4.5 * FPS, len(frames)
        assert frames[0].shape == (240, 320, 3), frames[0].shape
        found = [nearest(f[80:].reshape(-1, 3).mean(axis=0)) for f in frames]
        assert max(d for _, d in found) < 40, found  # solid palette colours, after VP8
        check_steps([c for c, _ in found], CAMERA, at_least=3)
        check_heard((await collect(remote, 50))[-40:], 440.0, [440.0, 1000.0])
        quality = await web.js("zegoTest.engine.getPublishingStreamQuality('s_web1')")
        for _ in range(2):  # the first report may cover the start-up only
            await asyncio.sleep(3.1)
            quality = await web.js("zegoTest.engine.getPublishingStreamQuality('s_web1')")
        video = quality["video"]
        assert (video["frameWidth"], video["frameHeight"]) == (320, 240), video
        # solid colours cost the encoder little: ~25 kbps in VP8, ~4 in H.264
        assert video["googCodecName"] == codec and video["videoBitrate"] > 1, video
        assert 0.7 * FPS < video["videoFPS"] <= FPS + 2, video
        assert video["videoPacketsLost"] == 0 and video["muteState"] == "0", video

        # Mute: the engine hears MUTE and gets black frames; then the colours again.
        assert await web.js("zegoTest.engine.mutePublishStreamVideo(zegoTest.media('s_web1'),"
                            " true)") is True
        await wait_until(lambda: ("s_web1", "MUTE") in rec["remoteCameraStatusUpdate"],
                         timeout=WAIT_S, what="MUTE")
        await asyncio.sleep(0.5)
        muted = [f for _, f in await frames_for(remote, 2.0)]
        log.info("%s: %d black frames in 2 s of mute", codec, len(muted))
        # Chromium, like ZEGO Web, sends black frames for a disabled track, at the
        # camera's rate (15/s here)
        assert len(muted) >= 10 and all(f.mean() < 20 for f in muted), [f.mean() for f in muted]
        assert await web.js("zegoTest.engine.mutePublishStreamVideo(zegoTest.media('s_web1'),"
                            " false)") is True
        await wait_until(lambda: rec["remoteCameraStatusUpdate"][-1] == ("s_web1", "OPEN"),
                         timeout=WAIT_S, what="OPEN")
        await asyncio.sleep(0.5)
        back = [f for _, f in await frames_for(remote, 1.0)]
        assert back and all(nearest(f[80:].reshape(-1, 3).mean(axis=0))[1] < 40 for f in back)
        assert not [c for c in web.console if c.startswith(("error", "pageerror"))], web.console


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_engine_video_reaches_the_page_with_its_colours(
        harness: Harness, playwright: Any, tmp_path: Path,  # noqa: F811
        pushers: list[asyncio.Task[None]], codec: str) -> None:  # noqa: F811
    engine, rec = await harness.joined("py1")
    local = await publish_pattern(engine, rec, "s_py1", 1000.0, pushers, codec=codec)
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1")
        await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1")
        found = await page_colours(web, "s_py1", 3500)
        assert len(found) >= 20, found
        assert max(d for _, d in found) < 40, found
        # a sample may catch a frame being swapped: steps of one only
        check_steps([c for c, _ in found], list(range(len(PALETTE))), at_least=4)
        check_page_heard(await web.spectrum("s_py1", [440, 1000]), 1000.0, [440.0])
        size = await web.js("[zegoTest.element('s_py1').videoWidth, "
                            "zegoTest.element('s_py1').videoHeight, "
                            "zegoTest.element('s_py1').hidden]")
        assert size == [320, 240, False], size
        await web.wait_for("s.players.s_py1 && zegoTest.engine.getPlayingStreamQuality('s_py1')"
                           " && zegoTest.engine.getPlayingStreamQuality('s_py1').video"
                           ".videoFramesDecoded > 30", "play quality with video")
        video = (await web.js("zegoTest.engine.getPlayingStreamQuality('s_py1')"))["video"]
        assert (video["frameWidth"], video["frameHeight"]) == (320, 240), video
        assert video["googCodecName"] == codec and video["videoPacketsLost"] == 0, video
        # a mostly still picture: ~10 kbps in H.264, more in VP8
        assert video["videoBitrate"] > 5 and video["videoTransferFPS"] > 0, video

        # The engine mutes its video: the page gets remoteCameraStatusUpdate MUTE and
        # black pictures; mutePlayStreamVideo on the page blacks out the element too.
        assert engine.mutePublishStreamVideo(local, True)
        await web.wait_for("s.cameras.s_py1 === 'MUTE'", "camera MUTE")
        await asyncio.sleep(0.5)
        dark = await web.js("(sid) => zegoAnalysis.colours(zegoTest.element(sid), {ms: 500})",
                            "s_py1")
        assert all(max(s["rgb"]) < 25 for s in dark["samples"]), dark
        assert engine.mutePublishStreamVideo(local, False)
        await web.wait_for("s.cameras.s_py1 === 'OPEN'", "camera OPEN")
        await asyncio.sleep(0.5)
        assert max(d for _, d in await page_colours(web, "s_py1", 500)) < 40
        assert await web.js("zegoTest.engine.mutePlayStreamVideo('s_py1', true)") is True
        await asyncio.sleep(0.5)
        dark = await web.js("(sid) => zegoAnalysis.colours(zegoTest.element(sid), {ms: 500})",
                            "s_py1")
        assert all(max(s["rgb"]) < 25 for s in dark["samples"]), dark
        assert not [c for c in web.console if c.startswith(("error", "pageerror"))], web.console


async def test_a_late_joining_page_sees_its_first_frame_within_1_5_s(
        harness: Harness, playwright: Any, tmp_path: Path,  # noqa: F811
        pushers: list[asyncio.Task[None]]) -> None:  # noqa: F811
    """aiortc's VP8 encoder makes a keyframe only every 3000 frames unless asked: the
    page's first picture comes from the relay's PLI to the publisher."""
    engine, rec = await harness.joined("py1")
    viewer, _ = await harness.joined("py2")
    await publish_pattern(engine, rec, "s_py1", 1000.0, pushers)
    await frames_for(await viewer.startPlayingStream("s_py1", {"speaker": False}), 2.5)
    video_in = harness.server.relay.streams["s_py1"].video
    plis_before = video_in.plis_sent
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1")
        await web.wait_for("s.firstFrameMs.s_py1 !== null && s.firstFrameMs.s_py1 !== undefined",
                           "the first frame of s_py1")
        first_ms = (await web.state())["firstFrameMs"]["s_py1"]
        log.info("late page: first frame %d ms after startPlayingStream", first_ms)
        assert first_ms < 1500, first_ms  # from startPlayingStream to the first picture
        assert video_in.plis_sent > plis_before
        found = await page_colours(web, "s_py1", 600)
        assert max(d for _, d in found) < 40, found


async def test_three_engines_and_a_page_each_see_and_hear_everyone_else(
        harness: Harness, playwright: Any, tmp_path: Path,  # noqa: F811
        pushers: list[asyncio.Task[None]]) -> None:  # noqa: F811
    """Each engine publishes a tone and a pattern of its own fixed colour and number
    range; the page publishes its fake microphone (440 Hz) and camera (CAMERA colours).
    Everyone plays everyone else and finds each stream's tone (FFT) and pictures."""
    tones = {"u1": 660.0, "u2": 990.0, "u3": 1320.0, "web1": 440.0}
    colours = {"u1": 4, "u2": 5, "u3": 6}
    bases = {"u1": 0, "u2": 20000, "u3": 40000}
    engines = {u: await harness.joined(u) for u in colours}
    for user, (engine, rec) in engines.items():
        await publish_pattern(engine, rec, f"s_{user}", tones[user], pushers, bases[user],
                              colours[user])
    async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0),
                       camera_y4m(tmp_path)) as context:
        web = await join_page(harness.url, context, "web1", "s_web1", VIDEO)
        await web.wait_for(" && ".join(f"s.players.s_{u} === 'PLAYING'" for u in colours),
                           "the page playing all three")
        for user, colour in colours.items():
            found = await page_colours(web, f"s_{user}", 800)
            assert found and all(c == colour and d < 40 for c, d in found), (user, found)
            check_page_heard(await web.spectrum(f"s_{user}", list(tones.values()), ms=1000),
                             tones[user], [f for u, f in tones.items() if u != user])
        for user, (engine, rec) in engines.items():
            for other in tones:
                if other == user:
                    continue
                remote = await engine_play(engine, rec, f"s_{other}")
                frames = [f for _, f in await frames_for(remote, 1.2)]
                assert len(frames) >= 8, (user, other, len(frames))
                if other == "web1":
                    assert all(nearest(f[80:].reshape(-1, 3).mean(axis=0))[0] in CAMERA
                               for f in frames), (user, other)
                else:
                    assert all(read_colour(f) == colours[other]
                               and bases[other] <= read_number(f) < bases[other] + 2000
                               for f in frames), (user, other)
                heard = (await collect(remote, 25)).reshape(-1)
                assert tones_present(heard, list(tones.values())) == {
                    tones[other]}, (user, other)
