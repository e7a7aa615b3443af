"""The plain objects ZEGO's Web SDK passes around, as TypedDicts.

They are dicts at run time, so code ported from JavaScript can pass
``{"userID": "u1"}`` literals and read ``stream["streamID"]`` unchanged.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "BroadcastMessageInfo",
    "BarrageMessageInfo",
    "PlayerStateResult",
    "PublisherStateResult",
    "RoomExtraInfo",
    "SoundLevelInfo",
    "StreamExtraInfo",
    "ZegoDeviceInfo",
    "ZegoPlayOption",
    "ZegoPublishOption",
    "ZegoRoomConfig",
    "ZegoRoomRecvTransparentMessage",
    "ZegoRoomSendTransparentMessage",
    "ZegoServerResponse",
    "ZegoStream",
    "ZegoSwitchRoomConfig",
    "ZegoUser",
]


class ZegoUser(TypedDict):
    userID: str
    userName: NotRequired[str]


class ZegoRoomConfig(TypedDict, total=False):
    userUpdate: bool
    maxMemberCount: int


class ZegoSwitchRoomConfig(TypedDict):
    """``switchRoom``'s config: the token for the new room is required."""

    token: str
    maxMemberCount: NotRequired[int]
    isUserStatusNotify: NotRequired[bool]


class ZegoRoomSendTransparentMessage(TypedDict):
    """``sendTransparentMessage``'s message (the field names of ZEGO's Express SDKs)."""

    content: bytes
    sendMode: NotRequired[int]  # RoomTransparentMessageMode, default ONLY_CLIENT
    sendType: NotRequired[int]  # RoomTransparentMessageType, default NORMAL
    recvUserList: NotRequired[list[ZegoUser]]  # empty or absent: everyone else
    timeOut: NotRequired[int]  # seconds to wait for the server's answer, default 10


class ZegoRoomRecvTransparentMessage(TypedDict):
    """``recvRoomTransparentMessage``'s second argument."""

    sendUser: ZegoUser
    content: bytes


class ZegoStream(TypedDict):
    """One entry of ``roomStreamUpdate``'s streamList (ZEGO's ``ZegoStreamList``)."""

    streamID: str
    user: ZegoUser
    extraInfo: str
    urlsFLV: str
    urlsRTMP: str
    urlsHLS: str
    urlsHttpsFLV: str
    urlsHttpsHLS: str


class StreamExtraInfo(TypedDict):
    streamID: str
    user: ZegoUser
    extraInfo: str


class RoomExtraInfo(TypedDict):
    key: str
    value: str
    updateUser: ZegoUser
    updateTime: int


class BroadcastMessageInfo(TypedDict):
    fromUser: ZegoUser
    message: str
    sendTime: int
    messageID: int


class BarrageMessageInfo(TypedDict):
    fromUser: ZegoUser
    message: str
    sendTime: int
    messageID: str


class ZegoServerResponse(TypedDict, total=False):
    errorCode: int
    extendedData: str
    messageID: Any


class PublisherStateResult(TypedDict):
    streamID: str
    state: str
    errorCode: int
    extendedData: str


class PlayerStateResult(TypedDict):
    streamID: str
    state: str
    errorCode: int
    extendedData: str


class SoundLevelInfo(TypedDict):
    streamID: str
    soundLevel: float
    type: str


class ZegoDeviceInfo(TypedDict):
    deviceName: str
    deviceID: str


class ZegoPublishOption(TypedDict, total=False):
    extraInfo: str
    roomID: str
    audioBitrate: int
    enableDTX: bool


class ZegoPlayOption(TypedDict, total=False):
    audio: bool
    video: bool
    roomID: str
    audioOutput: str
    volume: int
