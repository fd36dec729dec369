"""Does a draft model pay on this machine? The deeper tier (1.5B) with the real-time model (0.5B) drafting for it.

    uv run --no-sync python scripts/profile_draft_model.py [--reps 2]

Needs both models installed (CODESPARK_EXTRAS=--extra=deep ./scripts/setup). Three engines of the 1.5B model
in one process take turns on each prompt, cold (a fresh nonce per run), greedy:
- `plain`: no drafting (`"speculative": false`);
- `lookups`: the default drafters (source follower and n-gram lookup), as `codespark serve` runs;
- `lookups+model`: the same with the 0.5B as draft model, as `codespark serve --draft-model` runs (the cost
  model decides when the draft model drafts and how far);
- `model forced`: the draft model drafting at every step (at least 4 tokens), whether it pays or not.
Prints output tok/s per run, whether the text equals plain decoding's, and a markdown table of medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from codespark.engine import GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.engine.speculative import SpeculationConfig
from codespark.models import DEFAULT_MODEL_ID, resolve_model

DEEP_MODEL_ID = "qwen2.5-coder-1.5b"
SYSTEM = {"role": "system", "content": "You are a helpful coding assistant."}
INVENTORY = Path(__file__).resolve().parents[1] / "tests" / "engine" / "data" / "inventory.py"

PROMPTS = {
    # free-form code: nothing to copy, the case a draft model is for
    "new-function": ([{"role": "user", "content": "Write a Python function that parses an ISO 8601 date string without using datetime."}], 200),
    "explain": ([{"role": "user", "content": "Explain in three sentences what a Python generator is and when to use one."}], 120),
    # a small whole-file rewrite: mostly a copy of the prompt
    "inventory-rename": ([{"role": "user", "content": f"Here is `inventory.py`:\n```python\n{INVENTORY.read_text()}```\n"
                                                      "Rename the method `cheapest` to `lowest_price`. Output the whole updated file."}], 700),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    try:
        target, draft = resolve_model(DEEP_MODEL_ID).path, resolve_model(DEFAULT_MODEL_ID).path
    except Exception as exc:  # noqa: BLE001 - a missing model is a setup matter, said plainly
        sys.exit(f"needs {DEEP_MODEL_ID} and {DEFAULT_MODEL_ID} installed: {exc}")
    runtime = RuntimeConfig(n_ctx=4096, n_seq_max=2)
    engines = {
        "lookups": Engine("m", target, runtime),
        "lookups+model": Engine("m", target, runtime, draft_model_path=draft),
        "model forced": Engine("m", target, runtime, draft_model_path=draft,
                               speculation=SpeculationConfig(drafters=("model",), min_draft=4)),
    }
    configs = ["plain", *engines]
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        for name, (messages, limit) in PROMPTS.items():
            for rep in range(args.reps):
                # one nonce per repetition: every configuration answers the same prompt (plain and `lookups`
                # share an engine, so the second of them finds the prompt cached; decode rates are unaffected)
                request_messages = [{**SYSTEM, "content": f"[{name} {rep}] {SYSTEM['content']}"}, *messages]
                texts: dict[str, str] = {}
                for config in configs if rep % 2 == 0 else configs[::-1]:
                    engine = engines["lookups"] if config == "plain" else engines[config]
                    request = GenerationRequest(messages=request_messages, max_output_tokens=limit, speculative=config != "plain")
                    texts[config], fin = engine.complete(request)
                    rate = fin.usage.output_tokens / fin.timings.decode_s
                    rates.setdefault((name, config), []).append(rate)
                    sources = {k: f"{v['accepted']}/{v['drafted']}" for k, v in fin.timings.draft_sources.items()}
                    print(f"{name} rep {rep} {config}: {fin.usage.output_tokens} tokens, {rate:.1f} tok/s, "
                          f"{fin.timings.decode_steps} passes, accepted/drafted {sources or '-'}", flush=True)
                same = ", ".join(f"{c} {texts[c] == texts['plain']}" for c in configs[1:])
                print(f"  same text as plain: {same}", flush=True)
    finally:
        for engine in engines.values():
            engine.close()
    print("\n| prompt | " + " | ".join(f"{c} (tok/s)" for c in configs) + " | " + " | ".join(f"{c} / plain" for c in configs[1:]) + " |")
    print("| --- |" + " --- |" * (2 * len(configs) - 1))
    for name in PROMPTS:
        med = {c: statistics.median(rates[(name, c)]) for c in configs}
        print(f"| {name} | " + " | ".join(f"{med[c]:.1f}" for c in configs) + " | "
              + " | ".join(f"{med[c] / med['plain']:.2f}x" for c in configs[1:]) + " |")


if __name__ == "__main__":
    main()
