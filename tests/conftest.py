"""Shared fixtures: the real room server on 127.0.0.1 and engines that always close."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mock_server import DEV_APP_ID, DEV_SERVER_SECRET, ServerConfig
from mock_server.server import RoomServer
from zego_py import ZegoExpressEngine, generateToken04

LOOPBACK = {"hostAddresses": ["127.0.0.1"], "iceServers": []}


def make_token(user_id: str, seconds: int = 3600, payload: str = "",
               app_id: int = DEV_APP_ID, secret: str = DEV_SERVER_SECRET) -> str:
    return generateToken04(app_id, user_id, secret, seconds, payload)


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``cond`` until true (as aiortc's tests do); fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or cond}")
        await asyncio.sleep(0.01)


@dataclass
class Recorder:
    """Records every event an engine emits, by name, with its arguments."""

    events: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))

    def attach(self, engine: ZegoExpressEngine, *names: str) -> None:
        for name in names:
            engine.on(name, lambda *args, _n=name: self.events[_n].append(args))

    def __getitem__(self, name: str) -> list[tuple[Any, ...]]:
        return self.events[name]

    def streams(self) -> set[str]:
        """The streamIDs in the room now, as the roomStreamUpdate events told."""
        streams: set[str] = set()
        for _room, kind, stream_list, _ext in self.events["roomStreamUpdate"]:
            ids = {s["streamID"] for s in stream_list}
            streams = streams | ids if kind == "ADD" else streams - ids
        return streams


ALL_EVENTS = (
    "roomStateUpdate", "roomStateChanged", "roomUserUpdate", "roomStreamUpdate",
    "roomOnlineUserCountUpdate", "roomExtraInfoUpdate", "streamExtraInfoUpdate",
    "tokenWillExpire", "IMRecvBroadcastMessage", "IMRecvBarrageMessage", "IMRecvCustomCommand",
    "publisherStateUpdate", "playerStateUpdate", "publishQualityUpdate", "playQualityUpdate",
    "soundLevelUpdate", "capturedSoundLevelUpdate", "remoteMicStatusUpdate",
    "remoteCameraStatusUpdate",
)


@dataclass
class Harness:
    url: str
    server: RoomServer
    engines: list[ZegoExpressEngine] = field(default_factory=list)

    def engine(self) -> tuple[ZegoExpressEngine, Recorder]:
        engine = ZegoExpressEngine(DEV_APP_ID, self.url, options=dict(LOOPBACK))
        recorder = Recorder()
        recorder.attach(engine, *ALL_EVENTS)
        self.engines.append(engine)
        return engine, recorder

    async def joined(self, user_id: str, room_id: str = "room1", user_update: bool = True
                     ) -> tuple[ZegoExpressEngine, Recorder]:
        engine, rec = self.engine()
        await engine.loginRoom(room_id, make_token(user_id), {"userID": user_id},
                               {"userUpdate": user_update})
        return engine, rec


def fast_config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {"ping_interval_s": 1.0, "ping_timeout_s": 3.0,
                            "online_count_interval_s": 0.5, "login_deadline_s": 2.0,
                            "session_grace_s": 1.0}
    base.update(overrides)
    return ServerConfig(**base)


class PeerProcess:
    """An engine in a child process (tests/peer_process.py), to be killed like a real one."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, url: str, user_id: str, stream_id: str = "", freq: float = 440.0
                    ) -> PeerProcess:
        import sys
        from pathlib import Path

        script = Path(__file__).with_name("peer_process.py")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), url, user_id, stream_id, str(freq),
            stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"READY", line
        return cls(proc)

    async def kill(self) -> None:
        self.proc.kill()
        await self.proc.wait()


@pytest.fixture
def server_config() -> ServerConfig:
    return fast_config()


@contextlib.asynccontextmanager
async def running_harness(room_server: RoomServer) -> AsyncIterator[Harness]:
    """``room_server`` on 127.0.0.1; every engine made through the harness is closed."""
    async with room_server.running("127.0.0.1", 0) as url:
        h = Harness(url, room_server)
        try:
            yield h
        finally:
            await asyncio.gather(*(e.close() for e in h.engines), return_exceptions=True)


@pytest.fixture
async def harness(server_config: ServerConfig) -> AsyncIterator[Harness]:
    async with running_harness(RoomServer(server_config)) as h:
        yield h




# --------------------------------------------------------------------------- CI guards
# In CI the real-device and browser tests must run: a skip there would hide a missing
# install step.  ZEGO_REQUIRE_PULSE / ZEGO_REQUIRE_BROWSER turn their skips into failures.
_REQUIRED = {
    "test_devices.py": "ZEGO_REQUIRE_PULSE",
    "test_device_path.py": "ZEGO_REQUIRE_PULSE",
    "test_browser.py": "ZEGO_REQUIRE_BROWSER",
    "test_turn.py": "ZEGO_REQUIRE_PULSE",  # coturn comes with the same install step
    "test_agent_browser.py": "ZEGO_REQUIRE_BROWSER",
}
_required_skips: list[str] = []


def _note_skip(nodeid: str, skipped: bool) -> None:
    import os

    for filename, flag in _REQUIRED.items():
        if skipped and filename in nodeid and os.environ.get(flag) == "1":
            _required_skips.append(nodeid)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_skip(report.nodeid, report.skipped)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_skip(report.nodeid, report.skipped)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _required_skips:
        print("\nrequired tests were skipped (a missing install step?):")
        for nodeid in _required_skips:
            print("  ", nodeid)
        session.exitstatus = 1
