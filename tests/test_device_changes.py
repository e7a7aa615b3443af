"""audioDeviceStateChanged and deviceError, with PulseAudio devices that come and go.

Each test loads its own uniquely named null sinks / sources into the shared daemon
(scripts/with-pulseaudio.sh) and unloads them again; vmic/vspk, which other tests use,
are never touched, and this process's default source is pointed at one of ours
(PULSE_SOURCE) so "the default microphone" is a device whose content we know.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_helpers import sine, write_wav
from conftest import Harness, make_token, wait_until
from spectrum import tones_present
from test_media import collect, publish_tone

from zego_py.media import devices

if os.environ.get("ZEGO_PULSE") != "1":
    pytest.skip(reason="needs the PulseAudio daemon: run under scripts/with-pulseaudio.sh",
                allow_module_level=True)
if not devices.portaudio_available() or shutil.which("paplay") is None:
    pytest.skip(reason="needs libportaudio2 and pulseaudio-utils (install-system-deps.sh)",
                allow_module_level=True)

pytestmark = [pytest.mark.pulseaudio, pytest.mark.timeout(60)]

_names = itertools.count()


def _unique(kind: str) -> str:
    return f"zego_netdev_{kind}_{os.getpid()}_{next(_names)}"


def _pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, check=True,
                          timeout=5).stdout.strip()


@contextlib.contextmanager
def _modules() -> Iterator[list[str]]:
    """Module indices loaded in the block (append to the list); all unloaded after it."""
    loaded: list[str] = []
    try:
        yield loaded
    finally:
        for index in reversed(loaded):
            subprocess.run(["pactl", "unload-module", index], capture_output=True, timeout=5,
                           check=False)


def _load(loaded: list[str], *args: str) -> str:
    index = _pactl("load-module", *args)
    loaded.append(index)
    return index


def _unload(loaded: list[str], index: str) -> None:
    _pactl("unload-module", index)
    loaded.remove(index)


def _microphone(loaded: list[str], kind: str) -> tuple[str, str]:
    """A null sink to play into and a source on its monitor: (sink, source) names."""
    sink, source = _unique(f"{kind}feed"), _unique(f"{kind}mic")
    _load(loaded, "module-null-sink", f"sink_name={sink}", "rate=48000")
    _load(loaded, "module-remap-source", f"master={sink}.monitor", f"source_name={source}")
    return sink, source


@contextlib.asynccontextmanager
async def _playing(sink: str, wav: Path) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        "paplay", "-d", sink, str(wav), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _changes(events: list[tuple[Any, ...]], update: str, kind: str) -> list[str]:
    return [info["deviceID"] for u, k, info in events if u == update and k == kind]


async def test_devices_appearing_and_going_during_a_call(harness: Harness) -> None:
    alice, a = harness.engine()
    a.attach(alice, "audioDeviceStateChanged", "deviceError")  # before login: watched
    await alice.loginRoom("room1", make_token("alice"), {"userID": "alice"})
    bob, _ = await harness.joined("bob")
    await publish_tone(alice, a, "s1", 440)
    remote = await bob.startPlayingStream("s1", {"speaker": False})
    await asyncio.sleep(0.5)  # pactl subscribe is up
    events = a["audioDeviceStateChanged"]
    with _modules() as loaded:
        sink, source = _unique("spk"), _unique("src")
        sink_module = _load(loaded, "module-null-sink", f"sink_name={sink}")
        source_module = _load(loaded, "module-null-source", f"source_name={source}")
        await wait_until(lambda: f"pulse:{source}" in _changes(events, "ADD", "Input")
                         and f"pulse:{sink}" in _changes(events, "ADD", "Output"),
                         timeout=5, what="ADD events")
        assert f"pulse:{sink}.monitor" not in _changes(events, "ADD", "Input")  # not a mic
        listed = await alice.enumDevices()
        assert {"deviceID": f"pulse:{sink}", "deviceName": sink} in listed["speakers"]
        assert {"deviceID": f"pulse:{source}", "deviceName": source} in listed["microphones"]
        _unload(loaded, sink_module)
        _unload(loaded, source_module)
        await wait_until(lambda: f"pulse:{source}" in _changes(events, "DELETE", "Input")
                         and f"pulse:{sink}" in _changes(events, "DELETE", "Output"),
                         timeout=5, what="DELETE events")
    assert a["deviceError"] == []  # none of them was in use
    # the call went on meanwhile
    assert tones_present(await collect(remote, 50), [440.0, 880.0]) == {440.0}


async def _until_tone(remote: Any, tone: float, others: list[float], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        pcm = await collect(remote, 25)
        if tones_present(pcm, [tone, *others]) == {tone} and np.abs(pcm).max() > 1000:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{tone} Hz never arrived alone")


async def test_microphone_unplugged_mid_publish_moves_to_the_default_one(
        harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wav_a = write_wav(tmp_path / "a.wav", sine(440, 48000 * 40, amplitude=0.3))
    wav_b = write_wav(tmp_path / "b.wav", sine(660, 48000 * 40, amplitude=0.3))
    with _modules() as loaded:
        feed_a, mic_a = _microphone(loaded, "a")
        feed_b, mic_b = _microphone(loaded, "b")
        mic_a_module = loaded[1]
        monkeypatch.setenv("PULSE_SOURCE", mic_b)  # this process's default microphone
        async with _playing(feed_a, wav_a), _playing(feed_b, wav_b):
            alice, a = await harness.joined("alice")
            bob, b = await harness.joined("bob")
            a.attach(alice, "audioDeviceStateChanged", "deviceError")
            local = await alice.createStream({"camera": {
                "audio": True, "video": False, "audioInput": f"pulse:{mic_a}",
                "AEC": False, "AGC": False, "ANS": False}})
            assert alice.startPublishingStream("mic", local)
            await wait_until(lambda: any(e[0]["state"] == "PUBLISHING"
                                         for e in a["publisherStateUpdate"]), what="publish")
            remote = await bob.startPlayingStream("mic", {"speaker": False})
            await _until_tone(remote, 440.0, [660.0], timeout=20)

            _unload(loaded, mic_a_module)
            await wait_until(lambda: a["deviceError"] != [], timeout=5, what="deviceError")
            assert a["deviceError"] == [(1103061, mic_a)]
            assert ("DELETE", "Input", {"deviceID": f"pulse:{mic_a}", "deviceName": mic_a}
                    ) in a["audioDeviceStateChanged"]
            await _until_tone(remote, 660.0, [440.0], timeout=20)  # the default mic, B
            assert local.device_id is None  # now "default"
            states = [e[0]["state"] for e in a["publisherStateUpdate"]]
            assert states == ["PUBLISH_REQUESTING", "PUBLISHING"]  # never interrupted
            assert [e[0]["state"] for e in b["playerStateUpdate"]] == [
                "PLAY_REQUESTING", "PLAYING"]


async def _heard_on(sink: str, tone: float, others: list[float], timeout: float = 20) -> None:
    """Record ``sink``'s monitor until ``tone`` (alone) is steadily in it."""
    proc = await asyncio.create_subprocess_exec(
        "parec", "-d", f"{sink}.monitor", "--format=s16le", "--rate=48000", "--channels=1",
        "--raw", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        async def listen() -> None:
            while True:
                block = np.frombuffer(await proc.stdout.readexactly(48000), dtype=np.int16)
                if np.abs(block).max() > 1000 and tones_present(block, [tone, *others]) == {tone}:
                    return
        await asyncio.wait_for(listen(), timeout)
    finally:
        proc.kill()
        await proc.wait()


async def test_speaker_unplugged_mid_play_moves_to_the_default_output(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    with _modules() as loaded:
        spk_a, spk_b = _unique("spka"), _unique("spkb")
        spk_a_module = _load(loaded, "module-null-sink", f"sink_name={spk_a}", "rate=48000")
        _load(loaded, "module-null-sink", f"sink_name={spk_b}", "rate=48000")
        monkeypatch.setenv("PULSE_SINK", spk_b)  # this process's default output
        alice, a = await harness.joined("alice")
        bob, b = await harness.joined("bob")
        b.attach(bob, "deviceError", "audioDeviceStateChanged")
        await publish_tone(alice, a, "s1", 440)
        await bob.startPlayingStream("s1", {"audioOutput": f"pulse:{spk_a}"})
        await _heard_on(spk_a, 440.0, [880.0])

        _unload(loaded, spk_a_module)
        await wait_until(lambda: b["deviceError"] != [], timeout=5, what="deviceError")
        assert b["deviceError"] == [(1103061, spk_a)]
        await _heard_on(spk_b, 440.0, [880.0])  # the default output now
        assert [e[0]["state"] for e in b["playerStateUpdate"]] == ["PLAY_REQUESTING", "PLAYING"]
