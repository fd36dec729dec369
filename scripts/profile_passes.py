"""Cost of llama.cpp forward passes on this machine, by width and context, with one runtime option on and off.

    uv run --no-sync python scripts/profile_passes.py [--option flash_attn|repack_weights] [--reps 3]

What it shows is what bounds codespark's decoding: every configuration loads the default model in one
process and the measurements are interleaved (ABBA), so both see the same machine. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

from codespark.bench import edit_throughput as E
from codespark.engine import GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.models import DEFAULT_MODEL_ID, resolve_model

WIDTHS = (1, 2, 4, 8, 16, 32, 64)


def measure(engine: Engine, tokens: list[int], out: dict[str, list[float]], context: int) -> None:
    rt = engine.runtime
    rt.drop(0)
    t0, pos = time.perf_counter(), 0
    while pos < context:
        rt.decode(0, tokens[pos : pos + 512], pos, [])
        pos += 512
        if pos == 1536:
            out.setdefault("prefill, first 1.5k tokens (tok/s)", []).append(pos / (time.perf_counter() - t0))
    out.setdefault(f"prefill, {context} tokens (tok/s)", []).append(pos / (time.perf_counter() - t0))
    for w in WIDTHS:  # a pass of w rows with every row's logits, as a draft verification needs
        t = time.perf_counter()
        rt.decode(0, tokens[100 : 100 + w], pos, all_logits=True)
        out.setdefault(f"{w}-row pass at {context} tokens (ms)", []).append((time.perf_counter() - t) * 1000)
        rt.drop(0, pos)
    t = time.perf_counter()
    rt.decode(0, tokens[100:164], pos, logits=[63])
    out.setdefault("64-row pass, last row's logits only (ms)", []).append((time.perf_counter() - t) * 1000)
    rt.drop(0, pos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--option", choices=("flash_attn", "repack_weights"), default="flash_attn",
                    help="the RuntimeConfig switch to compare (the other keeps its default)")
    ap.add_argument("--context", type=int, default=3584, help="tokens in the KV cache before each pass (multiple of 512)")
    args = ap.parse_args()
    path = resolve_model(DEFAULT_MODEL_ID).path
    engines = {on: Engine("m", path, RuntimeConfig(n_ctx=8192, n_seq_max=1, **{args.option: on})) for on in (True, False)}
    tokens: list[int] = []
    for task in E.TASKS:  # real code: the edit benchmark's prompts, end to end
        tokens += engines[True].prepare(GenerationRequest(messages=E.task_messages(task, "profile"))).tokens
    results: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
    for rep in range(args.reps):
        order = [True, False] if rep % 2 == 0 else [False, True]
        for fa in order:
            measure(engines[fa], tokens, results[fa], args.context)
    print(f"| measure | {args.option} on | off | off / on |\n| --- | --- | --- | --- |")
    for key in results[True]:
        on, off = statistics.median(results[True][key]), statistics.median(results[False][key])
        print(f"| {key} | {on:.1f} | {off:.1f} | {off / on:.2f} |")
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
