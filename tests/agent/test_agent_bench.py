"""The agent edit-task suite and its report (no model: the checks and the bookkeeping)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest

from codespark.bench import agent as bench
from codespark.bench.agent_suite import TASKS


@pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])
def test_every_check_fails_on_the_starting_files(task, tmp_path):
    bench.prepare(task, tmp_path)
    ok, out = bench.check(task, tmp_path)
    assert not ok, f"{task.name}: the check passes before any edit"
    assert not (tmp_path / ".tests-ran").exists()


def fake_run(fmt, task, success, seconds=10.0, failed=0, edits=1):
    return bench.TaskRun(fmt, task, "bugfix", success, seconds, "completed", edits, failed, 0, False, 100, 80, 20,
                         None, "", "")


def test_summary_best_format_and_report(tmp_path):
    runs = [fake_run("whole_file", "a", True, 20), fake_run("whole_file", "b", True, 30),
            fake_run("search_replace", "a", False, 10, failed=2, edits=0), fake_run("search_replace", "b", True, 12, failed=1)]
    summary = bench.summarize(runs)
    assert summary["whole_file"]["success_rate"] == 1.0 and summary["search_replace"]["success_rate"] == 0.5
    assert summary["search_replace"]["malformed_edit_rate"] == 0.75  # 3 rejected of 4 attempts
    assert summary["search_replace"]["first_try_rate"] == 0.0
    assert bench.best_format(summary) == "whole_file"
    result = {"summary": summary, "runs": [asdict(r) for r in runs], "best_format": "whole_file",
              "default_format": "whole_file", "model": "m", "transport": "websocket", "tools": True,
              "machine": {"cpu_model": "cpu", "cpu_cores_usable": 2, "load_average_1_5_15": [1, 1, 1]}, "note": ""}
    md = bench.render_markdown(result)
    assert "| whole_file (default) | 100% |" in md and "Best format in this run: `whole_file`" in md
    bench.chart(tmp_path / "c.png", summary)
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_partial_results_are_reused(tmp_path, monkeypatch):
    partial = tmp_path / "p.jsonl"
    partial.write_text(json.dumps(asdict(fake_run("whole_file", "fix_slice", True))) + "\n")
    ran = []

    async def fake_run_one(server, fmt, task, **kw):
        ran.append((fmt, task.name))
        return fake_run(fmt, task.name, False)

    monkeypatch.setattr(bench, "run_one", fake_run_one)
    tasks = [t for t in TASKS if t.name in ("fix_slice", "fix_average")]
    runs = asyncio.run(bench.run_suite("http://x", ["whole_file"], tasks, tools=True, transport="websocket",
                                       timeout_s=1, progress=lambda s: None, partial=partial))
    assert ran == [("whole_file", "fix_average")]
    assert [(r.task, r.success) for r in runs] == [("fix_average", False), ("fix_slice", True)]
    assert len(partial.read_text().splitlines()) == 2
