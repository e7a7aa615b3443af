"""exceptionUpdate(stream, {code, message}) with ZEGO Web's audio ExceptionCodes, from
the 3 s quality loop (media/exception_watch.py): the rule sans I/O, then a dead, a live
and a silent capture seen at both ends of a call, with checkAudioTrackIsActive."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc import MediaStreamTrack
from conftest import Harness, Recorder, wait_until
from test_audio_controls import call

from zego_py import ErrorCode, ZegoError
from zego_py.media.exception_watch import ExceptionCode, ExceptionWatch
from zego_py.media.sources import ToneSource

pytestmark = pytest.mark.timeout(90)


class Stream:
    """Anything weakly referable stands for a stream here."""


def test_watch_reports_each_start_and_end_once_per_stream() -> None:
    watch, one, two = ExceptionWatch(), Stream(), Stream()
    low = ExceptionCode.captureVolumeToLow
    assert watch.update(one, low, False) is None  # normal from the start: nothing to say
    assert watch.update(one, low, True) == {"code": 1002, "message": "captureVolumeToLow"}
    assert watch.update(one, low, True) is None  # once
    assert watch.update(two, low, True) == {"code": 1002, "message": "captureVolumeToLow"}
    assert watch.update(one, low, False) == {"code": 2002, "message": "captureVolumeNormal"}
    assert watch.update(one, low, False) is None
    assert watch.update(two, ExceptionCode.receiveAudioDecodedFail, True) == {
        "code": 1007, "message": "receiveAudioDecodedFail"}


class GatedTone(MediaStreamTrack):
    """A ToneSource that yields nothing until ``gate`` is set: a dead capture device."""

    kind = "audio"

    def __init__(self, freq: float) -> None:
        super().__init__()
        self.tone = ToneSource(freq, 0.3)
        self.gate = asyncio.Event()

    async def recv(self) -> av.AudioFrame:
        await self.gate.wait()
        return await self.tone.recv()

    def stop(self) -> None:
        super().stop()
        self.tone.stop()


async def test_exception_update_follows_dead_live_and_silent_audio(harness: Harness) -> None:
    """exceptionUpdate(stream, {code, message}) with ZEGO's codes: no audio at all (1002
    at the publisher, 1007 at the listener), audio (2002, 2007), capture volume 0 (1002,
    1006 decoded but silent) and back (2002, 2006)."""
    source = GatedTone(440.0)
    alice, a, local, _, b, remote = await call(harness, source)

    def codes(rec: Recorder, stream: object) -> list[int]:
        return [data["code"] for s, data in rec["exceptionUpdate"] if s is stream]

    async def until(rec: Recorder, stream: object, code: int) -> None:
        await wait_until(lambda: code in codes(rec, stream), timeout=10, what=f"code {code}")

    await until(b, remote, 1007)
    await until(a, local, 1002)
    assert not await alice.checkAudioTrackIsActive(local)  # published, but no frames
    assert b["exceptionUpdate"][0][1] == {"code": 1007, "message": "receiveAudioDecodedFail"}

    source.gate.set()
    await until(b, remote, 2007)
    await until(a, local, 2002)
    assert await alice.checkAudioTrackIsActive(local)
    assert 1006 not in codes(b, remote)  # a 440 Hz tone is not "too low"

    await alice.setCaptureVolume(local, 0)
    await wait_until(lambda: codes(a, local).count(1002) == 2, timeout=10, what="1002 again")
    await until(b, remote, 1006)
    await alice.setCaptureVolume(local, 100)
    await until(b, remote, 2006)
    await wait_until(lambda: codes(a, local).count(2002) == 2, timeout=10, what="2002 again")
    print(f"\nexceptionUpdate at alice: {codes(a, local)}, at bob: {codes(b, remote)}")
    assert codes(b, remote) == [1007, 2007, 1006, 2006]
    assert codes(a, local) == [1002, 2002, 1002, 2002]

    alice.destroyStream(local)
    assert not await alice.checkAudioTrackIsActive(local)
    with pytest.raises(ZegoError) as bad:
        await alice.checkAudioTrackIsActive(remote)  # ZEGO: createStream's streams only
    assert bad.value.code == ErrorCode.INPUT_PARAM_ERROR
