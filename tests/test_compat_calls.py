"""ZEGO calls kept for porting: createZegoStream and enableVideoCaptureDevice by content,
and the not-supported ones (zego_py/unsupported.py) by what they return or raise."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Harness, wait_until
from test_video import colour_of, frames_for, push_pattern

from zego_py import ErrorCode, ToneSource, VideoSource, ZegoError, ZegoExpressEngine
from zego_py.media.video_pattern import read_colour, read_number


async def test_create_zego_stream_publishes_and_video_capture_stops_and_restarts(
        harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    source = VideoSource(320, 240, 15)
    local = await alice.createZegoStream({"custom": {"source": source}})
    pusher = asyncio.create_task(push_pattern(source))
    try:
        assert alice.startPublishingStream("cam", local)
        await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                     for e in a["publisherStateUpdate"]), what="PUBLISHING")
        remote = await bob.startPlayingStream("cam", {"speaker": False})
        live = await frames_for(remote, 1.0)
        assert live and all(read_colour(f) == colour_of(read_number(f)) for _, f in live)

        assert await alice.enableVideoCaptureDevice(local, False) is True
        await wait_until(lambda: ("cam", "MUTE") in b["remoteCameraStatusUpdate"], what="MUTE")
        await asyncio.sleep(0.3)
        stopped = await frames_for(remote, 1.0)
        assert len(stopped) >= 10 and all(f.mean() < 20 for _, f in stopped)  # black

        assert await alice.enableVideoCaptureDevice(local) is True  # enable defaults to True
        await wait_until(lambda: b["remoteCameraStatusUpdate"][-1] == ("cam", "OPEN"),
                         what="OPEN")
        await asyncio.sleep(0.3)
        back = await frames_for(remote, 1.0)
        assert back and all(read_colour(f) == colour_of(read_number(f)) for _, f in back)
    finally:
        pusher.cancel()
    audio_only = await alice.createZegoStream({"custom": {"source": ToneSource(440)}})
    with pytest.raises(ZegoError) as err:
        await alice.enableVideoCaptureDevice(audio_only, False)
    assert err.value.code == ErrorCode.INPUT_PARAM_ERROR


async def test_not_supported_calls_return_or_raise_zegos_result(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    local = await alice.createStream({"custom": {"source": ToneSource(440)}})
    assert alice.sendSEI("s1", b"\x01\x02") is False
    assert alice.setPlayStreamVideoType("s1", 1) is False
    promises = [alice.useFrontCamera(local, True), alice.updatePublishingStream(local),
                alice.replaceTrack(local, ToneSource(220)), alice.addTrack(local, ToneSource(220)),
                alice.removeTrack(local, ToneSource(220))]
    for call in promises:
        with pytest.raises(ZegoError) as err:
            await call
        assert err.value.code == ErrorCode.NOT_SUPPORTED == 1000010
        assert "not support" in err.value.msg
    with pytest.raises(ZegoError) as err:
        await alice.createStream({"screen": {"audio": False}})
    assert err.value.code == ErrorCode.NOT_SUPPORTED
    assert alice.on("playerRecvSEI", print) and alice.on("screenSharingEnded", print)
    assert isinstance(alice, ZegoExpressEngine)
