"""Video end to end through the real server and relay, checked by content.

Publishers push ``video_pattern`` frames (the frame number in blocks, a background
colour that changes every ``COLOUR_EVERY`` frames); listeners read number and colour
back from ``videoFrames()``.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import pytest
from conftest import Harness, Recorder, wait_until
from spectrum import tones_present
from test_media import collect

from zego_py import ErrorCode, ToneSource, VideoSource, ZegoError, ZegoExpressEngine
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.video_frames import FrameAssembler, is_keyframe
from zego_py.media.video_pattern import PALETTE, pattern_frame, read_colour, read_number

FPS = 15
COLOUR_EVERY = 8  # frames: the colour changes every 0.53 s at 15 fps


def colour_of(number: int) -> int:
    return (number // COLOUR_EVERY) % len(PALETTE)


async def push_pattern(source: VideoSource, fps: int = FPS) -> None:
    """Capture numbered frames at ``fps`` until cancelled."""
    start, number = time.monotonic(), 0
    while True:
        source.captureFrame(pattern_frame(number, colour_of(number), source.width, source.height))
        number += 1
        await asyncio.sleep(max(0.0, start + number / fps - time.monotonic()))


async def publish_video(engine: ZegoExpressEngine, rec: Recorder, stream_id: str,
                        *, tone: ToneSource | None = None, option: dict | None = None
                        ) -> tuple[VideoSource, asyncio.Task[None]]:
    source = VideoSource(320, 240, FPS)
    tracks = [source] if tone is None else [tone, source]
    local = await engine.createStream({"custom": {"source": tracks}})
    pusher = asyncio.create_task(push_pattern(source))
    assert engine.startPublishingStream(stream_id, local, option or {})
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" and e[0]["streamID"] == stream_id
                                 for e in rec["publisherStateUpdate"]), what=f"{stream_id} up")
    return source, pusher


@dataclass
class Call:
    """alice publishes a pattern (and maybe a tone); bob plays it."""

    alice: ZegoExpressEngine
    a: Recorder
    bob: ZegoExpressEngine
    b: Recorder
    source: VideoSource
    remote: ZegoRemoteStream


async def alice_to_bob(harness: Harness, pushers: list[asyncio.Task[None]], stream_id: str,
                       *, tone: ToneSource | None = None, option: dict | None = None) -> Call:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    source, pusher = await publish_video(alice, a, stream_id, tone=tone, option=option)
    pushers.append(pusher)
    remote = await bob.startPlayingStream(stream_id, {"speaker": False})
    return Call(alice, a, bob, b, source, remote)


async def frames_for(remote: ZegoRemoteStream, seconds: float
                     ) -> list[tuple[float, np.ndarray]]:
    """(arrival time, RGB frame) for ``seconds``."""
    got: list[tuple[float, np.ndarray]] = []

    async def run() -> None:
        async for frame in remote.videoFrames():
            got.append((time.monotonic(), frame))

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run(), seconds)
    return got


@pytest.fixture
async def pushers() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_frames_arrive_in_order_at_rate_with_their_colours(
        harness: Harness, pushers: list[asyncio.Task[None]], codec: str) -> None:
    call = await alice_to_bob(harness, pushers, "cam", option={"videoCodec": codec.lower()})
    remote = call.remote
    got = await frames_for(remote, 3.2)
    numbers = [read_number(f) for _, f in got]
    assert len(got) >= 30, len(got)
    assert all(b > a for a, b in zip(numbers, numbers[1:], strict=False)), numbers
    # every frame shows the colour its number says, and the colours change in order
    assert [read_colour(f) for _, f in got] == [colour_of(n) for n in numbers]
    seen = [c for i, c in enumerate(colour_of(n) for n in numbers)
            if i == 0 or c != colour_of(numbers[i - 1])]
    assert len(seen) >= 5 and all((b - a) % len(PALETTE) == 1
                                  for a, b in zip(seen, seen[1:], strict=False)), seen
    # frames at the rate they were captured (15 fps), within 20 %, with none skipped
    steady = got[len(got) // 4:]
    rate = (len(steady) - 1) / (steady[-1][0] - steady[0][0])
    assert FPS * 0.8 <= rate <= FPS * 1.2, rate
    assert numbers[-1] - numbers[len(got) // 4] == len(steady) - 1
    assert got[0][1].shape == (240, 320, 3)
    assert harness.server.relay.streams["cam"].video.codec == codec


async def test_late_joiner_gets_a_keyframe_within_1_5_s(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    alice, a = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    carol, _ = await harness.joined("carol")
    _, pusher = await publish_video(alice, a, "cam")
    pushers.append(pusher)
    await frames_for(await bob.startPlayingStream("cam", {"speaker": False}), 2.5)
    video_in = harness.server.relay.streams["cam"].video
    plis_before = video_in.plis_sent
    # aiortc's VP8 encoder makes a keyframe only every 3000 frames unless asked
    started = time.monotonic()
    late = await carol.startPlayingStream("cam", {"speaker": False})
    first = await asyncio.wait_for(anext(aiter(late.videoFrames())), 3)
    waited = time.monotonic() - started
    assert waited < 1.5, waited
    assert read_colour(first) == colour_of(read_number(first))
    assert video_in.plis_sent > plis_before  # the relay asked the publisher for it


async def test_mute_video_sends_black_and_tells_players(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    call = await alice_to_bob(harness, pushers, "cam")
    alice, b, remote = call.alice, call.b, call.remote
    local = alice._media._publishers["cam"].local
    assert alice.mutePublishStreamVideo(local, True)
    await wait_until(lambda: ("cam", "MUTE") in b["remoteCameraStatusUpdate"], what="MUTE")
    await asyncio.sleep(0.3)
    muted = await frames_for(remote, 1.0)
    # ZEGO Web disables the track, and a disabled video track sends black frames
    assert len(muted) >= 10 and all(f.mean() < 20 for _, f in muted)
    assert alice.mutePublishStreamVideo(local, False)
    await wait_until(lambda: b["remoteCameraStatusUpdate"][-1] == ("cam", "OPEN"), what="OPEN")
    await asyncio.sleep(0.3)
    back = await frames_for(remote, 1.0)
    assert back and all(read_colour(f) == colour_of(read_number(f)) for _, f in back)
    # a late player of a muted stream hears MUTE at once
    assert alice.mutePublishStreamVideo(local, True)
    carol, c = await harness.joined("carol")
    await carol.startPlayingStream("cam", {"speaker": False})
    await wait_until(lambda: ("cam", "MUTE") in c["remoteCameraStatusUpdate"], what="late MUTE")
    # a stream without video has nothing to mute
    audio_only = await alice.createStream({"custom": {"source": ToneSource(440)}})
    assert alice.mutePublishStreamVideo(audio_only, True) is False


async def test_mute_play_video_stops_frames(harness: Harness,
                                            pushers: list[asyncio.Task[None]]) -> None:
    call = await alice_to_bob(harness, pushers, "cam")
    bob, remote = call.bob, call.remote
    await frames_for(remote, 0.8)
    assert await bob.mutePlayStreamVideo("cam", True)
    assert await frames_for(remote, 1.0) == []
    assert await bob.mutePlayStreamVideo("cam", False)
    assert len(await frames_for(remote, 1.0)) >= 10


async def test_audio_and_video_in_one_stream_both_arrive(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    call = await alice_to_bob(harness, pushers, "av", tone=ToneSource(660.0))
    a, b, remote = call.a, call.b, call.remote
    video_task = asyncio.ensure_future(frames_for(remote, 3.5))
    assert tones_present(await collect(remote, 100), [660.0]) == {660.0}
    frames = await video_task
    assert len(frames) >= 35
    assert all(read_colour(f) == colour_of(read_number(f)) for _, f in frames)
    # ZEGO's quality fields for both halves, from RTP statistics
    await wait_until(lambda: b["playQualityUpdate"] and a["publishQualityUpdate"]
                     and b["playQualityUpdate"][-1][1]["video"]["videoFPS"] > 0, timeout=8,
                     what="quality with video")
    play = b["playQualityUpdate"][-1][1]
    pub = a["publishQualityUpdate"][-1][1]
    assert (play["video"]["frameWidth"], play["video"]["frameHeight"]) == (320, 240)
    assert FPS * 0.8 <= play["video"]["videoFPS"] <= FPS * 1.2, play["video"]
    assert play["video"]["videoBitrate"] > 20 and play["video"]["googCodecName"] == "VP8"
    assert play["video"]["videoPacketsLost"] == 0 and play["audio"]["audioFPS"] > 40
    assert (pub["video"]["frameWidth"], pub["video"]["frameHeight"]) == (320, 240)
    assert FPS * 0.8 <= pub["video"]["videoFPS"] <= FPS * 1.2, pub["video"]
    assert pub["video"]["videoBitrate"] > 20 and pub["audio"]["audioBitrate"] > 10
    # audio only: the play option leaves video out
    carol, _ = await harness.joined("carol")
    ears = await carol.startPlayingStream("av", {"speaker": False, "video": False})
    assert tones_present(await collect(ears, 50), [660.0]) == {660.0}
    assert ears.video.frames_received == 0


async def test_video_file_source_publishes_its_frames(harness: Harness, tmp_path) -> None:
    path = str(tmp_path / "pattern.webm")
    with av.open(path, "w") as out:
        stream = out.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for n in range(3 * FPS):
            frame = av.VideoFrame.from_ndarray(pattern_frame(n, colour_of(n)), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    alice, a = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    local = await alice.createStream({"custom": {"source": path, "loop": True}})
    assert local.source is None and local.video_source is not None  # the file has no audio
    assert alice.startPublishingStream("file", local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" for e in a["publisherStateUpdate"]))
    got = await frames_for(await bob.startPlayingStream("file", {"speaker": False}), 2.0)
    numbers = [read_number(f) for _, f in got]
    assert len(got) >= 20 and [read_colour(f) for _, f in got] == [colour_of(n) for n in numbers]


async def test_no_camera_gives_zegos_device_error(harness: Harness) -> None:
    alice, _ = await harness.joined("alice")
    if await alice.getCameras():
        pytest.skip(reason="this machine has a camera")
    assert (await alice.enumDevices())["cameras"] == []
    with pytest.raises(ZegoError) as err:
        await alice.createStream({"camera": {"audio": False, "video": True}})
    assert err.value.code == ErrorCode.DEVICE_UNAVAILABLE
    assert "no camera" in err.value.message and "/dev/video" in err.value.message
    with pytest.raises(ZegoError) as bad:
        await alice.createStream({"camera": {"video": True, "videoQuality": 7}})
    assert bad.value.code == ErrorCode.DEVICE_CONSTRAINTS


async def test_video_source_keeps_the_newest_frames() -> None:
    source = VideoSource(64, 48, 30)
    for n in range(5):
        source.captureFrame(np.full((48, 64, 3), n * 40, np.uint8))
    assert source.dropped == 3
    first, second = await source.recv(), await source.recv()
    assert [int(f.to_ndarray(format="rgb24").mean()) for f in (first, second)] == [120, 160]
    big = av.VideoFrame.from_ndarray(np.zeros((96, 128, 3), np.uint8), format="rgb24")
    source.captureFrame(big)  # scaled to the source's size
    assert (await source.recv()).width == 64
    with pytest.raises(ZegoError):
        source.captureFrame(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ZegoError):
        VideoSource(65, 48, 30)
    source.stop()


def test_assembler_emits_on_the_marker_and_reports_loss() -> None:
    from aiortc.codecs.vpx import Vp8Encoder

    encoder = Vp8Encoder()
    frames = []
    for n in range(3):
        vf = av.VideoFrame.from_ndarray(pattern_frame(n, n), format="rgb24")
        vf.pts, vf.time_base = n * 6000, fractions.Fraction(1, 90000)
        payloads, ts = encoder.encode(vf, force_keyframe=(n == 0))
        frames.append((payloads, ts))
    assembler = FrameAssembler("VP8")
    seq, out = 100, []
    for index, (payloads, ts) in enumerate(frames):
        for i, payload in enumerate(payloads):
            if index == 1 and i == 0:  # frame 1 loses its first packet
                seq += 1
                continue
            done, lost = assembler.add(seq, ts, i == len(payloads) - 1, payload)
            out.append((index, i, [f.timestamp for f in done], lost))
            seq += 1
    completions = [(i, done, lost) for i, _, done, lost in out if done]
    assert completions[0] == (0, [frames[0][1]], False)  # on its marker packet
    assert completions[1] == (2, [frames[2][1]], True)  # frame 1 skipped: loss reported
    assert is_keyframe("VP8", b"\x10") and not is_keyframe("VP8", b"\x11")


def test_video_snapshot_demo_saves_each_stream_as_png(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "video_snapshot.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=45)
    assert proc.returncode == 0, proc.stderr
    for stream_id, colour in (("red_cam", (220, 40, 40)), ("blue_cam", (40, 60, 220))):
        png = tmp_path / f"{stream_id}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stream_id
        with av.open(str(png)) as image:
            pixels = next(image.decode(video=0)).to_ndarray(format="rgb24")
        assert pixels.shape == (240, 320, 3)
        assert np.abs(pixels.reshape(-1, 3).mean(axis=0) - colour).max() < 15, stream_id
        assert f"{stream_id}: 320x240 -> {png}" in proc.stdout


async def test_three_engines_each_see_and_hear_the_other_two(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    """Each publishes one stream: a tone and a pattern whose number starts at its own
    offset, so a viewer tells the streams apart by content."""
    tones = {"u1": 440.0, "u2": 660.0, "u3": 990.0}
    offsets = {"u1": 0, "u2": 20000, "u3": 40000}
    engines = {u: await harness.joined(u) for u in tones}
    for user, (engine, rec) in engines.items():
        source = VideoSource(320, 240, FPS)
        local = await engine.createStream({"custom": {"source": [ToneSource(tones[user]),
                                                                 source]}})

        async def paint(src: VideoSource = source, base: int = offsets[user]) -> None:
            number = base
            while True:
                src.captureFrame(pattern_frame(number, colour_of(number)))
                number += 1
                await asyncio.sleep(1 / FPS)

        pushers.append(asyncio.create_task(paint()))
        assert engine.startPublishingStream(f"s_{user}", local)
        await wait_until(lambda r=rec: any(e[0]["state"] == "PUBLISHING"
                                           for e in r["publisherStateUpdate"]))
    for user, (engine, _) in engines.items():
        for other in tones:
            if other == user:
                continue
            remote = await engine.startPlayingStream(f"s_{other}", {"speaker": False})
            frames = await frames_for(remote, 1.0)
            numbers = [read_number(f) for _, f in frames]
            assert len(frames) >= 8, (user, other)
            assert all(offsets[other] <= n < offsets[other] + 2000 for n in numbers)
            assert tones_present(await collect(remote, 25), list(tones.values())) == {
                tones[other]}, (user, other)


async def test_a_slow_video_listener_skips_to_a_keyframe_and_asks_for_one() -> None:
    """The relay's per-listener queue: bounded; on overflow it empties, waits for the next
    keyframe and requests one, instead of growing (and delaying everyone's fan-out)."""
    from mock_server.relay import ForwardedVideoTrack

    requests: list[int] = []
    track = ForwardedVideoTrack(lambda: requests.append(1))
    track.offer_frame(av.Packet(b"\x01delta"), keyframe=False)  # before any keyframe: dropped
    assert track._queue.qsize() == 0
    for n in range(track.capacity):
        track.offer_frame(av.Packet(bytes([n])), keyframe=n == 0)
    assert track._queue.qsize() == track.capacity and not requests
    track.offer_frame(av.Packet(b"one too many"), keyframe=False)
    assert track._queue.qsize() == 0 and requests == [1] and track.dropped == track.capacity
    track.offer_frame(av.Packet(b"delta"), keyframe=False)
    track.offer_frame(av.Packet(b"key"), keyframe=True)
    assert bytes(await track.recv()) == b"key"


async def test_set_video_config_changes_size_and_rate_live(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    call = await alice_to_bob(harness, pushers, "cam")
    alice, remote = call.alice, call.remote
    before = await frames_for(remote, 1.0)
    assert before and before[-1][1].shape == (240, 320, 3)
    local = alice._media._publishers["cam"].local
    assert await alice.setVideoConfig(local, {"width": 160, "height": 120, "frameRate": 5})
    await asyncio.sleep(0.5)
    after = await frames_for(remote, 3.0)
    assert after and all(f.shape == (120, 160, 3) for _, f in after)
    rate = (len(after) - 1) / (after[-1][0] - after[0][0])
    assert 5 * 0.8 <= rate <= 5 * 1.2, rate
    # the content survives the rescale: 32 px blocks become 16 px, read at half scale
    big = [np.kron(f, np.ones((2, 2, 1), np.uint8)) for _, f in after]
    assert all(read_colour(f) == colour_of(read_number(f)) for f in big)
    assert await alice.setVideoConfig(local, {"maxBitrate": 300})
    assert local.video_bitrate_kbps == 300
    with pytest.raises(ZegoError):
        await alice.setVideoConfig(local, {"maxBitrate": 10})
    with pytest.raises(ZegoError):
        await alice.setVideoConfig(local, {"width": 161})


@pytest.mark.parametrize("suffix", [".webm", ".mp4"])
async def test_recording_audio_and_video_into_one_file(
        harness: Harness, pushers: list[asyncio.Task[None]], tmp_path, suffix: str) -> None:
    call = await alice_to_bob(harness, pushers, "av", tone=ToneSource(660.0))
    remote = call.remote
    path = str(tmp_path / f"call{suffix}")
    remote.startRecording(path)
    await asyncio.sleep(3.0)
    remote.stopRecording()
    with av.open(path) as media:
        assert {s.type for s in media.streams} == {"audio", "video"}
        frames = [f.to_ndarray(format="rgb24") for f in media.decode(video=0)]
    with av.open(path) as media:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = np.concatenate([r.to_ndarray().reshape(-1) for f in media.decode(audio=0)
                              for r in resampler.resample(f)])
    assert 2.0 * 48000 < pcm.size < 3.6 * 48000
    assert tones_present(pcm, [660.0]) == {660.0}
    assert 25 <= len(frames) <= 50 and frames[0].shape == (240, 320, 3)
    numbers = [read_number(f) for f in frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert all(read_colour(f) == colour_of(n) for f, n in zip(frames, numbers, strict=True))


async def test_a_live_device_source_publishes_through_pyav(harness: Harness) -> None:
    """The camera path (a PyAV input ``format``, decoded in a worker thread, paced by its
    own timestamps) on FFmpeg's lavfi test source, as no camera exists here."""
    from zego_py.media.video_sources import VideoFileSource

    alice, a = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    device = VideoFileSource("testsrc2=size=320x240:rate=15", format="lavfi", what="camera")
    local = await alice.createStream({"custom": {"source": device}})
    assert alice.startPublishingStream("dev", local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" for e in a["publisherStateUpdate"]))
    got = await frames_for(await bob.startPlayingStream("dev", {"speaker": False}), 2.0)
    steady = got[len(got) // 4:]
    rate = (len(steady) - 1) / (steady[-1][0] - steady[0][0])
    assert 15 * 0.8 <= rate <= 15 * 1.2, rate  # paced, not as fast as lavfi decodes
    assert all(f.shape == (240, 320, 3) and f.std() > 30 for _, f in got)  # its colour bars
    with pytest.raises(ZegoError) as err:
        VideoFileSource("/dev/video9", format="v4l2", what="camera")
    assert err.value.code == ErrorCode.DEVICE_UNAVAILABLE and "camera" in err.value.message


async def test_lost_video_packets_are_retransmitted_or_refreshed(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    """5 % of the video packets reaching bob are dropped (seeded) before any of his
    receive path sees them: aiortc's NACK gets them resent on RTX by the relay's sender
    (unwrapped by bob's tap), or a keyframe request refreshes the picture.  Every frame
    bob shows is whole: its colour matches its number, in order."""
    import random

    call = await alice_to_bob(harness, pushers, "cam")
    await frames_for(call.remote, 0.5)
    track = call.remote.video.track
    assert track is not None and track.inbound.receiver is not None
    receiver = track.inbound.receiver
    rtx_type = track.inbound.params.rtx_payload_type
    assert rtx_type is not None  # the relay and bob negotiated RTX
    rng = random.Random(7)
    seen = {"dropped": 0, "rtx": 0}
    inner = receiver._handle_rtp_packet

    async def lossy(packet: Any, arrival_time_ms: int) -> None:
        if packet.payload_type == rtx_type:
            seen["rtx"] += 1
        elif rng.random() < 0.05:
            seen["dropped"] += 1
            return
        await inner(packet, arrival_time_ms)

    receiver._handle_rtp_packet = lossy  # type: ignore[method-assign]
    got = await frames_for(call.remote, 4.0)
    numbers = [read_number(f) for _, f in got]
    assert seen["dropped"] >= 3 and seen["rtx"] >= 1, seen
    assert all(b > a for a, b in zip(numbers, numbers[1:], strict=False))
    assert all(read_colour(f) == colour_of(n) for (_, f), n in zip(got, numbers, strict=True))
    assert len(got) >= 0.8 * 4.0 * FPS, (len(got), seen)


async def test_watchdog_replays_a_video_only_play_whose_packets_stopped(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    from conftest import ALL_EVENTS, LOOPBACK, make_token

    from mock_server import DEV_APP_ID

    alice, a = await harness.joined("alice")
    _, pusher = await publish_video(alice, a, "cam")
    pushers.append(pusher)
    bob = ZegoExpressEngine(DEV_APP_ID, harness.url, options={**LOOPBACK, "mediaTimeout": 1.0})
    harness.engines.append(bob)
    b = Recorder()
    b.attach(bob, *ALL_EVENTS)
    await bob.loginRoom("room1", make_token("bob"), {"userID": "bob"})
    remote = await bob.startPlayingStream("cam", {"speaker": False, "audio": False})
    await frames_for(remote, 0.5)
    track = remote.video.track
    assert track is not None and track.inbound.receiver is not None

    async def outage(packet: Any, arrival_time_ms: int) -> None:
        return None  # the media path died; signaling stays up

    track.inbound.receiver._handle_rtp_packet = outage  # type: ignore[method-assign]
    await wait_until(lambda: any(e[0]["state"] == "PLAY_REQUESTING"
                                 for e in b["playerStateUpdate"][2:]), timeout=6,
                     what="watchdog retry")
    await wait_until(lambda: b["playerStateUpdate"][-1][0]["state"] == "PLAYING", timeout=8)
    back = await frames_for(remote, 1.0)  # the same remote stream goes on, on a new peer
    assert len(back) >= 10 and remote.video.track is not track


@pytest.mark.parametrize("kbps", [300, 1200])
def test_video_encoder_keeps_its_bitrate_and_keyframe_interval(kbps: int) -> None:
    """Moving noise (the encoder's worst case) at 30 fps for 4 s: the bytes out match the
    bitrate asked for within 30 %; keyframes come when asked and 2 s after the last."""
    from zego_py.media.video_encoder import VideoEncoder

    encoder = VideoEncoder("VP8", kbps, 30)
    texture = np.random.default_rng(3).integers(0, 256, (240, 640, 3), np.uint8)
    sizes, keys = [], []
    for n in range(120):
        window = np.ascontiguousarray(texture[:, n * 4 % 320:][:, :320])
        frame = av.VideoFrame.from_ndarray(window, format="rgb24")
        frame.pts, frame.time_base = n * 3000, fractions.Fraction(1, 90000)
        if n == 45:
            encoder.force_keyframe = True
        packets = encoder.encode(frame)
        sizes.append(sum(len(bytes(p)) for p in packets))
        keys += [n for p in packets if p.is_keyframe]
    kbps_out = sum(sizes[60:]) * 8 / 1000 / 2.0  # the last 2 s
    assert 0.7 * kbps <= kbps_out <= 1.3 * kbps, kbps_out
    assert keys == [0, 45, 105], keys


def test_h264_assembler_recovers_after_a_lost_first_packet() -> None:
    """H.264 frame starts are read from the slice header, so losing one frame's first
    packet costs that frame only, not every frame after it."""
    from aiortc.codecs.h264 import H264Encoder

    encoder = H264Encoder()
    assembler = FrameAssembler("H264")
    seq, completed, lost_seen = 1000, [], False
    for n in range(6):
        frame = av.VideoFrame.from_ndarray(pattern_frame(n, n, 640, 480), format="rgb24")
        frame.pts, frame.time_base = n * 3000, fractions.Fraction(1, 90000)
        payloads, ts = encoder.encode(frame, force_keyframe=n == 0)
        for i, payload in enumerate(payloads):
            if not (n == 2 and i == 0):  # frame 2 loses its first packet
                done, lost = assembler.add(seq, ts, i == len(payloads) - 1, payload)
                completed += [d.timestamp // 3000 for d in done]
                lost_seen = lost_seen or lost
            seq += 1
    assert completed == [0, 1, 3, 4, 5] and lost_seen


async def test_playing_neither_audio_nor_video_is_refused(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    call = await alice_to_bob(harness, pushers, "cam")
    carol, _ = await harness.joined("carol")
    with pytest.raises(ZegoError) as err:
        await carol.startPlayingStream("cam", {"audio": False, "video": False})
    assert err.value.code == ErrorCode.INPUT_PARAM_ERROR
    remote = await carol.startPlayingStream("cam", {"speaker": False})  # not left half-open
    assert len(await frames_for(remote, 1.0)) >= 8 and call.remote.video.frames_received


async def test_swapping_the_video_source_keeps_publishing(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    """What useVideoDevice does on a camera stream (there is no camera here): the local
    stream's video source is replaced, the old one stopped, and the publish carries on
    with the new one; useVideoDevice itself refuses a stream that is not a camera."""
    call = await alice_to_bob(harness, pushers, "cam")
    assert len(await frames_for(call.remote, 0.6)) >= 5
    local = call.alice._media._publishers["cam"].local
    second = VideoSource(320, 240, FPS)
    blue = np.empty((240, 320, 3), np.uint8)
    blue[:] = PALETTE[2]

    async def paint_blue() -> None:
        while True:
            second.captureFrame(blue)
            await asyncio.sleep(1 / FPS)

    pushers.append(asyncio.create_task(paint_blue()))
    first = local.video_source
    local.replace_video_source(second)
    await asyncio.sleep(0.4)
    after = await frames_for(call.remote, 1.0)
    assert first.readyState == "ended" and len(after) >= 10
    means = [f.reshape(-1, 3).mean(axis=0).round() for _, f in after]
    assert all(np.abs(m - PALETTE[2]).max() < 20 for m in means), means[:3]
    with pytest.raises(ZegoError) as err:
        await call.alice.useVideoDevice(local, "/dev/video0")
    assert err.value.code == ErrorCode.DEVICE_CONSTRAINTS


async def test_video_source_stopped_while_waiting_ends_its_recv() -> None:
    from aiortc.mediastreams import MediaStreamError

    source = VideoSource(64, 48, 5)
    source.captureFrame(np.zeros((48, 64, 3), np.uint8))
    await source.recv()  # anchors the pacer: the next recv sleeps 0.2 s first
    pending = asyncio.ensure_future(source.recv())
    await asyncio.sleep(0.05)
    source.stop()  # while it sleeps, with nothing queued
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(pending, 1.0)


async def test_a_video_only_play_reports_video_not_audio(
        harness: Harness, pushers: list[asyncio.Task[None]]) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    a.attach(alice, "exceptionUpdate")
    b.attach(bob, "exceptionUpdate")
    _, pusher = await publish_video(alice, a, "cam")
    pushers.append(pusher)
    await bob.startPlayingStream("cam", {"speaker": False, "audio": False})
    await wait_until(lambda: len(b["playQualityUpdate"]) >= 2, timeout=8, what="2 reports")
    # no audio by design is not a silent microphone (1002) nor an audio decoder failing (1007)
    assert a["exceptionUpdate"] == [] and b["exceptionUpdate"] == []
    stats = b["playQualityUpdate"][-1][1]
    assert stats["audio"]["audioBitrate"] == 0 and stats["audio"]["audioFPS"] == 0
    assert stats["video"]["videoBitrate"] > 10 and FPS * 0.8 <= stats["video"]["videoFPS"]
