"""How much the logits of one position depend on the width of the pass that computes it, per runtime option.

    uv run --no-sync python scripts/profile_batch_invariance.py [--option repack_weights|flash_attn]

After a 1,024-token prompt (the edit benchmark's first rewrite), the logits at position 1,088 are computed as
the last row of a W-row pass, with one-row passes before it. llama.cpp's CPU kernels are not batch-invariant,
so W changes them; that is the noise drafting can only fork from plain decoding within (speculative.py).
Prints, for the option on and off, which widths give bit-identical logits and the largest difference from W=1.
"""

from __future__ import annotations

import argparse

import numpy as np

from codespark.bench import edit_throughput as E
from codespark.engine import GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.models import DEFAULT_MODEL_ID, resolve_model

WIDTHS = (1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 64)
PROMPT, TARGET = 1024, 1024 + 64


def last_row_logits(engine: Engine, tokens: list[int], width: int) -> np.ndarray:
    rt = engine.runtime
    rt.drop(0)
    for pos in range(0, PROMPT, 512):
        rt.decode(0, tokens[pos : pos + 512], pos, [])
    for pos in range(PROMPT, TARGET - width + 1):
        rt.decode(0, tokens[pos : pos + 1], pos)
    rt.decode(0, tokens[TARGET - width + 1 : TARGET + 1], TARGET - width + 1, all_logits=True)
    return rt.logits(width - 1).copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--option", choices=("flash_attn", "repack_weights"), default="repack_weights")
    args = ap.parse_args()
    path = resolve_model(DEFAULT_MODEL_ID).path
    for on in (True, False):
        engine = Engine("m", path, RuntimeConfig(n_ctx=4096, n_seq_max=1, **{args.option: on}))
        try:
            tokens = engine.prepare(GenerationRequest(messages=E.task_messages(E.TASKS[0], "invariance"))).tokens
            rows = {w: last_row_logits(engine, tokens, w) for w in WIDTHS}
        finally:
            engine.close()
        groups: list[list[int]] = []
        for w in WIDTHS:
            same = next((g for g in groups if np.array_equal(rows[g[0]], rows[w])), None)
            if same is None:
                groups.append([w])
            else:
                same.append(w)
        worst = max(float(np.abs(rows[w] - rows[1]).max()) for w in WIDTHS)
        print(f"{args.option}={on}: widths with bit-identical logits {groups}; largest difference from W=1 {worst:.3f}")


if __name__ == "__main__":
    main()
