"""End-to-end A/B of one runtime switch on the edit benchmark's whole-file rewrites, interleaved.

    uv run --no-sync python scripts/ab_runtime_option.py --option repack_weights [--reps 2] [--plain]

Both configurations load the default model in one process and take turns (ABBA) on each rewrite, cold (a
fresh nonce per run, so nothing is cached), so both see the same machine. Prints each run's prefill seconds
and output tok/s, whether the two configurations wrote the same text, and a markdown table of medians.
"""

from __future__ import annotations

import argparse
import statistics

from codespark.bench import edit_throughput as E
from codespark.engine import Finished, GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.models import DEFAULT_MODEL_ID, resolve_model


def rewrite(engine: Engine, task: E.EditTask, nonce: str, speculative: bool) -> tuple[str, Finished]:
    request = GenerationRequest(messages=E.task_messages(task, nonce), max_output_tokens=4096, speculative=speculative)
    return engine.complete(request)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--option", choices=("flash_attn", "repack_weights"), required=True)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--plain", action="store_true", help="also measure plain decoding (drafting off)")
    args = ap.parse_args()
    path = resolve_model(DEFAULT_MODEL_ID).path
    engines = {on: Engine("m", path, RuntimeConfig(n_ctx=8192, n_seq_max=2, **{args.option: on})) for on in (True, False)}
    results: dict[tuple[str, bool, bool], list[tuple[float, float]]] = {}
    try:
        for task in E.TASKS:
            for speculative in (True, False) if args.plain else (True,):
                texts: dict[bool, str] = {}
                for rep in range(args.reps):
                    for on in (True, False) if rep % 2 == 0 else (False, True):
                        text, fin = rewrite(engines[on], task, f"ab-{rep}-{on}", speculative)
                        texts[on] = text
                        t = fin.timings
                        row = (t.prefill_s, fin.usage.output_tokens / t.decode_s)
                        results.setdefault((task.name, speculative, on), []).append(row)
                        print(f"{task.name} drafting={speculative} {args.option}={on}: prefill {row[0]:.2f} s "
                              f"({t.prefill_tokens} tokens), {row[1]:.1f} output tok/s", flush=True)
                print(f"  same text with {args.option} on and off: {texts[True] == texts[False]}", flush=True)
    finally:
        for engine in engines.values():
            engine.close()
    print(f"\n| rewrite | drafting | prefill s, {args.option} on / off | output tok/s, on / off | tok/s on / off |")
    print("| --- | --- | --- | --- | --- |")
    for (name, speculative, on), rows in results.items():
        if not on:
            continue
        off = results[(name, speculative, False)]
        p_on, p_off = statistics.median(r[0] for r in rows), statistics.median(r[0] for r in off)
        s_on, s_off = statistics.median(r[1] for r in rows), statistics.median(r[1] for r in off)
        print(f"| {name} | {'on' if speculative else 'off'} | {p_on:.2f} / {p_off:.2f} | {s_on:.1f} / {s_off:.1f} "
              f"| {s_on / s_off:.2f} |")


if __name__ == "__main__":
    main()
