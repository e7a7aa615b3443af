"""The aiortc internals the relay depends on (docs/aiortc-internals.md).

These fail loudly when an aiortc upgrade moves them: bump the pin only with this green.
"""

from __future__ import annotations

import fractions
import inspect
import threading

import aiortc
import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from conftest import Harness, wait_until
from spectrum import tones_present
from test_media import collect, publish_tone


def test_aiortc_pin_and_private_hooks_exist() -> None:
    assert aiortc.__version__.startswith("1.16."), aiortc.__version__
    assert inspect.iscoroutinefunction(RTCRtpReceiver._handle_rtp_packet)
    assert callable(getattr(RTCRtpReceiver, "_RTCRtpReceiver__stop_decoder", None))
    # the sender packs a pre-encoded av.Packet instead of encoding it
    assert "Packet" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)


async def test_relay_forwards_without_decoding(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 523)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert tones_present(await collect(remote, 40), [523.0]) == {523.0}
    published = harness.server.relay.streams["s1"]
    assert published.packets_in > 30
    receivers = [t.receiver for t in published.pc.getTransceivers()]
    await wait_until(lambda: all(r._RTCRtpReceiver__decoder_thread is None for r in receivers),
                     what="relay decoder stopped")
    # Neither the relay nor bob's player run aiortc's decoder thread: the relay forwards,
    # and the player decodes inline behind its own jitter buffer (media/playout.py).
    decoders = [t for t in threading.enumerate() if t.name == "audio-decoder" and t.is_alive()]
    assert decoders == []
    from zego_py.media.playout import PlayoutTrack

    assert isinstance(bob._media._players["s1"].remote._track, PlayoutTrack)


def test_video_hooks_exist() -> None:
    """The relay's video path: a listener's PLI/FIR reaches ``_send_keyframe`` (which only
    flags aiortc's encoder, unused for packed frames); the relay sends its own PLI with the
    receiver's ``_send_rtcp_pli``; ``Vp8Encoder.pack`` cuts one whole frame into payloads."""
    from aiortc.codecs.vpx import Vp8Encoder

    handler = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in handler and "RTCP_PSFB_PLI" in handler
    assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
    frame = av.Packet(bytes(3000))
    frame.pts, frame.time_base = 0, fractions.Fraction(1, 90000)
    payloads, _ = Vp8Encoder().pack(frame)
    assert len(payloads) == 3 and payloads[0][0] & 0x10 and not payloads[1][0] & 0x10


async def test_relay_forwards_video_frames_without_decoding(harness: Harness) -> None:
    from test_video import frames_for, publish_video

    alice, a = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    _, pusher = await publish_video(alice, a, "cam")
    try:
        assert len(await frames_for(await bob.startPlayingStream("cam", {"speaker": False}),
                                    1.5)) >= 15
    finally:
        pusher.cancel()
    published = harness.server.relay.streams["cam"]
    assert published.video is not None and published.video.frames_in >= 15
    receiver = published.video.receiver
    assert receiver is not None and receiver._RTCRtpReceiver__decoder_thread is None
    # bob decodes each frame as it completes (media/video_playout.py), not aiortc's thread
    from zego_py.media.video_playout import VideoPlayoutTrack

    track = bob._media._players["cam"].remote.video.track
    assert isinstance(track, VideoPlayoutTrack)
    assert track.inbound.receiver is not None
    assert track.inbound.receiver._RTCRtpReceiver__decoder_thread is None
