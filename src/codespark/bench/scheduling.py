"""`codespark bench scheduling`: warm sessions, real-time work under background load, cancel latency.

Runs the engine in-process (no HTTP: these are engine properties, timed where they happen) on the default
model with the server's settings:

1. warm TTFT: a first turn with a ~1,500-token Python file in context (cold: fresh nonce, nothing cached),
   then a follow-up turn of the same conversation; target warm <= 10% of cold. Also with a second
   conversation interleaved (A1, B1, A2, B2): each follow-up still finds its own context warm.
2. real-time under background load: TTFT of a real-time request while a background (long-running)
   whole-file rewrite is decoding, against the same request on an idle engine; target <= 1.5x idle. Both
   a cold short prompt and a warm follow-up are measured.
3. cancel latency: from `Engine.cancel()` to the generation's `Finished` event, during decoding (with
   drafting on, so a wide verification pass may be in flight) and during a long prefill; targets < 100 ms
   and < 300 ms.
4. prefill chunk size: prompt tokens/s for several `prefill_chunk` values (the chunk no longer bounds
   cancel or preemption latency, which the abort callback handles, so it only trades throughput).

Timings are medians over repetitions; the 1-minute load average is recorded with each section.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from . import report
from .report import Panel, fmt_number, markdown_table, ratio, summarize

NAME = "scheduling"
FILES = Path(__file__).parent / "edit_files"


def _load1() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


class Bench:
    def __init__(self, threads: int, ctx: int, log=print):
        from ..engine import Engine, RuntimeConfig
        from ..models import DEFAULT_MODEL_ID, resolve_model

        resolved = resolve_model(DEFAULT_MODEL_ID)
        self.model_id = resolved.id
        self.log = log
        self.threads = threads or (os.cpu_count() or 1)
        self.ctx = ctx
        self.engine = Engine(resolved.id, resolved.path, RuntimeConfig(n_ctx=ctx, n_threads=self.threads, n_seq_max=4))

    def close(self) -> None:
        self.engine.close()

    # -- helpers ----------------------------------------------------------------------------------

    def request(self, messages, max_tokens: int, **kw):
        from ..engine import GenerationRequest

        return GenerationRequest(messages=messages, max_output_tokens=max_tokens, **kw)

    def timed(self, req) -> dict[str, Any]:
        """Run one request; TTFT from before prompt rendering to the first text delta."""
        from ..engine import Finished, TextDelta

        t0 = time.perf_counter()
        events: queue.SimpleQueue = queue.SimpleQueue()
        self.engine.submit(self.engine.prepare(req), events.put)
        ttft, parts = None, []
        while True:
            ev = events.get()
            if isinstance(ev, TextDelta):
                if ttft is None:
                    ttft = time.perf_counter() - t0
                parts.append(ev.text)
            elif isinstance(ev, Finished):
                return {"ttft_s": ttft, "e2e_s": time.perf_counter() - t0, "text": "".join(parts), "finished": ev}

    def forget(self) -> None:
        """Make the next request cold: drop every idle warm sequence."""
        with self.engine._cv:
            for slot in self.engine.pool.slots:
                if not slot.busy and slot.tokens:
                    self.engine.pool.evict(slot, self.engine.runtime)

    @staticmethod
    def file_context(name: str, lines: int) -> str:
        return "".join((FILES / name).read_text().splitlines(keepends=True)[:lines])

    def conversation(self, file: str, lines: int) -> list[dict[str, str]]:
        nonce = uuid.uuid4().hex[:12]
        return [
            {"role": "system", "content": f"[session {nonce}] You are a concise coding assistant."},
            {"role": "user", "content": f"Here is `{file.removesuffix('.txt')}`:\n```python\n{self.file_context(file, lines)}```\nIn one sentence, what does this module do?"},
        ]

    # -- sections ---------------------------------------------------------------------------------

    def warm_ttft(self, reps: int) -> dict[str, Any]:
        cold, warm, inter_cold, inter_warm = [], [], [], []
        prompt_tokens = []
        for _ in range(reps):
            conv = self.conversation("graphlib.py.txt", 190)
            first = self.timed(self.request(conv, 24))
            prompt_tokens.append(first["finished"].usage.input_tokens)
            follow = conv + [{"role": "assistant", "content": first["text"]}, {"role": "user", "content": "Which method raises CycleError?"}]
            second = self.timed(self.request(follow, 24))
            cold.append(first["ttft_s"])
            warm.append(second["ttft_s"])
            # two conversations interleaved: A1 B1 A2 B2
            a = self.conversation("graphlib.py.txt", 190)
            b = self.conversation("netrc.py.txt", 192)
            a1 = self.timed(self.request(a, 24))
            b1 = self.timed(self.request(b, 24))
            a2 = self.timed(self.request(a + [{"role": "assistant", "content": a1["text"]}, {"role": "user", "content": "Name one class in it."}], 24))
            b2 = self.timed(self.request(b + [{"role": "assistant", "content": b1["text"]}, {"role": "user", "content": "Name one class in it."}], 24))
            inter_cold += [a1["ttft_s"], b1["ttft_s"]]
            inter_warm += [a2["ttft_s"], b2["ttft_s"]]
            self.log(f"warm TTFT: cold {cold[-1]:.3f}s warm {warm[-1]:.3f}s | interleaved cold {a1['ttft_s']:.3f}/{b1['ttft_s']:.3f}s "
                     f"warm {a2['ttft_s']:.3f}/{b2['ttft_s']:.3f}s  (load {_load1()})")
        out = {"prompt_tokens": summarize(prompt_tokens), "cold_ttft_s": summarize(cold), "warm_ttft_s": summarize(warm),
               "interleaved_cold_ttft_s": summarize(inter_cold), "interleaved_warm_ttft_s": summarize(inter_warm), "load1": _load1()}
        out["warm_over_cold"] = _r(ratio(out["warm_ttft_s"]["median"], out["cold_ttft_s"]["median"]))
        out["interleaved_warm_over_cold"] = _r(ratio(out["interleaved_warm_ttft_s"]["median"], out["interleaved_cold_ttft_s"]["median"]))
        return out

    def background_load(self, reps: int) -> dict[str, Any]:
        from ..engine import Priority, TextDelta

        short = [{"role": "system", "content": "You are a concise coding assistant."},
                 {"role": "user", "content": "Write a Python one-liner that reverses a string s. " + "Keep it short. " * 20}]
        rewrite = [{"role": "system", "content": "Reply with the complete updated file in one ```python block."},
                   {"role": "user", "content": f"```python\n{self.file_context('sched.py.txt', 167)}```\nRename `enterabs` to `enter_absolute`."}]
        idle_cold, loaded_cold, idle_warm, loaded_warm, preempted = [], [], [], [], []
        for _ in range(reps):
            nonce = uuid.uuid4().hex[:8]
            cold_req = [dict(short[0], content=f"[{nonce}] " + short[0]["content"]), short[1]]
            self.forget()
            idle_cold.append(self.timed(self.request(cold_req, 8))["ttft_s"])
            base = self.timed(self.request(cold_req, 8))
            follow = cold_req + [{"role": "assistant", "content": base["text"]}, {"role": "user", "content": "And for a list?"}]
            idle_warm.append(self.timed(self.request(follow, 8))["ttft_s"])
            # the same two requests while a background rewrite is decoding
            self.forget()
            started = threading.Event()
            bg = self.engine.submit(self.engine.prepare(self.request(rewrite, 2000, priority=Priority.BACKGROUND)),
                                    lambda ev: started.set() if isinstance(ev, TextDelta) else None)
            started.wait()
            time.sleep(0.5)
            cold_req2 = [dict(short[0], content=f"[{nonce}x] " + short[0]["content"]), short[1]]
            loaded_cold.append(self.timed(self.request(cold_req2, 8))["ttft_s"])
            base2 = self.timed(self.request(cold_req2, 8))
            follow2 = cold_req2 + [{"role": "assistant", "content": base2["text"]}, {"role": "user", "content": "And for a list?"}]
            loaded_warm.append(self.timed(self.request(follow2, 8))["ttft_s"])
            busy = not bg.done.is_set()
            self.engine.cancel(bg)
            bg.done.wait()
            preempted.append(bg.preempted)
            self.log(f"background load: cold idle {idle_cold[-1]:.3f}s loaded {loaded_cold[-1]:.3f}s | warm idle {idle_warm[-1]:.3f}s "
                     f"loaded {loaded_warm[-1]:.3f}s | background still running: {busy}, preempted {bg.preempted}x (load {_load1()})")
        out = {"idle_cold_ttft_s": summarize(idle_cold), "loaded_cold_ttft_s": summarize(loaded_cold),
               "idle_warm_ttft_s": summarize(idle_warm), "loaded_warm_ttft_s": summarize(loaded_warm),
               "background_preemptions": preempted, "load1": _load1()}
        out["cold_loaded_over_idle"] = _r(ratio(out["loaded_cold_ttft_s"]["median"], out["idle_cold_ttft_s"]["median"]))
        out["warm_loaded_over_idle"] = _r(ratio(out["loaded_warm_ttft_s"]["median"], out["idle_warm_ttft_s"]["median"]))
        return out

    def cancel_latency(self, reps: int) -> dict[str, Any]:
        from ..engine import Finished, TextDelta

        rewrite = [{"role": "system", "content": "Reply with the complete updated file in one ```python block."},
                   {"role": "user", "content": f"```python\n{self.file_context('sched.py.txt', 167)}```\nRename `enterabs` to `enter_absolute`."}]
        decoding, prefill, prefill_progress = [], [], []
        for i in range(reps):
            # during decoding: after 40 output tokens (drafting on: whole verification passes are in flight)
            done_at: list[float] = []
            seen = [0]
            go = threading.Event()

            def sink(ev):
                if isinstance(ev, TextDelta):
                    seen[0] += 1
                    if seen[0] >= 20:
                        go.set()
                elif isinstance(ev, Finished):
                    done_at.append(time.perf_counter())
                    go.set()

            gen = self.engine.submit(self.engine.prepare(self.request(rewrite, 3000)), sink)
            go.wait()
            t0 = time.perf_counter()
            self.engine.cancel(gen)
            gen.done.wait()
            decoding.append(done_at[0] - t0)
            # during a long prefill: a cold ~2,300-token prompt, cancelled 1 s after it starts
            self.forget()
            long = [{"role": "system", "content": f"[{uuid.uuid4().hex[:8]}] You are a concise coding assistant."},
                    {"role": "user", "content": f"```python\n{self.file_context('graphlib.py.txt', 250)}```\nExplain this file."}]
            done_at.clear()
            gen = self.engine.submit(self.engine.prepare(self.request(long, 16)), sink)
            while not gen.started:
                time.sleep(0.005)
            time.sleep(1.0)
            t0 = time.perf_counter()
            self.engine.cancel(gen)
            gen.done.wait()
            prefill.append(done_at[0] - t0)
            prefill_progress.append(f"{gen.timings.prefill_tokens}/{gen.usage.input_tokens}")
            self.log(f"cancel: during decoding {decoding[-1] * 1000:.1f} ms, during prefill {prefill[-1] * 1000:.1f} ms "
                     f"(prompt evaluated {prefill_progress[-1]}; load {_load1()})")
        return {"during_decoding_s": summarize(decoding), "during_prefill_s": summarize(prefill),
                "prefill_progress_at_cancel": prefill_progress, "load1": _load1()}

    def prefill_chunks(self, sizes: list[int]) -> dict[str, Any]:
        runtime = self.engine.runtime
        text = self.file_context("graphlib.py.txt", 250)
        tokens = runtime.tokenize(text)[:2048]
        out = {}
        for size in sizes:
            rates = []
            for _ in range(2):
                with self.engine._cv:  # the engine is idle: borrow its context, sequence 3
                    seq = len(self.engine.pool.slots) - 1
                    assert not self.engine.pool.slots[seq].busy
                    self.engine.pool.evict(self.engine.pool.slots[seq], runtime)
                    runtime.clear_abort()  # a cancel measured before may have left the flag set
                    t0 = time.perf_counter()
                    for i in range(0, len(tokens), size):
                        runtime.decode(seq, tokens[i : i + size], i, [])
                    rates.append(len(tokens) / (time.perf_counter() - t0))
                    runtime.drop(seq)
            out[str(size)] = {"tokens": len(tokens), "tokens_per_s": summarize(rates), "load1": _load1()}
            self.log(f"prefill chunk {size}: {out[str(size)]['tokens_per_s']['median']:.1f} tok/s (load {_load1()})")
        return out


def _r(x):
    return None if x is None else round(x, 3)


def run(quick: bool = False, out: Path = Path("docs/benchmarks"), threads: int = 0, ctx: int = 8192, reps: int | None = None,
        note: str = "", log=print) -> dict[str, Any]:
    reps = reps or (1 if quick else 3)
    bench = Bench(threads, ctx, log)
    started = time.time()
    try:
        result = {
            "benchmark": NAME,
            "machine": report.machine_info({"threads": bench.threads, "note": note}),
            "settings": {"model": bench.model_id, "threads": bench.threads, "ctx": ctx, "reps": reps, "quick": quick,
                         "prefill_chunk": bench.engine.prefill_chunk, "engine_stats": bench.engine.stats()},
            "targets": {"warm_over_cold": "<= 0.10", "loaded_over_idle": "<= 1.5", "cancel_decoding_s": "< 0.100",
                        "cancel_prefill_s": "< 0.300"},
        }
        result["warm_ttft"] = bench.warm_ttft(reps)
        result["background_load"] = bench.background_load(reps)
        result["cancel"] = bench.cancel_latency(reps + (0 if quick else 2))
        result["prefill_chunk"] = bench.prefill_chunks([128, 512] if quick else [32, 64, 128, 256, 512])
        result["duration_s"] = round(time.time() - started, 1)
    finally:
        bench.close()
    write(result, out)
    return result


HEADERS = ["measure", "value", "reference", "ratio", "target"]


def table_rows(r: dict[str, Any]) -> list[list[str]]:
    w, b, c = r["warm_ttft"], r["background_load"], r["cancel"]
    ms = lambda s: fmt_number(None if s is None else s * 1000, "ms")  # noqa: E731
    return [
        ["warm follow-up TTFT (vs cold, ~1.5k-token file)", ms(w["warm_ttft_s"]["median"]), ms(w["cold_ttft_s"]["median"]), fmt_number(w["warm_over_cold"]), "<= 0.10"],
        ["warm TTFT, 2 sessions interleaved (vs cold)", ms(w["interleaved_warm_ttft_s"]["median"]), ms(w["interleaved_cold_ttft_s"]["median"]), fmt_number(w["interleaved_warm_over_cold"]), "<= 0.10"],
        ["real-time cold TTFT under background load (vs idle)", ms(b["loaded_cold_ttft_s"]["median"]), ms(b["idle_cold_ttft_s"]["median"]), fmt_number(b["cold_loaded_over_idle"]), "<= 1.5"],
        ["real-time warm TTFT under background load (vs idle)", ms(b["loaded_warm_ttft_s"]["median"]), ms(b["idle_warm_ttft_s"]["median"]), fmt_number(b["warm_loaded_over_idle"]), "<= 1.5"],
        ["cancel latency during decoding (p90 / max)", ms(c["during_decoding_s"]["median"]), f"{ms(c['during_decoding_s']['p90'])} / {ms(c['during_decoding_s']['max'])}", "", "< 100 ms"],
        ["cancel latency during a long prefill (p90 / max)", ms(c["during_prefill_s"]["median"]), f"{ms(c['during_prefill_s']['p90'])} / {ms(c['during_prefill_s']['max'])}", "", "< 300 ms"],
    ]


def write(result: dict[str, Any], out: Path) -> None:
    out = Path(out)
    report.write_json(out / f"{NAME}.json", result)
    chunks = result["prefill_chunk"]
    lines = [f"# Warm sessions, background load, cancel latency ({'quick' if result['settings']['quick'] else 'full'} run)", "",
             f"Model `{result['settings']['model']}`, {result['settings']['threads']} threads, in-process engine, medians of "
             f"{result['settings']['reps']} repetition(s). Load average at start {result['machine'].get('load_average_1_5_15')}.", "",
             markdown_table(HEADERS, table_rows(result)), "", "Prefill throughput by chunk size (the chunk no longer bounds cancel/preemption latency):", "",
             markdown_table(["prefill_chunk", "prompt tokens/s"], [[k, fmt_number(v["tokens_per_s"]["median"])] for k, v in chunks.items()])]
    report.write_text(out / f"{NAME}.md", "\n".join(lines))
    w, b, c = result["warm_ttft"], result["background_load"], result["cancel"]
    panels = [
        Panel("TTFT: cold vs warm follow-up", "s", ["cold", "warm", "cold (2 sess.)", "warm (2 sess.)"],
              [w["cold_ttft_s"]["median"], w["warm_ttft_s"]["median"], w["interleaved_cold_ttft_s"]["median"], w["interleaved_warm_ttft_s"]["median"]],
              note=f"warm/cold = {fmt_number(w['warm_over_cold'])}"),
        Panel("real-time TTFT: idle vs background load", "s", ["cold idle", "cold loaded", "warm idle", "warm loaded"],
              [b["idle_cold_ttft_s"]["median"], b["loaded_cold_ttft_s"]["median"], b["idle_warm_ttft_s"]["median"], b["loaded_warm_ttft_s"]["median"]],
              note=f"loaded/idle = {fmt_number(b['cold_loaded_over_idle'])} / {fmt_number(b['warm_loaded_over_idle'])}"),
        Panel("cancel latency", "ms", ["decoding", "prefill"],
              [c["during_decoding_s"]["median"] * 1000, c["during_prefill_s"]["median"] * 1000]),
        Panel("prefill tokens/s by chunk", "tok/s", list(chunks), [v["tokens_per_s"]["median"] for v in chunks.values()]),
    ]
    try:
        report.bar_chart(out / f"{NAME}.png", panels, title="codespark: warm sessions, scheduling, cancel")
    except Exception as exc:
        print(f"chart not written: {exc}", file=sys.stderr)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="one repetition of each measure (a CI smoke run; asserts no timing)")
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--ctx", type=int, default=8192)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--note", default="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codespark bench scheduling", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run(args.quick, args.out, args.threads, args.ctx, args.reps, args.note)
    print(markdown_table(HEADERS, table_rows(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
