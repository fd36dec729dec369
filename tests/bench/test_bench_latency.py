"""`codespark bench latency`: the quick variant against a real server writes well-formed JSON/PNG/MD.

No timing assertions: the machines running tests are shared and noisy. We check the shapes, that every
metric is present for both transports, and that the numbers are internally consistent.
"""

from __future__ import annotations

import argparse
import json
import math
import struct

import pytest

from codespark.bench import report
from codespark.bench.latency import HEADERS, TRANSPORTS
from codespark.cli import bench_cmd

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_cli_wiring_the_lead_uses():
    parser = argparse.ArgumentParser(prog="codespark")
    sub = parser.add_subparsers(dest="command")
    bench_cmd.add_arguments(sub.add_parser("bench"))
    args = parser.parse_args(["bench", "latency", "--quick", "--server", "http://127.0.0.1:1", "--out", "x", "--model", "m"])
    assert args.func is bench_cmd.run_latency
    assert args.quick and args.server == "http://127.0.0.1:1" and str(args.out) == "x" and args.model == "m"
    defaults = parser.parse_args(["bench", "latency"])
    assert not defaults.quick and defaults.server is None and str(defaults.out) == "docs/benchmarks"


def test_report_helpers(tmp_path):
    assert report.percentile([], 90) is None
    assert report.percentile([5], 90) == 5
    assert report.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5.5
    assert math.isclose(report.percentile(range(1, 11), 90), 9.1)
    s = report.summarize([3, 1, 2])
    assert s["n"] == 3 and s["median"] == 2 and s["min"] == 1 and s["max"] == 3
    assert report.summarize([])["median"] is None
    # sub-millisecond seconds keep their precision (a 0.4 ms cancel must not read as zero)
    tiny = report.summarize([0.00042, 0.00051])
    assert tiny["min"] == 0.00042 and tiny["median"] == 0.000465
    assert report.summarize([54.31234])["median"] == 54.312
    assert report.ratio(1, 0) is None and report.ratio(1, 4) == 0.25
    table = report.markdown_table(["a", "b"], [[1, "x|y"]])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | x\\|y |"]
    info = report.machine_info({"note": "n"})
    for key in ("cpu_model", "cpu_cores", "python", "llama_cpp_python", "date", "note"):
        assert info[key], key
    out = report.bar_chart(tmp_path / "c.png", [
        report.Panel("positive", "ms", ["A", "B"], [3.0, 1.0], "B/A = 0.33x", [1.0, None]),
        report.Panel("negative and missing", "ms", ["A", "B"], [-0.2, None]),
    ], title="t")
    w, h = png_size(out)
    assert w > 300 and h > 200


@pytest.mark.timeout(1200)
def test_quick_latency_benchmark(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = bench_cmd.main(["latency", "--quick", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "| Metric |" in printed and "WebSocket" in printed

    data = json.loads((out / "latency.json").read_text())
    assert data["benchmark"] == "latency" and data["quick"] is True
    m = data["machine"]
    for key in ("cpu_model", "cpu_cores", "python", "llama_cpp_python", "date"):
        assert m[key], key
    assert data["server"]["started_by_bench"] is True and data["server"]["model"]

    samples = data["samples"]
    plan = data["plan"]
    for name in ("round_trip", "per_token", "ttft", "rollout"):
        assert {s["transport"] for s in samples[name]} == set(TRANSPORTS), name
    assert len(samples["round_trip"]) == 2 * plan["overhead_reps"] * plan["overhead_turns"]
    for s in samples["round_trip"]:
        assert s["wall_ms"] > 0 and s["engine_ms"] >= 0
        assert math.isclose(s["overhead_ms"], s["wall_ms"] - s["engine_ms"], abs_tol=0.01)
        assert s["output_tokens"] <= plan["overhead_max_tokens"]
    # stateless HTTP re-sends the conversation: its later turns send more bytes than the WS ones
    last = plan["overhead_turns"] - 1
    http_last = [s["bytes_sent"] for s in samples["round_trip"] if s["transport"] == "http" and s["turn"] == last]
    ws_last = [s["bytes_sent"] for s in samples["round_trip"] if s["transport"] == "ws" and s["turn"] == last]
    assert min(http_last) > max(ws_last)
    for s in samples["per_token"]:
        assert s["deltas"] >= 3 and s["engine_step_ms"] > 0 and len(s["gaps_ms"]) == s["deltas"] - 1
    phases = {(s["transport"], s["phase"]) for s in samples["ttft"]}
    assert phases == {(t, p) for t in TRANSPORTS for p in ("cold", "warm")}
    for s in samples["ttft"]:
        assert 0 < s["ttft_ms"] <= s["wall_ms"]
        if s["phase"] == "warm":  # the follow-up found the first turn in the KV cache, on both transports
            assert s["cached_tokens"] > 0
    for s in samples["rollout"]:
        assert s["turns"] == plan["rollout_turns"] and s["total_wall_s"] > 0

    summary = data["summary"]
    for t in TRANSPORTS:
        assert summary["round_trip_overhead_ms"][t]["n"] == plan["overhead_reps"] * plan["overhead_turns"]
        assert summary["round_trip_overhead_ms"][t]["median"] is not None
        assert summary["per_token_overhead_ms"][t]["median"] is not None
        assert summary["ttft"][t]["cold"]["median"] > 0 and summary["ttft"][t]["warm"]["median"] > 0
        assert summary["ttft"][t]["warm_cold_ratio"] > 0
        assert summary["rollout"]["total_wall_s"][t]["median"] > 0
    assert summary["rollout"]["ratio_wall"] > 0

    md = (out / "latency.md").read_text()
    assert "| " + " | ".join(HEADERS) + " |" in md
    for metric in ("Round-trip overhead per turn (median)", "Round-trip overhead per turn (p90)", "Per-token overhead",
                   "TTFT cold", "TTFT warm", "TTFT warm / cold", "Agent rollout"):
        assert metric in md, metric
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert all(line.count(" | ") == len(HEADERS) - 1 for line in rows)

    w, h = png_size(out / "latency.png")
    assert w >= 800 and h >= 400
