"""The load tool runs end to end at a tiny size (docs/loadtest.md): no capacity is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mock_server import loadtest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)


def test_tiny_spawned_run_delivers_frames() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server.loadtest", "--spawn", "--rooms", "1", "--users", "2",
         "--speakers", "1", "--duration", "3", "--warmup", "1", "--workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=40)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"frames delivered : ([0-9.]+)", proc.stdout)
    assert match is not None, proc.stdout
    assert float(match.group(1)) > 0.9, proc.stdout
    assert "1 of 1 streams played" in proc.stdout
    assert re.search(r"server +: CPU [0-9.]+ % of one core, RSS [0-9.]+ MB", proc.stdout)


def test_refuses_a_remote_server_and_unbounded_sizes() -> None:
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--url", "ws://192.0.2.7:9000/ws"])
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--spawn", "--rooms", "100", "--users", "100"])
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--spawn", "--users", "2", "--speakers", "3"])
    args = loadtest.parse_args(["--url", "ws://192.0.2.7:9000/ws", "--allow-remote"])
    assert args.url == ["ws://192.0.2.7:9000/ws"]
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--spawn-cluster", "2", "--cross-node", "--rooms", "1"])
    assert loadtest.parse_args(["--url", "ws://127.0.0.1:9000/ws"]).workers == 2


def test_plan_gives_each_speaker_its_own_tone_and_no_self_play() -> None:
    plan = loadtest.plan_users(rooms=2, users=3, speakers=2)
    speakers = [u for u in plan if u.stream_id]
    assert len(plan) == 6 and len(speakers) == 4
    assert len({u.freq for u in speakers}) == 4
    assert all(u.stream_id not in u.expect for u in plan)
    assert sum(len(u.expect) for u in plan) == 2 * 2 * (3 - 1)  # R x S x (U - 1)


def test_cross_node_plan_plays_the_next_rooms_speakers() -> None:
    plan = loadtest.plan_users(rooms=3, users=2, speakers=1, cross=True)
    for user in plan:
        room = int(user.room.rsplit("-", 1)[1])
        assert user.expect == (f"lt-r{(room + 1) % 3}-s0",) and user.entry == room


def test_tiny_cluster_run_with_lean_listeners_across_nodes() -> None:
    """--spawn-cluster runs `python -m mock_server --workers 2` (and its redis-server)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server.loadtest", "--spawn-cluster", "2", "--lean",
         "--cross-node", "--rooms", "2", "--users", "2", "--speakers", "1", "--duration", "3",
         "--warmup", "1", "--workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 of 4 streams played" in proc.stdout, proc.stdout
    match = re.search(r"frames delivered : ([0-9.]+)", proc.stdout)
    assert match is not None and float(match.group(1)) > 0.9, proc.stdout
    assert re.search(r"CPU [0-9.]+ % of one core \([0-9.]+ \+ [0-9.]+ over 2 nodes\)",
                     proc.stdout), proc.stdout
    assert re.search(r"redis +: [0-9.]+ commands per login", proc.stdout), proc.stdout
