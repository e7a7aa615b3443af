"""Audio end to end: engines publish and play through the bundled server's relay.

Every check is on the audio that arrives (frequency by FFT, level), never on "a frame came".
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from conftest import Harness, PeerProcess, Recorder, wait_until
from spectrum import tones_present

from zego_py import ErrorCode, ZegoError, ZegoExpressEngine
from zego_py.media.pcm import rms_dbfs
from zego_py.media.remote_stream import ZegoRemoteStream
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(90)


async def collect(remote: ZegoRemoteStream, frames: int, timeout: float = 10.0) -> np.ndarray:
    """The next ``frames`` 20 ms frames of a played stream."""
    got: list[np.ndarray] = []

    async def run() -> None:
        async for pcm in remote.audioFrames():
            got.append(pcm)
            if len(got) >= frames:
                return

    await asyncio.wait_for(run(), timeout)
    return np.concatenate(got)


async def publish_tone(engine: ZegoExpressEngine, rec: Recorder, stream_id: str,
                       freq: float, amplitude: float = 0.3) -> ToneSource:
    tone = ToneSource(freq, amplitude)
    local = await engine.createStream({"custom": {"source": tone}})
    assert engine.startPublishingStream(stream_id, local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" and e[0]["streamID"] == stream_id
                                 for e in rec["publisherStateUpdate"]), what=f"{stream_id} up")
    return tone


async def test_four_engines_each_hear_exactly_the_other_three(harness: Harness) -> None:
    freqs = {"u1": 300.0, "u2": 500.0, "u3": 700.0, "u4": 1100.0}
    engines = {u: await harness.joined(u) for u in freqs}
    for user, (engine, rec) in engines.items():
        await publish_tone(engine, rec, f"s_{user}", freqs[user])
    for user, (engine, _) in engines.items():
        heard_streams = {}
        for other in freqs:
            if other != user:
                heard_streams[other] = await engine.startPlayingStream(f"s_{other}",
                                                                       {"speaker": False})
        mix = None
        for other, remote in heard_streams.items():
            pcm = (await collect(remote, 50))[-48000 // 2:].astype(np.int32)
            assert tones_present(pcm, list(freqs.values())) == {freqs[other]}
            mix = pcm if mix is None else mix + pcm
        assert mix is not None
        heard = tones_present(mix, list(freqs.values()), threshold_db=-12)
        assert heard == {f for u, f in freqs.items() if u != user}


async def test_publish_events_reach_peers_and_stop_gives_delete(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    local = await alice.createStream({"custom": {"source": ToneSource(440)}})
    assert alice.startPublishingStream("s_alice", local, {"extraInfo": "hi"})
    await wait_until(lambda: len(b["roomStreamUpdate"]) == 1, what="ADD at bob")
    room_id, kind, streams, _ = b["roomStreamUpdate"][0]
    assert (room_id, kind) == ("room1", "ADD")
    assert streams[0]["streamID"] == "s_alice"
    assert streams[0]["user"] == {"userID": "alice", "userName": "alice"}
    assert streams[0]["extraInfo"] == "hi"
    await wait_until(lambda: len(a["publisherStateUpdate"]) == 2, what="PUBLISHING")
    states = [e[0]["state"] for e in a["publisherStateUpdate"]]
    assert states == ["PUBLISH_REQUESTING", "PUBLISHING"]
    assert alice.stopPublishingStream("s_alice")
    await wait_until(lambda: len(b["roomStreamUpdate"]) == 2, what="DELETE at bob")
    _, kind, streams, extended = b["roomStreamUpdate"][1]
    assert kind == "DELETE" and streams[0]["streamID"] == "s_alice"
    assert json.loads(extended)["stream_delete_reason"][0]["code"] == 1
    assert a["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH"


async def test_stop_and_start_publishing_mid_call(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    tone = ToneSource(600)
    local = await alice.createStream({"custom": {"source": tone}})
    alice.startPublishingStream("s1", local)
    await wait_until(lambda: b["roomStreamUpdate"], what="ADD")
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert tones_present(await collect(remote, 40), [600.0]) == {600.0}
    alice.stopPublishingStream("s1")
    await wait_until(lambda: b["playerStateUpdate"][-1][0]["state"] == "NO_PLAY", what="NO_PLAY")
    tone.frequency = 900
    alice.startPublishingStream("s1", local)
    await wait_until(lambda: len(b["roomStreamUpdate"]) == 3, what="second ADD")
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert tones_present(await collect(remote, 40), [600.0, 900.0]) == {900.0}


async def test_publish_argument_errors(harness: Harness) -> None:
    engine, rec = harness.engine()
    local = await engine.createStream({"custom": {"source": ToneSource(440)}})
    with pytest.raises(ZegoError) as err:
        engine.startPublishingStream("s1", local)
    assert err.value.code == ErrorCode.NOT_LOGIN
    alice, a = await harness.joined("alice")
    local = await alice.createStream({"custom": {"source": ToneSource(440)}})
    for bad, code in [("", ErrorCode.STREAM_ID_EMPTY), ("x" * 257, ErrorCode.STREAM_ID_TOO_LONG),
                      ("a b", ErrorCode.STREAM_ID_ILLEGAL)]:
        with pytest.raises(ZegoError) as err:
            alice.startPublishingStream(bad, local)
        assert err.value.code == code
    assert alice.startPublishingStream("s1", local)
    assert alice.startPublishingStream("s1", local) is False  # same ID on one engine
    with pytest.raises(ZegoError) as err:
        await alice.createStream({"screen": True})
    assert err.value.code == ErrorCode.DEVICE_CONSTRAINTS


async def test_stream_id_taken_by_another_user(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "shared", 440)
    local = await bob.createStream({"custom": {"source": ToneSource(550)}})
    assert bob.startPublishingStream("shared", local)
    await wait_until(lambda: b["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH",
                     what="bob's publish refused")
    assert b["publisherStateUpdate"][-1][0]["errorCode"] == ErrorCode.DUPLICATE_STREAM_ID


async def test_token_payload_forbids_publishing(harness: Harness) -> None:
    from conftest import make_token

    from zego_py import makePrivilegePayload

    engine, rec = harness.engine()
    payload = makePrivilegePayload("room1", canLogin=True, canPublish=True,
                                   streamIDList=["allowed"])
    await engine.loginRoom("room1", make_token("alice", payload=payload), {"userID": "alice"})
    local = await engine.createStream({"custom": {"source": ToneSource(440)}})
    engine.startPublishingStream("other", local)
    await wait_until(lambda: rec["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH",
                     what="refused")
    assert rec["publisherStateUpdate"][-1][0]["errorCode"] == ErrorCode.TOKEN_NO_PUBLISH_PRIVILEGE
    engine.startPublishingStream("allowed", local)
    await wait_until(lambda: rec["publisherStateUpdate"][-1][0]["state"] == "PUBLISHING",
                     what="allowed stream publishes")


async def test_play_errors(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    with pytest.raises(ZegoError) as err:
        await bob.startPlayingStream("nope")
    assert err.value.code == ErrorCode.PLAY_STREAM_NOT_FOUND
    assert [e[0]["state"] for e in b["playerStateUpdate"]] == ["PLAY_REQUESTING", "NO_PLAY"]
    await publish_tone(alice, a, "s1", 440)
    await bob.startPlayingStream("s1", {"speaker": False})
    with pytest.raises(ZegoError) as err:
        await bob.startPlayingStream("s1")
    assert err.value.code == ErrorCode.REPEATED_PULL_STREAM


async def test_publisher_killed_mid_call_stops_listeners(harness: Harness) -> None:
    bob, b = await harness.joined("bob")
    alice = await PeerProcess.start(harness.url, "alice", "s1", 440)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert tones_present(await collect(remote, 25), [440.0]) == {440.0}
    await alice.kill()  # the publisher's process dies: no logout, no unpublish
    await wait_until(lambda: any(e[1] == "DELETE" for e in b["roomStreamUpdate"]), what="DELETE")
    _, _, _, extended = next(e for e in b["roomStreamUpdate"] if e[1] == "DELETE")
    assert json.loads(extended)["stream_delete_reason"][0]["code"] == 2  # heartbeat timeout
    await wait_until(lambda: b["playerStateUpdate"][-1][0]["state"] == "NO_PLAY", what="NO_PLAY")
    await wait_until(lambda: remote.ended, what="remote stream ended")
    assert not harness.server.relay.streams


async def test_mute_is_silence_and_tells_players(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    tone = ToneSource(440)
    local = await alice.createStream({"custom": {"source": tone}})
    alice.startPublishingStream("s1", local)
    await wait_until(lambda: b["roomStreamUpdate"], what="ADD")
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    assert rms_dbfs((await collect(remote, 25))[-4800:]) > -20
    assert alice.mutePublishStreamAudio(local, True)
    await wait_until(lambda: ("s1", "MUTE") in b["remoteMicStatusUpdate"], what="MUTE event")
    await asyncio.sleep(0.3)  # let audio already in flight drain
    assert rms_dbfs(await collect(remote, 25)) < -60
    alice.mutePublishStreamAudio(local, False)
    await wait_until(lambda: b["remoteMicStatusUpdate"][-1] == ("s1", "OPEN"), what="OPEN")
    await asyncio.sleep(0.3)
    assert tones_present(await collect(remote, 25), [440.0]) == {440.0}


async def test_sound_levels_track_loudness(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    tone = await publish_tone(alice, a, "s1", 440, amplitude=0.5)
    await bob.startPlayingStream("s1", {"speaker": False})
    alice.setSoundLevelDelegate(True, 500)
    bob.setSoundLevelDelegate(True, 500)

    def pull_level() -> float:
        lists = [e[0] for e in b["soundLevelUpdate"]]
        return lists[-1][0]["soundLevel"] if lists else -1

    await wait_until(lambda: pull_level() > 0, what="levels")
    await asyncio.sleep(1.2)
    loud_pull = pull_level()
    loud_push = a["soundLevelUpdate"][-1][0][0]
    assert loud_push["type"] == "push" and loud_push["streamID"] == "s1"
    assert b["soundLevelUpdate"][-1][0][0]["type"] == "pull"
    tone.amplitude = 0.01
    await asyncio.sleep(1.6)
    quiet_pull = pull_level()
    assert loud_pull - quiet_pull > 25, (loud_pull, quiet_pull)
    assert a["capturedSoundLevelUpdate"][-1][0] < loud_push["soundLevel"] - 25


async def test_quality_stats_on_loopback(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 440)
    await bob.startPlayingStream("s1", {"speaker": False})
    await wait_until(
        lambda: len(b["playQualityUpdate"]) >= 2 and len(a["publishQualityUpdate"]) >= 2,
        timeout=10, what="two quality reports each")
    stream_id, play = b["playQualityUpdate"][-1]
    assert stream_id == "s1"
    assert play["audio"]["audioBitrate"] > 8  # kbps
    assert play["audio"]["audioPacketsLostRate"] == 0
    assert play["audio"]["audioFPS"] > 40
    _, pub = a["publishQualityUpdate"][-1]
    assert pub["audio"]["audioBitrate"] > 8
    assert pub["audio"]["audioPacketsLost"] == 0


async def test_logout_stops_publishing_and_playing(harness: Harness) -> None:
    alice, a = await harness.joined("alice")
    bob, b = await harness.joined("bob")
    await publish_tone(alice, a, "s_a", 440)
    await publish_tone(bob, b, "s_b", 660)
    await bob.startPlayingStream("s_a", {"speaker": False})
    await bob.logoutRoom()
    await wait_until(lambda: any(e[1] == "DELETE" for e in a["roomStreamUpdate"]), what="DELETE")
    assert b["publisherStateUpdate"][-1][0]["state"] == "NO_PUBLISH"
    assert b["playerStateUpdate"][-1][0]["state"] == "NO_PLAY"
    await wait_until(lambda: "s_b" not in harness.server.relay.streams, what="relay cleaned")
    await wait_until(lambda: not harness.server.relay.streams["s_a"].listeners,
                     what="listener cleaned")


async def test_record_a_played_stream_to_wav(harness: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import wave

    alice, a = await harness.joined("alice")
    bob, _ = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 700)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    path = tmp_path / "heard.wav"
    remote.startRecording(str(path))
    await collect(remote, 50)
    remote.stopRecording()
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 48000)
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert len(pcm) >= 48 * 960
    assert tones_present(pcm[-24000:], [700.0, 440.0]) == {700.0}
