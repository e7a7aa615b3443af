"""Played streams under loss and jitter, injected by the relay's seeded impairment layer:
audio keeps flowing (FEC and PLC fill the gaps), and no delay is left behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from conftest import fast_config, running_harness, wait_until
from spectrum import tones_present
from test_media import collect, publish_tone

from mock_server.server import RoomServer
from zego_py.media.impairment import Impairment
from zego_py.media.remote_stream import ZegoRemoteStream

pytestmark = pytest.mark.timeout(90)


@contextlib.asynccontextmanager
async def _impaired(impairment: Impairment) -> AsyncIterator[ZegoRemoteStream]:
    """alice publishes 440 Hz through a relay whose path to listeners is ``impairment``;
    yields bob's remote stream of it."""
    async with running_harness(RoomServer(fast_config(), impairment=lambda: impairment)) as h:
        alice, a = await h.joined("alice")
        bob, _ = await h.joined("bob")
        await publish_tone(alice, a, "s1", 440)
        yield await bob.startPlayingStream("s1", {"speaker": False})




async def test_ten_percent_loss_and_30ms_jitter_keep_audio_flowing() -> None:
    impairment = Impairment(loss=0.10, jitter_s=0.030, seed=7)
    async with _impaired(impairment) as remote:
        start = asyncio.get_running_loop().time()
        pcm = await collect(remote, 150, timeout=8)
        elapsed = asyncio.get_running_loop().time() - start
        buffer = remote._track.buffer  # type: ignore[union-attr]
        assert impairment.dropped > 5
        assert buffer.fec_frames + buffer.plc_frames >= impairment.dropped * 0.7
        assert buffer.fec_frames > 0  # most losses are single: FEC rebuilds them
        assert 0.015 < buffer.target_delay < 0.08  # grew with the 30 ms of jitter
        assert elapsed < 3.6  # 150 frames in ~3 s: concealment, never a stall
        assert tones_present(pcm[-48000:], [440.0, 880.0]) == {440.0}


async def test_no_delay_remains_after_a_loss_burst() -> None:
    impairment = Impairment(burst=(1.0, 1.5), seed=1)  # 0.5 s of total loss
    async with _impaired(impairment) as remote:
        await collect(remote, 25)
        buffer = remote._track.buffer  # type: ignore[union-attr]
        await wait_until(lambda: impairment.dropped > 20, timeout=5, what="the burst")
        await asyncio.sleep(2.5)  # 2 s after the burst ended
        # Nothing of the 500 ms burst is left in the buffer (aiortc keeps ~280 ms after
        # a single loss); the target is back to what this loaded machine's jitter needs.
        assert buffer.buffered_frames <= 2
        assert buffer.target_delay < 0.05
        assert tones_present(await collect(remote, 25), [440.0]) == {440.0}
