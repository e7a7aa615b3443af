"""zego_py: ZEGO's ZegoExpressEngine (Web SDK) for Python, on aiortc.

    engine = ZegoExpressEngine(appID, "ws://127.0.0.1:9000/ws")
    await engine.loginRoom("room1", token, {"userID": "alice"}, {"userUpdate": True})
"""

import logging

from .engine import ZegoExpressEngine
from .enums import (
    PlayerState,
    PublisherState,
    RemoteDeviceStatus,
    RoomState,
    RoomStateChangedReason,
    RoomTransparentMessageMode,
    RoomTransparentMessageType,
    StreamDeleteReason,
    UpdateType,
)
from .errors import ErrorCode, ZegoError
from .media.sources import AudioSource, FileSource, ToneSource
from .media.video_sources import VideoSource
from .token import generateToken04, makePrivilegePayload

__all__ = [
    "AudioSource",
    "ErrorCode",
    "FileSource",
    "PlayerState",
    "PublisherState",
    "RemoteDeviceStatus",
    "RoomState",
    "RoomStateChangedReason",
    "RoomTransparentMessageMode",
    "RoomTransparentMessageType",
    "StreamDeleteReason",
    "ToneSource",
    "UpdateType",
    "VideoSource",
    "ZegoError",
    "ZegoExpressEngine",
    "generateToken04",
    "makePrivilegePayload",
]

logging.getLogger("zego_py").addHandler(logging.NullHandler())
