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
    server: str
    on_push: Callable[[RoomLink, Push], None]
    on_closed: Callable[[RoomLink], None]
    link_options: dict[str, float] = field(default_factory=dict)
    state: RoomState = RoomState.DISCONNECTED
    token: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    token_expire: float = 0.0
    # what the server said at login, to resume the session or log in again after a loss
    session_key: int = 0
    resume_token: str = ""
    reconnect_token: str = ""
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    # during switchRoom: the room being joined, and its pushes that beat the reply
    switching_to: str | None = None
    held_pushes: list[Push] = field(default_factory=list)
    link: SignalingClient = field(init=False)
    _token_timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.link = self.new_link()

    def new_link(self) -> SignalingClient:
        """A fresh signaling client for this room; callbacks from a replaced link are ignored."""
        def closed() -> None:
            if self.link is link:
                self.on_closed(self)

        link = SignalingClient(self.server, lambda push: self.on_push(self, push), closed,
                               **self.link_options)
        return link

    def remember_login(self, data: dict[str, Any]) -> None:
        """Keep what a later resume or re-login needs from a login reply."""
        self.session_key = int(data.get("sessionKey", 0))
        self.resume_token = str(data.get("resumeToken", ""))
        self.reconnect_token = str(data.get("reconnectToken", ""))
        self.users = {u["userID"]: u for u in data.get("users") or []}
        self.streams = {s["streamID"]: s for s in data.get("streams") or []}

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
