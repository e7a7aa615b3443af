"""Which audio devices appeared or went: ZEGO's audioDeviceStateChanged, from PulseAudio.

``diff`` compares two listings (sans I/O); ``device_changes`` lists again after each
change ``pactl subscribe`` reports and yields the difference, one device at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from . import pulse

__all__ = ["DeviceChange", "device_changes", "diff"]

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
