"""The aiortc internals the relay depends on (docs/aiortc-internals.md).

These fail loudly when an aiortc upgrade moves them: bump the pin only with this green.
"""

from __future__ import annotations

import inspect
import threading

import aiortc
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
