"""Helpers for the engine tests that run the real default model."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codespark.engine import Engine, Finished, GenerationRequest, RuntimeConfig, TextDelta
from codespark.engine.slots import common_prefix

DATA = Path(__file__).parent / "data"


def load_default_engine(**config) -> Engine:
    from codespark.models import DEFAULT_MODEL_ID, resolve_model

    resolved = resolve_model(DEFAULT_MODEL_ID)
    options = {"n_ctx": 8192, "n_seq_max": 4, **config}
    extra = {key: options.pop(key) for key in ("prefill_chunk", "speculation", "draft_model_path") if key in options}
    return Engine(resolved.id, resolved.path, RuntimeConfig(**options), **extra)


def forget(engine: Engine) -> None:
    """Drop every idle warm sequence, so the next request starts from an empty cache."""
    with engine._cv:
        for slot in engine.pool.slots:
            if not slot.busy and slot.tokens:
                engine.pool.evict(slot, engine.runtime)


def run_cold(engine: Engine, request: GenerationRequest) -> tuple[str, Finished]:
    """Run from an empty cache: prompts evaluated in the same chunks compute bit-identical states."""
    forget(engine)
    return run(engine, request)


def run(engine: Engine, request: GenerationRequest) -> tuple[str, Finished]:
    return engine.complete(request)


def submit(engine: Engine, request: GenerationRequest):
    """Queue a request; returns (handle, events queue)."""
    events: queue.SimpleQueue = queue.SimpleQueue()
    return engine.submit(engine.prepare(request), events.put), events


def collect(events: queue.SimpleQueue, timeout: float = 600) -> tuple[str, Finished]:
    text = []
    while True:
        ev = events.get(timeout=timeout)
        if isinstance(ev, TextDelta):
            text.append(ev.text)
        elif isinstance(ev, Finished):
            return "".join(text), ev


def rewrite_messages(instruction: str, path: Path = DATA / "inventory.py") -> list[dict]:
    source = path.read_text()
    return [
        {"role": "system", "content": "You are a careful coding assistant. Reply with the complete updated file in a single ```python code block and nothing else."},
        {"role": "user", "content": f"Here is `{path.name}`:\n```python\n{source}```\n{instruction} Output the whole updated file."},
    ]


# llama.cpp's CPU kernels are not batch-invariant: the same token's logits differ by up to ~0.6 between a
# one-row pass, a wide verification pass, and histories evaluated in other chunk patterns (measured on the
# default model). Greedy output can therefore only fork where the model's top two tokens are this close.
NEAR_TIE = 1.5


@dataclass
class GreedyRun:
    text: str
    finished: Finished
    tokens: list[int]  # output tokens that went through the model (a final EOS or length-capped one may not)


def run_cold_tokens(engine: Engine, request: GenerationRequest) -> GreedyRun:
    text, fin = run_cold(engine, request)
    return GreedyRun(text, fin, last_run_tokens(engine, request))


def run_tokens(engine: Engine, request: GenerationRequest) -> GreedyRun:
    """Like run_cold_tokens, with whatever the engine keeps warm."""
    text, fin = run(engine, request)
    return GreedyRun(text, fin, last_run_tokens(engine, request))


def last_run_tokens(engine: Engine, request: GenerationRequest) -> list[int]:
    prompt = engine.prepare(request).tokens
    with engine._cv:  # the sequence used last: this run's
        slot = max(engine.pool.slots, key=lambda s: s.last_used)
        tokens = list(slot.tokens)
    assert tokens[: len(prompt)] == prompt
    return tokens[len(prompt):]


def reference_logits(engine: Engine, tokens: list[int]) -> np.ndarray:
    """The model's logits after `tokens`, from a fresh sequence (prefilled in the engine's 512-token chunks)."""
    forget(engine)
    with engine._cv:  # the scheduler thread is idle and stays off the runtime while we hold its lock
        rt, seq = engine.runtime, engine.pool.slots[0].seq
        rt.drop(seq)
        try:
            for start in range(0, len(tokens), 512):
                rt.decode(seq, tokens[start : start + 512], start)
            return rt.logits(-1).copy()
        finally:
            rt.drop(seq)


def assert_same_greedy_output(engine: Engine, request: GenerationRequest, plain: GreedyRun, spec: GreedyRun) -> bool:
    """Drafting must not change greedy output. Returns True when the outputs are identical; otherwise they
    must fork at a near-tie of the model, with both choices its top two tokens, and False is returned."""
    if spec.text == plain.text:
        assert spec.finished.reason == plain.finished.reason
        assert spec.finished.usage.output_tokens == plain.finished.usage.output_tokens
        return True
    i = common_prefix(plain.tokens, spec.tokens)
    logits = reference_logits(engine, engine.prepare(request).tokens + plain.tokens[:i])
    second, first = (int(t) for t in np.argsort(logits)[-2:])
    margin = float(logits[first] - logits[second])
    chosen = {run.tokens[i] for run in (plain, spec) if i < len(run.tokens)}
    assert margin < NEAR_TIE and chosen <= {first, second}, (
        f"outputs fork at output token {i} where the model is not near a tie: top two {first}, {second} "
        f"(margin {margin:.2f}), chosen {chosen}\nplain: {plain.text!r}\nspec:  {spec.text!r}")
    return False
