"""HTTP on the room server's port (mock_server/http_routes.py), without a browser:
the page and SDK are served, /dev/token exists only with the dev credentials, and the
browser SDK's copy of the wire protocol matches zego_py/protocol.py."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.error
import urllib.request
from importlib import resources
from typing import Any

import pytest
from conftest import Harness, fast_config

from mock_server import DEV_SERVER_SECRET, ServerConfig
from mock_server.server import RoomServer
from zego_py import ErrorCode, ZegoExpressEngine
from zego_py.protocol import PROTOCOL_VERSION, PUSH_FIELDS, REQUEST_FIELDS
from zego_py.token import decode_token04

pytestmark = pytest.mark.timeout(30)


async def get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET http://host:port<path> in a thread (the server runs in this loop)."""
    url = base.replace("ws://", "http://").removesuffix("/ws") + path

    def fetch() -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    return await asyncio.wait_for(asyncio.to_thread(fetch), 10)


async def test_page_and_sdk_are_served(harness: Harness) -> None:
    status, headers, body = await get(harness.url, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="/app.js">' in body
    status, headers, body = await get(harness.url, "/zego.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"export class ZegoExpressEngine" in body
    status, headers, body = await get(harness.url, "/app.js?v=1")
    assert status == 200 and b'from "/zego.js"' in body
    status, _, body = await get(harness.url, "/../mock_server/config.py")
    assert status == 404
    status, _, _ = await get(harness.url, "/web/zego.js")
    assert status == 404
    # the socket still works on the same port
    await harness.joined("alice")


async def test_dev_token_logs_in(harness: Harness) -> None:
    status, headers, body = await get(harness.url, "/dev/token?userID=web1&roomID=room1")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    minted = json.loads(body)
    claims = decode_token04(minted["token"], DEV_SERVER_SECRET)
    assert (claims.user_id, claims.room_id, claims.app_id) == ("web1", "room1", minted["appID"])
    assert claims.can_login and claims.can_publish
    engine = ZegoExpressEngine(minted["appID"], harness.url,
                               options={"hostAddresses": ["127.0.0.1"], "iceServers": []})
    harness.engines.append(engine)
    assert await engine.loginRoom("room1", minted["token"], {"userID": "web1"})


@pytest.mark.parametrize(("query", "code"), [
    ("", ErrorCode.USER_ID_EMPTY),
    ("?userID=a%20b", ErrorCode.USER_ID_ILLEGAL),
    ("?userID=ok&roomID=a/b", ErrorCode.ROOM_ID_ILLEGAL),
    ("?userID=ok&seconds=0", ErrorCode.INPUT_PARAM_ERROR),
    ("?userID=ok&seconds=lots", ErrorCode.INPUT_PARAM_ERROR),
])
async def test_dev_token_rejects_bad_arguments(harness: Harness, query: str, code: int) -> None:
    status, _, body = await get(harness.url, "/dev/token" + query)
    assert status == 400 and json.loads(body)["code"] == code


@pytest.mark.parametrize("config", [
    fast_config(dev_mode=False),
    fast_config(server_secret="fedcba9876543210fedcba9876543210"),  # real credentials
], ids=["dev_mode-off", "own-secret"])
async def test_no_dev_token_without_dev_credentials(config: ServerConfig,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_server")
    async with RoomServer(config).running() as url:
        status, _, _ = await get(url, "/dev/token?userID=alice")
        assert status == 404
        status, _, _ = await get(url, "/")
        assert status == 200
    assert "/dev/token" not in caplog.text


async def test_server_logs_that_dev_tokens_are_offered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_server")

    def level_of_notice() -> int:
        notices = [r.levelno for r in caplog.records
                   if r.name == "mock_server.http" and "/dev/token" in r.getMessage()]
        assert len(notices) == 1
        caplog.clear()
        return notices[0]

    async with RoomServer(fast_config()).running():
        pass
    assert level_of_notice() == logging.INFO  # loopback: only this machine can reach it
    from mock_server.http_routes import make_http_route

    make_http_route(fast_config(), "0.0.0.0")  # (no socket: tests bind only to loopback)
    assert level_of_notice() == logging.WARNING  # reachable from the network


def _js_table(source: str, name: str) -> dict[str, list[str]]:
    block = re.search(rf"\n  {name}: \{{\n(.*?)\n  \}},", source, re.S)
    assert block is not None, name
    table: dict[str, Any] = {}
    for line in block.group(1).splitlines():
        m = re.fullmatch(r"\s*(\w+): \[(.*)\],", line)
        assert m is not None, line
        table[m.group(1)] = re.findall(r'"([\w?]+)"', m.group(2))
    return table


def _py_table(spec: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    def name(field: str, rule: Any) -> str:
        return field + "?" if isinstance(rule, tuple) and "optional" in rule else field

    return {kind: [name(f, r) for f, r in fields.items()] for kind, fields in spec.items()}


def test_browser_sdk_speaks_the_protocol_of_protocol_py() -> None:
    source = (resources.files("mock_server") / "web" / "zego.js").read_text()
    assert f"version: {PROTOCOL_VERSION}," in source
    assert _js_table(source, "requests") == _py_table(REQUEST_FIELDS)
    assert _js_table(source, "pushes") == _py_table(PUSH_FIELDS)
