"""Issue 12's audio calls and events, end to end through the bundled server's relay:
setCaptureVolume (measured at the far end), the quality getters against the quality
events (exceptionUpdate and checkAudioTrackIsActive: test_volume_exceptions.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from aiortc import MediaStreamTrack
from audio_helpers import dominant_frequency, peak_dbfs, rms_dbfs
from conftest import Harness, Recorder, wait_until
from test_media import collect

from zego_py import ErrorCode, ZegoError, ZegoExpressEngine
from zego_py.media.local_stream import ZegoLocalStream
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(90)


async def call(harness: Harness, source: MediaStreamTrack
               ) -> tuple[ZegoExpressEngine, Recorder, ZegoLocalStream,
                          ZegoExpressEngine, Recorder, ZegoRemoteStream]:
    """alice publishes ``source`` as s_alice; bob plays it for code only."""
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    for engine, rec in ((alice, a), (bob, b)):
        rec.attach(engine, "exceptionUpdate")
    local = await alice.createStream({"custom": {"source": source}})
    assert alice.startPublishingStream("s_alice", local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                 for e in a["publisherStateUpdate"]), what="PUBLISHING")
    remote = await bob.startPlayingStream("s_alice", {"speaker": False})
    return alice, a, local, bob, b, remote


async def heard_after_change(remote: ZegoRemoteStream) -> np.ndarray:
    """0.5 s of what arrives once a change made now has reached the far end (the jitter
    buffer and the relay hold well under 0.8 s, even when the machine is loaded)."""
    await collect(remote, 40)
    return await collect(remote, 25)


async def test_capture_volume_scales_the_far_end_and_the_level_meter(
        harness: Harness) -> None:
    alice, _, local, _, _, remote = await call(harness, ToneSource(440.0, 0.25))
    base = await heard_after_change(remote)
    base_db, base_level = rms_dbfs(base), local.level
    measured = {}
    for volume in (50, 200, 0):
        assert await alice.setCaptureVolume(local, volume) == {"errorCode": 0,
                                                                 "extendedData": ""}
        measured[volume] = (await heard_after_change(remote), local.level)
    print(f"\nfar-end RMS vs volume 100 ({base_db:.1f} dBFS): "
          + ", ".join(f"{v}: {rms_dbfs(pcm) - base_db:+.2f} dB (level {lvl:.1f})"
                      for v, (pcm, lvl) in measured.items()))
    half, double, silent = (measured[v][0] for v in (50, 200, 0))
    assert rms_dbfs(half) - base_db == pytest.approx(-6.02, abs=1.5)
    assert rms_dbfs(double) - base_db == pytest.approx(6.02, abs=1.5)
    assert rms_dbfs(silent) < -60
    assert abs(dominant_frequency(double, 48000) - 440.0) < 2.0
    # the level meter sees the volume too: 6.02 dB is 10 points of ZEGO's 0..100 scale
    assert measured[50][1] - base_level == pytest.approx(-10.0, abs=2.5)
    assert measured[0][1] == 0.0


async def test_capture_volume_saturates_instead_of_wrapping(harness: Harness) -> None:
    alice, _, local, _, _, remote = await call(harness, ToneSource(440.0, 0.8))
    base = await heard_after_change(remote)
    await alice.setCaptureVolume(local, 200)
    loud = await heard_after_change(remote)
    # 0.8 x 2 clips at full scale: louder, but by less than 6 dB; still a 440 Hz tone
    assert 0.5 < rms_dbfs(loud) - rms_dbfs(base) < 4.0
    assert peak_dbfs(loud) > -1.5
    assert abs(dominant_frequency(loud, 48000) - 440.0) < 2.0


@pytest.mark.parametrize("volume", [-1, 201, "50", True, None])
async def test_capture_volume_rejects_bad_args(harness: Harness, volume: Any) -> None:
    alice, _ = await harness.joined("alice")
    local = await alice.createStream({"custom": {"source": ToneSource(440.0)}})
    with pytest.raises(ZegoError) as bad:
        await alice.setCaptureVolume(local, volume)
    assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR
    with pytest.raises(ZegoError) as bad:
        await alice.setCaptureVolume(object(), 50)
    assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR


async def test_quality_getters_match_the_quality_events(harness: Harness) -> None:
    alice, a, _, bob, b, remote = await call(harness, ToneSource(440.0))
    # before the first 3 s report there is nothing to return, as in ZEGO
    assert alice.getPublishingStreamQuality("s_alice") is None
    assert bob.getPlayingStreamQuality("s_alice") is None
    await wait_until(lambda: len(a["publishQualityUpdate"]) >= 2
                     and len(b["playQualityUpdate"]) >= 2, timeout=10, what="quality")
    pub_id, pub_stats = a["publishQualityUpdate"][-1]
    play_id, play_stats = b["playQualityUpdate"][-1]
    assert alice.getPublishingStreamQuality("s_alice") == pub_stats and pub_id == "s_alice"
    assert bob.getPlayingStreamQuality("s_alice") == play_stats and play_id == "s_alice"
    assert pub_stats["audio"]["audioBitrate"] > 10 and play_stats["audio"]["audioBitrate"] > 10
    assert set(play_stats) == {"video", "audio", "peerToPeerDelay", "peerToPeerPacketLostRate"}
    assert alice.getPublishingStreamQuality("s_bob") is None  # not ours
    assert bob.getPublishingStreamQuality("s_alice") is None  # bob plays it, not publishes

    bob.stopPlayingStream("s_alice")
    assert alice.stopPublishingStream("s_alice")
    assert alice.getPublishingStreamQuality("s_alice") is None
    assert bob.getPlayingStreamQuality("s_alice") is None
    await wait_until(lambda: remote.ended, what="the remote stream ends")
