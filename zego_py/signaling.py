"""The engine's WebSocket link to the room server: requests, replies and pushes.

All message shapes come from ``protocol``; this module only moves text.  A request is
a future keyed by its id; a reply with a non-zero code raises ZegoError with that
code; a push goes to the ``on_push`` callback in arrival order.  When the socket
closes, pending requests fail with 1100003 (socket close) and ``on_closed`` runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .errors import ErrorCode, ZegoError
from .protocol import (
    MAX_FRAME_BYTES,
    ProtocolError,
    Push,
    Reply,
    Request,
    decode_from_server,
    encode_request,
)

__all__ = ["SignalingClient"]

log = logging.getLogger("zego_py.signaling")

DEFAULT_TIMEOUT_S = 10.0


class SignalingClient:
    def __init__(
        self,
        url: str,
        on_push: Callable[[Push], None],
        on_closed: Callable[[], None],
        ping_interval: float = 5.0,
        ping_timeout: float = 15.0,
    ) -> None:
        self.url = url
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._on_push = on_push
        self._on_closed = on_closed
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            # websockets' keepalive pings the server and drops a silent link after
            # ping_timeout, which is how a dead path (no FIN) is noticed.
            self._ws = await websockets.connect(
                self.url, max_size=MAX_FRAME_BYTES, open_timeout=timeout,
                ping_interval=self._ping_interval, ping_timeout=self._ping_timeout,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ZegoError(ErrorCode.NETWORK_BROKEN,
                            f"cannot reach the room server at {self.url}: {exc}") from None
        self._reader = asyncio.create_task(self._read_loop(), name="zego-signaling-reader")

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    @property
    def latency_ms(self) -> float | None:
        """The round trip of the last keepalive ping (websockets measures it), or None
        before the first one."""
        latency = self._ws.latency if self._ws is not None else 0.0
        return latency * 1000 if latency > 0 else None

    async def request(self, kind: str, body: dict[str, Any] | None = None,
                      timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """Send one request; returns the reply's data or raises ZegoError with its code."""
        if not self.connected or self._ws is None:
            raise ZegoError(ErrorCode.SOCKET_CLOSED)
        rid = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self._ws.send(encode_request(Request(rid, kind, body or {})))
            reply = await asyncio.wait_for(future, timeout)
        except ConnectionClosed:
            raise ZegoError(ErrorCode.SOCKET_CLOSED) from None
        except TimeoutError:
            raise ZegoError(ErrorCode.NETWORK_TIMEOUT, f"{kind}: no reply in {timeout} s") from None
        finally:
            self._pending.pop(rid, None)
        if reply.code != 0:
            raise ZegoError(reply.code, reply.message or None)
        return reply.data

    async def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                try:
                    message = decode_from_server(frame)
                except ProtocolError as exc:
                    log.warning("ignoring a bad frame from the server: %s", exc.message)
                    continue
                if isinstance(message, Reply):
                    future = self._pending.get(message.id)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    try:
                        self._on_push(message)
                    except Exception:
                        log.exception("handling push %s failed", message.type)
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ZegoError(ErrorCode.SOCKET_CLOSED))
            if not self._closing:
                self._on_closed()

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
