"""ZEGO's argument rules, shared by the engine (checks before sending) and the server
(checks again, because a hostile client need not use our engine). Pure functions."""

from __future__ import annotations

import re

from .errors import ErrorCode, ZegoError

__all__ = [
    "MAX_MESSAGE_BYTES",
    "check_room_id",
    "check_stream_id",
    "check_user",
    "utf8_len",
]

MAX_ROOM_ID = 128
MAX_USER_ID = 64
MAX_USER_NAME = 256
MAX_STREAM_ID = 256
MAX_MESSAGE_BYTES = 1024
MAX_STREAM_EXTRA_INFO = 1024
MAX_ROOM_EXTRA_KEY = 10
MAX_ROOM_EXTRA_VALUE = 100

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
