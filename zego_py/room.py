"""One logged-in room of an engine: its signaling link, its state, its token timer.

The engine keeps one ``RoomLink`` per room (ZEGO's multi-room mode simply means more
than one); each has a WebSocket of its own, so rooms never share failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .enums import RoomState
from .events import EngineEvents
from .protocol import Push
from .signaling import SignalingClient
from .states import ROOM, step

__all__ = ["RoomLink"]

log = logging.getLogger("zego_py")

TOKEN_WARNING_S = 30.0


@dataclass
class RoomLink:
    room_id: str
    user: dict[str, str]
    user_update: bool
    events: EngineEvents
    link: SignalingClient
    state: RoomState = RoomState.DISCONNECTED
    token_expire: float = 0.0
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    _token_timer: asyncio.TimerHandle | None = None

    @classmethod
    def create(cls, server: str, room_id: str, user: dict[str, str], user_update: bool,
               events: EngineEvents, on_push: Callable[[RoomLink, Push], None],
               on_closed: Callable[[RoomLink], None]) -> RoomLink:
        holder: list[RoomLink] = []
        link = SignalingClient(server, lambda p: on_push(holder[0], p),
                               lambda: on_closed(holder[0]))
        room = cls(room_id, user, user_update, events, link)
        holder.append(room)
        return room

    def transition(self, trigger: str, error_code: int = 0, extended_data: str = "") -> None:
        """Move along the ROOM table and emit both of ZEGO's room events."""
        new_state, reason = step(ROOM, self.state, trigger)
        changed = new_state != self.state
        self.state = new_state
        if changed:
            self.events.emit("roomStateUpdate", self.room_id, new_state.value, error_code,
                             extended_data)
        self.events.emit("roomStateChanged", self.room_id, reason.value, error_code,
                         extended_data)

    def schedule_token_warning(self, expire: float) -> None:
        """``tokenWillExpire`` fires 30 s before the token's expiry (at once if sooner)."""
        self.token_expire = expire
        if self._token_timer is not None:
            self._token_timer.cancel()
        delay = max(0.0, expire - time.time() - TOKEN_WARNING_S)
        loop = asyncio.get_running_loop()
        self._token_timer = loop.call_later(delay, self._warn_token)

    def _warn_token(self) -> None:
        self._token_timer = None
        if self.state != RoomState.DISCONNECTED:
            self.events.emit("tokenWillExpire", self.room_id)

    def cancel_timers(self) -> None:
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None
