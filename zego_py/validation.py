"""ZEGO's argument rules, shared by the engine (checks before sending) and the server
(checks again, because a hostile client need not use our engine). Pure functions."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from .enums import RoomTransparentMessageMode, RoomTransparentMessageType
from .errors import ErrorCode, ZegoError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_TRANSPARENT_BYTES",
    "TransparentMessage",
    "check_recv_user_ids",
    "check_room_id",
    "check_stream_id",
    "check_switch_room_config",
    "check_transparent_content",
    "check_transparent_message",
    "check_user",
    "decode_transparent_content",
    "utf8_len",
]

log = logging.getLogger("zego_py")

MAX_ROOM_ID = 128
MAX_USER_ID = 64
MAX_USER_NAME = 256
MAX_STREAM_ID = 256
MAX_MESSAGE_BYTES = 1024
MAX_STREAM_EXTRA_INFO = 1024
MAX_ROOM_EXTRA_KEY = 10
MAX_ROOM_EXTRA_VALUE = 100
# ZEGO documents no byte limit for transparent messages in the references we could read
# (docs/api.md); 4 KB keeps one message (base64: 5.4 KB) far below our 64 KiB frame limit.
MAX_TRANSPARENT_BYTES = 4096
DEFAULT_TRANSPARENT_TIMEOUT_S = 10

# The Web SDK's charset for room and user IDs: letters, digits and # ! $ % & ( ) ` ' + , - . ;
# < = > @ ^ _ ~ \ * -- the "+-;" in its regex is the range 0x2B-0x3B minus ":" and "/".
_ID_CHARS = re.compile(r"^[0-9a-zA-Z#!$%&()`'+,\-.;<=>@^_~\\*]+$")
_STREAM_ID_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _check_id(value: object, empty: int, illegal: int, too_long: int, limit: int) -> str:
    if not isinstance(value, str) or value == "":
        raise ZegoError(empty)
    if utf8_len(value) > limit:
        raise ZegoError(too_long)
    if not _ID_CHARS.match(value):
        raise ZegoError(illegal)
    return value


def check_room_id(room_id: object) -> str:
    return _check_id(
        room_id,
        ErrorCode.ROOM_ID_EMPTY,
        ErrorCode.ROOM_ID_ILLEGAL,
        ErrorCode.ROOM_ID_TOO_LONG,
        MAX_ROOM_ID,
    )


def check_user(user: object) -> dict[str, str]:
    """Validate a ZegoUser in ZEGO's order; returns it normalised (userName defaults to userID)."""
    if not isinstance(user, dict):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "user must be an object")
    user_id = _check_id(
        user.get("userID"),
        ErrorCode.USER_ID_EMPTY,
        ErrorCode.USER_ID_ILLEGAL,
        ErrorCode.USER_ID_TOO_LONG,
        MAX_USER_ID,
    )
    name = user.get("userName", user_id)
    if name is None:
        name = user_id
    if not isinstance(name, str):
        raise ZegoError(ErrorCode.USER_NAME_EMPTY, "userName must be a string")
    if utf8_len(name) > MAX_USER_NAME:
        raise ZegoError(ErrorCode.USER_NAME_TOO_LONG)
    return {"userID": user_id, "userName": name}


def check_stream_id(stream_id: object) -> str:
    """Strict ZEGO stream ID: ``[A-Za-z0-9_-]{1,256}``."""
    if not isinstance(stream_id, str) or stream_id == "":
        raise ZegoError(ErrorCode.STREAM_ID_EMPTY)
    if len(stream_id) > MAX_STREAM_ID:
        raise ZegoError(ErrorCode.STREAM_ID_TOO_LONG)
    if not _STREAM_ID_CHARS.match(stream_id):
        raise ZegoError(ErrorCode.STREAM_ID_ILLEGAL)
    return stream_id


def check_message(message: object) -> str:
    """IM payloads: non-empty string of at most 1 KB (UTF-8)."""
    if not isinstance(message, str) or message == "":
        raise ZegoError(ErrorCode.MESSAGE_EMPTY)
    if utf8_len(message) > MAX_MESSAGE_BYTES:
        raise ZegoError(ErrorCode.MESSAGE_TOO_LONG)
    return message


def check_stream_extra_info(extra_info: object) -> str:
    if not isinstance(extra_info, str):
        raise ZegoError(ErrorCode.STREAM_EXTRA_INFO_NULL)
    if utf8_len(extra_info) > MAX_STREAM_EXTRA_INFO:
        raise ZegoError(ErrorCode.STREAM_EXTRA_INFO_TOO_LONG)
    return extra_info


def check_room_extra_info(key: object, value: object) -> tuple[str, str]:
    if not isinstance(key, str) or key == "":
        raise ZegoError(ErrorCode.ROOM_EXTRA_KEY_EMPTY)
    if utf8_len(key) > MAX_ROOM_EXTRA_KEY:
        raise ZegoError(ErrorCode.ROOM_EXTRA_KEY_TOO_LONG)
    if not isinstance(value, str):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "value must be a string")
    if utf8_len(value) > MAX_ROOM_EXTRA_VALUE:
        raise ZegoError(ErrorCode.ROOM_EXTRA_VALUE_TOO_LONG)
    return key, value


def check_max_member_count(value: object) -> int:
    """``maxMemberCount``: absent or 0 means unlimited (ZEGO); anything else a count."""
    count = value or 0
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "maxMemberCount must be an integer >= 0")
    return count


def check_switch_room_config(config: object) -> tuple[str, int, bool]:
    """ZEGO's ``ZegoSwitchRoomConfig``: ``(token, maxMemberCount, isUserStatusNotify)``."""
    if not isinstance(config, dict):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "config must be an object with a token")
    token = config.get("token")
    if not isinstance(token, str) or token == "":
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "config.token must be a non-empty string")
    return (token, check_max_member_count(config.get("maxMemberCount")),
            bool(config.get("isUserStatusNotify", False)))


@dataclass(frozen=True, slots=True)
class TransparentMessage:
    """A checked ``ZegoRoomSendTransparentMessage``."""

    content: bytes
    send_mode: RoomTransparentMessageMode
    send_type: RoomTransparentMessageType
    recv_user_ids: list[str]
    time_out: int

    def wire(self) -> dict[str, Any]:
        """The request fields: JSON has no binary, so the content travels as base64."""
        return {"content": base64.b64encode(self.content).decode("ascii"),
                "sendMode": int(self.send_mode), "sendType": int(self.send_type),
                "recvUserList": [{"userID": u} for u in self.recv_user_ids]}


_TRANSPARENT_KEYS = frozenset({"sendMode", "sendType", "content", "recvUserList", "timeOut"})


def check_transparent_content(content: object) -> bytes:
    """Bytes (ZEGO's Uint8Array), 1..4096 of them."""
    if not isinstance(content, bytes | bytearray | memoryview):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "content must be bytes")
    data = bytes(content)
    if not data:
        raise ZegoError(ErrorCode.MESSAGE_EMPTY)
    if len(data) > MAX_TRANSPARENT_BYTES:
        raise ZegoError(ErrorCode.MESSAGE_TOO_LONG,
                        f"content is {len(data)} bytes, at most {MAX_TRANSPARENT_BYTES}")
    return data


def decode_transparent_content(text: str) -> bytes:
    """The server's side of ``wire()``: strict base64 (no stray characters), then the limits."""
    if len(text) > 4 * (MAX_TRANSPARENT_BYTES // 3 + 1):
        raise ZegoError(ErrorCode.MESSAGE_TOO_LONG)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "content is not base64") from None
    return check_transparent_content(data)


_E = TypeVar("_E", bound=IntEnum)


def _enum_value(enum: type[_E], value: object, name: str) -> _E:
    valid = [m.value for m in enum]
    if isinstance(value, bool) or not isinstance(value, int) or value not in valid:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, f"{name} must be one of {valid}")
    return enum(value)


def check_transparent_mode(value: object) -> RoomTransparentMessageMode:
    return _enum_value(RoomTransparentMessageMode, value, "sendMode")


def check_transparent_type(value: object) -> RoomTransparentMessageType:
    return _enum_value(RoomTransparentMessageType, value, "sendType")


def check_recv_user_ids(users: object) -> list[str]:
    """``recvUserList``: ZegoUser objects; empty means everyone else in the room."""
    if not isinstance(users, list) or not all(
            isinstance(u, dict) and isinstance(u.get("userID"), str) for u in users):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "recvUserList must be a list of ZegoUser")
    return [u["userID"] for u in users]


def check_transparent_message(message: object) -> TransparentMessage:
    """ZEGO's ``ZegoRoomSendTransparentMessage``; unknown keys are ignored with a warning,
    as ZEGO ignores options it does not know."""
    if not isinstance(message, dict):
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "message must be an object")
    unknown = sorted(set(message) - _TRANSPARENT_KEYS)
    if unknown:
        log.warning("sendTransparentMessage: ignoring unknown keys %s", unknown)
    content = check_transparent_content(message.get("content"))
    mode = check_transparent_mode(message.get("sendMode", 0))
    kind = check_transparent_type(message.get("sendType", 0))
    recv = check_recv_user_ids(message.get("recvUserList") or [])
    time_out = message.get("timeOut", DEFAULT_TRANSPARENT_TIMEOUT_S)
    if isinstance(time_out, bool) or not isinstance(time_out, int) or time_out <= 0:
        raise ZegoError(ErrorCode.INPUT_PARAM_ERROR, "timeOut must be a positive number of s")
    return TransparentMessage(content, mode, kind, recv, time_out)
