"""Replay draft policies on recorded greedy outputs: how many verification passes each needs, and what they cost.

    uv run --no-sync python scripts/replay_drafts.py capture   # plain greedy outputs of the edit benchmark's tasks
    uv run --no-sync python scripts/replay_drafts.py replay    # codespark's drafting vs llama.cpp's ngram-mod

Why: a benchmark run takes 40 minutes and its single rounds are noisy to +-10% on this shared VM, while a draft
policy only decides which tokens go into which pass. With greedy decoding the output is fixed, so a policy can
be replayed against it exactly: a draft is accepted up to its first token that differs from the output. A pass
of w rows is costed from the measured pass-cost table (profile.md §3, flash attention off), in one-row passes,
so "speedup" is plain decoding's cost over the policy's. Python and protocol overhead are left out (under 2%,
profile.md §1); so are the near-tie forks of CPU kernels (profile.md §5).

The ngram-mod emulation follows llama.cpp's common/speculative.cpp (n_match 24, n_min 48, n_max 64, a
24-gram -> next-token table fed with the prompt and, every 32 tokens, the output; reset after 5 low-acceptance
drafts in a row).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import queue
import sys
from pathlib import Path

from codespark.bench import edit_throughput as E
from codespark.engine import Finished, GenerationRequest, RuntimeConfig
from codespark.engine.scheduler import Engine
from codespark.engine.speculative import CostModel, Indentation, NGramDrafter, SourceFollower, SpeculationConfig, Speculator
from codespark.models import DEFAULT_MODEL_ID, resolve_model

TRACES = Path(".cache/draft-traces")
MAX_OUTPUT = 4096
# one-row passes that a pass of w rows costs (profile.md §3: 45.1, 216.6, 328.8, 626.6, 1161.2 ms for 1-64 rows)
PASS_COST = {1: 1.0, 2: 1.7, 8: 4.8, 16: 7.3, 32: 13.9, 64: 25.7}


def pass_cost(rows: int) -> float:
    widths = sorted(PASS_COST)
    for a, b in zip(widths, widths[1:]):
        if a <= rows <= b:  # log-log interpolation
            t = (math.log(rows) - math.log(a)) / (math.log(b) - math.log(a))
            return math.exp(math.log(PASS_COST[a]) + t * (math.log(PASS_COST[b]) - math.log(PASS_COST[a])))
    return PASS_COST[widths[-1]] * rows / widths[-1]  # wider: linear, as 32 -> 64 nearly is


def capture(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine("m", resolve_model(DEFAULT_MODEL_ID).path, RuntimeConfig(n_ctx=8192, n_seq_max=1))
    try:
        for task in E.TASKS:
            prompt = engine.prepare(GenerationRequest(messages=E.task_messages(task, "trace"), max_output_tokens=MAX_OUTPUT,
                                                      speculative=False))
            events: queue.SimpleQueue = queue.SimpleQueue()
            gen = engine.submit(prompt, events.put)
            while not isinstance(events.get(), Finished):
                pass
            output = gen._context[len(prompt.tokens) :]  # every emitted token, without the end-of-turn token
            (out / f"{task.name}.json").write_text(json.dumps({"prompt": prompt.tokens, "output": output}))
            print(f"{task.name}: {len(prompt.tokens)} prompt tokens, {len(output)} output tokens", flush=True)
        # A re-indentation, which the 0.5B model will not reliably write when asked: the bodies of two functions
        # of the standard library's fnmatch.py wrapped in try/except, as the output of a request to do that.
        import fnmatch

        source = Path(fnmatch.__file__).read_text()
        task = E.EditTask("synthetic-fnmatch-wrap", "fnmatch.py", "Wrap the bodies of `filter` and `fnmatchcase` in "
                          "try/except TypeError.")
        messages = [{"role": "system", "content": f"[session trace] {E.SYSTEM}"},
                    {"role": "user", "content": f"Here is `fnmatch.py`:\n```python\n{source}```\n\n{task.instruction} "
                                                "Reply with the complete updated file."}]
        prompt = engine.prepare(GenerationRequest(messages=messages))
        wrapped = _wrap(_wrap(source, "def fnmatchcase(", "pattern must be a string"), "def filter(", "names must be strings")
        output = engine.runtime.tokenize(f"```python\n{wrapped}```", special=False)
        (out / f"{task.name}.json").write_text(json.dumps({"prompt": prompt.tokens, "output": output}))
        print(f"{task.name}: {len(prompt.tokens)} prompt tokens, {len(output)} output tokens", flush=True)
    finally:
        engine.close()


def _wrap(source: str, header: str, message: str) -> str:
    """The body of the function starting with `header` (after its docstring) inside try/except TypeError."""
    lines = source.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2  # after the one-line docstring
    if '"""' in lines[start - 1] and lines[start - 1].count('"""') == 1:  # a longer docstring: skip to its end
        start = next(i for i in range(start, len(lines)) if '"""' in lines[i]) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].strip() and not lines[i].startswith(" ")), len(lines))
    while not lines[end - 1].strip():
        end -= 1
    body = ["    " + line if line.strip() else line for line in lines[start:end]]
    handler = ["    except TypeError:\n", f"        raise TypeError({message!r}) from None\n"]
    return "".join(lines[:start] + ["    try:\n"] + body + handler + lines[end:])


def replay_codespark(prompt: list[int], output: list[int], indentation: Indentation | None) -> tuple[float, int]:
    """The engine's policy (as in Generation._draft): a source follower over the context, then n-gram lookup."""
    cfg = SpeculationConfig()
    cost = CostModel(cfg.cost_exponent)
    spec = Speculator([SourceFollower(cfg.ngram, indentation=indentation), NGramDrafter(cfg.ngram)], cfg, cost)
    context, pos, total, passes = list(prompt), 0, 0.0, 0
    while pos < len(output):
        context.append(output[pos])  # the token the last pass chose, evaluated with this pass's draft
        draft = spec.propose(context, MAX_OUTPUT - pos)  # the engine's budget: it does not know where the output ends
        accepted = _accepted(draft, output, pos)
        c = pass_cost(len(draft) + 1)
        cost.observe(len(draft) + 1, 0.04 * c)
        spec.record(len(draft), accepted)
        context.extend(output[pos + 1 : pos + 1 + accepted])
        total, passes, pos = total + c, passes + 1, pos + 1 + accepted
    return total, passes


def replay_ngram_mod(prompt: list[int], output: list[int], n: int = 24, n_min: int = 48, n_max: int = 64) -> tuple[float, int]:
    table: dict[tuple[int, ...], int] = {}
    context = list(prompt)
    for i in range(len(context) - n):
        table[tuple(context[i : i + n])] = context[i + n]
    i_last, pos, total, passes, n_low = len(context) - n, 0, 0.0, 0, 0
    while pos < len(output):
        last = output[pos]
        if i_last + 32 < len(context):  # new n-grams are added in chunks
            for i in range(i_last, len(context) - n):
                table[tuple(context[i : i + n])] = context[i + n]
            i_last = len(context) - n
        chain = context[len(context) - n + 1 :] + [last]
        draft: list[int] = []
        while len(draft) < n_max and (t := table.get(tuple(chain[len(draft) : len(draft) + n]))) is not None:
            chain.append(t)
            draft.append(t)
        if len(draft) < n_min:
            draft = []
        accepted = _accepted(draft, output, pos)
        if draft:
            n_low = n_low + 1 if accepted < 0.25 * len(draft) else 0
            if n_low >= 5:
                table.clear()
                n_low, i_last = 0, 0
        context.append(last)
        context.extend(output[pos + 1 : pos + 1 + accepted])
        total, passes, pos = total + pass_cost(len(draft) + 1), passes + 1, pos + 1 + accepted
    return total, passes


def _accepted(draft: list[int], output: list[int], pos: int) -> int:
    n = 0
    while n < len(draft) and pos + 1 + n < len(output) and draft[n] == output[pos + 1 + n]:
        n += 1
    return n


def vocabulary_indentation() -> Indentation:
    import llama_cpp

    tok = E.Tokenizer(resolve_model(DEFAULT_MODEL_ID).path)
    buf = ctypes.create_string_buffer(256)

    def token_bytes(t: int) -> bytes:
        n = llama_cpp.llama_token_to_piece(tok.model.vocab, t, buf, 256, 0, True)
        return buf.raw[:n]

    return Indentation(lambda s: tok.model.tokenize(s.encode(), add_bos=False, special=False), token_bytes)


def replay(traces: Path) -> None:
    files = sorted(traces.glob("*.json"))
    if not files:
        sys.exit(f"no traces in {traces}: run `capture` first")
    ind = vocabulary_indentation()
    print("| trace | output tokens | policy | passes | cost (one-row passes) | speedup over plain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for f in files:
        d = json.loads(f.read_text())
        prompt, output = d["prompt"], d["output"]
        for label, (cost, passes) in {
            "codespark": replay_codespark(prompt, output, ind),
            "codespark without re-indentation": replay_codespark(prompt, output, None),
            "llama.cpp ngram-mod": replay_ngram_mod(prompt, output),
        }.items():
            print(f"| {f.stem} | {len(output)} | {label} | {passes} | {cost:.0f} | {len(output) / cost:.2f}x |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["capture", "replay"])
    p.add_argument("--traces", type=Path, default=TRACES, help=f"folder of traces (default {TRACES})")
    args = p.parse_args()
    capture(args.traces) if args.what == "capture" else replay(args.traces)


if __name__ == "__main__":
    main()
