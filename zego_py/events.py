"""The engine's event emitter: ZEGO's ``on``/``off`` semantics on top of pyee.

- several handlers per event, called in registration order;
- sync and async handlers (async ones run as tasks, in order of emission);
- a handler that raises is logged and never reaches the engine's receive loop
  (pyee re-raises handler errors when nobody listens on "error", so we always do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, get_args

from pyee.asyncio import AsyncIOEventEmitter

__all__ = ["EVENT_NAMES", "EngineEvents", "EventName"]

log = logging.getLogger("zego_py")

# Every event the engine emits, with ZEGO's argument lists (docs/api.md has them all).
# A Literal, so a type checker catches ``zg.on("roomStreamUpdated", ...)``.
EventName = Literal[
    "roomStateUpdate",  # (roomID, state, errorCode, extendedData)
    "roomStateChanged",  # (roomID, reason, errorCode, extendedData)
    "roomUserUpdate",  # (roomID, updateType, userList)
    "roomStreamUpdate",  # (roomID, updateType, streamList, extendedData)
    "roomOnlineUserCountUpdate",  # (roomID, count)
    "roomExtraInfoUpdate",  # (roomID, roomExtraInfoList)
    "streamExtraInfoUpdate",  # (roomID, streamList)
    "tokenWillExpire",  # (roomID)
    "IMRecvBroadcastMessage",  # (roomID, chatData)
    "IMRecvBarrageMessage",  # (roomID, messageInfo)
    "IMRecvCustomCommand",  # (roomID, fromUser, command)
    "recvRoomTransparentMessage",  # (roomID, {sendUser, content: bytes})
    "publisherStateUpdate",  # (result)
    "playerStateUpdate",  # (result)
    "publishQualityUpdate",  # (streamID, stats)
    "playQualityUpdate",  # (streamID, stats)
    "soundLevelUpdate",  # (soundLevelList)
    "capturedSoundLevelUpdate",  # (soundLevel)
    "remoteMicStatusUpdate",  # (streamID, status)
    "remoteCameraStatusUpdate",  # (streamID, status)
    # three ZEGO names never emitted here (docs/api.md says why); on() accepts them
    "playerRecvSEI",  # (streamID, data): never, the relay carries no SEI
    "screenSharingEnded",  # (stream): never, screen capture is not supported
    "hallStateUpdate",  # never: no lobby connection apart from the rooms' (roomStateUpdate)
    "networkQuality",  # (userID, upQuality, downQuality): "" is this engine; -1..4
    "audioDeviceStateChanged",  # (updateType, deviceType "Input"|"Output", deviceInfo)
    "deviceError",  # (errorCode, deviceName): the device in use went away
    "exceptionUpdate",  # (stream, {code, message}): media/exception_watch.py
    "playerAudioTrackUpdate",  # (streamID, track): a played stream's (new) audio track
]
EVENT_NAMES: frozenset[str] = frozenset(get_args(EventName))


class EngineEvents:
    def __init__(self) -> None:
        self._emitter = AsyncIOEventEmitter()
        self._emitter.on("error", self._log_handler_error)

    @staticmethod
    def _log_handler_error(exc: BaseException) -> None:
        log.error("an event handler raised", exc_info=exc)

    def on(self, event: EventName, handler: Callable[..., Any]) -> bool:
        if event not in EVENT_NAMES:
            log.warning("on(%r): zego_py never emits this event", event)
            return False
        self._emitter.add_listener(event, handler)
        return True

    def off(self, event: EventName, handler: Callable[..., Any] | None = None) -> bool:
        if handler is None:
            self._emitter.remove_all_listeners(event)
            return True
        try:
            self._emitter.remove_listener(event, handler)
        except KeyError:
            return False
        return True

    def listens(self, event: EventName) -> bool:
        """Whether any handler is registered for ``event``."""
        return bool(self._emitter.listeners(event))

    def emit(self, event: EventName, *args: Any) -> None:
        assert event in EVENT_NAMES, event
        self._emitter.emit(event, *args)

    async def drain(self) -> None:
        """Wait for async handlers still running."""
        await self._emitter.wait_for_complete()

    def clear(self) -> None:
        self._emitter.remove_all_listeners()
        self._emitter.on("error", self._log_handler_error)
