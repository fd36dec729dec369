"""`codespark bench edit`: whole-file rewrites with a small requested change, codespark against its peers.

Every configuration serves the same GGUF file with the same thread count and context size, and gets the
same prompt (system + user message holding a 150-400 line Python file and one small change to make) with
greedy decoding and the same token limit:

- codespark with drafting (speculative edits + n-gram lookup), and codespark with plain decoding (the same
  server, `"speculative": false`): the plain run is the baseline of the >= 3x target.
- llama.cpp's `llama-server` (built from the llama.cpp vendored in the llama-cpp-python sdist) with
  `--spec-type none`, `ngram-simple` and `ngram-mod`.
- `python -m llama_cpp.server`, plain and with its prompt-lookup draft.

All servers are started first and stay up (idle) so configurations can be interleaved: each round visits
every task, and within a task every configuration, in an order that rotates between rounds, so a burst of
load from elsewhere on the machine is spread over all of them rather than hitting one. Each round opens the
system message with a fresh nonce, so no server can answer from a prompt cache: every TTFT is a cold one.
The 1-minute load average is recorded with every sample.

Per sample: TTFT (request sent -> first streamed text), end-to-end seconds, output tokens (the streamed text
re-tokenized with the model's own tokenizer, the same count for every peer) and output tokens/s =
output tokens / (end-to-end - TTFT), i.e. the decoding rate the client sees once text starts flowing.
Whether the output equals codespark's plain-decoding output of the same round is recorded too (greedy
decoding is lossless in codespark; peers may differ in rare near-ties).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import peers as P
from . import report
from .report import Panel, fmt_number, fmt_ratio, markdown_table, ratio, summarize

NAME = "edit_throughput"
FILES = Path(__file__).parent / "edit_files"

SYSTEM = ("You are a precise coding assistant. When asked to change a file, reply with the complete updated file "
          "in one ```python code block and nothing else.")


@dataclass(frozen=True)
class EditTask:
    name: str
    file: str
    instruction: str
    max_lines: int | None = None  # quick mode uses the head of a file


TASKS = [
    EditTask("sched-rename", "sched.py.txt", "Rename the method `enterabs` to `enter_absolute`, and update its caller."),
    EditTask("netrc-rename-class", "netrc.py.txt", "Rename the class `_netrclex` to `_NetrcLexer` everywhere."),
    EditTask("graphlib-add-method", "graphlib.py.txt",
             "Add a `__len__` method to `TopologicalSorter` that returns the number of nodes in the graph."),
]
QUICK_TASKS = [EditTask("sched-head-rename", "sched.py.txt", "Rename the method `enterabs` to `enter_absolute`.", max_lines=70)]

TARGETS = {
    "speedup_vs_plain": ">= 3x codespark plain decoding (output tokens/s)",
    "vs_llama_server_best_ngram": "faster than llama-server's best n-gram mode on every task",
    "cold_ttft": "cold TTFT no worse than llama-server's",
}


@dataclass
class Options:
    quick: bool = False
    out: Path = Path("docs/benchmarks")
    model: str | None = None
    threads: int = 0  # 0: all cores
    ctx: int = 8192
    rounds: int | None = None
    peers: list[str] | None = None  # keys from peers.ALL_PEERS; None: all (quick: codespark only)
    tasks: list[str] | None = None  # task names; None: all
    llama_server: Path | None = None
    build_dir: Path = P.DEFAULT_BUILD_DIR
    build: bool = True
    note: str = ""
    log: Any = print


def task_source(task: EditTask) -> str:
    source = (FILES / task.file).read_text()
    if task.max_lines:
        source = "".join(source.splitlines(keepends=True)[: task.max_lines])
    return source


def task_messages(task: EditTask, nonce: str) -> list[dict[str, str]]:
    source = task_source(task)
    name = task.file.removesuffix(".txt")
    return [
        {"role": "system", "content": f"[session {nonce}] {SYSTEM}"},
        {"role": "user", "content": f"Here is `{name}`:\n```python\n{source}```\n\n{task.instruction} Reply with the complete updated file."},
    ]


class Tokenizer:
    """The model's vocabulary only (no weights in memory), to count tokens the same way for every peer."""

    def __init__(self, model_path: Path):
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = _internals.LlamaModel(path_model=str(model_path), params=params, verbose=False)

    def count(self, text: str) -> int:
        return len(self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    def close(self) -> None:
        self.model.close()


def _load1() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def run(opts: Options) -> dict[str, Any]:
    from ..models import DEFAULT_MODEL_ID, resolve_model

    log = opts.log
    resolved = resolve_model(opts.model or DEFAULT_MODEL_ID)
    threads = opts.threads or (os.cpu_count() or 1)
    tasks = QUICK_TASKS if opts.quick else TASKS
    if opts.tasks:
        unknown = set(opts.tasks) - {t.name for t in tasks}
        if unknown:
            raise SystemExit(f"unknown task(s): {', '.join(sorted(unknown))}; choose from {', '.join(t.name for t in tasks)}")
        tasks = [t for t in tasks if t.name in opts.tasks]
    rounds = opts.rounds or (1 if opts.quick else 2)
    wanted = opts.peers if opts.peers is not None else (["codespark", "codespark-plain"] if opts.quick else [p.key for p in P.ALL_PEERS])
    specs = [p for p in P.ALL_PEERS if p.key in wanted]
    skipped: dict[str, str] = {}
    tokenizer = Tokenizer(resolved.path)
    samples: list[dict[str, Any]] = []
    started = time.time()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="codespark-bench-edit-") as tmp:
        tmpdir = Path(tmp)
        llama_server = None
        if any(s.kind == "llama-server" for s in specs):
            try:
                llama_server = P.ensure_llama_server(opts.llama_server, opts.build_dir, build=opts.build and not opts.quick, log=log)
            except P.PeerUnavailable as exc:
                for s in specs:
                    if s.kind == "llama-server":
                        skipped[s.key] = str(exc)
        lcp_path: Path | None = None
        if any(s.kind == "llama-cpp-python" for s in specs):
            try:
                lcp_path = P.ensure_llama_cpp_server_deps(opts.build_dir, install=not opts.quick)
            except P.PeerUnavailable as exc:
                for s in specs:
                    if s.kind == "llama-cpp-python":
                        skipped[s.key] = str(exc)
        servers: dict[str, P.Server] = {}
        failed: dict[str, str] = {}
        for spec in specs:
            if spec.key in skipped or spec.server in servers:
                continue
            if spec.server in failed:
                skipped[spec.key] = failed[spec.server]
                continue
            port = P.free_port()
            cmd, health, env = P.server_command(spec.server, model_path=resolved.path, threads=threads, ctx=opts.ctx, port=port,
                                                store=tmpdir / f"{spec.server}.sqlite3", llama_server=llama_server, model_id=resolved.id)
            if spec.kind == "llama-cpp-python" and lcp_path is not None:
                env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(lcp_path), os.environ.get("PYTHONPATH")]))}
            log(f"starting {spec.server}: {' '.join(cmd[:4])} ...")
            try:
                servers[spec.server] = stack.enter_context(P.run_server(spec.server, cmd, port, health, tmpdir / "logs", env=env))
            except P.PeerUnavailable as exc:
                failed[spec.server] = skipped[spec.key] = str(exc)
        active = [s for s in specs if s.key not in skipped]

        for rnd in range(rounds):
            for ti, task in enumerate(tasks):
                nonce = uuid.uuid4().hex[:12]
                messages = task_messages(task, nonce)
                prompt_tokens = tokenizer.count(messages[0]["content"] + messages[1]["content"])
                max_tokens = int(prompt_tokens * 1.25) + 64 if not opts.quick else 96
                shift = (rnd * len(tasks) + ti) % max(1, len(active))
                order = active[shift:] + active[:shift]
                texts: dict[str, str] = {}
                for spec in order:
                    server = servers[spec.server]
                    load_before = _load1()
                    try:
                        if spec.kind == "codespark":
                            res = P.stream_codespark(server.base_url, messages, max_tokens=max_tokens, extra=spec.request_extra)
                        else:
                            res = P.stream_chat(server.base_url, messages, max_tokens=max_tokens)
                    except Exception as exc:  # a peer failing mid-run is recorded, not fatal
                        res = P.StreamResult("", None, 0.0, error=f"{type(exc).__name__}: {exc}")
                    n_out = tokenizer.count(res.text)
                    decode_s = (res.e2e_s - res.ttft_s) if res.ttft_s is not None else None
                    sample = {
                        "round": rnd, "task": task.name, "config": spec.key, "nonce": nonce,
                        "prompt_tokens_approx": prompt_tokens, "max_tokens": max_tokens,
                        "ttft_s": None if res.ttft_s is None else round(res.ttft_s, 4),
                        "e2e_s": round(res.e2e_s, 4), "output_tokens": n_out,
                        "tokens_per_s": round(n_out / decode_s, 3) if decode_s and decode_s > 0 and n_out > 1 else None,
                        "server_usage": res.usage, "engine": res.engine, "error": res.error,
                        "load1_before": load_before, "load1_after": _load1(),
                    }
                    texts[spec.key] = res.text
                    samples.append(sample)
                    log(f"[round {rnd + 1}/{rounds}] {task.name:<22} {spec.label:<32} ttft {fmt_number(res.ttft_s, 's')}  "
                        f"e2e {fmt_number(res.e2e_s, 's')}  {n_out} tok  {fmt_number(sample['tokens_per_s'], 'tok/s')}  load {load_before}"
                        + (f"  ERROR {res.error}" if res.error else ""))
                base = texts.get("codespark-plain")
                for s in samples[-len(order):]:
                    s["same_output_as_plain"] = None if base is None else texts.get(s["config"]) == base
    tokenizer.close()
    result = {
        "benchmark": NAME,
        "machine": report.machine_info({"threads": threads, "note": opts.note}),
        "settings": {"model": resolved.id, "model_path": str(resolved.path), "threads": threads, "ctx": opts.ctx,
                     "rounds": rounds, "quick": opts.quick, "tasks": [asdict(t) for t in tasks],
                     "configs": {s.key: s.label for s in specs}, "llama_server": str(llama_server) if llama_server else None},
        "skipped": skipped,
        "targets": TARGETS,
        "duration_s": round(time.time() - started, 1),
        "samples": samples,
    }
    result["summary"] = summarize_samples(samples, tasks, [s for s in specs if s.key not in skipped])
    write(result, opts.out)
    return result


def summarize_samples(samples: list[dict], tasks: list[EditTask], specs: list[P.PeerSpec]) -> dict[str, Any]:
    per_task: dict[str, Any] = {}
    for task in tasks:
        rows: dict[str, Any] = {}
        for spec in specs:
            mine = [s for s in samples if s["task"] == task.name and s["config"] == spec.key and not s["error"]]
            rows[spec.key] = {
                "label": spec.label,
                "tokens_per_s": summarize(s["tokens_per_s"] for s in mine if s["tokens_per_s"]),
                "ttft_s": summarize(s["ttft_s"] for s in mine if s["ttft_s"] is not None),
                "e2e_s": summarize(s["e2e_s"] for s in mine),
                "output_tokens": summarize(s["output_tokens"] for s in mine),
                "same_output_as_plain": [s.get("same_output_as_plain") for s in mine],
                "load1": summarize(s["load1_before"] for s in mine if s["load1_before"] is not None),
            }
        med = {k: (v["tokens_per_s"]["median"], v["ttft_s"]["median"]) for k, v in rows.items()}
        cs, plain = med.get("codespark", (None, None)), med.get("codespark-plain", (None, None))
        ngram = {k: med[k] for k in ("llama-server-ngram-simple", "llama-server-ngram-mod", "llama-server-ngram-mod-no-fa")
                 if k in med and med[k][0]}
        best_ngram = max(ngram, key=lambda k: ngram[k][0]) if ngram else None
        ls_ttft = [med[k][1] for k in med if k.startswith("llama-server") and med[k][1] is not None]
        # Every llama-server configuration prefills the prompt the same way (one without flash attention), and
        # so do both codespark ones (drafting starts after the first token). The target compares with the
        # lowest of llama-server's medians, which is strict: a minimum over several noisy medians sits below
        # their common value. The pooled ratio (median of all cold TTFTs of each server) has no such bias.
        pooled = {side: summarize(s["ttft_s"] for s in samples
                                  if s["task"] == task.name and s["config"].startswith(side) and not s["error"] and s["ttft_s"] is not None)["median"]
                  for side in ("codespark", "llama-server")}
        per_task[task.name] = {
            "configs": rows,
            "speedup_vs_plain": _round(ratio(cs[0], plain[0])),
            "best_llama_server_ngram": best_ngram,
            "speedup_vs_best_ngram": _round(ratio(cs[0], ngram[best_ngram][0])) if best_ngram else None,
            "ttft_vs_llama_server": _round(ratio(cs[1], min(ls_ttft))) if ls_ttft else None,
            "ttft_pooled_vs_llama_server": _round(ratio(pooled["codespark"], pooled["llama-server"])),
        }
    speedups = [t["speedup_vs_plain"] for t in per_task.values() if t["speedup_vs_plain"]]
    vs_ngram = [t["speedup_vs_best_ngram"] for t in per_task.values() if t["speedup_vs_best_ngram"]]
    vs_ttft = [t["ttft_vs_llama_server"] for t in per_task.values() if t["ttft_vs_llama_server"]]
    return {
        "tasks": per_task,
        "targets_met": {
            "speedup_vs_plain": bool(speedups) and min(speedups) >= 3.0,
            "vs_llama_server_best_ngram": bool(vs_ngram) and min(vs_ngram) > 1.0 and len(vs_ngram) == len(per_task),
            "cold_ttft": bool(vs_ttft) and max(vs_ttft) <= 1.0,
        } if speedups else {},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


HEADERS = ["task", "configuration", "output tok/s", "TTFT (s)", "end-to-end (s)", "output tokens", "same as plain", "load (1 min)"]


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for task, t in result["summary"]["tasks"].items():
        for key, c in t["configs"].items():
            same = c["same_output_as_plain"]
            rows.append([task, c["label"], fmt_number(c["tokens_per_s"]["median"]), fmt_number(c["ttft_s"]["median"]),
                         fmt_number(c["e2e_s"]["median"]), fmt_number(c["output_tokens"]["median"], digits=0),
                         "n/a" if not same or same[0] is None else f"{sum(bool(x) for x in same)}/{len(same)}",
                         fmt_number(c["load1"]["median"])])
    return rows


def write(result: dict[str, Any], out: Path) -> None:
    out = Path(out)
    report.write_json(out / f"{NAME}.json", result)
    lines = [f"# Edit throughput: whole-file rewrites, codespark vs peers ({'quick' if result['settings']['quick'] else 'full'} run)", "",
             f"Model `{result['settings']['model']}`, {result['settings']['threads']} threads, ctx {result['settings']['ctx']}, "
             f"{result['settings']['rounds']} round(s), greedy. Medians over rounds; every TTFT is cold (fresh nonce per round). "
             f"Machine: {result['machine'].get('cpu_model')} ({result['machine'].get('cpu_cores')} cores), "
             f"load average at start {result['machine'].get('load_average_1_5_15')}.", "",
             markdown_table(HEADERS, table_rows(result)), ""]
    lines.append("| task | speedup vs plain (target >= 3x) | vs best llama-server n-gram (target > 1x) | "
                 "cold TTFT vs llama-server's fastest configuration (target <= 1x) | cold TTFT, all runs pooled |")
    lines.append("| --- | --- | --- | --- | --- |")
    for task, t in result["summary"]["tasks"].items():
        best = f" ({t['best_llama_server_ngram']})" if t["best_llama_server_ngram"] else ""
        lines.append(f"| {task} | {fmt_ratio(t['speedup_vs_plain'])} | {fmt_ratio(t['speedup_vs_best_ngram'])}{best} | "
                     f"{fmt_ratio(t['ttft_vs_llama_server'])} | {fmt_ratio(t.get('ttft_pooled_vs_llama_server'))} |")
    if result["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items())]
    lines += ["", "Output tokens/s = output tokens / (end-to-end - TTFT); tokens counted by re-tokenizing the streamed text with the model's tokenizer. "
              "'same as plain' = output identical to codespark's plain greedy decoding in the same round. "
              "Cold TTFT: the target column divides codespark's median by the lowest of llama-server's per-configuration medians "
              "(strict: a minimum of noisy medians is biased low); the pooled column divides the median of all codespark cold TTFTs "
              "(drafting and plain run the same prefill) by the median of all llama-server ones."]
    report.write_text(out / f"{NAME}.md", "\n".join(lines))
    panels = []
    for metric, title, unit in (("tokens_per_s", "output tokens/s", "tok/s"), ("ttft_s", "cold TTFT", "s"), ("e2e_s", "end-to-end", "s")):
        for task, t in result["summary"]["tasks"].items():
            labels = [c["label"].replace("llama-server ", "ls ").replace("llama_cpp.server", "lcp").replace("codespark ", "cs ")
                      for c in t["configs"].values()]
            values = [c[metric]["median"] for c in t["configs"].values()]
            pooled = t.get("ttft_pooled_vs_llama_server")
            note = {"tokens_per_s": f"{fmt_ratio(t['speedup_vs_plain'])} plain",
                    "ttft_s": f"cs / ls pooled: {fmt_ratio(pooled)}" if pooled else ""}.get(metric, "")
            panels.append(Panel(f"{task}: {title}", unit, labels, values, note=note))
    try:
        report.bar_chart(out / f"{NAME}.png", panels, title="codespark edit throughput vs peers (same model file and threads)")
    except Exception as exc:  # a chart is a nicety; never lose the numbers over it
        print(f"chart not written: {exc}", file=sys.stderr)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="one short task, codespark only, one round (a CI smoke run; asserts no timing)")
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks"), help="output folder (default docs/benchmarks)")
    p.add_argument("--model", default=None, help="catalog id or GGUF path (default: the default model)")
    p.add_argument("--threads", type=int, default=0, help="threads for every server (default: all cores)")
    p.add_argument("--ctx", type=int, default=8192, help="context size for every server (default 8192)")
    p.add_argument("--rounds", type=int, default=None, help="rounds over all tasks (default 2; quick: 1)")
    p.add_argument("--peers", default=None, help="comma-separated configs to run: " + ", ".join(s.key for s in P.ALL_PEERS))
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: all): " + ", ".join(t.name for t in TASKS))
    p.add_argument("--llama-server", type=Path, default=None, help="a llama-server binary (default: build it into vendor-build/)")
    p.add_argument("--no-build", action="store_true", help="never build llama-server; skip it when missing")
    p.add_argument("--note", default="", help="free text stored with the machine info (e.g. what else was running)")


def options_from_args(args: argparse.Namespace) -> Options:
    return Options(quick=args.quick, out=args.out, model=args.model, threads=args.threads, ctx=args.ctx, rounds=args.rounds,
                   peers=[p.strip() for p in args.peers.split(",") if p.strip()] if args.peers else None,
                   tasks=[t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
                   llama_server=args.llama_server, build=not args.no_build, note=args.note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codespark bench edit", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run(options_from_args(args))
    print(markdown_table(HEADERS, table_rows(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
