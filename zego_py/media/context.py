"""What the media layer needs from its engine, handed in explicitly.

The media package never imports the engine: ``ZegoExpressEngine`` builds one
``MediaContext`` (its event emitter, its task spawner, its room lookup and the options
the media layer reads) and gives it to ``MediaController``.  So the dependency runs one
way, engine -> media, and the media classes can be built in a test without an engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import EngineEvents
from ..room import RoomLink

__all__ = ["IceConfig", "MediaContext", "MediaSettings"]

MEDIA_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MediaSettings:
    """The engine options the media layer reads (see ZegoExpressEngine's docstring).

    ``None`` for ``ice_servers``/``host_addresses`` means "not given": what the server
    hands out at login is used instead.
    """

    ice_servers: list[dict[str, Any]] | None = None
    host_addresses: list[str] | None = None
    media_timeout_s: float = MEDIA_TIMEOUT_S  # a played stream silent this long is replayed

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MediaSettings:
        return cls(
            ice_servers=list(options["iceServers"]) if "iceServers" in options else None,
            host_addresses=(list(options["hostAddresses"]) if "hostAddresses" in options
                            else None),
            media_timeout_s=float(options.get("mediaTimeout", MEDIA_TIMEOUT_S)))


@dataclass(frozen=True)
class MediaContext:
    """The engine's services, as plain callables."""

    events: EngineEvents
    # run a coroutine in the background, tracked so the engine's close() waits for it
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]
    # the room a call's ``roomID`` option (None: the only one) targets; raises ZegoError
    room_for: Callable[[str | None], RoomLink]
    settings: MediaSettings = field(default_factory=MediaSettings)


@dataclass
class IceConfig:
    """ICE servers and host addresses for each new peer: the engine's options win over
    what the server said at the latest login."""

    settings: MediaSettings
    _from_server: dict[str, Any] = field(default_factory=dict)

    def learn(self, login_data: Mapping[str, Any]) -> None:
        for key in ("iceServers", "hostAddresses"):
            if key in login_data:
                self._from_server[key] = login_data[key]

    def servers(self) -> list[dict[str, Any]]:
        if self.settings.ice_servers is not None:
            return list(self.settings.ice_servers)
        return list(self._from_server.get("iceServers") or [])

    def host_addresses(self) -> list[str] | None:
        if self.settings.host_addresses is not None:
            return list(self.settings.host_addresses)
        addresses = self._from_server.get("hostAddresses")
        return list(addresses) if addresses else None
