"""What a publisher and a player share: one stream, one peer with the relay at a time.

The stream moves along its state table (one state event per move), is ``live`` while
its owner (``MediaController``) holds it, drops itself from the owner when it fails on
its own, and after a reconnect or a failed media path starts over on a new peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any, Generic, TypeVar

from aiortc import RTCPeerConnection

from ..errors import ZegoError
from ..events import EventName
from ..room import RoomLink
from ..states import step
from .context import IceConfig, MediaContext
from .peer import retire
from .quality import QualityMeter

__all__ = ["PeerStream"]

S = TypeVar("S", bound=StrEnum)


class PeerStream(Generic[S]):
    """One stream's state, peer and background task; ``S`` is its state enum."""

    def __init__(self, stream_id: str, room: RoomLink, *, ctx: MediaContext, ice: IceConfig,
                 table: dict[tuple[S, str], S], initial: S, event: EventName,
                 stop_request: str, forget: Callable[[PeerStream[Any]], None]) -> None:
        self.stream_id = stream_id
        self.room = room
        self.state = initial
        self.pc: RTCPeerConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.meter = QualityMeter()
        # False once the engine no longer has this stream: late results are dropped
        self.live = True
        self._ctx = ctx
        self._ice = ice
        self._table = table
        self._event = event
        self._stop_request = stop_request  # what tells the server this stream is gone
        self._forget = forget  # removes this stream from its owner when it fails

    def transition(self, trigger: str, code: int = 0, detail: str = "") -> None:
        self.state = step(self._table, self.state, trigger)
        self._ctx.events.emit(self._event, {
            "streamID": self.stream_id, "state": self.state.value, "errorCode": int(code),
            "extendedData": detail})

    def end(self, trigger: str | None, detail: str = "") -> None:
        """No longer the engine's stream; ``trigger`` (if any) is the state move."""
        self.live = False
        if trigger is not None:
            self.transition(trigger, 0, detail)

    def _failed(self, exc: ZegoError) -> bool:
        """The stream failed on its own: leave the owner, report it (once)."""
        if not self.live:
            return False
        self.live = False
        self._forget(self)
        self.transition("failed", int(exc.code), exc.message)
        return True

    def _start_over(self, attempt: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Retire the current peer and task, then run ``attempt`` on a new one."""
        if not self.live:
            return
        self.transition("retry")
        old_pc, old_task, self.pc = self.pc, self.task, None

        async def again() -> None:
            await retire(old_pc, old_task)
            # the same session may still hold the stream (a media-path failure): drop it
            with contextlib.suppress(ZegoError):
                await self.room.link.request(self._stop_request, {"streamID": self.stream_id},
                                             timeout=3)
            await attempt()

        self.task = self._ctx.spawn(again())
