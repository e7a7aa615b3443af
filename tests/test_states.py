"""The state tables: every row is reachable through ``step`` and nothing else is."""

from __future__ import annotations

import pytest

from zego_py.enums import PlayerState, PublisherState, RoomState
from zego_py.states import PLAYER, PUBLISHER, ROOM, step


@pytest.mark.parametrize("table", [ROOM, PUBLISHER, PLAYER], ids=["room", "publisher", "player"])
def test_every_row_steps_and_unknown_pairs_raise(table: dict) -> None:  # type: ignore[type-arg]
    states = {s for s, _ in table}
    triggers = {t for _, t in table}
    for (state, trigger), target in table.items():
        assert step(table, state, trigger) == target
    for state in states:
        for trigger in triggers - {t for s, t in table if s == state}:
            with pytest.raises(KeyError):
                step(table, state, trigger)


def test_the_happy_paths_end_where_zego_says() -> None:
    assert step(ROOM, RoomState.DISCONNECTED, "login")[0] == RoomState.CONNECTING
    assert step(ROOM, RoomState.CONNECTING, "login_ok") == (RoomState.CONNECTED, "LOGINED")
    assert step(PUBLISHER, PublisherState.NO_PUBLISH, "start") == "PUBLISH_REQUESTING"
    assert step(PLAYER, PlayerState.PLAYING, "ended") == "NO_PLAY"
    # a reconnect's retry goes back to requesting, as ZEGO's SDK reports it
    assert step(PUBLISHER, PublisherState.PUBLISHING, "retry") == "PUBLISH_REQUESTING"
