"""Churn: many cycles of login / publish / play / stop / logout leave nothing behind."""

from __future__ import annotations

import asyncio
import gc
import os
import resource

import pytest
from conftest import Harness, wait_until

from zego_py.media.sources import ToneSource

CYCLES = int(os.environ.get("ZEGO_CHURN_CYCLES", "500"))
WARMUP = 20

pytestmark = pytest.mark.timeout(900)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _cycle(harness: Harness, i: int) -> None:
    alice, a = harness.engine()
    bob, b = harness.engine()
    await alice.loginRoom("churn", _token("alice"), {"userID": "alice"})
    await bob.loginRoom("churn", _token("bob"), {"userID": "bob"})
    local = await alice.createStream({"custom": {"source": ToneSource(440)}})
    alice.startPublishingStream(f"s{i}", local)
    await wait_until(lambda: any(e[0]["state"] == "PUBLISHING" for e in a["publisherStateUpdate"]),
                     what="publishing")
    remote = await bob.startPlayingStream(f"s{i}", {"speaker": False})
    async with asyncio.timeout(5):
        async for _ in remote.audioFrames():
            break
    bob.stopPlayingStream(f"s{i}")
    alice.stopPublishingStream(f"s{i}")
    alice.destroyStream(local)
    await asyncio.gather(alice.logoutRoom(), bob.logoutRoom())
    await asyncio.gather(alice.close(), bob.close())
    harness.engines.clear()


def _token(user: str) -> str:
    from conftest import make_token

    return make_token(user)


async def test_churn_leaves_no_residue(harness: Harness) -> None:
    for i in range(WARMUP):
        await _cycle(harness, i)
    await asyncio.sleep(0.5)
    gc.collect()
    base_tasks, base_fds, base_rss = len(asyncio.all_tasks()), _open_fds(), _rss_mb()
    for i in range(WARMUP, CYCLES):
        await _cycle(harness, i)
    await wait_until(lambda: not harness.server.registry.sessions, what="sessions gone")
    await asyncio.sleep(0.5)
    gc.collect()
    server = harness.server
    assert not server.registry.rooms and not server.registry.streams
    assert not server.relay.streams
    assert len(server.connections) == 0
    # tasks, sockets and UDP ports (file descriptors) are back at the baseline
    assert len(asyncio.all_tasks()) <= base_tasks
    assert _open_fds() <= base_fds + 2, (_open_fds(), base_fds)
    from aiortc import RTCPeerConnection

    live_pcs = [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection)]
    assert len(live_pcs) == 0, len(live_pcs)
    growth = _rss_mb() - base_rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nchurn: {CYCLES} cycles, RSS growth {growth:.1f} MB (peak {peak:.0f} MB)")
    assert growth < 40, f"RSS grew {growth:.1f} MB over {CYCLES - WARMUP} cycles"
