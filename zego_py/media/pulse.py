"""PulseAudio's microphones and speakers, through ``pactl``: listed, opened, watched.

PortAudio cannot do this job on Linux (docs/audio-devices.md, "Device changes"): its
ALSA backend lists only ``pulse`` and ``default`` however many PulseAudio sources and
sinks exist, and it re-scans only in ``Pa_Initialize``, while ``Pa_Terminate`` closes
every open stream.  So when a PulseAudio server answers, its sources (without sink
monitors) and sinks are devices too, with deviceID ``"pulse:<name>"``:

- opened through PortAudio's ``pulse`` ALSA device with ``PULSE_SOURCE``/``PULSE_SINK``
  naming the device while the stream opens (libpulse reads them when the ALSA plugin
  creates its context, in ``snd_pcm_open``);
- watched with ``pactl subscribe``, whose ``new``/``remove`` events on sources and sinks
  trigger a new listing; the difference is what appeared or went.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

__all__ = ["PREFIX", "available", "changes", "list_devices", "name_of", "routed"]

log = logging.getLogger("zego_py.media")

PREFIX = "pulse:"
_KINDS = {"Input": "sources", "Output": "sinks"}  # ZEGO's deviceType -> pactl's list
_ENV = {"Input": "PULSE_SOURCE", "Output": "PULSE_SINK"}
PACTL_TIMEOUT_S = 3.0


def _pactl(*args: str) -> str | None:
    if shutil.which("pactl") is None:
        return None
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True,
                              timeout=PACTL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("pactl %s: %s", " ".join(args), exc)
        return None
    return done.stdout if done.returncode == 0 else None


def available() -> bool:
    """Whether a PulseAudio (or PipeWire-pulse) server answers."""
    return _pactl("info") is not None


def list_devices() -> dict[str, list[dict[str, str]]]:
    """{"Input": [...], "Output": [...]} as ZEGO's ``{deviceID, deviceName}``; empty
    lists without a server.  Sink monitors are not microphones and are left out."""
    result: dict[str, list[dict[str, str]]] = {"Input": [], "Output": []}
    for device_type, listing in _KINDS.items():
        out = _pactl("list", "short", listing) or ""
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) < 2 or (device_type == "Input" and fields[1].endswith(".monitor")):
                continue
            result[device_type].append({"deviceID": PREFIX + fields[1], "deviceName": fields[1]})
    return result


def name_of(device_id: str | None) -> str | None:
    """The PulseAudio name in a ``"pulse:<name>"`` deviceID, else None."""
    if device_id is None or not device_id.startswith(PREFIX):
        return None
    return device_id[len(PREFIX):]


@contextlib.contextmanager
def routed(device_id: str | None, device_type: str) -> Iterator[None]:
    """While a PortAudio stream opens on ``pulse``: send it to ``device_id``'s device."""
    name = name_of(device_id)
    if name is None:
        yield
        return
    key = _ENV[device_type]
    before = os.environ.get(key)
    os.environ[key] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


async def changes() -> AsyncIterator[None]:
    """Yields once when watching has started, then after each source or sink appears or
    goes, until cancelled (or pactl ends)."""
    if shutil.which("pactl") is None:
        return
    proc = await asyncio.create_subprocess_exec(
        "pactl", "subscribe", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        yield
        while line := await proc.stdout.readline():
            # e.g. "Event 'new' on source #12", "Event 'remove' on sink #3"
            text = line.decode(errors="replace")
            if ("'new'" in text or "'remove'" in text) and (" on source " in text
                                                            or " on sink " in text):
                yield
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
