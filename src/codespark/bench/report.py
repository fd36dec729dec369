"""A small, reusable writer for benchmark results: machine info, summaries, JSON, Markdown and a bar chart.

Every benchmark writes the same three files into one folder: ``NAME.json`` (raw samples, summary, machine
info), ``NAME.md`` (a table a person reads) and ``NAME.png`` (a chart). Nothing here knows about any one
benchmark; see ``codespark.bench.latency`` for a user.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

# -- statistics -------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, median, p90, mean, stdev, min, max of a list of numbers (3 decimals, or 4 significant digits below 1).

    Values below 1 keep significant digits because several benchmarks report seconds: a 0.4 ms cancel
    rounded to 3 decimals would read as exactly zero.
    """
    xs = [float(v) for v in values]

    def r(v: float | None) -> float | None:
        if v is None:
            return None
        return float(f"{v:.4g}") if abs(v) < 1 else round(v, 3)

    if not xs:
        return {"n": 0, "median": None, "p90": None, "mean": None, "stdev": None, "min": None, "max": None}
    return {
        "n": len(xs),
        "median": r(statistics.median(xs)),
        "p90": r(percentile(xs, 90)),
        "mean": r(statistics.fmean(xs)),
        "stdev": r(statistics.stdev(xs)) if len(xs) > 1 else 0.0,
        "min": r(min(xs)),
        "max": r(max(xs)),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


# -- machine --------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where the numbers were taken: CPU, cores, OS, Python, key package versions, date, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "llama_cpp_python": _version("llama-cpp-python"),
        "codespark": _version("codespark"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average_1_5_15": load_average(),
    }
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    if extra:
        info.update(extra)
    return info


# -- formats --------------------------------------------------------------------------------------


def fmt_ratio(value: float | None) -> str:
    """A ratio as '2.15x', or 'n/a' when a side of it was not measured."""
    return "n/a" if value is None else f"{fmt_number(value)}x"


def fmt_number(value: float | None, unit: str = "", digits: int | None = None) -> str:
    if value is None:
        return "n/a"
    if digits is None:
        a = abs(value)
        digits = 0 if a >= 1000 else 1 if a >= 10 else 2 if a >= 0.1 else 3
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip() if unit else text


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path


# -- chart ----------------------------------------------------------------------------------------


@dataclass
class Panel:
    """One subplot: a bar per label (e.g. HTTP, WebSocket) on a shared unit, with an optional note on top."""

    title: str
    unit: str
    labels: list[str]
    values: list[float | None]
    note: str = ""  # e.g. "WS/HTTP = 0.08x"
    errors: list[float | None] = field(default_factory=list)  # optional upper whisker (e.g. p90 - median)


DEFAULT_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def bar_chart(path: Path, panels: Sequence[Panel], title: str = "", colors: Sequence[str] = DEFAULT_COLORS) -> Path:
    """Write a grid of bar panels as a PNG (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(panels))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        values = [0.0 if v is None else float(v) for v in panel.values]
        bar_colors = [colors[i % len(colors)] for i in range(len(values))]
        yerr = None
        if panel.errors and any(e is not None for e in panel.errors):
            yerr = [[0.0] * len(values), [max(0.0, e or 0.0) for e in panel.errors]]
        bars = ax.bar(panel.labels, values, color=bar_colors, yerr=yerr, capsize=4 if yerr else 0)
        whiskers = list(panel.errors) + [None] * (len(values) - len(panel.errors))
        tops = [v + (e or 0.0) for v, e in zip(values, whiskers)]
        low = min([0.0] + values)
        high = max([0.0] + tops)
        span = (high - low) or 1.0
        ax.set_ylim(low - (0.12 * span if low < 0 else 0), high + 0.28 * span)
        for bar, raw, top in zip(bars, panel.values, tops):
            label = "n/a" if raw is None else fmt_number(raw)
            x = bar.get_x() + bar.get_width() / 2
            if bar.get_height() >= 0:
                ax.annotate(label, (x, max(top, bar.get_height())), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=9)
            else:
                ax.annotate(label, (x, bar.get_height()), xytext=(0, -3), textcoords="offset points", ha="center", va="top", fontsize=9)
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(panel.unit)
        ax.axhline(0, color="#444444", linewidth=0.6)
        if panel.note:
            ax.text(0.5, 0.96, panel.note, transform=ax.transAxes, ha="center", va="top", fontsize=9,
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "#f4f4f4", "edgecolor": "#bbbbbb"})
        ax.grid(axis="y", alpha=0.3)
        if max(map(len, map(str, panel.labels)), default=0) * len(panel.labels) > 40:  # long labels would overlap side by side
            ax.tick_params(axis="x", labelrotation=35, labelsize=8)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
                tick.set_rotation_mode("anchor")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
