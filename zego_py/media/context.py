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
    ice_transport_policy: str = "all"  # "relay": TURN-relayed candidates only
    media_timeout_s: float = MEDIA_TIMEOUT_S  # a played stream silent this long is replayed

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MediaSettings:
        return cls(
            ice_servers=list(options["iceServers"]) if "iceServers" in options else None,
            host_addresses=(list(options["hostAddresses"]) if "hostAddresses" in options
                            else None),
            ice_transport_policy=str(options.get("iceTransportPolicy", "all")),
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
    what the server said at the latest login; ``setTurnServer``'s servers come first
    (aiortc uses only the first TURN URL) and its policy wins over the option's."""

    settings: MediaSettings
    _from_server: dict[str, Any] = field(default_factory=dict)
    _turn_servers: list[dict[str, Any]] = field(default_factory=list)
    _turn_policy: str | None = None

    def set_turn(self, servers: list[dict[str, Any]], policy: str | None) -> None:
        """What setTurnServer gave, for the peers created from now on."""
        self._turn_servers = list(servers)
        self._turn_policy = policy

    def transport_policy(self) -> str:
        return self._turn_policy or self.settings.ice_transport_policy

    def learn(self, login_data: Mapping[str, Any]) -> None:
        for key in ("iceServers", "hostAddresses"):
            if key in login_data:
                self._from_server[key] = login_data[key]

    def servers(self) -> list[dict[str, Any]]:
        if self.settings.ice_servers is not None:
            return self._turn_servers + list(self.settings.ice_servers)
        return self._turn_servers + list(self._from_server.get("iceServers") or [])

    def host_addresses(self) -> list[str] | None:
        if self.settings.host_addresses is not None:
            return list(self.settings.host_addresses)
        addresses = self._from_server.get("hostAddresses")
        return list(addresses) if addresses else None
