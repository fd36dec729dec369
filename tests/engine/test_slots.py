"""Warm sessions: several conversations keep their KV caches, bounded, least recently used evicted first."""

from __future__ import annotations

import numpy as np
import pytest

from codespark.engine import GenerationRequest, RuntimeConfig
from codespark.engine.runtime import LlamaRuntime
from codespark.engine.slots import SlotPool
from enginekit import load_default_engine, run


class FakeRuntime:
    def __init__(self):
        self.dropped = []

    def drop(self, seq, start=0):
        self.dropped.append((seq, start))


def take(pool: SlotPool, prompt: list[int]):
    slot, reuse, source = pool.acquire(prompt)
    if source is not None:
        slot.tokens[:] = prompt[:reuse]
    del slot.tokens[reuse:]
    slot.tokens.extend(prompt[reuse:])
    pool.release(slot)
    return slot, reuse, source


def test_follow_up_turn_reuses_its_own_slot():
    pool = SlotPool(2)
    a, _, _ = take(pool, [1, 2, 3, 4])
    again, reuse, source = take(pool, [1, 2, 3, 4, 5, 6])
    assert again is a and reuse == 4 and source is None


def test_conversation_sharing_a_prefix_is_copied_not_overwritten():
    pool = SlotPool(2)
    a, _, _ = take(pool, [1, 2, 3, 4, 5, 6, 7, 8])
    b, reuse, source = take(pool, [1, 2, 9, 9])
    assert b is not a and source is a and reuse == 2
    assert a.tokens == [1, 2, 3, 4, 5, 6, 7, 8]  # still warm
    assert pool.evictions == 0


def test_least_recently_used_conversation_is_evicted():
    pool = SlotPool(2)
    a, _, _ = take(pool, [10, 11, 12])
    b, _, _ = take(pool, [20, 21, 22])
    take(pool, [10, 11, 12, 13])  # a used again: b is now the least recently used
    c, reuse, _ = take(pool, [30, 31])
    assert c is b and reuse == 0 and pool.evictions == 1
    assert a.tokens[:3] == [10, 11, 12]


def test_evict_drops_the_sequence():
    pool, rt = SlotPool(2), FakeRuntime()
    a, _, _ = take(pool, [1, 2, 3])
    pool.evict(a, rt)
    assert a.tokens == [] and rt.dropped == [(a.seq, 0)] and pool.evictions == 1


def test_two_sessions_stay_warm_and_a_third_evicts_the_oldest():
    engine = load_default_engine(n_seq_max=2, n_ctx=4096)
    try:
        stats = engine.stats()
        # the default layout: each conversation its own 4096 cells
        assert stats["slots"] == 2 and stats["n_ctx"] == 4096 and stats["kv_layout"] == "per-conversation"
        assert stats["kv_cells"] == 2 * 4096 and stats["kv_bytes"] > 0

        def turn(topic: str, history: list[dict]) -> tuple[list[dict], object]:
            messages = history + [{"role": "user", "content": f"In one short sentence, what is {topic}?"}]
            text, fin = run(engine, GenerationRequest(messages=messages, max_output_tokens=12))
            return messages + [{"role": "assistant", "content": text}], fin

        a, _ = turn("a Python list", [{"role": "system", "content": "You answer briefly. " + "Be precise. " * 30}])
        b, _ = turn("a Rust trait", [{"role": "system", "content": "Answer like a textbook. " + "Stay concrete. " * 30}])
        # interleaved follow-ups: each finds its own context warm
        a, fa = turn("a tuple", a)
        b, fb = turn("a struct", b)
        assert fa.usage.cached_tokens > 0.8 * fa.usage.input_tokens
        assert fb.usage.cached_tokens > 0.8 * fb.usage.input_tokens
        # a third conversation: only two fit, the least recently used (a) goes; b stays warm
        c, _ = turn("a Go channel", [{"role": "system", "content": "Completely different instructions."}])
        b, fb2 = turn("an enum", b)
        assert fb2.usage.cached_tokens > 0.8 * fb2.usage.input_tokens
        a, fa2 = turn("a set", a)
        assert fa2.usage.cached_tokens < 0.5 * fa2.usage.input_tokens
        assert engine.stats()["evictions"] >= 1
    finally:
        engine.close()


@pytest.mark.parametrize("per_conversation", [True, False], ids=["per-conversation", "shared"])
def test_copied_prefix_holds_the_same_kv_as_its_source(per_conversation):
    """A conversation that starts from another's prefix must compute exactly what the source would.

    Across per-conversation streams the copy moves data (whole stream, then trimmed); in a shared pool it only
    tags cells. Either way, the next token evaluated on the copy gives bit-identical logits to the same token
    evaluated on the source cut back to the same length, and the source keeps its whole history.
    """
    from codespark.models import DEFAULT_MODEL_ID, resolve_model

    rt = LlamaRuntime(resolve_model(DEFAULT_MODEL_ID).path,
                      RuntimeConfig(n_ctx=1024, n_seq_max=3, kv_per_conversation=per_conversation))
    try:
        assert rt.kv_shared is not per_conversation and rt.n_ctx == 1024
        assert rt.kv_cells == (3 * 1024 if per_conversation else 1024)
        # a copy between streams moves memory: not worth it for a couple of shared template tokens
        assert rt.copy_pays(2) is not per_conversation and rt.copy_pays(40)
        history = rt.tokenize("def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n" * 4)
        upto, probe = 40, rt.tokenize(" while")[0]
        # (CPU kernels are not batch-invariant: compare one-row passes with one-row passes only)
        rt.decode(0, history[:-1], 0)
        rt.decode(0, history[-1:], len(history) - 1)
        source_end = rt.logits(-1).copy()
        rt.decode(2, history[:10], 0)  # an unrelated conversation in the third slot
        rt.copy_sequence(0, 1, upto)

        rt.decode(1, [probe], upto)  # performs a stream copy first, where one is pending
        on_copy = rt.logits(-1).copy()
        # the source is whole: evaluating its last token again gives what it gave before the copy
        rt.drop(0, len(history) - 1)
        rt.decode(0, history[-1:], len(history) - 1)
        assert np.array_equal(rt.logits(-1), source_end)
        rt.drop(0, upto)
        rt.decode(0, [probe], upto)
        assert np.array_equal(rt.logits(-1), on_copy)
        # and the copy did not take the source's tail with it
        rt.decode(1, history[upto + 1 : upto + 2], upto + 1)
    finally:
        rt.close()
