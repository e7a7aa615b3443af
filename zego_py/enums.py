"""ZEGO's string constants as StrEnums: members compare equal to ZEGO's strings."""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "PlayerState",
    "PublisherState",
    "RemoteDeviceStatus",
    "RoomState",
    "RoomStateChangedReason",
    "RoomTransparentMessageMode",
    "RoomTransparentMessageType",
    "StreamDeleteReason",
    "UpdateType",
]


class UpdateType(StrEnum):
    ADD = "ADD"
    DELETE = "DELETE"


class RoomState(StrEnum):
    """``roomStateUpdate`` states (the legacy room event)."""

    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"


class RoomStateChangedReason(StrEnum):
    """``roomStateChanged`` reasons (ZEGO 2.16+, the preferred room event)."""

    LOGINING = "LOGINING"
    LOGINED = "LOGINED"
    LOGIN_FAILED = "LOGIN_FAILED"
    RECONNECTING = "RECONNECTING"
    RECONNECTED = "RECONNECTED"
    RECONNECT_FAILED = "RECONNECT_FAILED"
    KICKOUT = "KICKOUT"
    LOGOUT = "LOGOUT"
    LOGOUT_FAILED = "LOGOUT_FAILED"


class PublisherState(StrEnum):
    NO_PUBLISH = "NO_PUBLISH"
    PUBLISH_REQUESTING = "PUBLISH_REQUESTING"
    PUBLISHING = "PUBLISHING"


class PlayerState(StrEnum):
    NO_PLAY = "NO_PLAY"
    PLAY_REQUESTING = "PLAY_REQUESTING"
    PLAYING = "PLAYING"


class RemoteDeviceStatus(StrEnum):
    OPEN = "OPEN"
    MUTE = "MUTE"


class StreamDeleteReason(IntEnum):
    """``stream_delete_reason[].code`` in a DELETE's extendedData."""

    STOPPED_PUBLISHING = 1
    HEARTBEAT_TIMEOUT = 2
    REPEATED_LOGIN = 3
    KICKED_OUT = 4
    DISCONNECTED = 5
    REMOVED_BY_SERVER = 6


class RoomTransparentMessageMode(IntEnum):
    """``sendMode`` of a transparent message (ZEGO's ``ZegoRoomTransparentMessageMode``).

    ZEGO delivers ONLY_SERVER messages to the app's business server through its server
    callback; the bundled server has no such callback, so it accepts them and delivers them
    to nobody.  CLIENT_AND_SERVER is delivered to clients, like ONLY_CLIENT.
    """

    ONLY_CLIENT = 0
    ONLY_SERVER = 1
    CLIENT_AND_SERVER = 2


class RoomTransparentMessageType(IntEnum):
    """``sendType`` (ZEGO's ``ZegoRoomTransparentMessageType``).  Both are delivered in
    order here: one socket per room and one server loop per socket already order them."""

    NORMAL = 0
    SEQUENCE = 1
