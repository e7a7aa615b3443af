"""State machines as tables (as h11 does): every legal transition is a row here.

A transition not in a table is a bug in the engine, not a user error, so ``step``
raises ``KeyError``; the tests walk every row.
"""

from __future__ import annotations

from typing import TypeVar

from .enums import PlayerState, PublisherState, RoomState, RoomStateChangedReason

__all__ = ["PLAYER", "PUBLISHER", "ROOM", "step"]

S = TypeVar("S")
T = TypeVar("T")

R, Why = RoomState, RoomStateChangedReason

# (state, trigger) -> (next state, roomStateChanged reason)
ROOM: dict[tuple[RoomState, str], tuple[RoomState, RoomStateChangedReason]] = {
    (R.DISCONNECTED, "login"): (R.CONNECTING, Why.LOGINING),
    (R.CONNECTING, "login_ok"): (R.CONNECTED, Why.LOGINED),
    (R.CONNECTING, "login_failed"): (R.DISCONNECTED, Why.LOGIN_FAILED),
    (R.CONNECTING, "logout"): (R.DISCONNECTED, Why.LOGOUT),
    (R.CONNECTED, "logout"): (R.DISCONNECTED, Why.LOGOUT),
    (R.CONNECTED, "kicked"): (R.DISCONNECTED, Why.KICKOUT),
    (R.CONNECTED, "connection_lost"): (R.CONNECTING, Why.RECONNECTING),
    (R.CONNECTING, "reconnected"): (R.CONNECTED, Why.RECONNECTED),
    (R.CONNECTING, "reconnect_failed"): (R.DISCONNECTED, Why.RECONNECT_FAILED),
    (R.CONNECTING, "kicked"): (R.DISCONNECTED, Why.KICKOUT),
}

Pub = PublisherState
PUBLISHER: dict[tuple[PublisherState, str], PublisherState] = {
    (Pub.NO_PUBLISH, "start"): Pub.PUBLISH_REQUESTING,
    (Pub.PUBLISH_REQUESTING, "connected"): Pub.PUBLISHING,
    (Pub.PUBLISH_REQUESTING, "failed"): Pub.NO_PUBLISH,
    (Pub.PUBLISH_REQUESTING, "stop"): Pub.NO_PUBLISH,
    (Pub.PUBLISHING, "stop"): Pub.NO_PUBLISH,
    (Pub.PUBLISHING, "failed"): Pub.NO_PUBLISH,
    # the connection was lost and is being re-established (ZEGO's "retry" state)
    (Pub.PUBLISHING, "retry"): Pub.PUBLISH_REQUESTING,
    (Pub.PUBLISH_REQUESTING, "retry"): Pub.PUBLISH_REQUESTING,
}

Play = PlayerState
PLAYER: dict[tuple[PlayerState, str], PlayerState] = {
    (Play.NO_PLAY, "start"): Play.PLAY_REQUESTING,
    (Play.PLAY_REQUESTING, "connected"): Play.PLAYING,
    (Play.PLAY_REQUESTING, "failed"): Play.NO_PLAY,
    (Play.PLAY_REQUESTING, "stop"): Play.NO_PLAY,
    (Play.PLAYING, "stop"): Play.NO_PLAY,
    (Play.PLAYING, "failed"): Play.NO_PLAY,
    (Play.PLAYING, "ended"): Play.NO_PLAY,
    (Play.PLAY_REQUESTING, "ended"): Play.NO_PLAY,
    (Play.PLAYING, "retry"): Play.PLAY_REQUESTING,
    (Play.PLAY_REQUESTING, "retry"): Play.PLAY_REQUESTING,
}


def step(table: dict[tuple[S, str], T], state: S, trigger: str) -> T:
    return table[(state, trigger)]
