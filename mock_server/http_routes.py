"""Plain HTTP on the room server's port: the browser page, its SDK and dev tokens.

The WebSocket server hands every HTTP request to ``process_request`` before the
opening handshake; ``make_http_route`` builds that hook.  It answers:

- ``/ws``: nothing (``None``), so the WebSocket handshake proceeds;
- ``/`` (and ``/index.html``): the voice-chat page, ``web/index.html``;
- ``/zego.js``: the browser SDK, an ES module exporting ``ZegoExpressEngine``;
- ``/app.js``: the page's script;
- ``/dev/token?userID=..&roomID=..``: a token04 minted with the server's secret, as
  JSON ``{"token", "appID", "userID", "roomID", "expire"}``.  Offered only when the
  server runs with the development credentials (``ServerConfig.dev_mode`` and the
  public ``DEV_APP_ID``/``DEV_SERVER_SECRET``), because anyone who can reach it can
  log in as anyone; the server logs that it is offered.

Two checks guard the port against web pages that are not ours (docs/server.md):

- **Origin** (the WebSocket handshake): a browser names the page that opened the
  socket.  Allowed: no Origin (a non-browser client), the same host:port as the
  request's Host (our own page at ``/``), any ``ServerConfig.allowed_origins`` entry,
  and, in dev mode only, any loopback origin (a page on another local port).
  Anything else gets 403: a foreign page cannot drive a victim's socket.
- **Host** (``/dev/token`` always, every request in dev mode): must be an IP
  address, ``localhost`` or the bound host name.  A DNS-rebinding page (evil.example resolving to
  127.0.0.1) is same-origin with itself, so Origin alone cannot stop it; its Host
  header still says evil.example, and it gets 403.

Everything else is a plain-text 404.  Files are read once, from the package's
``web/`` folder (package data), and only the names listed here are served, so no
path from a request ever reaches the file system.
"""

from __future__ import annotations

import email.utils
import http
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from zego_py import validation
from zego_py.errors import ZegoError
from zego_py.token import generateToken04, makePrivilegePayload

from .addresses import is_loopback
from .config import DEV_APP_ID, DEV_SERVER_SECRET, ServerConfig
from .logsafe import LogBudget, clip

__all__ = ["STATIC_FILES", "dev_tokens_offered", "make_http_route"]

log = logging.getLogger("mock_server.http")

# URL path -> (file in web/, Content-Type)
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/zego.js": ("zego.js", "text/javascript; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
}

WS_PATH = "/ws"
TOKEN_PATH = "/dev/token"
TOKEN_SECONDS = 3600
MAX_TOKEN_SECONDS = 24 * 3600

HttpRoute = Callable[[ServerConnection, Request], Response | None]


def dev_tokens_offered(config: ServerConfig) -> bool:
    """``/dev/token`` exists only on a dev server: dev mode *and* the public dev credentials."""
    return (config.dev_mode and config.app_id == DEV_APP_ID
            and config.server_secret == DEV_SERVER_SECRET)


def _load_static() -> dict[str, tuple[bytes, str]]:
    web = resources.files("mock_server") / "web"
    return {path: (web.joinpath(name).read_bytes(), ctype)
            for path, (name, ctype) in STATIC_FILES.items()}


def _response(status: int, body: bytes, content_type: str) -> Response:
    code = http.HTTPStatus(status)
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ])
    return Response(code.value, code.phrase, headers, body)


def _json(status: int, obj: dict[str, Any]) -> Response:
    return _response(status, json.dumps(obj).encode(), "application/json")


def _text(status: int, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def _hostname(netloc: str) -> str:
    """"[::1]:9000" -> "::1", "Example.COM:80" -> "example.com"."""
    return (urlsplit(f"//{netloc}").hostname or "").lower()


def _host_ok(host_header: str | None, bound_host: str) -> bool:
    """Is the Host header an IP literal, "localhost" or the name we were bound to?

    DNS rebinding needs a *name* the attacker controls; a page reached by IP address
    (loopback or a LAN address) has that address as its origin, so it is not one.
    """
    name = _hostname(host_header or "")
    if name == "":
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return is_loopback(name) or name == bound_host.lower()
    return True


def _origin_ok(origin: str | None, host_header: str | None, config: ServerConfig) -> bool:
    if origin is None:
        return True  # not a browser: a browser always sends Origin on a WebSocket
    if origin in config.allowed_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and host_header is not None \
            and parts.netloc.lower() == host_header.lower():
        return True  # our own page
    return config.dev_mode and parts.scheme in ("http", "https") \
        and is_loopback(parts.hostname or "")


def _mint(config: ServerConfig, query: str) -> Response:
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        user_id = validation.check_user({"userID": params.get("userID")})["userID"]
        room_id = params.get("roomID")
        if room_id is not None:
            validation.check_room_id(room_id)
    except ZegoError as exc:
        return _json(400, {"code": int(exc.code), "message": exc.message})
    try:
        seconds = int(params.get("seconds", TOKEN_SECONDS))
    except ValueError:
        seconds = 0
    if not 0 < seconds <= MAX_TOKEN_SECONDS:
        return _json(400, {"code": 1100001,
                           "message": f"seconds must be 1..{MAX_TOKEN_SECONDS}"})
    # With a roomID the token is good for that room only (ZEGO's privilege payload).
    payload = (makePrivilegePayload(room_id, canLogin=True, canPublish=True)
               if room_id is not None else "")
    token = generateToken04(config.app_id, user_id, config.server_secret, seconds, payload)
    return _json(200, {"token": token, "appID": config.app_id, "userID": user_id,
                       "roomID": room_id, "expire": int(time.time()) + seconds})


def _single(headers: Headers, name: str) -> tuple[bool, str | None]:
    """(ok, value): a repeated Host or Origin is refused, since the checks below would
    judge only one copy (and ``Headers.get`` raises on a repeat: a 500 and a traceback
    in the log per request)."""
    values = headers.get_all(name)
    return len(values) <= 1, values[0] if values else None


def make_http_route(config: ServerConfig, host: str = "127.0.0.1",
                    log_budget: LogBudget | None = None) -> HttpRoute:
    """The ``process_request`` hook for ``websockets.asyncio.server.serve``.

    ``log_budget`` (the server's) bounds the refusal lines: any client can cause them."""
    static = _load_static()
    budget = log_budget or LogBudget(config.log_lines_per_s)
    tokens = dev_tokens_offered(config)
    if tokens:
        # Only this machine can reach a loopback server: worth a note, not a warning.
        level = logging.INFO if is_loopback(host) else logging.WARNING
        log.log(level, "dev token endpoint %s is offered: anyone who reaches this port can "
                "mint tokens (dev credentials)", TOKEN_PATH)

    def route(connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        single_host, host_header = _single(request.headers, "Host")
        single_origin, origin = _single(request.headers, "Origin")
        if not (single_host and single_origin):
            if budget.take():
                log.warning("refusing %s with a repeated Host or Origin header", clip(url.path))
            return _text(400, "one Host and at most one Origin header, please\n")
        if (config.dev_mode or url.path == TOKEN_PATH) and not _host_ok(host_header, host):
            if budget.take():
                log.warning("refusing %s for Host %s (not this machine: DNS rebinding?)",
                            clip(url.path), clip(host_header))
            return _text(403, "this server answers only to its own host name\n")
        if url.path == WS_PATH:
            if not _origin_ok(origin, host_header, config):
                if budget.take():
                    log.warning("refusing a WebSocket from Origin %s", clip(origin))
                return _text(403, "cross-origin WebSocket refused\n")
            return None
        if url.path in static:
            body, content_type = static[url.path]
            return _response(200, body, content_type)
        if url.path == TOKEN_PATH and tokens:
            return _mint(config, url.query)
        return _text(404, f"zego_py room server: no {url.path}; the page is at /, "
                          f"the socket at {WS_PATH}\n")

    return route
