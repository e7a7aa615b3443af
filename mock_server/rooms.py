"""Rooms, users and streams with ZEGO's rules, sans I/O.

The registry is pure bookkeeping: each call takes a session key and returns the pushes
the call causes as ``Outgoing(session_key, Push)`` pairs, or raises ZegoError with the
code the client gets.  The WebSocket server (server.py) owns the sockets and sends
what comes back; tests drive the registry directly with no sockets at all.

Stream IDs are unique across the whole server, not just a room, because any user may
play any stream by its ID (as on ZEGO's cloud).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zego_py import validation
from zego_py.enums import RoomTransparentMessageMode, StreamDeleteReason, UpdateType
from zego_py.errors import ErrorCode, ZegoError
from zego_py.protocol import MAX_FRAME_BYTES, Push, clip
from zego_py.token import TokenClaims

from .auth import check_publish
from .config import ServerConfig

__all__ = ["Outgoing", "RoomRegistry", "Session"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    session_key: int
    push: Push


@dataclass
class Session:
    """One logged-in engine (one socket, one room)."""

    key: int
    user: dict[str, str]
    room_id: str
    user_update: bool
    claims: TokenClaims
    resume_token: str = ""  # set by the server; proves a reconnecting socket owns this session
    address: str = ""  # the client's IP at login: peer connections are capped per address
    published: set[str] = field(default_factory=set)
    playing: set[str] = field(default_factory=set)


@dataclass
class StreamRecord:
    stream_id: str
    room_id: str
    owner_key: int
    user: dict[str, str]
    extra_info: str
    mic_status: str = "OPEN"
    camera_status: str = "OPEN"
    players: set[int] = field(default_factory=set)

    def as_zego(self) -> dict[str, Any]:
        """ZEGO's ZegoStreamList entry (the CDN URL fields stay empty: there is no CDN)."""
        return {
            "streamID": self.stream_id,
            "user": dict(self.user),
            "extraInfo": self.extra_info,
            "urlsFLV": "",
            "urlsRTMP": "",
            "urlsHLS": "",
            "urlsHttpsFLV": "",
            "urlsHttpsHLS": "",
        }


class _RateWindow:
    """At most ``limit`` events in any one-second window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        self.expire(now)
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True

    def expire(self, now: float) -> bool:
        """Forget events older than a second; True if the window is now empty."""
        while self.times and now - self.times[0] >= 1.0:
            self.times.popleft()
        return not self.times


@dataclass
class Room:
    room_id: str
    max_member_count: int
    members: dict[str, Session] = field(default_factory=dict)  # userID -> session
    stream_ids: list[str] = field(default_factory=list)  # in publish order
    extra_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    rates: dict[str, _RateWindow] = field(default_factory=dict)
    next_message_id: int = 1


# Rate windows not tied to a member: broadcast, barrage, and for custom commands and
# transparent messages each, "many" and "nobody"; and each member has one per family.
_ROOM_WIDE_RATE_KINDS = 6
_DIRECTED_FAMILIES = 2


def rate_window_bound(room: Room) -> int:
    """Past this many rate windows a room drops its idle ones (they cannot grow unbounded)."""
    return _DIRECTED_FAMILIES * len(room.members) + _ROOM_WIDE_RATE_KINDS


# Room state a login reply carries is bounded so the reply fits one frame (clients close
# a larger one with 1009, and would retry forever); this much is kept for the reply's
# other fields (session and reconnect tokens, timers).
_REPLY_HEADROOM = 8 * 1024
STATE_TOO_LARGE = "room state too large for a login reply"


def _state_bytes(users: list[dict[str, Any]], streams: list[dict[str, Any]],
                 extra_info: list[dict[str, Any]]) -> int:
    """UTF-8 size of the room state in a login reply, JSON escapes included (a control
    character costs 6 bytes on the wire, 1 in ZEGO's length rules)."""
    text = json.dumps([users, streams, extra_info], separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def _delete_extended_data(reason: int) -> str:
    return json.dumps({"stream_delete_reason": [{"code": int(reason)}]})


class RoomRegistry:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}
        self.sessions: dict[int, Session] = {}
        self.streams: dict[str, StreamRecord] = {}
        # Bumped whenever a stream or a player may have gone: the server mirrors removals
        # into the relay only when this moved, not on every message it delivers.
        self.removals = 0

    # ------------------------------------------------------------------ helpers
    def _check_state_fits(self, room: Room, *, users: Iterable[dict[str, str]] | None = None,
                          streams: Iterable[StreamRecord] | None = None,
                          extra_info: dict[str, dict[str, Any]] | None = None,
                          code: int = ErrorCode.ROOM_USER_COUNT_EXCEEDED) -> None:
        """Raise ``code`` unless a login reply with this room state (the room's own where
        an argument is None) fits the frame limit a client accepts."""
        budget = min(self.config.max_frame_bytes, MAX_FRAME_BYTES) - _REPLY_HEADROOM
        user_list = [dict(u) for u in (users if users is not None
                                       else (s.user for s in room.members.values()))]
        records = streams if streams is not None else (self.streams[i] for i in room.stream_ids)
        extra = extra_info if extra_info is not None else room.extra_info
        if _state_bytes(user_list, [r.as_zego() for r in records], list(extra.values())) > budget:
            raise ZegoError(code, STATE_TOO_LARGE)

    def _session(self, key: int) -> Session:
        session = self.sessions.get(key)
        if session is None:
            raise ZegoError(ErrorCode.NOT_LOGIN)
        return session

    def _session_in_room(self, key: int, room_id: str) -> tuple[Session, Room]:
        session = self._session(key)
        if session.room_id != room_id:
            raise ZegoError(ErrorCode.NOT_LOGIN, f"not logged in to room {clip(room_id)}")
        return session, self.rooms[room_id]

    @staticmethod
    def _others(room: Room, exclude: int) -> Iterable[Session]:
        return (s for s in room.members.values() if s.key != exclude)

    def _fan_out(self, room: Room, exclude: int, push: Push, *, user_update_only: bool = False
                 ) -> list[Outgoing]:
        return [
            Outgoing(s.key, push)
            for s in self._others(room, exclude)
            if s.user_update or not user_update_only
        ]

    # ------------------------------------------------------------------ rooms
    def login(
        self,
        key: int,
        room_id: str,
        user: dict[str, str],
        config: dict[str, Any],
        claims: TokenClaims,
    ) -> tuple[dict[str, Any], list[Outgoing]]:
        """Join ``room_id``; returns the login reply's data and the pushes it causes.

        A userID already in the room is taken over: ZEGO's rule is that the last login
        wins and the old session is kicked with 1002050.
        """
        if key in self.sessions:
            raise ZegoError(ErrorCode.LOGIN_ROOMS_EXCEEDED)
        self._check_join(room_id, user, config)
        session = Session(key, dict(user), room_id, bool(config.get("userUpdate", False)), claims)
        return self._join(session, config)

    def switch_room(self, key: int, from_room: str, to_room: str, config: dict[str, Any],
                    claims: TokenClaims) -> tuple[dict[str, Any], list[Outgoing]]:
        """Leave ``from_room`` and join ``to_room`` as one step, or change nothing.

        Every check on the new room runs before the old one is left, so a refusal (full
        room, bad ``maxMemberCount``) leaves the session where it was.  Peers of the old
        room get DELETE for its streams (reason 1) and for the user; peers of the new one
        get ADD.  The Session object moves, so what the server attached to it stays.
        """
        session, _ = self._session_in_room(key, from_room)
        if to_room == from_room:
            raise ZegoError(ErrorCode.USER_REPEATED_LOGIN, "already in this room")
        old_room_empties = len(self.rooms[from_room].members) == 1
        self._check_join(to_room, session.user, config, rooms_freed=int(old_room_empties))
        out = self.logout(key)
        session.room_id = to_room
        session.user_update = bool(config.get("userUpdate", False))
        session.claims = claims
        session.published.clear()
        session.playing.clear()
        data, joined = self._join(session, config)
        return data, out + joined

    def _check_join(self, room_id: str, user: dict[str, str], config: dict[str, Any],
                    rooms_freed: int = 0) -> None:
        """Raise what joining ``room_id`` would raise, before anything changes
        (``rooms_freed``: rooms the caller's move will close first)."""
        validation.check_max_member_count(config.get("maxMemberCount"))
        room = self.rooms.get(room_id)
        if room is None:
            if len(self.rooms) - rooms_freed >= self.config.max_rooms:
                raise ZegoError(ErrorCode.ROOM_INNER_ERROR, "server room limit reached")
            return  # a new room holds only this user
        # the same userID already there is kicked, so it (and its streams) does not count
        previous = room.members.get(user["userID"])
        staying = sum(1 for uid in room.members if uid != user["userID"])
        limit = room.max_member_count or self.config.max_users_per_room
        if staying >= min(limit, self.config.max_users_per_room):
            raise ZegoError(ErrorCode.ROOM_USER_COUNT_EXCEEDED)
        self._check_state_fits(
            room,
            users=[*(s.user for s in room.members.values() if s is not previous), user],
            streams=[self.streams[i] for i in room.stream_ids
                     if previous is None or self.streams[i].owner_key != previous.key])

    def _join(self, session: Session, config: dict[str, Any]
              ) -> tuple[dict[str, Any], list[Outgoing]]:
        """Add a checked session to its room (``_check_join`` passed: nothing can fail)."""
        out: list[Outgoing] = []
        room_id, user = session.room_id, session.user
        room = self.rooms.get(room_id)
        previous = room.members.get(user["userID"]) if room else None
        if previous is not None:
            out += self.kick(previous.key, ErrorCode.KICKED_DUPLICATE_LOGIN,
                             StreamDeleteReason.REPEATED_LOGIN, announce_user=False)
            room = self.rooms.get(room_id)
        if room is None:
            room = Room(room_id, validation.check_max_member_count(config.get("maxMemberCount")))
            self.rooms[room_id] = room
        existing_users = [dict(s.user) for s in room.members.values()]
        existing_streams = [self.streams[sid].as_zego() for sid in room.stream_ids]
        room.members[user["userID"]] = session
        self.sessions[session.key] = session
        if previous is None:
            out += self._fan_out(
                room, session.key,
                Push("userUpdate", {"roomID": room_id, "updateType": UpdateType.ADD.value,
                                    "userList": [dict(user)]}),
                user_update_only=True,
            )
        data = {
            "users": existing_users if session.user_update else [],
            "streams": existing_streams,
            "roomExtraInfoList": list(room.extra_info.values()),
            "onlineCount": len(room.members),
            "tokenExpire": session.claims.expire,
        }
        return data, out

    def logout(self, key: int, reason: int = StreamDeleteReason.STOPPED_PUBLISHING
               ) -> list[Outgoing]:
        """Leave the room: peers get DELETE for this user's streams, then for the user."""
        session = self.sessions.pop(key, None)
        if session is None:
            return []
        self.removals += 1
        out: list[Outgoing] = []
        for stream_id in list(session.published):
            out += self._remove_stream(stream_id, reason)
        for stream_id in list(session.playing):
            record = self.streams.get(stream_id)
            if record is not None:
                record.players.discard(key)
        room = self.rooms[session.room_id]
        if room.members.get(session.user["userID"]) is session:
            del room.members[session.user["userID"]]
            out += self._fan_out(
                room, key,
                Push("userUpdate", {"roomID": room.room_id, "updateType": UpdateType.DELETE.value,
                                    "userList": [dict(session.user)]}),
                user_update_only=True,
            )
        if not room.members:
            del self.rooms[room.room_id]
        return out

    def kick(self, key: int, code: int, reason: int, *, announce_user: bool = True
             ) -> list[Outgoing]:
        """End a session from the server side: it gets ``kickout`` with ZEGO's code."""
        session = self.sessions.get(key)
        if session is None:
            return []
        self.removals += 1
        out = [Outgoing(key, Push("kickout", {"roomID": session.room_id, "code": int(code),
                                              "message": ZegoError(code).message}))]
        if announce_user:
            return out + self.logout(key, reason)
        # The same user logs straight back in: drop the streams and session quietly.
        for stream_id in list(session.published):
            out += self._remove_stream(stream_id, reason)
        room = self.rooms[session.room_id]
        del room.members[session.user["userID"]]
        del self.sessions[key]
        for stream_id in session.playing:
            if stream_id in self.streams:
                self.streams[stream_id].players.discard(key)
        return out

    def renew_token(self, key: int, room_id: str, claims: TokenClaims) -> dict[str, Any]:
        session, _ = self._session_in_room(key, room_id)
        session.claims = claims
        return {"tokenExpire": claims.expire}

    def online_counts(self) -> list[Outgoing]:
        """``onlineUserCount`` for every member of every room (sent every 30 s)."""
        return [
            Outgoing(s.key, Push("onlineUserCount", {"roomID": room.room_id,
                                                     "count": len(room.members)}))
            for room in self.rooms.values()
            for s in room.members.values()
        ]

    # ------------------------------------------------------------------ streams
    def check_publish(self, key: int, room_id: str, stream_id: str, now: float | None = None
                      ) -> Session:
        """Everything that must hold before the relay negotiates a publisher."""
        session, _ = self._session_in_room(key, room_id)
        if stream_id in self.streams:
            raise ZegoError(ErrorCode.DUPLICATE_STREAM_ID)
        if len(session.published) >= self.config.max_streams_per_user:
            raise ZegoError(ErrorCode.PUBLISH_INNER_ERROR, "too many streams for one user")
        check_publish(session.claims, stream_id, now)
        return session

    def add_stream(self, key: int, stream_id: str, extra_info: str) -> list[Outgoing]:
        """The relay has the publisher: announce the stream to the room."""
        session = self._session(key)
        if stream_id in self.streams:
            raise ZegoError(ErrorCode.DUPLICATE_STREAM_ID)
        room = self.rooms[session.room_id]
        record = StreamRecord(stream_id, room.room_id, key, dict(session.user), extra_info)
        self._check_state_fits(room, streams=[*(self.streams[i] for i in room.stream_ids), record],
                               code=ErrorCode.PUBLISH_INNER_ERROR)
        self.streams[stream_id] = record
        room.stream_ids.append(stream_id)
        session.published.add(stream_id)
        return self._fan_out(
            room, key,
            Push("streamUpdate", {"roomID": room.room_id, "updateType": UpdateType.ADD.value,
                                  "streamList": [record.as_zego()], "extendedData": ""}),
        )

    def remove_stream(self, key: int, stream_id: str) -> list[Outgoing]:
        session = self._session(key)
        if stream_id not in session.published:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "not publishing this stream")
        return self._remove_stream(stream_id, StreamDeleteReason.STOPPED_PUBLISHING)

    def drop_stream(self, stream_id: str, reason: int) -> list[Outgoing]:
        """The server ends a stream (its media transport died): the room gets DELETE."""
        return self._remove_stream(stream_id, reason) if stream_id in self.streams else []

    def _remove_stream(self, stream_id: str, reason: int) -> list[Outgoing]:
        record = self.streams.pop(stream_id)
        self.removals += 1
        owner = self.sessions.get(record.owner_key)
        if owner is not None:
            owner.published.discard(stream_id)
        room = self.rooms[record.room_id]
        room.stream_ids.remove(stream_id)
        out = self._fan_out(
            room, record.owner_key,
            Push("streamUpdate", {"roomID": room.room_id, "updateType": UpdateType.DELETE.value,
                                  "streamList": [record.as_zego()],
                                  "extendedData": _delete_extended_data(reason)}),
        )
        for player_key in record.players:
            player = self.sessions.get(player_key)
            if player is not None:
                player.playing.discard(stream_id)
            out.append(Outgoing(player_key, Push("playEnded", {"streamID": stream_id,
                                                                "code": int(reason)})))
        return out

    def check_play(self, key: int, stream_id: str) -> StreamRecord:
        session = self._session(key)
        record = self.streams.get(stream_id)
        if record is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        if stream_id in session.playing:
            raise ZegoError(ErrorCode.REPEATED_PULL_STREAM)
        return record

    def add_player(self, key: int, stream_id: str) -> list[Outgoing]:
        session = self._session(key)
        record = self.streams.get(stream_id)
        if record is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        record.players.add(key)
        session.playing.add(stream_id)
        return [Outgoing(key, Push(push, {"streamID": stream_id, "status": status}))
                for push, status in (("micStatus", record.mic_status),
                                     ("cameraStatus", record.camera_status))
                if status != "OPEN"]

    def remove_player(self, key: int, stream_id: str) -> bool:
        session = self._session(key)
        if stream_id not in session.playing:
            return False
        self.removals += 1
        session.playing.discard(stream_id)
        record = self.streams.get(stream_id)
        if record is not None:
            record.players.discard(key)
        return True

    def set_mic_status(self, key: int, stream_id: str, status: str) -> list[Outgoing]:
        return self._set_status(key, stream_id, status, "mic_status", "micStatus")

    def set_camera_status(self, key: int, stream_id: str, status: str) -> list[Outgoing]:
        return self._set_status(key, stream_id, status, "camera_status", "cameraStatus")

    def _set_status(self, key: int, stream_id: str, status: str, attr: str,
                    push_type: str) -> list[Outgoing]:
        """A publisher's mic or camera went MUTE/OPEN: tell the stream's players."""
        session = self._session(key)
        if stream_id not in session.published:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "not publishing this stream")
        if status not in ("OPEN", "MUTE"):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "status must be OPEN or MUTE")
        record = self.streams[stream_id]
        if getattr(record, attr) == status:
            return []
        setattr(record, attr, status)
        push = Push(push_type, {"streamID": stream_id, "status": status})
        return [Outgoing(k, push) for k in record.players]

    def set_stream_extra_info(self, key: int, stream_id: str, extra_info: str) -> list[Outgoing]:
        session = self._session(key)
        if stream_id not in session.published:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, "not publishing this stream")
        record = self.streams[stream_id]
        room = self.rooms[record.room_id]
        self._check_state_fits(
            room, streams=[StreamRecord(stream_id, room.room_id, key, record.user, extra_info)
                           if i == stream_id else self.streams[i] for i in room.stream_ids],
            code=ErrorCode.STREAM_EXTRA_INFO_TOO_LONG)
        record.extra_info = extra_info
        return self._fan_out(
            room, key,
            Push("streamExtraInfoUpdate", {
                "roomID": room.room_id,
                "streamList": [{"streamID": stream_id, "user": dict(record.user),
                                "extraInfo": extra_info}],
            }),
        )

    # ------------------------------------------------------------------ messaging
    def _rate(self, room: Room, kind: str, limit: int, now: float) -> None:
        window = room.rates.get(kind)
        if window is None:
            if len(room.rates) >= rate_window_bound(room):
                self._prune_rates(room, now)
            window = room.rates[kind] = _RateWindow(limit)
        if not window.allow(now):
            raise ZegoError(ErrorCode.FREQUENCY_LIMITED)

    @staticmethod
    def _prune_rates(room: Room, now: float) -> None:
        """Drop windows with nothing in the last second (a member who left, mostly)."""
        for kind in [k for k, w in room.rates.items() if w.expire(now)]:
            del room.rates[kind]

    def broadcast(self, key: int, room_id: str, message: str, kind: str,
                  now: float | None = None) -> tuple[dict[str, Any], list[Outgoing]]:
        """A broadcast (reliable) or barrage (unreliable) message to everyone else."""
        session, room = self._session_in_room(key, room_id)
        now = time.monotonic() if now is None else now
        limit = (self.config.broadcast_per_room_per_s if kind == "broadcastMessage"
                 else self.config.barrage_per_room_per_s)
        self._rate(room, kind, limit, now)
        number = room.next_message_id
        room.next_message_id += 1
        message_id: int | str = number if kind == "broadcastMessage" else str(number)
        info = {"fromUser": dict(session.user), "message": message,
                "sendTime": int(time.time() * 1000), "messageID": message_id}
        push = Push(kind, {"roomID": room_id, "messageList": [info]})
        return {"messageID": message_id}, self._fan_out(room, key, push)

    def custom_command(self, key: int, room_id: str, command: str, to_user_ids: list[Any],
                       now: float | None = None) -> list[Outgoing]:
        session, room = self._session_in_room(key, room_id)
        if not all(isinstance(u, str) for u in to_user_ids):
            raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "toUserIDs must be strings")
        push = Push("customCommand", {"roomID": room_id, "fromUser": dict(session.user),
                                      "command": command})
        return self._directed(room, key, "custom", to_user_ids, push, now)

    def transparent_message(self, key: int, room_id: str, content: str, mode: int,
                            to_user_ids: list[str], now: float | None = None
                            ) -> list[Outgoing]:
        """A transparent message (``content``: checked base64) to the listed users, or to
        everyone else, with the rates of custom commands.

        ONLY_SERVER goes to ZEGO's business-server callback, which this server does not
        have: it is accepted (and counted) and delivered to no client."""
        session, room = self._session_in_room(key, room_id)
        push = Push("transparentMessage", {"roomID": room_id, "sendUser": dict(session.user),
                                           "content": content})
        out = self._directed(room, key, "transparent", to_user_ids, push, now)
        return [] if mode == RoomTransparentMessageMode.ONLY_SERVER else out

    def _directed(self, room: Room, key: int, family: str, to_user_ids: list[str], push: Push,
                  now: float | None) -> list[Outgoing]:
        """``push`` to the listed users (everyone else when empty), rate-limited.

        ZEGO: 200/s to a single user, 10/s to several (or to everyone).  A window per
        *member*: every target that is not in the room shares one, so a client cannot make
        windows (memory) by inventing userIDs.
        """
        now = time.monotonic() if now is None else now
        single = len(to_user_ids) == 1
        if not single:
            kind = f"{family}:many"
        elif to_user_ids[0] in room.members:
            kind = f"{family}-to:{to_user_ids[0]}"
        else:
            kind = f"{family}:nobody"
        self._rate(room, kind, 200 if single else self.config.custom_command_per_room_per_s, now)
        targets = set(to_user_ids)
        return [Outgoing(s.key, push) for s in self._others(room, key)
                if not targets or s.user["userID"] in targets]

    def set_room_extra_info(self, key: int, room_id: str, k: str, value: str
                            ) -> list[Outgoing]:
        session, room = self._session_in_room(key, room_id)
        if k not in room.extra_info and room.extra_info:
            raise ZegoError(ErrorCode.ROOM_EXTRA_KEY_COUNT_EXCEEDED)
        entry = {"key": k, "value": value, "updateUser": dict(session.user),
                 "updateTime": int(time.time() * 1000)}
        self._check_state_fits(room, extra_info={**room.extra_info, k: entry},
                               code=ErrorCode.ROOM_EXTRA_VALUE_TOO_LONG)
        room.extra_info[k] = entry
        push = Push("roomExtraInfoUpdate", {"roomID": room_id,
                                            "roomExtraInfoList": [dict(room.extra_info[k])]})
        return self._fan_out(room, key, push)
