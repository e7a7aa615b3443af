"""The public surface: sorted, complete ``__all__`` and every ZEGO name the mirror promises."""

from __future__ import annotations

import inspect

import zego_py
from zego_py import ZegoExpressEngine
from zego_py.events import EVENT_NAMES

ZEGO_METHODS = """
getVersion setLogConfig setDebugVerbose on off enableMultiRoom checkSystemRequirements
destroyEngine loginRoom logoutRoom renewToken sendBroadcastMessage sendBarrageMessage
sendCustomCommand setRoomExtraInfo createStream destroyStream startPublishingStream
stopPublishingStream setStreamExtraInfo mutePublishStreamAudio muteMicrophone
isMicrophoneMuted startPlayingStream stopPlayingStream mutePlayStreamAudio
muteAllPlayAudioStreams enumDevices getMicrophones getSpeakers getCameras useAudioDevice
useAudioOutputDevice setSoundLevelDelegate switchRoom sendTransparentMessage
""".split()

PROMISE_METHODS = """
loginRoom sendBroadcastMessage sendBarrageMessage sendCustomCommand setRoomExtraInfo
createStream setStreamExtraInfo startPlayingStream mutePlayStreamAudio
muteAllPlayAudioStreams enumDevices getMicrophones getSpeakers getCameras useAudioDevice
useAudioOutputDevice checkSystemRequirements switchRoom sendTransparentMessage
""".split()


def test_all_is_sorted_and_importable() -> None:
    assert zego_py.__all__ == sorted(zego_py.__all__)
    for name in zego_py.__all__:
        assert hasattr(zego_py, name), name


def test_every_zego_method_is_mirrored_with_the_right_kind() -> None:
    for name in ZEGO_METHODS:
        assert callable(getattr(ZegoExpressEngine, name, None)), name
    for name in PROMISE_METHODS:  # Promise in JavaScript -> coroutine here
        assert inspect.iscoroutinefunction(getattr(ZegoExpressEngine, name)), name
    for name in set(ZEGO_METHODS) - set(PROMISE_METHODS):
        assert not inspect.iscoroutinefunction(getattr(ZegoExpressEngine, name)), name


def test_events_match_zegos_names() -> None:
    assert {"roomStateUpdate", "roomUserUpdate", "roomStreamUpdate", "publisherStateUpdate",
            "playerStateUpdate", "IMRecvBroadcastMessage", "tokenWillExpire",
            "remoteMicStatusUpdate", "soundLevelUpdate", "recvRoomTransparentMessage"
            } <= EVENT_NAMES
