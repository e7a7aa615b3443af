"""ZEGO's string constants as StrEnums: members compare equal to ZEGO's strings."""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "PlayerState",
    "PublisherState",
    "RemoteDeviceStatus",
    "RoomState",
    "RoomStateChangedReason",
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
