"""Which audio devices appeared or went: ZEGO's audioDeviceStateChanged, from PulseAudio,
and what an engine does when the device it uses goes (deviceError, then the default).

``diff`` compares two listings (sans I/O); ``device_changes`` lists again after each
change ``pactl subscribe`` reports and yields the difference, one device at a time;
``follow_devices`` is an engine's watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import ErrorCode, ZegoError
from . import pulse
from .capture import LocalStreams
from .speaker import Speaker

__all__ = ["DeviceChange", "device_changes", "diff", "follow_devices"]

log = logging.getLogger("zego_py.media")

# (updateType "ADD" | "DELETE", deviceType "Input" | "Output", {deviceID, deviceName})
DeviceChange = tuple[str, str, dict[str, str]]
Listing = dict[str, list[dict[str, str]]]


def diff(old: Listing, new: Listing) -> list[DeviceChange]:
    """The devices gone (DELETE, first) and the devices new (ADD) from ``old`` to ``new``."""
    changes: list[DeviceChange] = []
    for update_type, before, after in (("DELETE", new, old), ("ADD", old, new)):
        for device_type in ("Input", "Output"):
            known = {d["deviceID"] for d in before.get(device_type, [])}
            changes += [(update_type, device_type, d) for d in after.get(device_type, [])
                        if d["deviceID"] not in known]
    return changes


async def device_changes() -> AsyncIterator[DeviceChange]:
    """Each device change, for as long as PulseAudio reports them.  The first listing is
    taken once ``pactl subscribe`` runs, so a change between the two is not missed."""
    listing: Listing | None = None
    async for _ in pulse.changes():
        new = await asyncio.to_thread(pulse.list_devices)
        for change in diff(listing, new) if listing is not None else []:
            yield change
        listing = new


async def follow_devices(emit: Callable[..., None], local: LocalStreams,
                         speaker: Speaker) -> None:
    """audioDeviceStateChanged for each device that appears or goes; a device in use
    that goes gets a deviceError and is replaced by the default one."""
    async for update_type, device_type, info in device_changes():
        emit("audioDeviceStateChanged", update_type, device_type, info)
        if update_type == "DELETE":
            await _device_gone(emit, local, speaker, device_type, info)


async def _device_gone(emit: Callable[..., Any], local: LocalStreams, speaker: Speaker,
                       device_type: str, info: dict[str, str]) -> None:
    device_id, name = info["deviceID"], info["deviceName"]
    if device_type == "Output":
        if speaker.device_gone(device_id):
            emit("deviceError", int(ErrorCode.DEVICE_UNAVAILABLE), name)
        return
    for stream in local.using_device(device_id):
        emit("deviceError", int(ErrorCode.DEVICE_UNAVAILABLE), name)
        try:
            await local.use_audio_device(stream, "default")
        except ZegoError as exc:  # no default microphone: it keeps the old source
            log.warning("microphone %s went away and the default one cannot open: %s",
                        name, exc)
        else:
            log.warning("microphone %s went away: capturing the default one", name)
