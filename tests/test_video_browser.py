"""A browser page (zego.js, audio only so far) in a room with video streams.

The page plays an engine's audio+video stream and hears its tone (the relay sends a
page only what its offer asks for); the engine plays the page's stream with video on
and gets the audio.  Fixtures and helpers are tests/test_browser.py's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chromium import browser, write_tone_wav
from conftest import Harness, wait_until
from test_browser import (  # noqa: F401 - fixtures
    WAIT_S,
    check_heard,
    check_page_heard,
    collect,
    engine_play,
    isolated,
    join_page,
    playwright,
    server_config,
)

from zego_py import ToneSource, VideoSource
from zego_py.media.video_pattern import pattern_frame


async def test_page_and_engine_in_a_room_with_video(harness: Harness, playwright: Any,  # noqa: F811
                                                    tmp_path: Path) -> None:
    engine, rec = await harness.joined("py1")
    camera = VideoSource(320, 240, 15)

    async def paint() -> None:
        number = 0
        while True:
            camera.captureFrame(pattern_frame(number, number // 15 % 8))
            number += 1
            await asyncio.sleep(1 / 15)

    painter = asyncio.create_task(paint())
    try:
        local = await engine.createStream({"custom": {"source": [ToneSource(1000.0), camera]}})
        assert engine.startPublishingStream("s_py1", local)
        await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                     for e in rec["publisherStateUpdate"]), timeout=WAIT_S)
        async with browser(playwright, write_tone_wav(tmp_path / "440.wav", 440.0)) as context:
            web = await join_page(harness.url, context, "web1", "s_web1")
            await web.wait_for("s.players.s_py1 === 'PLAYING'", "playing s_py1")
            check_page_heard(await web.spectrum("s_py1", [440, 1000]), 1000.0, [440.0])
            remote = await engine_play(engine, rec, "s_web1")  # video on by default
            check_heard((await collect(remote, 100))[-60:], 440.0, [440.0, 1000.0])
            assert remote.video.track is None  # the page sent no video, and that is fine
            assert harness.server.relay.streams["s_py1"].video is not None
    finally:
        painter.cancel()
