"""Scheduling: real-time work preempts background work, which resumes without redoing its prefill; cancel
stops a generation mid-pass, even inside a long prefill chunk, and leaves the KV cache consistent."""

from __future__ import annotations

import threading
import time

import llama_cpp

from codespark.engine import Finished, GenerationRequest, Priority, TextDelta
from enginekit import collect, load_default_engine, rewrite_messages, run, submit

SYSTEM = {"role": "system", "content": "You are a helpful coding assistant."}


def kv_positions(engine, seq: int) -> int:
    """How many positions the KV cache really holds for a sequence (max position + 1)."""
    return llama_cpp.llama_memory_seq_pos_max(engine.runtime.memory, seq) + 1


def test_realtime_preempts_background_which_resumes_without_prefill(engine):
    background_req = GenerationRequest(messages=rewrite_messages("Rename `value` to `worth`."), max_output_tokens=160,
                                       priority=Priority.BACKGROUND)
    solo_text, solo = run(engine, background_req)
    for slot in engine.pool.slots:  # start cold, so the background run has a real prefill to not repeat
        if not slot.busy:
            engine.pool.evict(slot, engine.runtime)

    order: list[str] = []
    bg_events_seen = threading.Event()

    def bg_sink(ev):
        if isinstance(ev, TextDelta):
            bg_events_seen.set()
        if isinstance(ev, Finished):
            order.append("background")
        bg_queue.append(ev)

    bg_queue: list = []
    gen = engine.submit(engine.prepare(background_req), bg_sink)
    assert bg_events_seen.wait(600)  # the background generation is decoding
    rt_text, rt = run(engine, GenerationRequest(messages=[SYSTEM, {"role": "user", "content": "Say hi."}], max_output_tokens=8))
    order.append("realtime")
    while not gen.done.is_set():
        time.sleep(0.05)
    fin = bg_queue[-1]
    bg_text = "".join(ev.text for ev in bg_queue if isinstance(ev, TextDelta))
    assert order == ["realtime", "background"]
    assert rt.reason in ("stop", "length") and rt_text
    # resumed where it stopped: same output as alone, prompt evaluated once
    assert bg_text == solo_text
    assert fin.timings.prefill_tokens == fin.usage.input_tokens - fin.usage.cached_tokens
    assert fin.usage.cached_tokens == 0


def test_realtime_arriving_during_a_background_prefill_preempts_it():
    engine = load_default_engine(prefill_chunk=512)
    try:
        long_prompt = rewrite_messages("Add type hints everywhere.")
        long_prompt[1]["content"] = long_prompt[1]["content"] * 3  # ~2,000 tokens
        bg, bg_events = submit(engine, GenerationRequest(messages=long_prompt, max_output_tokens=4, priority=Priority.BACKGROUND))
        while not bg.started:
            time.sleep(0.01)
        time.sleep(0.3)  # inside the first 512-token chunk
        rt_text, rt = run(engine, GenerationRequest(messages=[SYSTEM, {"role": "user", "content": "Say hi."}], max_output_tokens=4))
        assert rt.reason in ("stop", "length")
        text, fin = collect(bg_events)
        assert fin.reason == "length"
        assert bg.preempted >= 1
        # the aborted chunk left no trace: the prompt was evaluated exactly once, the cache matches the slot
        assert fin.timings.prefill_tokens == fin.usage.input_tokens
        assert kv_positions(engine, bg.slot.seq) == len(bg.slot.tokens)
    finally:
        engine.close()


def test_cancel_inside_a_prefill_chunk_stops_it_and_keeps_the_cache_consistent():
    engine = load_default_engine(prefill_chunk=512)
    try:
        messages = rewrite_messages("Add type hints everywhere.")
        messages[1]["content"] = messages[1]["content"] * 3
        gen, events = submit(engine, GenerationRequest(messages=messages, max_output_tokens=16))
        while not gen.started:
            time.sleep(0.01)
        time.sleep(0.3)
        engine.cancel(gen)
        text, fin = collect(events)
        assert fin.reason == "cancelled"
        assert fin.usage.output_tokens == 0
        assert fin.timings.prefill_tokens < fin.usage.input_tokens  # stopped inside the prompt
        held = len(gen.slot.tokens)
        assert kv_positions(engine, gen.slot.seq) == held == fin.timings.prefill_tokens
        # the engine goes on normally, and reuses what was evaluated before the cancel
        again_text, again = run(engine, GenerationRequest(messages=messages, max_output_tokens=4))
        assert again.reason == "length"
        assert again.usage.cached_tokens == held
    finally:
        engine.close()


def test_cancel_while_decoding_with_drafts(engine):
    gen, events = submit(engine, GenerationRequest(messages=rewrite_messages("Rename `add` to `put`."), max_output_tokens=400))
    first = events.get(timeout=600)
    while not isinstance(first, TextDelta):
        first = events.get(timeout=600)
    engine.cancel(gen)
    text, fin = collect(events)
    assert fin.reason == "cancelled"
    assert fin.usage.output_tokens < 400
    assert kv_positions(engine, gen.slot.seq) == len(gen.slot.tokens)
    again_text, again = run(engine, GenerationRequest(messages=[SYSTEM, {"role": "user", "content": "Say hi."}], max_output_tokens=4))
    assert again.reason in ("stop", "length")
