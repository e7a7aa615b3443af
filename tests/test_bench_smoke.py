"""The benchmark code runs (bench/, docs/benchmarks.md): no timing is asserted here.

Only the cheapest measurement runs, at a tiny size (3 clicks, room server in this
process), and PESQ on one short sentence when the `bench` extra and espeak-ng are
there; the rest is imported so a broken module fails here rather than at bench time.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) leaves the repo root out
    sys.path.insert(0, str(ROOT))

from bench import __main__ as bench_main  # noqa: E402
from bench import device_latency, latency, quality  # noqa: E402
from bench.common import ClickDetector, match_clicks, summary  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_every_bench_module_imports() -> None:
    for module in bench_main.MEASUREMENTS.values():
        importlib.import_module(module)
    for module in ("bench.harness", "bench.report", "bench.server_child",
                   "bench.publisher_child", "bench.janus", "bench.janus_child"):
        importlib.import_module(module)


def test_click_detection_and_matching_on_synthetic_audio() -> None:
    det = ClickDetector()
    frame = np.zeros(960, dtype=np.int16)
    det.feed(frame, 1.0)
    frame[300:348] = 20000
    assert det.feed(frame, 1.02) == pytest.approx(1.02 + 300 / 48000)
    assert det.feed(frame, 1.04) is None  # within the refractory time: same click
    latencies, lost = match_clicks([0.9, 1.4], det.detected)
    assert len(latencies) == 1 and lost == 0
    assert math.isnan(summary([])["median"])


async def test_latency_runs_with_three_clicks() -> None:
    result = await latency.run(clicks=3, where="inproc")
    assert result["name"] == "latency"
    assert {"relay", "p2p"} <= result["raw"].keys()
    for path in ("relay", "p2p"):
        assert result["raw"][path]["clicks_sent"] == 3
        assert result["raw"][path]["n"] >= 1  # clicks got through and were matched
    for path in ("push_before_publishing", "push_with_stalls"):
        assert result["raw"][path]["clicks_sent"] >= 3
        assert result["raw"][path]["n"] >= 1
    assert result["raw"]["push_with_stalls"]["stall_ends"]  # the producer did stall


@pytest.mark.pulseaudio
@pytest.mark.skipif(not device_latency.AVAILABLE, reason=device_latency.REASON or "devices")
async def test_device_latency_runs_with_two_clicks() -> None:
    result = await device_latency.run(clicks=2, where="inproc")
    for path in ("zego", "aiortc"):
        assert result["raw"][path]["mouth_to_ear"]["n"] >= 1  # clicks went mouth to ear
    assert result["raw"]["stages_ms"]["zego"]["total"] > 0


async def test_cli_writes_results_for_a_skipped_measurement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "AVAILABLE", False)
    monkeypatch.setattr(quality, "REASON", "skipped for this test")
    args = bench_main.parse_args(["--only", "quality", "--out", str(tmp_path)])
    assert await bench_main.main_async(args) == 0
    (result,) = tmp_path.glob("bench-*.json")
    data = json.loads(result.read_text())
    assert data["results"][0]["name"] == "quality" and "skipped" in data["results"][0]


def test_quality_alignment_and_sound_device_model() -> None:
    rng = np.random.default_rng(1)
    ref = (rng.standard_normal(4000) * 3000).astype(np.int16)
    rec = np.concatenate([np.zeros(123, np.int16), ref, np.zeros(50, np.int16)])
    aligned, lag = quality.align(ref, rec)
    assert lag == 123 and np.array_equal(aligned, ref)
    one = np.ones(960, np.int16)
    # frames at 0, 20 ms, then a 100 ms stall: the device (40 ms buffer) plays silence
    played, underruns = quality.play_out([(0.0, one), (0.02, one), (0.13, one)], 0.2)
    assert underruns == 5 and played.size == 8 * 960 and played[:1920].all()


@pytest.mark.skipif(not quality.AVAILABLE, reason=quality.REASON or "pesq")
async def test_quality_runs_on_one_sentence(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip(reason="espeak-ng is not installed (make bench installs it)")
    result = await quality.run(losses=(0.05,), seeds=(1,), cache_dir=tmp_path,
                               text="Glue the sheet to the dark blue background.")
    (condition,) = result["raw"]["conditions"]
    for key in ("zego_pesq", "aiortc_pesq"):
        assert 1.0 <= condition[key] <= 4.7  # PESQ-WB's MOS-LQO range; no value asserted


async def test_video_latency_runs_for_a_second() -> None:
    from bench import video_latency

    result = await video_latency.run(seconds=1.0)
    for path in ("relay", "p2p"):
        raw = result["raw"][path]
        assert raw["frames"] >= 10 and raw["frames"] == raw["frames_expected"], raw
