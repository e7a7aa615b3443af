"""device_watch.diff: what appeared and what went between two listings (no devices needed)."""

from __future__ import annotations

from zego_py.media.device_watch import diff


def _dev(name: str) -> dict[str, str]:
    return {"deviceID": f"pulse:{name}", "deviceName": name}


def test_diff_reports_deletions_first_then_additions_by_device_type() -> None:
    old = {"Input": [_dev("mic1"), _dev("mic2")], "Output": [_dev("spk1")]}
    new = {"Input": [_dev("mic2"), _dev("mic3")], "Output": []}
    assert diff(old, new) == [("DELETE", "Input", _dev("mic1")),
                              ("DELETE", "Output", _dev("spk1")),
                              ("ADD", "Input", _dev("mic3"))]
    assert diff(new, new) == []
