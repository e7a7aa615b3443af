"""Rows, the printed table, results JSON and the plot."""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "machine_note", "plot", "print_table", "write_json"]


@dataclass
class Row:
    """One figure beside its anchor measured in the same run."""

    measurement: str
    figure: str
    value: float | None
    unit: str
    anchor: str = ""
    anchor_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        value, anchor = self.value, self.anchor_value
        if value is None or anchor is None or anchor == 0:
            return None
        if math.isnan(value) or math.isnan(anchor):
            return None
        return value / anchor

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 10:
        return f"{int(v)}"
    av = abs(v)
    return f"{v:.0f}" if av >= 100 else f"{v:.1f}" if av >= 10 else f"{v:.2f}"


def print_table(rows: list[Row]) -> str:
    """The table as text (also printed)."""
    header = ("measurement", "figure", "value", "unit", "anchor", "anchor value", "ratio", "note")
    lines = [header] + [
        (r.measurement, r.figure, _fmt(r.value), r.unit, r.anchor, _fmt(r.anchor_value),
         f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.note)
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    out = []
    for n, line in enumerate(lines):
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=False)]
        out.append(" | ".join(cells) + (" | " + line[-1] if line[-1] else ""))
        if n == 0:
            out.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 4)
    text = "\n".join(out)
    print(text, flush=True)
    return text


def machine_note() -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    import os

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
    }


def write_json(path: Path, results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    def clean(obj: Any) -> Any:
        if isinstance(obj, Row):
            return obj.as_dict()
        if isinstance(obj, float) and math.isnan(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        return obj

    path.write_text(json.dumps(clean({"meta": meta, "results": results}), indent=2) + "\n")


def plot(path: Path, results: list[dict[str, Any]]) -> str | None:
    """Latency and relay CPU vs room size (from the relay_cpu results); None if plotted,
    else why not."""
    fanout = next((r for r in results if r.get("name") == "relay_cpu"), None)
    if fanout is None:
        return "no relay_cpu results to plot"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    series = fanout["raw"]["series"]
    fig, (ax_lat, ax_cpu) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"zego relay": "o-", "aiortc MediaRelay": "s--", "Janus VideoRoom": "^:"}
    colors = {"zego relay": "C0", "aiortc MediaRelay": "C1", "Janus VideoRoom": "C2"}
    for name, points in series.items():
        if not points:
            continue
        xs = [p["listeners"] for p in points]
        style, color = styles.get(name, "x-"), colors.get(name, "C3")
        if name != "Janus VideoRoom":  # engine probe (Janus has none: see below)
            lat = [p["latency_ms"]["median"] for p in points]
            p95 = [p["latency_ms"]["p95"] for p in points]
            ax_lat.plot(xs, lat, style, color=color, label=f"{name}, engine: median")
            ax_lat.plot(xs, p95, style, alpha=0.35, color=color, label="  p95")
        raw = [(p["listeners"], p["latency_aiortc_receiver_ms"]["median"]) for p in points
               if (p.get("latency_aiortc_receiver_ms") or {}).get("n")]
        if raw and name != "aiortc MediaRelay":
            ax_lat.plot(*zip(*raw, strict=True), style[0] + ":", mfc="none", color=color,
                        label=f"{name}, aiortc receiver: median")
        ax_cpu.plot(xs, [p["server_cpu_pct"] for p in points], style, color=color, label=name)
        for p in points:
            if p.get("bottleneck"):
                ax_cpu.annotate(p["bottleneck"], (p["listeners"], p["server_cpu_pct"]),
                                fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax_lat.set(xlabel="listeners in the room", ylabel="mouth-to-ear latency (ms)",
               title="click latency at a probe listener")
    ax_cpu.set(xlabel="listeners in the room", ylabel="server CPU (% of one core)",
               title="server process CPU, 1 publisher")
    for ax in (ax_lat, ax_cpu):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_xscale("symlog", linthresh=8)
        ax.set_xticks([1, 8, 16, 32, 64])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
