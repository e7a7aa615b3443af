"""One exception root, carrying ZEGO's numeric error codes.

ZEGO's Web SDK rejects room calls with ``{code, msg}`` and stream calls with
``{errorCode, extendedData}``.  Here both are one class::

    ZegoError                 every failure the SDK reports; .code is ZEGO's number
    └── (no subclasses)       branch on ``err.code`` (an ``ErrorCode`` member when known)

The bundled server sends the same codes over the wire, so a server-side
rejection and a client-side validation failure look identical to the caller.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ErrorCode", "ZegoError", "error_message"]


class ErrorCode(IntEnum):
    """ZEGO Web SDK error codes used by zego_py and the bundled server."""

    OK = 0
    # common / stream IDs
    NOT_LOGIN = 1000002
    STREAM_ID_TOO_LONG = 1000014
    STREAM_ID_EMPTY = 1000015
    STREAM_ID_ILLEGAL = 1000016
    NETWORK_BROKEN = 1000017
    # room / login
    LOGIN_ROOMS_EXCEEDED = 1002001
    USER_ID_EMPTY = 1002005
    USER_ID_ILLEGAL = 1002006
    USER_ID_TOO_LONG = 1002007
    USER_NAME_EMPTY = 1002008
    USER_NAME_TOO_LONG = 1002010
    ROOM_ID_EMPTY = 1002011
    ROOM_ID_ILLEGAL = 1002012
    ROOM_ID_TOO_LONG = 1002013
    ROOM_EXTRA_KEY_EMPTY = 1002014
    ROOM_EXTRA_KEY_TOO_LONG = 1002015
    ROOM_EXTRA_VALUE_TOO_LONG = 1002016
    ROOM_EXTRA_KEY_COUNT_EXCEEDED = 1002017
    MULTI_ROOM_USER_MISMATCH = 1002018
    LOGIN_TIMEOUT = 1002031
    ROOM_USER_COUNT_EXCEEDED = 1002034
    KICKED_DUPLICATE_LOGIN = 1002050
    RECONNECT_FAILED = 1002053
    KICKED_BY_SERVER = 1002055
    USER_REPEATED_LOGIN = 1002056
    ALREADY_LOGGED_IN = 1002058
    TOKEN_USER_MISMATCH = 1002077
    TOKEN_EXPIRE_ERROR = 1002078
    TOKEN_NO_PUBLISH_PRIVILEGE = 1002082
    ROOM_INNER_ERROR = 1002099
    # publish
    PUBLISH_FORBIDDEN = 1003025
    DUPLICATE_STREAM_ID = 1003028
    STREAM_EXTRA_INFO_NULL = 1003050
    STREAM_EXTRA_INFO_TOO_LONG = 1003051
    PUBLISH_INNER_ERROR = 1003099
    DEVICE_UNAVAILABLE = 1103061
    DEVICE_CONSTRAINTS = 1103066
    # play
    PLAY_STREAM_NOT_FOUND = 1004002
    PLAY_FORBIDDEN = 1004025
    REPEATED_PULL_STREAM = 1103049
    # IM
    MESSAGE_EMPTY = 1009001
    MESSAGE_TOO_LONG = 1009002
    MESSAGE_SEND_FAILED = 1009010
    FREQUENCY_LIMITED = 1009015
    # network / token
    INPUT_PARAM_ERROR = 1100001
    NETWORK_TIMEOUT = 1100002
    SOCKET_CLOSED = 1100003
    LOGIN_PROCESSING = 1102012
    TOKEN_ERROR = 1102016
    TOKEN_EXPIRED = 1102018


_MESSAGES: dict[int, str] = {
    ErrorCode.NOT_LOGIN: "not login",
    ErrorCode.STREAM_ID_TOO_LONG: "stream ID too long",
    ErrorCode.STREAM_ID_EMPTY: "streamID is empty",
    ErrorCode.STREAM_ID_ILLEGAL: "stream ID contains illegal characters",
    ErrorCode.NETWORK_BROKEN: "network is broken",
    ErrorCode.LOGIN_ROOMS_EXCEEDED: "login rooms exceeds the upper limit",
    ErrorCode.USER_ID_EMPTY: "userID is empty",
    ErrorCode.USER_ID_ILLEGAL: "userID contains illegal characters",
    ErrorCode.USER_ID_TOO_LONG: "userID is too long",
    ErrorCode.USER_NAME_EMPTY: "userName is empty",
    ErrorCode.USER_NAME_TOO_LONG: "userName is too long",
    ErrorCode.ROOM_ID_EMPTY: "roomID is empty",
    ErrorCode.ROOM_ID_ILLEGAL: "roomID contains illegal characters",
    ErrorCode.ROOM_ID_TOO_LONG: "roomID is too long",
    ErrorCode.ROOM_EXTRA_KEY_EMPTY: "room extra info key is empty",
    ErrorCode.ROOM_EXTRA_KEY_TOO_LONG: "room extra info key is too long",
    ErrorCode.ROOM_EXTRA_VALUE_TOO_LONG: "room extra info value is too long",
    ErrorCode.ROOM_EXTRA_KEY_COUNT_EXCEEDED: "room extra info key count exceeded",
    ErrorCode.MULTI_ROOM_USER_MISMATCH: "different userID in multi-room mode",
    ErrorCode.LOGIN_TIMEOUT: "login timeout",
    ErrorCode.ROOM_USER_COUNT_EXCEEDED: "room user count exceeds the upper limit",
    ErrorCode.KICKED_DUPLICATE_LOGIN: "kicked out: the same userID logged in elsewhere",
    ErrorCode.RECONNECT_FAILED: "network broken and login failed",
    ErrorCode.KICKED_BY_SERVER: "kicked out by server",
    ErrorCode.USER_REPEATED_LOGIN: "user repeatedly login",
    ErrorCode.ALREADY_LOGGED_IN: "already logged in",
    ErrorCode.TOKEN_USER_MISMATCH: "the token userid error",
    ErrorCode.TOKEN_EXPIRE_ERROR: "token expire error",
    ErrorCode.TOKEN_NO_PUBLISH_PRIVILEGE: (
        "token does not have the permission to publish current stream"
    ),
    ErrorCode.ROOM_INNER_ERROR: "room inner error",
    ErrorCode.PUBLISH_FORBIDDEN: "stream forbidden by media server",
    ErrorCode.PLAY_FORBIDDEN: "stream forbidden",
    ErrorCode.DUPLICATE_STREAM_ID: "there are duplicate stream ids in the room",
    ErrorCode.STREAM_EXTRA_INFO_NULL: "stream extra info is null",
    ErrorCode.STREAM_EXTRA_INFO_TOO_LONG: "stream extra info is too long",
    ErrorCode.PUBLISH_INNER_ERROR: "publish inner error",
    ErrorCode.DEVICE_UNAVAILABLE: "audio capture device unavailable",
    ErrorCode.DEVICE_CONSTRAINTS: "bad stream constraints or device ID",
    ErrorCode.PLAY_STREAM_NOT_FOUND: "play stream not found",
    ErrorCode.REPEATED_PULL_STREAM: "repeated pull same stream",
    ErrorCode.MESSAGE_EMPTY: "message is empty",
    ErrorCode.MESSAGE_TOO_LONG: "message content too long",
    ErrorCode.MESSAGE_SEND_FAILED: "failed to send message",
    ErrorCode.FREQUENCY_LIMITED: "frequency limited.",
    ErrorCode.INPUT_PARAM_ERROR: "input param error",
    ErrorCode.NETWORK_TIMEOUT: "network timeout",
    ErrorCode.SOCKET_CLOSED: "socket close",
    ErrorCode.LOGIN_PROCESSING: "login is processing",
    ErrorCode.TOKEN_ERROR: "token error",
    ErrorCode.TOKEN_EXPIRED: "token expired",
}


def error_message(code: int) -> str:
    """ZEGO's message for a code, or a generic one for codes we do not know."""
    return _MESSAGES.get(code, f"error {code}")


class ZegoError(Exception):
    """A failure with ZEGO's error code.

    ``code``/``message`` follow the room APIs' ``{code, msg}``; ``errorCode`` and
    ``extendedData`` alias them for code ported from the stream APIs.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        self.message = message if message is not None else error_message(code)
        super().__init__(f"[{int(code)}] {self.message}")

    @property
    def msg(self) -> str:
        return self.message

    @property
    def errorCode(self) -> int:  # noqa: N802 - ZEGO's name
        return int(self.code)

    @property
    def extendedData(self) -> str:  # noqa: N802 - ZEGO's name
        return self.message
