"""The room server's I/O: WebSocket connections in, registry and relay calls out.

Each socket gets one ``Connection``: a reader that handles requests one at a time (so
a client's requests take effect in the order it sent them) and a writer task that
drains an outbox bounded in bytes (so one slow client never stalls pushes to the
others, nor holds unbounded memory: a client whose outbox overflows is disconnected).
Room rules live in rooms.py, token rules in auth.py, media in relay.py; this module
only routes and logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from zego_py import validation
from zego_py.enums import StreamDeleteReason
from zego_py.errors import ErrorCode, ZegoError
from zego_py.media.impairment import Impairment
from zego_py.protocol import (
    ProtocolError,
    Push,
    Reply,
    Request,
    decode_from_client,
    encode_push,
    encode_reply,
)
from zego_py.token import TokenClaims, TokenError

from .addresses import address_key, is_loopback
from .auth import check_login, reconnect_token
from .config import ServerConfig
from .deadlines import DeadlineWaker
from .http_routes import make_http_route
from .logsafe import LogBudget, clip
from .relay import NegotiationError, Relay
from .rooms import Outgoing, RoomRegistry, Session
from .throttle import FailureThrottle

__all__ = ["RoomServer", "serve_rooms"]

log = logging.getLogger("mock_server")
_THROTTLED = "too many failed logins, retry later"


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class Connection:
    """One client socket: an outbox drained by a writer task, and a request budget."""

    def __init__(self, key: int, ws: ServerConnection, config: ServerConfig) -> None:
        self.key = key
        self.ws = ws
        self.outbox: asyncio.Queue[tuple[str, int]] = asyncio.Queue()  # (frame, UTF-8 bytes)
        self.queued_bytes = 0
        self.max_queued_bytes = config.max_outbox_bytes
        self.overflowed = False
        self.logged_in = asyncio.Event()
        self.tokens = float(config.request_burst)
        self.rate = config.requests_per_s
        self.burst = config.request_burst
        self.refilled_at = time.monotonic()
        self.request_arrived = self.refilled_at  # of the request in hand (one at a time)
        host = str(ws.remote_address[0]) if ws.remote_address else "?"
        self.address = address_key(host)  # what the per-address caps and throttle count
        self.peer = f"{host}:{ws.remote_address[1]}" if ws.remote_address else "?"
        self.log_budget = LogBudget(config.log_lines_per_conn_per_s)
        self.on_loopback = bool(ws.local_address) and is_loopback(ws.local_address[0])

    def send(self, text: str, size: int | None = None) -> None:
        """Queue a frame; ``size`` is its UTF-8 length if the caller has it already."""
        if self.overflowed:
            return
        size = _utf8_size(text) if size is None else size
        if self.queued_bytes + size > self.max_queued_bytes:
            self.overflowed = True
            log.warning("conn %d (%s): %d bytes queued, disconnecting a slow client",
                        self.key, self.peer, self.queued_bytes)
            asyncio.ensure_future(self.close(1008, "too slow"))
            return
        self.queued_bytes += size
        self.outbox.put_nowait((text, size))

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; abort the TCP link if that takes over 2 s.  A peer that reads
        nothing never lets the close frame out (the writer task is stuck waiting for the
        socket to drain), and websockets would wait for it forever."""
        try:
            async with asyncio.timeout(2):
                await self.ws.close(code, reason)
        except TimeoutError:
            self.ws.transport.abort()

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.rate)
        self.refilled_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def write_loop(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                text, size = await self.outbox.get()
                await self.ws.send(text)
                self.queued_bytes -= size


Handler = Callable[[Connection, Request], Awaitable[dict[str, Any]]]


@dataclass
class _Detached:
    """A session whose socket dropped: pushes wait here until it resumes or expires."""

    timer: asyncio.TimerHandle
    address: str  # still counts against its address's connection cap
    pushes: list[Push] = field(default_factory=list)


class RoomServer:
    """Routes requests to the registry and relay; owns every Connection."""

    def __init__(self, config: ServerConfig | None = None,
                 impairment: Callable[[], Impairment | None] | None = None) -> None:
        """``impairment`` (tests and benchmarks): a factory for a lossy relay->listener path."""
        self.config = config or ServerConfig()
        self.registry = RoomRegistry(self.config)
        self.relay = Relay(self.config.host_addresses, impairment=impairment,
                           on_peer_gone=self._peer_gone,
                           connect_timeout_s=self.config.peer_connect_timeout_s)
        self.connections: dict[int, Connection] = {}
        self._next_key = 1
        self._pending_streams: set[str] = set()
        self._pending_peers: dict[str, int] = {}  # address -> negotiations in flight
        self._per_address: dict[str, int] = {}
        self._handshakes: dict[str, int] = {}  # address -> opening handshakes unfinished
        self._detached: dict[int, _Detached] = {}
        self._detached_from: dict[str, int] = {}  # address -> sessions in _detached
        self._synced_removals = 0  # registry.removals at the last _sync_relay
        cfg = self.config
        self._log_budget = LogBudget(cfg.log_lines_per_s)
        self.login_throttle = FailureThrottle(
            free_failures=cfg.login_free_failures, base_s=cfg.login_backoff_base_s,
            max_s=cfg.login_backoff_max_s, forget_s=cfg.login_failure_forget_s,
            max_keys=cfg.login_throttle_max_keys)
        self._waker = DeadlineWaker()  # failed logins' reply floor (_checked_token)
        self._handlers: dict[str, Handler] = {
            "login": self._login,
            "logout": self._logout,
            "renewToken": self._renew_token,
            "switchRoom": self._switch_room,
            "resume": self._resume,
            "ping": self._ping,
            "sendBroadcastMessage": self._broadcast,
            "sendBarrageMessage": self._broadcast,
            "sendCustomCommand": self._custom_command,
            "sendTransparentMessage": self._transparent_message,
            "setRoomExtraInfo": self._set_room_extra_info,
            "publish": self._publish,
            "unpublish": self._unpublish,
            "setStreamExtraInfo": self._set_stream_extra_info,
            "setMicStatus": self._set_mic_status,
            "setCameraStatus": self._set_camera_status,
            "play": self._play,
            "stopPlay": self._stop_play,
        }

    def _may_log(self, conn: Connection) -> bool:
        """Lines a client can cause are budgeted per connection and for the whole server."""
        return conn.log_budget.take() and self._log_budget.take()

    # ------------------------------------------------------------------ sockets
    def _connections_from(self, address: str) -> int:
        """Live sockets plus sessions in their grace period (they hold the same state)."""
        return self._per_address.get(address, 0) + self._detached_from.get(address, 0)

    def _gated_connection(self) -> type[ServerConnection]:
        """websockets' connection class, counting unfinished handshakes per address.

        ``handle`` sees a socket only after its opening handshake, which may take
        websockets' open timeout (10 s); without this cap one address could hold any
        number of descriptors with idle or trickling (slowloris) handshakes."""
        server = self

        class GatedConnection(ServerConnection):
            handshaking: str | None = None  # the address key, until the handshake ends

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                peer = transport.get_extra_info("peername")
                address = address_key(str(peer[0])) if peer else "?"
                pending = server._handshakes.get(address, 0)
                if pending >= server.config.max_handshakes_per_address:
                    if server._log_budget.take():
                        log.warning("refusing a TCP connection from %s: %d handshakes "
                                    "unfinished", address, pending)
                    cast(asyncio.Transport, transport).abort()
                    return
                server._handshakes[address] = pending + 1
                self.handshaking = address

            def handshake_ended(self) -> None:
                if self.handshaking is not None:
                    server._handshakes[self.handshaking] -= 1
                    if not server._handshakes[self.handshaking]:
                        del server._handshakes[self.handshaking]
                    self.handshaking = None

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                self.handshake_ended()

        return GatedConnection

    async def handle(self, ws: ServerConnection) -> None:
        ended = getattr(ws, "handshake_ended", None)  # GatedConnection's
        if ended is not None:
            ended()
        address = address_key(str(ws.remote_address[0])) if ws.remote_address else "?"
        if (count := self._connections_from(address)) >= self.config.max_connections_per_address:
            if self._log_budget.take():
                log.warning("refusing %s: %d connections already", address, count)
            await ws.close(1013, "too many connections from this address")
            return
        self._per_address[address] = self._per_address.get(address, 0) + 1
        conn = Connection(self._next_key, ws, self.config)
        self._next_key += 1
        self.connections[conn.key] = conn
        writer = asyncio.create_task(conn.write_loop())
        deadline = asyncio.create_task(self._login_deadline(conn))
        try:
            async for frame in ws:
                await self._on_frame(conn, frame)
        except ConnectionClosed:
            pass
        finally:
            deadline.cancel()
            if conn.log_budget.suppressed:
                log.info("conn %d (%s): %d log lines were suppressed", conn.key, conn.peer,
                         conn.log_budget.suppressed)
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]
            if self.connections.get(conn.key) is conn:  # not taken over by a resume
                del self.connections[conn.key]
                await self._on_gone(conn)
            writer.cancel()

    async def _login_deadline(self, conn: Connection) -> None:
        try:
            await asyncio.wait_for(conn.logged_in.wait(), self.config.login_deadline_s)
        except TimeoutError:
            log.info("conn %d (%s): no login within %.0f s, closing",
                     conn.key, conn.peer, self.config.login_deadline_s)
            await conn.close(1008, "login deadline")

    async def _on_frame(self, conn: Connection, frame: str | bytes) -> None:
        # Every frame costs budget, parseable or not; over budget a bad frame gets nothing.
        conn.request_arrived = time.monotonic()
        allowed = conn.take_token()
        try:
            request = decode_from_client(frame)
        except ProtocolError as exc:
            if not allowed:
                return
            if self._may_log(conn):  # exc.message quotes client text only clipped
                log.info("conn %d (%s): bad frame of %d chars: %s", conn.key, conn.peer,
                         len(frame), exc.message)
            if exc.request_id is not None:
                conn.send(encode_reply(Reply(exc.request_id, exc.code, exc.message)))
            else:
                conn.send(encode_push(Push("error", {"code": int(exc.code),
                                                     "message": exc.message})))
            return
        if not allowed:
            conn.send(encode_reply(Reply(request.id, ErrorCode.FREQUENCY_LIMITED,
                                         "too many requests")))
            return
        try:
            data = await self._handlers[request.type](conn, request)
        except NegotiationError as exc:
            if self._may_log(conn):
                log.info("conn %d (%s): %s %s", conn.key, conn.peer, request.type, exc.detail)
            conn.send(encode_reply(Reply(request.id, int(exc.code), exc.message)))
        except ZegoError as exc:
            conn.send(encode_reply(Reply(request.id, int(exc.code), exc.message)))
        except Exception:
            if self._may_log(conn):
                log.exception("conn %d: %s failed", conn.key, request.type)
            conn.send(encode_reply(Reply(request.id, ErrorCode.ROOM_INNER_ERROR,
                                         "internal server error")))
        else:
            conn.send(encode_reply(Reply(request.id, 0, "", data)))

    async def _on_gone(self, conn: Connection) -> None:
        """A logged-in socket dropped: keep its session for the grace period (resume)."""
        session = self.registry.sessions.get(conn.key)
        if session is None:
            return
        log.info("room %s: user %s lost its socket; holding the session %.1f s",
                 session.room_id, session.user["userID"], self.config.session_grace_s)
        self._detached[conn.key] = _Detached(
            asyncio.get_running_loop().call_later(
                self.config.session_grace_s,
                lambda: asyncio.ensure_future(self._expire(conn.key))),
            session.address)
        self._detached_from[session.address] = self._detached_from.get(session.address, 0) + 1

    def _end_grace(self, key: int) -> _Detached | None:
        """End ``key``'s grace period (it resumed or expired); its timer stops."""
        detached = self._detached.pop(key, None)
        if detached is not None:
            detached.timer.cancel()
            self._detached_from[detached.address] -= 1
            if not self._detached_from[detached.address]:
                del self._detached_from[detached.address]
        return detached

    async def _expire(self, key: int) -> None:
        if self._end_grace(key) is None:
            return
        session = self.registry.sessions.get(key)
        if session is not None:
            log.info("room %s: user %s timed out", session.room_id, session.user["userID"])
            await self._deliver(self.registry.logout(key, StreamDeleteReason.HEARTBEAT_TIMEOUT))

    async def _deliver(self, outgoing: list[Outgoing]) -> None:
        """Send pushes, close kicked sessions, and drop relay state the registry dropped."""
        kicked = []
        # A fan-out shares one Push among its recipients: encode it once, not once each
        # (a 6 KB escaped message to 1000 members cost 10 ms of encoding per message).
        frames: dict[int, tuple[str, int]] = {}
        for item in outgoing:
            detached = self._detached.get(item.session_key)
            if detached is not None:
                detached.pushes.append(item.push)
                if len(detached.pushes) > self.config.detached_push_limit:
                    asyncio.ensure_future(self._expire(item.session_key))
                continue
            conn = self.connections.get(item.session_key)
            if conn is None:
                continue
            frame = frames.get(id(item.push))
            if frame is None:
                text = encode_push(item.push)
                frame = frames[id(item.push)] = (text, _utf8_size(text))
            conn.send(*frame)
            if item.push.type == "kickout":
                kicked.append(conn)
        for conn in kicked:
            asyncio.ensure_future(self._close_after_flush(conn))
        await self._sync_relay()

    async def _close_after_flush(self, conn: Connection) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(2):
                while not conn.outbox.empty():
                    await asyncio.sleep(0.01)
        await conn.close(1000, "kicked out")

    async def _sync_relay(self) -> None:
        """The registry is the truth: stop relaying what it no longer has.

        Skipped unless the registry removed something since the last pass: the scan is
        O(streams + listeners) and runs after every delivered request (a message)."""
        if self.registry.removals == self._synced_removals:
            return
        self._synced_removals = self.registry.removals
        streams = self.registry.streams
        for stream_id, published in list(self.relay.streams.items()):
            record = streams.get(stream_id)
            if record is None:
                await self.relay.remove_publisher(stream_id)
                continue
            for key in [k for k in published.listeners if k not in record.players]:
                await self.relay.remove_listener(stream_id, key)

    # ------------------------------------------------------------------ rooms
    async def _login(self, conn: Connection, req: Request) -> dict[str, Any]:
        b = req.body
        if conn.key in self.registry.sessions:
            raise ZegoError(ErrorCode.LOGIN_ROOMS_EXCEEDED)
        room_id = validation.check_room_id(b["roomID"])
        user = validation.check_user(b["user"])
        claims = await self._checked_token(conn, b["token"], room_id, user["userID"])
        data, out = self.registry.login(conn.key, room_id, user, b.get("config") or {}, claims)
        conn.logged_in.set()
        log.info("room %s: user %s logged in (%s)", room_id, user["userID"], conn.peer)
        await self._deliver(out)
        session = self.registry.sessions[conn.key]
        session.address = conn.address
        session.resume_token = secrets.token_urlsafe(24)
        data.update(sessionKey=conn.key, resumeToken=session.resume_token,
                    reconnectToken=self._reconnect_token(claims),
                    pingInterval=self.config.ping_interval_s,
                    pingTimeout=self.config.ping_timeout_s, iceServers=[])
        if conn.on_loopback:
            # A client that reached us over loopback runs on this machine: gathering on
            # loopback is what works (aioice leaves 127.0.0.1 out by default).
            data["hostAddresses"] = ["127.0.0.1"]
        return data

    async def _logout(self, conn: Connection, req: Request) -> dict[str, Any]:
        self.registry._session_in_room(conn.key, req.body["roomID"])
        log.info("room %s: conn %d logged out", req.body["roomID"], conn.key)
        await self._deliver(self.registry.logout(conn.key))
        return {}

    async def _switch_room(self, conn: Connection, req: Request) -> dict[str, Any]:
        """Leave one room and join another on this socket, atomically (docs/protocol.md):
        every check on the new room runs first, so a refusal changes nothing."""
        b = req.body
        session, _ = self.registry._session_in_room(conn.key, b["fromRoomID"])
        to_room = validation.check_room_id(b["toRoomID"])
        # the new room's token passes a login's checks, throttle included
        claims = await self._checked_token(conn, b["token"], to_room, session.user["userID"])
        data, out = self.registry.switch_room(conn.key, b["fromRoomID"], to_room,
                                              b.get("config") or {}, claims)
        log.info("user %s switched from room %s to %s", session.user["userID"],
                 b["fromRoomID"], to_room)
        await self._deliver(out)
        session.resume_token = secrets.token_urlsafe(24)
        data.update(sessionKey=conn.key, resumeToken=session.resume_token,
                    reconnectToken=self._reconnect_token(claims))
        return data

    async def _renew_token(self, conn: Connection, req: Request) -> dict[str, Any]:
        session = self.registry._session(conn.key)
        # a renewal passes the same checks (and throttle) as a login: same room, same user
        claims = await self._checked_token(conn, req.body["token"], session.room_id,
                                           session.user["userID"])
        data = self.registry.renew_token(conn.key, req.body["roomID"], claims)
        return {**data, "reconnectToken": self._reconnect_token(claims)}

    async def _checked_token(self, conn: Connection, token: str, room_id: str, user_id: str
                             ) -> TokenClaims:
        """check_login behind the failed-login throttle, failing in constant time.

        A failure is answered ``failed_login_reply_floor_s`` after its request arrived:
        bad padding, bad JSON, a wrong app ID... took different microseconds, a timing
        oracle an attacker rotating 127.x.y.z addresses could sample without end.  The
        wake-up is DeadlineWaker's (asyncio.sleep would keep the microseconds); the wait
        is this socket's only (it handles its requests in order).
        """
        try:
            return self._throttled_check(conn, token, room_id, user_id)
        except ZegoError:
            await self._waker.until(conn.request_arrived + self.config.failed_login_reply_floor_s)
            raise

    def _throttled_check(self, conn: Connection, token: str, room_id: str, user_id: str
                         ) -> TokenClaims:
        """check_login with the per-address and per-userID throttle (docs/tokens.md).

        A blocked address gets 1009015 without its token being decrypted at all.  A
        blocked userID still has its token checked: a valid one gets in (so failing as a
        victim cannot lock the victim out), a failure gets 1009015.  Every failure is
        logged, without the token text.
        """
        by_address, by_user = f"address {conn.address}", f"userID {user_id}"
        wait = self.login_throttle.blocked_for(by_address)
        if wait > 0:
            if self._may_log(conn):
                log.warning("conn %d (%s): login as %s throttled for %.1f s more", conn.key,
                            conn.peer, clip(user_id), wait)
            raise ZegoError(ErrorCode.FREQUENCY_LIMITED, _THROTTLED)
        user_blocked = self.login_throttle.blocked_for(by_user) > 0
        try:
            claims = check_login(token, app_id=self.config.app_id,
                                 secret=self.config.server_secret, room_id=room_id,
                                 user_id=user_id)
        except ZegoError as exc:
            failures = max(self.login_throttle.failed(by_address),
                           self.login_throttle.failed(by_user))
            if self._may_log(conn):
                detail = exc.detail if isinstance(exc, TokenError) else exc.message
                log.warning("conn %d (%s): login as %s failed (%d): %s; token of %d chars, "
                            "failure %d%s", conn.key, conn.peer, clip(user_id), int(exc.code),
                            detail, len(token), failures,
                            " (userID throttled)" if user_blocked else "")
            if user_blocked:
                raise ZegoError(ErrorCode.FREQUENCY_LIMITED, _THROTTLED) from None
            raise
        self.login_throttle.succeeded(by_user)
        return claims

    def _reconnect_token(self, claims: TokenClaims) -> str:
        """So a re-login after a server restart never fails on an expired app token, within
        one bounded grace (auth.reconnect_token, docs/tokens.md)."""
        return reconnect_token(claims, app_id=self.config.app_id,
                               secret=self.config.server_secret,
                               grace_s=self.config.reconnect_token_grace_s)

    async def _resume(self, conn: Connection, req: Request) -> dict[str, Any]:
        """Re-attach a session whose socket dropped: same session, streams untouched."""
        key = req.body["sessionKey"]
        session = self.registry.sessions.get(key)
        # bytes: compare_digest raises TypeError for non-ASCII str
        if (session is None or not session.resume_token or session.room_id != req.body["roomID"]
                or not secrets.compare_digest(session.resume_token.encode(),
                                              req.body["resumeToken"].encode("utf-8"))):
            raise ZegoError(ErrorCode.NOT_LOGIN, "no session to resume")
        if conn.key in self.registry.sessions:
            raise ZegoError(ErrorCode.LOGIN_ROOMS_EXCEEDED)
        old = self.connections.get(key)
        if old is not None and old is not conn:  # its half-open socket was not noticed yet
            del self.connections[key]
            await old.close(1000, "resumed elsewhere")
        detached = self._end_grace(key)
        self.connections.pop(conn.key, None)
        conn.key = key
        self.connections[key] = conn
        conn.logged_in.set()
        if detached is not None:  # after the reply, which _on_frame queues next
            for push in detached.pushes:
                asyncio.get_running_loop().call_soon(conn.send, encode_push(push))
        log.info("room %s: user %s resumed its session", session.room_id, session.user["userID"])
        return {"tokenExpire": session.claims.expire}

    async def _ping(self, conn: Connection, req: Request) -> dict[str, Any]:
        return {"time": time.time()}

    # ------------------------------------------------------------------ messaging
    async def _broadcast(self, conn: Connection, req: Request) -> dict[str, Any]:
        message = validation.check_message(req.body["message"])
        kind = "broadcastMessage" if req.type == "sendBroadcastMessage" else "barrageMessage"
        data, out = self.registry.broadcast(conn.key, req.body["roomID"], message, kind)
        await self._deliver(out)
        return data

    async def _custom_command(self, conn: Connection, req: Request) -> dict[str, Any]:
        command = validation.check_message(req.body["command"])
        await self._deliver(self.registry.custom_command(
            conn.key, req.body["roomID"], command, req.body["toUserIDs"]))
        return {}

    async def _transparent_message(self, conn: Connection, req: Request) -> dict[str, Any]:
        b = req.body
        validation.decode_transparent_content(b["content"])
        mode = validation.check_transparent_mode(b["sendMode"])
        validation.check_transparent_type(b["sendType"])
        to_user_ids = validation.check_recv_user_ids(b["recvUserList"])
        await self._deliver(self.registry.transparent_message(
            conn.key, b["roomID"], b["content"], mode, to_user_ids))
        return {}

    async def _set_room_extra_info(self, conn: Connection, req: Request) -> dict[str, Any]:
        key, value = validation.check_room_extra_info(req.body["key"], req.body["value"])
        await self._deliver(self.registry.set_room_extra_info(
            conn.key, req.body["roomID"], key, value))
        return {}

    # ------------------------------------------------------------------ streams
    async def _publish(self, conn: Connection, req: Request) -> dict[str, Any]:
        b = req.body
        stream_id = validation.check_stream_id(b["streamID"])
        extra_info = validation.check_stream_extra_info(b.get("extraInfo") or "")
        session = self.registry.check_publish(conn.key, b["roomID"], stream_id)
        if stream_id in self._pending_streams:
            raise ZegoError(ErrorCode.DUPLICATE_STREAM_ID)
        self._check_peer_caps(session, ErrorCode.PUBLISH_FORBIDDEN)
        self._pending_streams.add(stream_id)
        try:
            async with self._negotiating(session.address):
                answer = await self.relay.add_publisher(stream_id, b["sdp"])
            try:
                out = self.registry.add_stream(conn.key, stream_id, extra_info)
            except ZegoError:
                await self.relay.remove_publisher(stream_id)
                raise
        finally:
            self._pending_streams.discard(stream_id)
        log.info("room %s: %s publishes %s", session.room_id, session.user["userID"], stream_id)
        await self._deliver(out)
        return {"sdp": answer}

    async def _unpublish(self, conn: Connection, req: Request) -> dict[str, Any]:
        out = self.registry.remove_stream(conn.key, req.body["streamID"])
        log.info("conn %d stops publishing %s", conn.key, req.body["streamID"])
        await self._deliver(out)
        return {}

    async def _set_stream_extra_info(self, conn: Connection, req: Request) -> dict[str, Any]:
        extra_info = validation.check_stream_extra_info(req.body["extraInfo"])
        await self._deliver(self.registry.set_stream_extra_info(
            conn.key, req.body["streamID"], extra_info))
        return {}

    async def _set_mic_status(self, conn: Connection, req: Request) -> dict[str, Any]:
        await self._deliver(self.registry.set_mic_status(
            conn.key, req.body["streamID"], req.body["status"]))
        return {}

    async def _set_camera_status(self, conn: Connection, req: Request) -> dict[str, Any]:
        await self._deliver(self.registry.set_camera_status(
            conn.key, req.body["streamID"], req.body["status"]))
        return {}

    async def _play(self, conn: Connection, req: Request) -> dict[str, Any]:
        stream_id = validation.check_stream_id(req.body["streamID"])
        self.registry.check_play(conn.key, stream_id)
        self._check_peer_caps(self.registry.sessions[conn.key], ErrorCode.PLAY_FORBIDDEN)
        async with self._negotiating(self.registry.sessions[conn.key].address):
            answer = await self.relay.add_listener(stream_id, conn.key, req.body["sdp"])
        try:
            out = self.registry.add_player(conn.key, stream_id)
        except ZegoError:
            await self.relay.remove_listener(stream_id, conn.key)
            raise
        await self._deliver(out)
        return {"sdp": answer}

    def _check_peer_caps(self, session: Session, code: int) -> None:
        """Each peer connection holds sockets: cap them per session and per address."""
        def peers(s: Session) -> int:
            return len(s.published) + len(s.playing)

        if peers(session) >= self.config.max_peers_per_session:
            raise ZegoError(code, "too many peer connections for this session")
        from_address = self._pending_peers.get(session.address, 0) + sum(
            peers(s) for s in self.registry.sessions.values() if s.address == session.address)
        if from_address >= self.config.max_peers_per_address:
            raise ZegoError(code, "too many peer connections from this address")

    @contextlib.asynccontextmanager
    async def _negotiating(self, address: str) -> AsyncIterator[None]:
        """A negotiation in flight counts against its address's peer cap."""
        self._pending_peers[address] = self._pending_peers.get(address, 0) + 1
        try:
            yield
        finally:
            self._pending_peers[address] -= 1
            if not self._pending_peers[address]:
                del self._pending_peers[address]

    async def _peer_gone(self, stream_id: str, listener_key: int | None) -> None:
        """The relay reaped a dead transport: make the registry (and the room) agree."""
        if listener_key is None:
            await self._deliver(self.registry.drop_stream(stream_id,
                                                          StreamDeleteReason.DISCONNECTED))
        elif listener_key in self.registry.sessions:
            self.registry.remove_player(listener_key, stream_id)

    async def _stop_play(self, conn: Connection, req: Request) -> dict[str, Any]:
        self.registry.remove_player(conn.key, req.body["streamID"])
        await self._sync_relay()
        return {}

    # ------------------------------------------------------------------ running
    async def _online_count_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.online_count_interval_s)
            await self._deliver(self.registry.online_counts())
            if self._log_budget.suppressed:  # so an operator knows the log has gaps
                log.warning("%d log lines suppressed server-wide in the last %.0f s",
                            self._log_budget.suppressed, self.config.online_count_interval_s)
                self._log_budget.suppressed = 0

    @contextlib.asynccontextmanager
    async def running(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve in this event loop; yields the ``ws://host:port/ws`` URL (port 0: any free)."""
        cfg = self.config
        async with serve(
            self.handle,
            host,
            port,
            max_size=cfg.max_frame_bytes,
            process_request=make_http_route(cfg, host, self._log_budget),
            create_connection=self._gated_connection(),
            ping_interval=cfg.ping_interval_s,
            ping_timeout=cfg.ping_timeout_s,
            # a peer that stopped answering pings will not answer a close frame either
            close_timeout=min(cfg.ping_timeout_s, 5.0),
        ) as server:
            bound_port = next(iter(server.sockets)).getsockname()[1]
            ticker = asyncio.create_task(self._online_count_loop())
            netloc = f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"
            log.info("serving ws://%s/ws (app ID %d)", netloc, cfg.app_id)
            try:
                yield f"ws://{netloc}/ws"
            finally:
                ticker.cancel()
                server.close()
                await self.relay.close()
                self._waker.close()


@contextlib.asynccontextmanager
async def serve_rooms(host: str = "127.0.0.1", port: int = 0,
                      config: ServerConfig | None = None) -> AsyncIterator[str]:
    """Run a room server in this event loop; yields its ``ws://host:port/ws`` URL."""
    async with RoomServer(config).running(host, port) as url:
        yield url
