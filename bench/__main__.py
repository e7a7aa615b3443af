"""``python -m bench``: run the benchmarks, print one table, write JSON and a plot.

Every figure is printed beside an anchor measured in the same run, because this
machine is shared and noisy: read the ratios, and the medians, not single numbers.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .report import Row, machine_note, plot, print_table, write_json

# Run order: cheap first.  Names are what --only takes.
MEASUREMENTS = {
    "latency": "bench.latency",
    "video_latency": "bench.video_latency",
    "startup": "bench.startup",
    "relay_cpu": "bench.relay_cpu",
    "video_relay_cpu": "bench.video_relay_cpu",
    "client_cpu": "bench.client_cpu",
    "video_client_cpu": "bench.video_client_cpu",
    "server_memory": "bench.server_memory",
    "quality": "bench.quality",
    "device_latency": "bench.device_latency",
}

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="zego_py benchmarks: figures beside same-run anchors (docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true",
                        help="short windows and fewer points (a few minutes)")
    parser.add_argument("--only", action="append", choices=sorted(MEASUREMENTS), metavar="NAME",
                        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="directory for results JSON and the plot (default: bench/results/)")
    parser.add_argument("--no-janus", action="store_true",
                        help="skip the optional Janus VideoRoom anchor in relay_cpu and "
                             "video_relay_cpu")
    return parser.parse_args(argv)


async def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    module = importlib.import_module(MEASUREMENTS[name])
    if not getattr(module, "AVAILABLE", True):
        return {"name": name, "skipped": module.REASON,
                "rows": [Row(name, "skipped", None, "", note=module.REASON)]}
    kwargs: dict[str, Any] = {"quick": args.quick}
    if name in ("relay_cpu", "video_relay_cpu"):
        kwargs["janus"] = not args.no_janus
    return await module.run(**kwargs)


async def main_async(args: argparse.Namespace) -> int:
    names = args.only or list(MEASUREMENTS)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = machine_note() | {"quick": args.quick, "measurements": names}
    print(f"zego_py bench ({'quick' if args.quick else 'full'}) {meta['date']}, "
          f"{meta['cpus']} CPUs, load {' '.join(meta['loadavg_at_start'])}", flush=True)
    results: list[dict[str, Any]] = []
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            result = await run_one(name, args)
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            result = {"name": name, "error": repr(exc),
                      "rows": [Row(name, "FAILED", None, "", note=repr(exc)[:120])]}
        result["seconds"] = time.perf_counter() - t0
        results.append(result)
        print(f"   ({result['seconds']:.0f} s)", flush=True)
    print()
    rows = [row for r in results for row in r["rows"]]
    meta["table"] = print_table(rows)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = args.out / f"bench-{stamp}.json"
    write_json(json_path, results, meta)
    print(f"\nresults: {json_path}")
    plot_path = args.out / f"bench-{stamp}.png"
    why_not = plot(plot_path, results)
    print(f"plot:    {plot_path}" if why_not is None else f"plot:    skipped ({why_not})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
