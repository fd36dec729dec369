"""`codespark bench agent`: the edit-task suite, run through the real agent for each edit format.

For every (edit format, task): a fresh git workspace with the task's files, a fresh AgentSession (real-time
mode, WebSocket, the model on the server), one turn with the task's instruction, then the task's check in a
new interpreter. Reported per format: success rate, wall time per task, malformed-edit rate (edit attempts
that could not be parsed or applied, over all edit attempts), first-try success, and whether any test ran
(real-time mode must never run one). Writes agent_edit_formats.{json,md,png} under --out; the format with
the best success rate (then the lowest median time) is the one to make the default (formats.py).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..agent.formats import DEFAULT_EDIT_FORMAT, FORMATS
from ..agent.session import AgentSession
from ..agent.settings import AgentOptions
from . import report
from .agent_suite import MARKER, Task, get_tasks

NAME = "agent_edit_formats"
DEFAULT_OUT = Path("docs/benchmarks")
FORMAT_ORDER = ["whole_file", "definitions", "search_replace", "apply_patch", "apply_patch_tool"]


@dataclass
class TaskRun:
    format: str
    task: str
    kind: str
    success: bool
    seconds: float
    status: str
    edits: int
    failed_edits: int
    tool_calls: int
    tests_ran: bool
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    error: str | None
    check_output: str
    final_text: str


def prepare(task: Task, root: Path) -> None:
    for rel, text in task.files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    git = ["git", "-c", "user.email=bench@codespark", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=root, check=True)


def check(task: Task, root: Path) -> tuple[bool, str]:
    try:
        out = subprocess.run([sys.executable, "-c", task.check], cwd=root, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "check timed out"
    text = (out.stdout + out.stderr).strip()
    return out.returncode == 0, text[-600:]


async def run_one(server: str, fmt: str, task: Task, *, tools: bool, transport: str, timeout_s: float,
                  mode: str = "realtime") -> TaskRun:
    with tempfile.TemporaryDirectory(prefix=f"cs-bench-{task.name}-") as tmp:
        root = Path(tmp)
        prepare(task, root)
        options = AgentOptions(workspace=root, mode=mode, edit_format=fmt, record=False, tools=tools)
        t0 = time.perf_counter()
        session = await AgentSession.open(options, server, transport=transport)
        try:
            try:
                fin = await asyncio.wait_for(session.run(task.instruction), timeout_s)
            except asyncio.TimeoutError:
                fin = await session.interrupt()
                if fin is not None:
                    fin.error = f"timed out after {timeout_s:.0f} s"
        finally:
            await session.close()
        seconds = time.perf_counter() - t0
        ok, out = check(task, root)
        tests_ran = (root / MARKER).exists()
        usage = fin.usage if fin else {}
        return TaskRun(fmt, task.name, task.kind, ok and not tests_ran, round(seconds, 2), fin.status if fin else "failed",
                       fin.edits if fin else 0, fin.failed_edits if fin else 0, fin.tool_calls if fin else 0, tests_ran,
                       int(usage.get("input_tokens", 0)), int(usage.get("cached_tokens", 0)), int(usage.get("output_tokens", 0)),
                       fin.error if fin else "no result", out, (fin.final_text if fin else "")[:400])


def summarize(runs: list[TaskRun]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for fmt in dict.fromkeys(r.format for r in runs):
        rs = [r for r in runs if r.format == fmt]
        attempts = sum(r.edits + r.failed_edits for r in rs)
        times = [r.seconds for r in rs]
        out[fmt] = {
            "tasks": len(rs),
            "success_rate": round(sum(r.success for r in rs) / len(rs), 3),
            "first_try_rate": round(sum(r.success and r.failed_edits == 0 for r in rs) / len(rs), 3),
            "malformed_edit_rate": round(sum(r.failed_edits for r in rs) / attempts, 3) if attempts else None,
            "no_edit_rate": round(sum(r.edits == 0 for r in rs) / len(rs), 3),
            "median_s": round(statistics.median(times), 2),
            "mean_s": round(statistics.fmean(times), 2),
            "median_s_success": round(statistics.median([r.seconds for r in rs if r.success]), 2) if any(r.success for r in rs) else None,
            "output_tokens_mean": round(statistics.fmean(r.output_tokens for r in rs), 1),
            "tool_calls": sum(r.tool_calls for r in rs),
            "tests_ran": sum(r.tests_ran for r in rs),
        }
    return out


def best_format(summary: dict[str, dict[str, Any]]) -> str:
    return min(summary, key=lambda f: (-summary[f]["success_rate"], summary[f]["median_s"]))


def render_markdown(result: dict[str, Any]) -> str:
    summary, runs = result["summary"], [TaskRun(**r) for r in result["runs"]]
    best = result["best_format"]
    rows = []
    for fmt, s in summary.items():
        rows.append([fmt + (" (default)" if fmt == result["default_format"] else ""), f"{s['success_rate']:.0%}",
                     f"{s['first_try_rate']:.0%}",
                     "n/a" if s["malformed_edit_rate"] is None else f"{s['malformed_edit_rate']:.0%}",
                     f"{s['no_edit_rate']:.0%}", f"{s['median_s']:.1f}", f"{s['mean_s']:.1f}",
                     f"{s['output_tokens_mean']:.0f}", s["tests_ran"]])
    table = report.markdown_table(
        ["edit format", "success", "first try", "malformed edits", "no edit", "median s/task", "mean s/task",
         "output tokens/task", "tests run"], rows)
    tasks = list(dict.fromkeys(r.task for r in runs))
    fmts = list(summary)
    grid = []
    for task in tasks:
        row = [task]
        for fmt in fmts:
            r = next((x for x in runs if x.task == task and x.format == fmt), None)
            if r is None:
                row.append("")
            else:
                mark = "pass" if r.success else ("TESTS RAN" if r.tests_ran else "fail")
                extra = f", {r.failed_edits} bad" if r.failed_edits else ""
                row.append(f"{mark} {r.seconds:.0f}s{extra}")
        grid.append(row)
    per_task = report.markdown_table(["task", *fmts], grid)
    m = result["machine"]
    return f"""# Agent edit formats: `codespark bench agent`

Each of {len(tasks)} small edit tasks (`src/codespark/bench/agent_suite/tasks.py`: renames, one-line bug fixes,
small additions, a longer file, two files, JavaScript) runs once per edit format through the real agent:
a fresh git workspace, a fresh `AgentSession` in real-time mode over the WebSocket transport, one turn with
the task's instruction, then the task's own check in a new interpreter. Greedy decoding (temperature 0),
so a run is reproducible up to timing. Every format's replies are parsed by the same code, which accepts
all formats; the format only decides what the model is shown (instructions and one worked example).

- **success**: the check passed and no test ran. **first try**: success with no rejected edit.
- **malformed edits**: edit attempts that could not be parsed or applied (sent back to the model with the
  precise error, once), over all edit attempts. **no edit**: the model never produced an edit.
- **tests run**: tasks where a test file's marker appeared (real-time mode must never run tests unasked).

Model: `{result['model']}` on `{m.get('cpu_model')}` ({m.get('cpu_cores_usable')} usable cores), transport
{result['transport']}, tools offered: {result['tools']}. Load average when run: {m.get('load_average_1_5_15')}
(the machine is shared, so absolute times are noisy; compare formats within this run).
{('Note: ' + result['note']) if result.get('note') else ''}

{table}

**Best format in this run: `{best}`** (highest success rate, then lowest median time). The agent's default
is `{result['default_format']}` (`codespark.agent.formats.DEFAULT_EDIT_FORMAT`).

Per task (result, wall time, rejected edits):

{per_task}

![success rate and time per format](agent_edit_formats.png)

Reproduce: `codespark bench agent --out docs/benchmarks` (add `--server URL` to use a running server,
`--partial FILE.jsonl` to survive interruptions, `--formats`/`--tasks` to run a subset).
"""


def chart(path: Path, summary: dict[str, dict[str, Any]]) -> None:
    labels = list(summary)
    panels = [
        report.Panel("success rate", "%", labels, [100 * summary[f]["success_rate"] for f in labels]),
        report.Panel("median wall time per task", "s", labels, [summary[f]["median_s"] for f in labels]),
        report.Panel("malformed edit attempts", "%", labels,
                     [None if summary[f]["malformed_edit_rate"] is None else 100 * summary[f]["malformed_edit_rate"] for f in labels]),
    ]
    report.bar_chart(path, panels, title="codespark agent: edit formats on the edit-task suite")


async def run_suite(server: str, formats: list[str], tasks: list[Task], *, tools: bool, transport: str,
                    timeout_s: float, progress=print, partial: Path | None = None) -> list[TaskRun]:
    """Run every (format, task); with `partial`, each run is appended there as it ends, and runs already
    recorded there are not run again (a killed suite picks up where it stopped)."""
    import json

    done: dict[tuple[str, str], TaskRun] = {}
    if partial is not None and partial.exists():
        for line in partial.read_text().splitlines():
            try:
                r = TaskRun(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            done[(r.format, r.task)] = r
    runs: list[TaskRun] = []
    for fmt in formats:
        for task in tasks:
            if (fmt, task.name) in done:
                runs.append(done[(fmt, task.name)])
                continue
            run = await run_one(server, fmt, task, tools=tools, transport=transport, timeout_s=timeout_s)
            runs.append(run)
            if partial is not None:
                partial.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("a") as fh:
                    fh.write(json.dumps(asdict(run)) + "\n")
            progress(f"{fmt:17} {task.name:18} {'pass' if run.success else 'FAIL'} {run.seconds:6.1f}s "
                     f"edits={run.edits} bad={run.failed_edits} tools={run.tool_calls}"
                     + (f" error={run.error[:80]}" if run.error else ""))
    return runs


def add_arguments(p) -> None:
    p.add_argument("--server", metavar="URL", default=None, help="a running server (default: start the embedded one)")
    p.add_argument("--formats", default=",".join(FORMAT_ORDER), help=f"comma-separated edit formats (default: {','.join(FORMAT_ORDER)})")
    p.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    p.add_argument("--no-tools", action="store_true", help="do not offer the function tools (text edits only)")
    p.add_argument("--transport", choices=["websocket", "http"], default="websocket")
    p.add_argument("--timeout", type=float, default=600, help="seconds per task before it is interrupted")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write agent_edit_formats.json/.md/.png")
    p.add_argument("--name", default=NAME, help="file name stem for the results")
    p.add_argument("--note", default="", help="free text for the report (e.g. what else was running)")
    p.add_argument("--partial", type=Path, default=None, metavar="JSONL",
                   help="append each run here as it ends and skip runs already there (resume a killed suite)")
    p.add_argument("--merge-with", type=Path, default=None, metavar="JSON",
                   help="an earlier result file: its runs of formats not run now are kept in the report")
    p.set_defaults(func=run)


def run(args) -> int:
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for f in formats:
        if f not in FORMATS:
            print(f"codespark bench agent: unknown format {f!r}; known: {', '.join(FORMATS)}", file=sys.stderr)
            return 2
    try:
        tasks = get_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
    except ValueError as exc:
        print(f"codespark bench agent: {exc}", file=sys.stderr)
        return 2
    from ..cli.launcher import ServerUnavailable, ensure_server

    try:
        with ensure_server(args.server) as server:
            import httpx

            model = httpx.get(server.url + "/v1/models", timeout=10).json()["data"][0]["id"]
            runs = asyncio.run(run_suite(server.url, formats, tasks, tools=not args.no_tools, transport=args.transport,
                                         timeout_s=args.timeout, progress=lambda s: print(s, flush=True),
                                         partial=args.partial))
    except ServerUnavailable as exc:
        print(f"codespark bench agent: {exc}", file=sys.stderr)
        return 3
    earlier: list[dict[str, Any]] = []
    if args.merge_with:
        import json

        old = json.loads(Path(args.merge_with).read_text())
        earlier = [r for r in old["runs"] if r["format"] not in formats]
        runs = [TaskRun(**r) for r in earlier] + runs
    runs.sort(key=lambda r: FORMAT_ORDER.index(r.format) if r.format in FORMAT_ORDER else len(FORMAT_ORDER))
    formats = list(dict.fromkeys(r.format for r in runs))
    summary = summarize(runs)
    result = {
        "benchmark": NAME, "model": model, "transport": args.transport, "tools": not args.no_tools,
        "formats": formats, "tasks": [t.name for t in tasks], "runs_total_s": round(sum(r.seconds for r in runs), 1),
        "summary": summary, "best_format": best_format(summary), "default_format": DEFAULT_EDIT_FORMAT,
        "note": args.note, "machine": report.machine_info(), "runs": [asdict(r) for r in runs],
        "merged_from": str(args.merge_with) if args.merge_with else None,
    }
    out = Path(args.out)
    report.write_json(out / f"{args.name}.json", result)
    report.write_text(out / f"{args.name}.md", render_markdown(result))
    chart(out / f"{args.name}.png", summary)
    for fmt, s in summary.items():
        print(f"{fmt:17} success {s['success_rate']:.0%}  malformed {s['malformed_edit_rate']}  median {s['median_s']}s")
    print(f"best: {result['best_format']}; wrote {out / (args.name + '.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="codespark bench agent", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
