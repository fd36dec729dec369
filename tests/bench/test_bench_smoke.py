"""The quick variants of `codespark bench edit` and `bench scheduling` run end to end on the real model and
write well-formed JSON, markdown and PNG. They assert no timing: only that every measure was taken."""

from __future__ import annotations

import json

import pytest

from codespark.cli import bench_cmd


@pytest.mark.timeout(900)
def test_quick_edit_benchmark(tmp_path, capsys):
    out = tmp_path / "bench"
    rc = bench_cmd.main(["edit", "--quick", "--out", str(out)])
    assert rc == 0
    assert "codespark (drafting)" in capsys.readouterr().out
    data = json.loads((out / "edit_throughput.json").read_text())
    assert data["settings"]["quick"] is True and data["skipped"] == {}
    by_config = {s["config"]: s for s in data["samples"]}
    assert set(by_config) == {"codespark", "codespark-plain"}
    for s in by_config.values():
        assert s["error"] is None and s["output_tokens"] > 0 and s["ttft_s"] > 0 and s["tokens_per_s"] > 0
    # the rewrite is drafted from the file in the prompt (losslessness, which may only differ at a near-tie of
    # the model, is checked token by token in tests/engine/test_speculative.py)
    assert isinstance(by_config["codespark"]["same_output_as_plain"], bool)
    details = by_config["codespark"]["server_usage"]["output_tokens_details"]
    assert details["accepted_prediction_tokens"] > 0
    assert by_config["codespark-plain"]["server_usage"]["output_tokens_details"]["accepted_prediction_tokens"] == 0
    assert "| sched-head-rename | codespark (drafting) |" in (out / "edit_throughput.md").read_text()
    assert (out / "edit_throughput.png").stat().st_size > 1000


@pytest.mark.timeout(900)
def test_quick_scheduling_benchmark(tmp_path):
    out = tmp_path / "bench"
    rc = bench_cmd.main(["scheduling", "--quick", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "scheduling.json").read_text())
    w, b, c = data["warm_ttft"], data["background_load"], data["cancel"]
    assert w["warm_ttft_s"]["median"] > 0 and w["cold_ttft_s"]["median"] > 0 and w["warm_over_cold"] > 0
    assert b["loaded_cold_ttft_s"]["median"] > 0 and b["idle_cold_ttft_s"]["median"] > 0
    assert c["during_decoding_s"]["median"] > 0 and c["during_prefill_s"]["median"] > 0
    assert "cancel latency during a long prefill" in (out / "scheduling.md").read_text()
    assert (out / "scheduling.png").stat().st_size > 1000
