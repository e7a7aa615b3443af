"""``python -m mock_server`` runs a real server that engines can use, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

from conftest import LOOPBACK, make_token

from mock_server import DEV_APP_ID
from zego_py import ZegoExpressEngine


async def test_cli_serves_and_stops() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        lines = []
        while not lines or "room server on" not in lines[-1]:
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 10)).decode())
        assert any("dev credentials" in line for line in lines)
        url = re.search(r"ws://\S+", lines[-1]).group(0)  # type: ignore[union-attr]
        engine = ZegoExpressEngine(DEV_APP_ID, url, options=dict(LOOPBACK))
        assert await engine.loginRoom("r", make_token("u"), {"userID": "u"})
        await engine.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


def test_cli_credentials_turn_dev_mode_off_and_origins_are_passed() -> None:
    from mock_server.__main__ import config_from, parse_args

    assert config_from(parse_args([])).dev_mode
    config = config_from(parse_args(["--app-id", "7", "--server-secret", "x" * 32,
                                     "--allow-origin", "https://app.example"]))
    assert not config.dev_mode and config.allowed_origins == ("https://app.example",)
