"""The public surface: sorted, complete ``__all__`` and every ZEGO name the mirror promises."""

from __future__ import annotations

import ast
import inspect
import logging
from pathlib import Path

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
useAudioOutputDevice setSoundLevelDelegate mutePublishStreamVideo mutePlayStreamVideo
muteAllPlayVideoStreams setVideoConfig useVideoDevice
switchRoom sendTransparentMessage
setCaptureVolume setAudioConfig checkAudioTrackIsActive getPublishingStreamQuality
getPlayingStreamQuality setCaptureAudioFrameCallback setAudioFrameCallback
""".split()

PROMISE_METHODS = """
loginRoom sendBroadcastMessage sendBarrageMessage sendCustomCommand setRoomExtraInfo
createStream setStreamExtraInfo startPlayingStream mutePlayStreamAudio
muteAllPlayAudioStreams mutePlayStreamVideo muteAllPlayVideoStreams setVideoConfig
useVideoDevice enumDevices
getMicrophones getSpeakers getCameras useAudioDevice
useAudioOutputDevice checkSystemRequirements
switchRoom sendTransparentMessage
setCaptureVolume setAudioConfig checkAudioTrackIsActive setCaptureAudioFrameCallback
setAudioFrameCallback
""".split()


def test_all_is_sorted_and_importable() -> None:
    assert zego_py.__all__ == sorted(zego_py.__all__)
    for name in zego_py.__all__:
        assert hasattr(zego_py, name), name


# ZEGO's calls kept for porting: aliases, and the names that return ZEGO's not-supported
# result (zego_py/unsupported.py)
PORTING_METHODS = """
createZegoStream enableVideoCaptureDevice presetLogConfig
sendSEI useFrontCamera updatePublishingStream replaceTrack addTrack removeTrack
setPlayStreamVideoType
""".split()

PORTING_PROMISES = """
createZegoStream enableVideoCaptureDevice
useFrontCamera updatePublishingStream replaceTrack addTrack removeTrack
""".split()

# ZEGO's event names that zego_py never emits (docs/api.md says why); on() accepts them
NEVER_EMITTED = {"playerRecvSEI", "screenSharingEnded", "hallStateUpdate"}

REFERENCE = Path(__file__).parents[1] / "docs" / "api.md"


def test_porting_calls_exist_with_the_right_kind() -> None:
    for name in PORTING_METHODS:
        assert callable(getattr(ZegoExpressEngine, name, None)), name
        is_promise = inspect.iscoroutinefunction(getattr(ZegoExpressEngine, name))
        assert is_promise == (name in PORTING_PROMISES), name


def test_every_zego_name_has_a_row_in_the_api_table() -> None:
    """docs/api.md keeps one row per ZEGO name, so a porter finds each one."""
    rows = [line for line in REFERENCE.read_text().splitlines() if line.startswith("| `")]
    for name in [*ZEGO_METHODS, *PORTING_METHODS, *EVENT_NAMES]:
        assert any(f"`{name}" in row.split("|")[1] for row in rows), name


def test_never_emitted_zego_events_can_be_registered() -> None:
    assert {"capturedSoundLevelUpdate", *NEVER_EMITTED} <= EVENT_NAMES


def test_presetlogconfig_works_before_any_engine() -> None:
    logger = logging.getLogger("zego_py")
    before = logger.level
    try:
        assert ZegoExpressEngine.presetLogConfig({"logLevel": "error"})
        assert logger.level == logging.ERROR
        assert ZegoExpressEngine.presetLogConfig({"logLevel": "loud"}) is False
    finally:
        logger.setLevel(before)


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
            "remoteMicStatusUpdate", "soundLevelUpdate", "recvRoomTransparentMessage",
            "exceptionUpdate", "playerAudioTrackUpdate"} <= EVENT_NAMES


def _imports(nodes: list[ast.stmt], package: str) -> set[str]:
    """Absolute names of the modules (and names) that ``nodes`` import, at any depth."""
    names: set[str] = set()
    for node in (n for top in nodes for n in ast.walk(top)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, *([node.module] if node.module else [])]
                            if node.level else [node.module or ""])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_the_media_layer_never_imports_the_engine() -> None:
    """The dependency runs engine -> media only (docs/design.md, "no import cycle"),
    TYPE_CHECKING blocks included; the engine imports the controller at module top."""
    zego = Path(zego_py.__file__).parent
    imports = {path.name: _imports(ast.parse(path.read_text()).body, "zego_py.media")
               for path in (zego / "media").glob("*.py")}
    assert {"zego_py.media.publisher.Publisher", "zego_py.room.RoomLink"} <= imports[
        "controller.py"]  # relative imports resolve to these names
    for name, imported in imports.items():
        assert not [m for m in imported if m.split(".")[:2] == ["zego_py", "engine"]], name
    top_level = [n for n in ast.parse((zego / "engine.py").read_text()).body
                 if isinstance(n, ast.ImportFrom)]
    assert "zego_py.media.controller.MediaController" in _imports(top_level, "zego_py")
