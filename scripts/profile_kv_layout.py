"""A whole-file rewrite alone and beside another warm conversation, for each KV layout and attention kernel.

    uv run --no-sync python scripts/profile_kv_layout.py

Why: plain attention is faster than flash attention on this CPU, but in a KV pool shared by all warm
conversations it also multiplies over the other conversations' (masked) cells. One stream per conversation
removes that. Each configuration loads the default model in its own engine; the rewrite (the edit benchmark's
`netrc-rename-class`, drafting on) runs in a fresh engine, once alone and once beside a finished 2.7k-token
`sched-rename` conversation that stays warm. Prints a markdown table.
"""

from __future__ import annotations

import time

from codespark.bench import edit_throughput as E
from codespark.engine import Finished, GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.models import DEFAULT_MODEL_ID, resolve_model

CONFIGS = {  # label: (one stream per conversation, flash attention)
    "shared pool, flash attention on": (False, True),
    "shared pool, flash attention off": (False, False),
    "per-conversation streams, flash attention off (default)": (True, False),
}


def rewrite(engine: Engine, task: E.EditTask, nonce: str) -> Finished:
    request = GenerationRequest(messages=E.task_messages(task, nonce), prediction=E.task_source(task),
                                max_output_tokens=4096)
    return engine.complete(request)[1]


def main() -> None:
    path = resolve_model(DEFAULT_MODEL_ID).path
    tasks = {t.name: t for t in E.TASKS}
    target, neighbour = tasks["netrc-rename-class"], tasks["sched-rename"]
    print("| KV layout, attention | other warm conversation | TTFT | output tok/s | wall |\n| --- | --- | --- | --- | --- |")
    for label, (per_conversation, flash) in CONFIGS.items():
        for with_neighbour in (False, True):
            engine = Engine("m", path, RuntimeConfig(n_ctx=32768, n_seq_max=4, kv_per_conversation=per_conversation,
                                                     flash_attn=flash))
            try:
                if with_neighbour:
                    rewrite(engine, neighbour, "neighbour")
                t0 = time.perf_counter()
                fin = rewrite(engine, target, "target")
                wall = time.perf_counter() - t0
            finally:
                engine.close()
            rate = fin.usage.output_tokens / fin.timings.decode_s
            other = "2.7k tokens" if with_neighbour else "none"
            print(f"| {label} | {other} | {fin.timings.first_token_s:.1f} s | {rate:.1f} | {wall:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
