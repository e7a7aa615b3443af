"""ZegoExpressEngine: ZEGO's Web SDK surface, in Python.

Names, argument order, event arguments and error codes are ZEGO's
(docs/api.md maps every call).  Calls that return a Promise in the Web SDK are
``async`` here and raise ``ZegoError``; calls that return a boolean there return one
here and report the outcome through their state event.  The engine is a facade: it
checks arguments in ZEGO's order, then hands rooms to ``RoomLink`` and media to
``media.controller.MediaController``, which gets what it needs of the engine as a
``MediaContext`` and never imports this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import validation
from .backoff import retry_delays
from .enums import RoomState, UpdateType
from .errors import ErrorCode, ZegoError
from .events import EngineEvents, EventName
from .media import devices, ice  # devices loads sounddevice lazily, on first use
from .media.context import MediaContext, MediaSettings
from .media.controller import MediaController
from .protocol import Push
from .room import RoomLink
from .signaling import DEFAULT_TIMEOUT_S, SignalingClient
from .types import (
    ZegoRoomConfig,
    ZegoRoomSendTransparentMessage,
    ZegoServerResponse,
    ZegoSwitchRoomConfig,
    ZegoUser,
)
from .unsupported import ZegoUnsupportedCalls

__all__ = ["ZegoExpressEngine"]

log = logging.getLogger("zego_py")

VERSION = "0.1.0"

# Errors that another attempt cannot fix: stop retrying at once.
_FATAL_ON_RECONNECT = frozenset({
    ErrorCode.TOKEN_ERROR, ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_USER_MISMATCH,
    ErrorCode.ROOM_USER_COUNT_EXCEEDED,
})

# Cluster redirects followed per login (docs/cluster.md): one is the rule, more only
# while the room changes hands.
_MAX_REDIRECTS = 3

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "report": logging.ERROR,
    "disable": logging.CRITICAL + 1,
}


class ZegoExpressEngine(ZegoUnsupportedCalls):
    """A participant: logs in to rooms, publishes and plays audio streams.

    ``server`` is the room server's ``ws://host:port/ws`` URL, or a list of them (ZEGO:
    backups, tried in order; for a cluster, any of its nodes).  ``options`` may hold
    ``iceServers`` (a list of ``{"urls", "username", "credential"}``; default none, so
    no public STUN server is contacted) and ``hostAddresses`` (the local addresses to
    gather ICE candidates on; default: the server's answer at login, else aioice's) and
    ``iceTransportPolicy`` ("all", or "relay": through a TURN server only; see
    setTurnServer).
    """

    def __init__(self, appID: int, server: str | list[str], ENV: int = 0,  # noqa: N803
                 options: dict[str, Any] | None = None) -> None:
        if not isinstance(appID, int) or isinstance(appID, bool):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "appID must be a number")
        servers = [server] if isinstance(server, str) else server
        if (not isinstance(servers, list) or not servers
                or not all(isinstance(s, str) and s.startswith(("ws://", "wss://"))
                           for s in servers)):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "server must be a ws:// or wss:// URL")
        self.appID = appID
        self.server = servers[0]
        self._servers = list(servers)
        self._options = dict(options or {})
        self._events = EngineEvents()
        self._rooms: dict[str, RoomLink] = {}
        self._multi_room = False
        self._multi_room_locked = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._destroyed = False
        self._media = MediaController(MediaContext(
            events=self._events, spawn=self._spawn, room_for=self._media_room,
            settings=MediaSettings.from_options(self._options)))

    # ------------------------------------------------------------------ global
    def getVersion(self) -> str:  # noqa: N802
        return VERSION

    @staticmethod
    def setLogConfig(config: dict[str, Any]) -> bool:  # noqa: N802
        """Sets the process-wide ``zego_py`` logger, so it also works before any engine
        exists (ZEGO's static ``presetLogConfig`` is this call)."""
        level = config.get("logLevel", "info")
        if level not in _LOG_LEVELS:
            return False
        logging.getLogger("zego_py").setLevel(_LOG_LEVELS[level])
        return True

    presetLogConfig = setLogConfig  # ZEGO: static, before the engine is created

    def setDebugVerbose(self, enable: bool) -> None:  # noqa: N802
        logging.getLogger("zego_py").setLevel(logging.DEBUG if enable else logging.INFO)

    def setTurnServer(self, config: Any) -> bool:  # noqa: N802
        """Relay media through TURN servers, for the streams published or played after it.

        ``config``: a list of ``{"urls" (or "url"): "turn:host:port", "username",
        "credential"}``, or ``{"iceServers": [...], "iceTransportPolicy": "relay"}`` to
        use relayed candidates only (no direct path at all).  False for a malformed one.
        """
        try:
            servers, policy = ice.turn_config(config)
        except ValueError as exc:
            log.warning("setTurnServer: %s", exc)
            return False
        self._media.set_turn_server(servers, policy)
        return True

    def on(self, event: EventName, handler: Callable[..., Any]) -> bool:
        """Add a handler (sync or async); several per event run in registration order."""
        return self._events.on(event, handler)

    def off(self, event: EventName, handler: Callable[..., Any] | None = None) -> bool:
        """Remove one handler, or all of the event's handlers when ``handler`` is None."""
        return self._events.off(event, handler)

    def enableMultiRoom(self, enable: bool) -> bool:  # noqa: N802
        """Allow several rooms at once; only before the first loginRoom (as in ZEGO)."""
        if self._multi_room_locked:
            return False
        self._multi_room = bool(enable)
        return True

    def destroyEngine(self) -> None:  # noqa: N802
        """Leave every room and release devices, in the background (ZEGO returns void)."""
        self._spawn(self.close())

    async def close(self) -> None:
        """Leave every room, stop all media and wait until it is done."""
        if self._destroyed:
            return
        self._destroyed = True
        for room_id in list(self._rooms):
            await self._logout(room_id)
        await self._media.close()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._events.drain()
        self._events.clear()

    async def __aenter__(self) -> ZegoExpressEngine:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run engine work in the background, tracked so close() can wait for it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)
        return task

    # ------------------------------------------------------------------ rooms
    def _room(self, room_id: str | None) -> RoomLink:
        """The room a call targets: the named one, or the only/first one."""
        if room_id is None:
            room = next(iter(self._rooms.values()), None)
        else:
            room = self._rooms.get(room_id)
        if room is None or room.state == RoomState.DISCONNECTED:
            raise ZegoError(ErrorCode.NOT_LOGIN)
        return room

    def _media_room(self, room_id: str | None) -> RoomLink:
        """The room a publish or play targets (its ``roomID`` option)."""
        if room_id is None and self._multi_room and len(self._rooms) > 1:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "roomID is required in multi-room mode")
        return self._room(room_id)

    def _check_login_args(self, roomID: str, token: str, user: ZegoUser) -> dict[str, str]:  # noqa: N803
        if not self._multi_room and self._rooms:
            raise ZegoError(ErrorCode.LOGIN_ROOMS_EXCEEDED)
        if roomID in self._rooms:
            raise ZegoError(ErrorCode.USER_REPEATED_LOGIN)
        if self._rooms and isinstance(user, dict):
            current = next(iter(self._rooms.values())).user["userID"]
            if user.get("userID") != current:
                raise ZegoError(ErrorCode.MULTI_ROOM_USER_MISMATCH)
        validation.check_room_id(roomID)
        if not isinstance(token, str) or token == "":
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "token must be a non-empty string")
        return validation.check_user(user)

    async def loginRoom(self, roomID: str, token: str, user: ZegoUser,  # noqa: N802, N803
                        config: ZegoRoomConfig | None = None) -> bool:
        """Join a room; resolves True, or raises ZegoError with ZEGO's code.

        Register ``roomStateUpdate``, ``roomUserUpdate`` and ``roomStreamUpdate`` first:
        the users and streams already in the room arrive as ADD events before this
        returns.
        """
        if self._destroyed:
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "the engine was destroyed")
        options: dict[str, Any] = dict(config or {})
        try:
            checked_user = self._check_login_args(roomID, token, user)
            max_members = validation.check_max_member_count(options.get("maxMemberCount"))
        except ZegoError as exc:
            if exc.code != ErrorCode.LOGIN_ROOMS_EXCEEDED:
                self._events.emit("roomStateChanged", roomID, "LOGINING", 0, "")
                self._events.emit("roomStateChanged", roomID, "LOGIN_FAILED", int(exc.code),
                                  exc.message)
            raise
        self._multi_room_locked = True
        user_update = bool(options.get("userUpdate", False))
        room = RoomLink(roomID, checked_user, user_update, self._events, self.server,
                        self._on_push, self._on_link_closed, self._link_options(),
                        token=token,
                        config={"userUpdate": user_update, "maxMemberCount": max_members})
        self._rooms[roomID] = room
        room.transition("login")
        body = {"roomID": roomID, "token": token, "user": checked_user, "config": room.config}
        link: SignalingClient | None = None
        try:
            link = await self._connect_first(room, self._servers, DEFAULT_TIMEOUT_S)
            data = await link.request("login", body)
            link, data = await self._follow_redirect(room, link, data, body, DEFAULT_TIMEOUT_S)
        except ZegoError as exc:
            self._rooms.pop(roomID, None)
            if link is not None:
                await link.close()
            if room.state != RoomState.DISCONNECTED:
                room.transition("login_failed", int(exc.code), exc.message)
            raise
        except asyncio.CancelledError:
            self._rooms.pop(roomID, None)
            if link is not None:
                await link.close()
            raise
        early = room.adopt(link)
        room.transition("login_ok")
        self._media.on_login(room, data)
        self._joined(room, data)
        for push in early:  # after the reply they followed on the wire
            self._on_push(room, push)
        log.info("logged in to room %s as %s", roomID, checked_user["userID"])
        return True

    def _joined(self, room: RoomLink, data: dict[str, Any]) -> None:
        """After LOGINED: keep the login reply and report what the room already holds as
        ADD events (ZEGO's rule: users, then streams, then extra info; never yourself)."""
        room.schedule_token_warning(float(data.get("tokenExpire", 0)))
        room.remember_login(data)
        rid, emit = room.room_id, self._events.emit
        users, streams = list(room.users.values()), list(room.streams.values())
        if room.user_update and users:
            emit("roomUserUpdate", rid, UpdateType.ADD.value, users)
        if streams:
            emit("roomStreamUpdate", rid, UpdateType.ADD.value, streams, "")
        extra = data.get("roomExtraInfoList") or []
        if extra:
            emit("roomExtraInfoUpdate", rid, extra)

    async def switchRoom(self, fromRoomID: str, toRoomID: str,  # noqa: N802, N803
                         config: ZegoSwitchRoomConfig) -> bool:
        """Leave ``fromRoomID`` and join ``toRoomID`` in one step; resolves True.

        One ``switchRoom`` request on the old room's socket; the server checks the new
        room (token, capacity) before leaving the old one, so a refusal raises its code
        (1102016 bad token, 1002034 full, ...) and leaves you in ``fromRoomID`` with
        everything as it was (the new room gets LOGINING then LOGIN_FAILED).  On success,
        in ZEGO's order: publisherStateUpdate NO_PUBLISH / playerStateUpdate NO_PLAY for
        the old room's streams, the old room's DISCONNECTED/LOGOUT, the new room's
        CONNECTING/LOGINING and CONNECTED/LOGINED, then ADD for its users (with
        ``isUserStatusNotify``) and streams.  Publish again to be heard in the new room.
        """
        room = self._rooms.get(fromRoomID) if isinstance(fromRoomID, str) else None
        if self._destroyed or room is None or room.state != RoomState.CONNECTED:
            raise ZegoError(ErrorCode.NOT_LOGIN, f"not logged in to room {fromRoomID!r}")
        try:
            validation.check_room_id(toRoomID)
            if toRoomID in self._rooms:
                raise ZegoError(ErrorCode.USER_REPEATED_LOGIN, f"already in room {toRoomID!r}")
            token, max_members, user_update = validation.check_switch_room_config(config)
            new_config: dict[str, Any] = {"userUpdate": user_update,
                                          "maxMemberCount": max_members}
            room.switching_to = toRoomID
            data = await room.link.request("switchRoom", {
                "fromRoomID": fromRoomID, "toRoomID": toRoomID, "token": token,
                "config": new_config})
        except BaseException as exc:  # a refusal, or the caller cancelled: still fromRoomID
            room.switching_to = None
            room.held_pushes.clear()
            if isinstance(exc, ZegoError):
                self._events.emit("roomStateChanged", toRoomID, "LOGINING", 0, "")
                self._events.emit("roomStateChanged", toRoomID, "LOGIN_FAILED",
                                  int(exc.code), exc.message)
            raise
        await self._move(room, toRoomID, token, new_config, data)
        log.info("switched from room %s to %s", fromRoomID, toRoomID)
        return True

    async def _move(self, room: RoomLink, room_id: str, token: str, config: dict[str, Any],
                    data: dict[str, Any]) -> None:
        """The server has moved the session: the RoomLink and its socket follow, with the
        events a logout and a login would give, then the pushes that beat the reply."""
        room.cancel_timers()
        await self._media.on_room_leaving(room)
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        room.transition("logout")
        room.room_id, room.token, room.config = room_id, token, config
        room.user_update = bool(config["userUpdate"])
        self._rooms[room_id] = room
        room.transition("login")
        room.transition("login_ok")
        self._joined(room, data)
        held, room.held_pushes, room.switching_to = room.held_pushes, [], None
        for push in held:
            self._on_push(room, push)

    def logoutRoom(self, roomID: str | None = None) -> asyncio.Task[None]:  # noqa: N802, N803
        """Leave a room (the only/first one if None); stops this room's publishing and playing.

        ZEGO returns void; the returned task may be awaited to know the server heard it.
        """
        target = roomID if roomID is not None else next(iter(self._rooms), None)
        return self._spawn(self._logout(target))

    async def _logout(self, room_id: str | None) -> None:
        room = self._rooms.pop(room_id, None) if room_id is not None else None
        if room is None:
            return
        room.cancel_timers()
        await self._media.on_room_leaving(room)
        if room.link.connected:
            try:
                await room.link.request("logout", {"roomID": room.room_id}, timeout=3)
            except ZegoError as exc:
                log.info("logout of %s: %s", room.room_id, exc)
        await room.link.close()
        if room.state != RoomState.DISCONNECTED:
            room.transition("logout")

    def renewToken(self, token: str, roomID: str | None = None) -> bool:  # noqa: N802, N803
        """Hand the server a fresh token (call it on ``tokenWillExpire``)."""
        try:
            room = self._room(roomID)
        except ZegoError:
            return False
        if not isinstance(token, str) or not token:
            return False

        async def renew() -> None:
            try:
                data = await room.link.request("renewToken",
                                               {"roomID": room.room_id, "token": token})
            except ZegoError as exc:
                log.warning("renewToken for %s failed: %s", room.room_id, exc)
                return
            room.schedule_token_warning(float(data.get("tokenExpire", 0)))

        self._spawn(renew())
        return True

    # ------------------------------------------------------------------ pushes
    def _on_push(self, room: RoomLink, push: Push) -> None:
        b, emit, rid = push.body, self._events.emit, room.room_id
        target = b.get("roomID", rid)
        if target != rid:  # a switchRoom in flight: the new room's pushes wait for its reply
            if target == room.switching_to:
                room.held_pushes.append(push)
            return
        if push.type == "userUpdate":
            for user in b["userList"]:
                if b["updateType"] == UpdateType.ADD:
                    room.users[user["userID"]] = user
                else:
                    room.users.pop(user["userID"], None)
            if room.user_update:
                emit("roomUserUpdate", rid, b["updateType"], b["userList"])
        elif push.type == "streamUpdate":
            for stream in b["streamList"]:
                if b["updateType"] == UpdateType.ADD:
                    room.streams[stream["streamID"]] = stream
                else:
                    room.streams.pop(stream["streamID"], None)
            emit("roomStreamUpdate", rid, b["updateType"], b["streamList"], b["extendedData"])
        elif push.type == "onlineUserCount":
            emit("roomOnlineUserCountUpdate", rid, b["count"])
        elif push.type == "roomExtraInfoUpdate":
            emit("roomExtraInfoUpdate", rid, b["roomExtraInfoList"])
        elif push.type == "streamExtraInfoUpdate":
            for info in b["streamList"]:
                if info.get("streamID") in room.streams:
                    room.streams[info["streamID"]]["extraInfo"] = info.get("extraInfo", "")
            emit("streamExtraInfoUpdate", rid, b["streamList"])
        elif push.type == "broadcastMessage":
            emit("IMRecvBroadcastMessage", rid, b["messageList"])
        elif push.type == "barrageMessage":
            emit("IMRecvBarrageMessage", rid, b["messageList"])
        elif push.type == "customCommand":
            emit("IMRecvCustomCommand", rid, b["fromUser"], b["command"])
        elif push.type == "transparentMessage":
            try:
                content = validation.decode_transparent_content(b["content"])
            except ZegoError as exc:
                log.warning("dropping a transparent message from the server: %s", exc)
                return
            emit("recvRoomTransparentMessage", rid,
                 {"sendUser": b["sendUser"], "content": content})
        elif push.type == "micStatus":
            emit("remoteMicStatusUpdate", b["streamID"], b["status"])
        elif push.type == "cameraStatus":
            emit("remoteCameraStatusUpdate", b["streamID"], b["status"])
        elif push.type == "playEnded":
            self._media.on_play_ended(b["streamID"], b["code"])
        elif push.type == "kickout":
            self._spawn(self._kicked(room, b["code"], b["message"]))
        elif push.type == "error":
            log.warning("server error %s: %s", b["code"], b["message"])

    async def _kicked(self, room: RoomLink, code: int, message: str) -> None:
        if self._rooms.get(room.room_id) is not room:
            return
        del self._rooms[room.room_id]
        room.cancel_timers()
        log.warning("kicked out of room %s: [%s] %s", room.room_id, code, message)
        await self._media.on_room_leaving(room)
        room.transition("kicked", code, message)
        await room.link.close()

    def _link_options(self) -> dict[str, float]:
        return {"ping_interval": float(self._options.get("pingInterval", 5.0)),
                "ping_timeout": float(self._options.get("pingTimeout", 15.0))}

    def _on_link_closed(self, room: RoomLink) -> None:
        """The socket dropped without a logout: resume the session, or log in again."""
        if self._rooms.get(room.room_id) is not room or room.state != RoomState.CONNECTED:
            return
        room.transition("connection_lost", ErrorCode.NETWORK_BROKEN, "signaling socket closed")
        self._spawn(self._recover(room))

    async def _recover(self, room: RoomLink) -> None:
        """Retry with backoff within the ``reconnectTimeout`` budget (default 300 s).

        First ``resume``: the server still holds the session (a blip), nothing else
        changes.  If it has forgotten us (it restarted, or the grace period passed), log
        in again with the server-minted reconnect token, publish and play again, and
        report the users and streams that changed meanwhile as ADD/DELETE.
        """
        budget = float(self._options.get("reconnectTimeout", 300.0))
        last_error: ZegoError | None = None
        for delay in retry_delays(budget):
            await asyncio.sleep(delay)
            if self._rooms.get(room.room_id) is not room:
                return  # logged out meanwhile
            link: SignalingClient | None = None
            try:
                # the node we were on first (a blip: resume), then the entry list (the
                # node died: any node redirects to the room's new host)
                link = await self._connect_first(room, [room.server, *self._servers], 5.0)
                link, relogin_data = await self._resume_or_login(room, link)
            except ZegoError as exc:
                last_error = exc
                if link is not None:
                    await link.close()
                if exc.code in _FATAL_ON_RECONNECT:
                    break
                continue
            early = room.adopt(link)
            if relogin_data is not None:
                self._apply_relogin(room, relogin_data)
            room.transition("reconnected")
            if relogin_data is not None:
                self._media.on_relogin(room)
            for push in early:  # after the reply they followed on the wire
                self._on_push(room, push)
            log.info("room %s: %s", room.room_id,
                     "logged in again" if relogin_data is not None else "session resumed")
            return
        if self._rooms.get(room.room_id) is not room:
            return
        del self._rooms[room.room_id]
        room.cancel_timers()
        detail = f"reconnect failed: {last_error}" if last_error else "reconnect failed"
        room.transition("reconnect_failed", ErrorCode.RECONNECT_FAILED, detail)
        await self._media.on_room_leaving(room)

    async def _resume_or_login(self, room: RoomLink, link: SignalingClient
                               ) -> tuple[SignalingClient, dict[str, Any] | None]:
        """The link in use, and None when the session was resumed or the login reply
        when we logged in again."""
        try:
            await link.request("resume", {"roomID": room.room_id, "sessionKey": room.session_key,
                                          "resumeToken": room.resume_token}, timeout=5)
            return link, None
        except ZegoError as exc:
            if exc.code != ErrorCode.NOT_LOGIN:
                raise
        body = {"roomID": room.room_id, "token": room.reconnect_token or room.token,
                "user": room.user, "config": room.config}
        data = await link.request("login", body, timeout=5)
        return await self._follow_redirect(room, link, data, body, 5.0)

    @staticmethod
    async def _connect_first(room: RoomLink, urls: list[str], timeout: float
                             ) -> SignalingClient:
        """A link to the first of ``urls`` that accepts a socket (duplicates tried once)."""
        error = ZegoError(ErrorCode.NETWORK_BROKEN, "no server to connect to")
        for url in dict.fromkeys(urls):
            link = room.new_link(url)
            try:
                await link.connect(timeout=timeout)
            except ZegoError as exc:
                error = exc
                continue
            return link
        raise error

    @staticmethod
    async def _follow_redirect(room: RoomLink, link: SignalingClient, data: dict[str, Any],
                               body: dict[str, Any], timeout: float
                               ) -> tuple[SignalingClient, dict[str, Any]]:
        """A cluster node that does not host the room answers login with the host's URL
        (docs/cluster.md): log in there instead.  A room changing hands mid-login (its
        last member left and another node took it) can move it once more, so up to
        ``_MAX_REDIRECTS`` hops."""
        for _ in range(_MAX_REDIRECTS):
            redirect = data.get("redirect")
            if redirect is None:
                return link, data
            await link.close()
            link = room.new_link(str(redirect))
            try:
                await link.connect(timeout=timeout)
                data = await link.request("login", body, timeout=timeout)
            except ZegoError:
                await link.close()
                raise
        if "redirect" not in data:
            return link, data
        await link.close()
        raise ZegoError(ErrorCode.ROOM_INNER_ERROR, "too many redirects: the cluster is moving")

    def _apply_relogin(self, room: RoomLink, data: dict[str, Any]) -> None:
        """Emit what changed while we were away, as ZEGO's ADD/DELETE events."""
        old_users, old_streams = room.users, room.streams
        room.remember_login(data)
        room.schedule_token_warning(float(data.get("tokenExpire", 0)))
        rid, emit = room.room_id, self._events.emit
        gone = [u for k, u in old_users.items() if k not in room.users]
        new = [u for k, u in room.users.items() if k not in old_users]
        if room.user_update and gone:
            emit("roomUserUpdate", rid, UpdateType.DELETE.value, gone)
        if room.user_update and new:
            emit("roomUserUpdate", rid, UpdateType.ADD.value, new)
        ended = [s for k, s in old_streams.items() if k not in room.streams]
        started = [s for k, s in room.streams.items() if k not in old_streams]
        if ended:
            reason = json.dumps({"stream_delete_reason": [{"code": 6}]})
            emit("roomStreamUpdate", rid, UpdateType.DELETE.value, ended, reason)
        if started:
            emit("roomStreamUpdate", rid, UpdateType.ADD.value, started, "")

    # ------------------------------------------------------------------ messaging
    async def _im(self, kind: str, room_id: str, body: dict[str, Any]) -> ZegoServerResponse:
        room = self._room(room_id)
        data = await room.link.request(kind, {"roomID": room.room_id, **body})
        return {"errorCode": 0, "extendedData": "", **data}  # type: ignore[typeddict-item]

    async def sendBroadcastMessage(self, roomID: str, message: str) -> ZegoServerResponse:  # noqa: N802, N803
        """Reliable text to everyone else in the room (<= 1 KB, 10 per second per room)."""
        validation.check_message(message)
        return await self._im("sendBroadcastMessage", roomID, {"message": message})

    async def sendBarrageMessage(self, roomID: str, message: str) -> ZegoServerResponse:  # noqa: N802, N803
        """Barrage ("danmaku") text to everyone else (<= 1 KB, 20 per second per room)."""
        validation.check_message(message)
        return await self._im("sendBarrageMessage", roomID, {"message": message})

    async def sendCustomCommand(self, roomID: str, command: str,  # noqa: N802, N803
                                toUserIDList: list[str]) -> ZegoServerResponse:  # noqa: N803
        """A command to the listed users (everyone else if the list is empty)."""
        validation.check_message(command)
        if not isinstance(toUserIDList, list):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "toUserIDList must be a list")
        return await self._im("sendCustomCommand", roomID,
                              {"command": command, "toUserIDs": toUserIDList})

    async def sendTransparentMessage(self, roomID: str,  # noqa: N802, N803
                                     message: ZegoRoomSendTransparentMessage
                                     ) -> ZegoServerResponse:
        """Bytes (1..4096) to ``recvUserList`` (everyone else when empty), base64 on the
        wire; the others get ``recvRoomTransparentMessage(roomID, {sendUser, content})``.

        ``sendMode`` ONLY_SERVER is accepted and reaches no client: ZEGO hands it to the
        app's business server, which the bundled server does not have.  ``timeOut`` (s)
        bounds the wait for the server's answer (1100002 when it passes).
        """
        checked = validation.check_transparent_message(message)
        room = self._room(roomID)
        await room.link.request("sendTransparentMessage",
                                {"roomID": room.room_id, **checked.wire()},
                                timeout=float(checked.time_out))
        return {"errorCode": 0, "extendedData": ""}

    async def setRoomExtraInfo(self, roomID: str, key: str, value: str) -> ZegoServerResponse:  # noqa: N802, N803
        """One key per room (<= 10 B), value <= 100 B; others get roomExtraInfoUpdate."""
        validation.check_room_extra_info(key, value)
        return await self._im("setRoomExtraInfo", roomID, {"key": key, "value": value})

    async def setStreamExtraInfo(self, streamID: str, extraInfo: str) -> ZegoServerResponse:  # noqa: N802, N803
        """Update a stream this engine publishes; others get streamExtraInfoUpdate."""
        validation.check_stream_id(streamID)
        validation.check_stream_extra_info(extraInfo)
        room = self._media.room_of_published(streamID)
        await room.link.request("setStreamExtraInfo",
                                {"streamID": streamID, "extraInfo": extraInfo})
        return {"errorCode": 0, "extendedData": ""}

    # ------------------------------------------------------------------ media
    async def createStream(self, source: dict[str, Any] | None = None) -> Any:  # noqa: N802
        """A local stream: ``{"camera": {"audio": True, "video": False}}`` for the mic
        (``"video": True`` adds the camera), ``{"custom": {"source": X, "loop": False}}``
        for code or files: X is a path, an AudioSource/VideoSource (any audio or video
        track) or a list of one audio and one video track."""
        return await self._media.create_stream(source)

    async def createZegoStream(self, source: dict[str, Any] | None = None) -> Any:  # noqa: N802
        """ZEGO 3.0's name for createStream (its ZegoLocalStream wraps the MediaStream);
        here both resolve the same ZegoLocalStream."""
        return await self.createStream(source)

    def destroyStream(self, localStream: Any) -> None:  # noqa: N802, N803
        self._media.destroy_stream(localStream)

    def startPublishingStream(self, streamID: str, localStream: Any,  # noqa: N802, N803
                              publishOption: dict[str, Any] | None = None) -> bool:  # noqa: N803
        """Start publishing; True means the request went out, publisherStateUpdate says how
        it ended.  Raises ZegoError for a bad stream ID or when not logged in."""
        return self._media.start_publishing(streamID, localStream, publishOption or {})

    def stopPublishingStream(self, streamID: str) -> bool:  # noqa: N802, N803
        return self._media.stop_publishing(streamID)

    async def startPlayingStream(self, streamID: str,  # noqa: N802, N803
                                 playOption: dict[str, Any] | None = None) -> Any:  # noqa: N803
        """Play any stream by its ID (``{"audio": bool, "video": bool}``, both by default);
        resolves a remote stream once the media path is connected."""
        return await self._media.start_playing(streamID, playOption or {})

    def stopPlayingStream(self, streamID: str) -> None:  # noqa: N802, N803
        self._media.stop_playing(streamID)

    def mutePublishStreamAudio(self, localStream: Any, mute: bool) -> bool:  # noqa: N802, N803
        return self._media.mute_publish_audio(localStream, mute)

    def mutePublishStreamVideo(self, localStream: Any, mute: bool,  # noqa: N802, N803
                               retain: bool = False) -> bool:
        """Send black frames instead of the video (``retain`` is accepted for ZEGO
        compatibility: the camera always stays open); players get
        ``remoteCameraStatusUpdate`` MUTE/OPEN.  False for a stream without video."""
        return self._media.mute_publish_video(localStream, mute)

    async def enableVideoCaptureDevice(self, localStream: Any,  # noqa: N802, N803
                                       enable: bool = True) -> bool:
        """Stop (False) or restart the stream's video capture: players get black frames
        and ``remoteCameraStatusUpdate`` MUTE, as from mutePublishStreamVideo (the source
        keeps running, so restarting needs no device re-open).  Raises 1100001 for a
        stream without video."""
        if not self._media.mute_publish_video(localStream, not enable):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "localStream has no video")
        return True

    async def setVideoConfig(self, localStream: Any,  # noqa: N802, N803
                             config: dict[str, Any]) -> ZegoServerResponse:
        """Change the sent video's ``width``/``height``/``frameRate``/``maxBitrate``
        (kbps), or a ``videoQuality`` preset, live: frames are scaled and thinned before
        encoding, and the encoder restarts with a keyframe at a new size or bitrate."""
        self._media.set_video_config(localStream, config)
        return {"errorCode": 0, "extendedData": ""}

    def muteMicrophone(self, mute: bool) -> bool:  # noqa: N802
        return self._media.mute_microphone(mute)

    def isMicrophoneMuted(self) -> bool:  # noqa: N802
        return self._media.microphone_muted

    async def mutePlayStreamAudio(self, streamID: str, mute: bool) -> bool:  # noqa: N802, N803
        return self._media.mute_play_audio(streamID, mute)

    async def muteAllPlayAudioStreams(self, mute: bool) -> bool:  # noqa: N802
        return all(self._media.mute_play_audio(s, mute) for s in self._media.playing_ids())

    async def mutePlayStreamVideo(self, streamID: str, mute: bool) -> bool:  # noqa: N802, N803
        """Stop (or resume) handing this stream's frames to ``videoFrames()``."""
        return self._media.mute_play_video(streamID, mute)

    async def muteAllPlayVideoStreams(self, mute: bool) -> bool:  # noqa: N802
        return all(self._media.mute_play_video(s, mute) for s in self._media.playing_ids())

    async def setPlayVolume(self, streamID: str, volume: int) -> bool:  # noqa: N802, N803
        """Per-stream playback volume 0..200 (ZEGO's native SDKs' name; Web sets it on the
        media element)."""
        return self._media.set_play_volume(streamID, volume)

    def setSoundLevelDelegate(self, enable: bool, interval: int = 1000) -> None:  # noqa: N802
        """soundLevelUpdate / capturedSoundLevelUpdate every ``interval`` ms (500..3000)."""
        self._media.set_sound_level_delegate(enable, interval)

    async def enumDevices(self) -> dict[str, list[dict[str, str]]]:  # noqa: N802
        return devices.list_devices()

    async def getMicrophones(self) -> list[dict[str, str]]:  # noqa: N802
        return (await self.enumDevices())["microphones"]

    async def getSpeakers(self) -> list[dict[str, str]]:  # noqa: N802
        return (await self.enumDevices())["speakers"]

    async def getCameras(self) -> list[dict[str, str]]:  # noqa: N802
        return (await self.enumDevices())["cameras"]

    async def useAudioDevice(self, localStream: Any, deviceID: str) -> ZegoServerResponse:  # noqa: N802, N803
        """Switch a microphone stream to another input device."""
        await self._media.use_audio_device(localStream, deviceID)
        return {"errorCode": 0, "extendedData": ""}

    async def useVideoDevice(self, localStream: Any, deviceID: str) -> ZegoServerResponse:  # noqa: N802, N803
        """Switch a camera stream to another camera (a ``deviceID`` from getCameras());
        publishes carry on with the new camera from its first frame."""
        await self._media.use_video_device(localStream, deviceID)
        return {"errorCode": 0, "extendedData": ""}

    async def useAudioOutputDevice(self, media: Any, deviceID: str) -> bool:  # noqa: N802, N803
        """Send the speaker mix to another output device (``media`` is accepted for ZEGO
        compatibility: all played streams share one mix)."""
        return self._media.use_output_device(deviceID)

    async def checkSystemRequirements(self, checkType: str | None = None) -> dict[str, Any]:  # noqa: N802, N803
        return devices.check_system_requirements()

    # ------------------------------------------------------------------ audio controls
    async def setCaptureVolume(self, localStream: Any, volume: int) -> ZegoServerResponse:  # noqa: N802, N803
        """Capture volume in percent, applied before the level meter and the encoder.

        ZEGO documents 0..100 (100 unchanged, 0 silence); up to 200 amplifies, saturating
        at full scale instead of wrapping.  Raises 1100001 for another value or an object
        that did not come from createStream.
        """
        self._media.set_capture_volume(localStream, volume)
        return {"errorCode": 0, "extendedData": ""}

    async def setAudioConfig(self, localStream: Any,  # noqa: N802, N803
                             config: dict[str, bool]) -> ZegoServerResponse:
        """``{ANS, AGC, AEC}`` on a microphone stream after createStream, live.

        The engine's microphone streams share one echo canceller (its reference is the
        one speaker mix), so the stages change for all of them; a stage switched on
        starts learning afresh.  Raises 1100001 for a stream that is not a microphone,
        a bad config, or when the ``aec`` extra (pywebrtc-audio) is missing.
        """
        self._media.set_audio_config(localStream, config)
        return {"errorCode": 0, "extendedData": ""}

    async def checkAudioTrackIsActive(self, stream: Any) -> bool:  # noqa: N802
        """Whether a createStream stream's audio track works: its source is live and, while
        it is published, it delivered a frame within the last second.  Raises 1100001
        for anything else (ZEGO: only for createStream's local streams)."""
        return self._media.check_audio_track_active(stream)

    def getPublishingStreamQuality(self, streamID: str) -> dict[str, Any] | None:  # noqa: N802, N803
        """The latest publishQualityUpdate stats of a stream being published, or None.

        ZEGO returns its latest 3 s report too (hence its advice not to call it more
        often): stats are rates over the interval between two reports, so there is
        nothing to return before the first report, nor once publishing stopped.
        """
        return self._media.publishing_quality(streamID)

    def getPlayingStreamQuality(self, streamID: str) -> dict[str, Any] | None:  # noqa: N802, N803
        """The latest playQualityUpdate stats of a stream being played, or None (as
        getPublishingStreamQuality)."""
        return self._media.playing_quality(streamID)

    async def setCaptureAudioFrameCallback(self, localStream: Any,  # noqa: N802, N803
                                           callback: Callable[[dict[str, Any]], Any] | None,
                                           options: dict[str, Any] | None = None
                                           ) -> ZegoServerResponse:
        """PCM of what a local stream sends (after processing and capture volume), as
        ZEGO's ``ZegoAudioFrame`` ``{channels, channelCount, sampleRate}``.

        ``options`` are ZEGO's AudioFrameOptions (``sampleRate``, ``channelCount``,
        ``frameSize`` samples per channel, ``bitDepth`` 32 float / 16 int); frames flow
        while the stream is published.  ``callback`` may be sync (run on its own thread)
        or ``async def`` (run on the engine's loop); one that falls 1 s behind loses
        frames, logged, and never delays the stream.  ``None`` stops delivery.
        """
        self._media.set_capture_frame_callback(localStream, callback, options)
        return {"errorCode": 0, "extendedData": ""}

    async def setAudioFrameCallback(self, streamID: str,  # noqa: N802, N803
                                    callback: Callable[[dict[str, Any]], Any] | None,
                                    options: dict[str, Any] | None = None) -> ZegoServerResponse:
        """PCM of a played stream as it is decoded (as setCaptureAudioFrameCallback);
        raises 1004002 when the stream is not being played.  ``None`` stops delivery."""
        self._media.set_play_frame_callback(streamID, callback, options)
        return {"errorCode": 0, "extendedData": ""}


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("engine task failed", exc_info=task.exception())


