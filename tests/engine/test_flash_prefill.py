"""Prefill in a second, flash-attention context, then a move of its KV into the decoding context: the output
matches a prefill done in place, the moved cache serves follow-up turns, and a cancel or a real-time request
that takes the context over loses nothing. Forced on here, so that it is tested on every CPU (by default it is
on only where it pays)."""

from __future__ import annotations

import struct
import time

import llama_cpp
import numpy as np
import pytest

from codespark.engine import GenerationRequest, Priority
from codespark.engine.runtime import DecodeError, transpose_state_v
from enginekit import (
    GreedyRun,
    assert_same_greedy_output,
    collect,
    forget,
    last_run_tokens,
    load_default_engine,
    rewrite_messages,
    run,
    run_cold_tokens,
    submit,
)

SYSTEM = {"role": "system", "content": "You are a helpful coding assistant."}


@pytest.fixture(scope="module")
def engines():
    flash = load_default_engine(n_seq_max=2, prefill_flash_attn=True)
    plain = load_default_engine(n_seq_max=2, prefill_flash_attn=False)
    yield flash, plain
    flash.close()
    plain.close()


def kv_positions(engine, seq: int) -> int:
    return llama_cpp.llama_memory_seq_pos_max(engine.runtime.memory, seq) + 1


def long_request(instruction: str, **kw) -> GenerationRequest:
    messages = rewrite_messages(instruction)
    content = messages[1]["content"]
    messages[1]["content"] = f"Some context first:\n{content}\n\nThe task:\n{content}"  # ~960 tokens in all
    return GenerationRequest(messages=messages, temperature=0, **kw)


def test_flash_prefill_gives_the_output_of_an_in_place_prefill(engines):
    flash, plain = engines
    req = long_request("Rename `value` to `worth`.", max_output_tokens=64)
    assert len(flash.prepare(req).tokens) >= 512  # long enough to take the flash path
    before = flash.stats()["flash_prefills"]
    moved = run_cold_tokens(flash, req)
    in_place = run_cold_tokens(plain, req)
    assert moved.finished.timings.flash_prefill and not in_place.finished.timings.flash_prefill
    assert flash.stats()["flash_prefills"] == before + 1 and plain.stats()["flash_prefills"] == 0
    assert flash.stats()["prefill_reencoded"]  # the default model has Q5_0 tensors: prefilled on its Q8_0 copy
    assert moved.finished.usage.output_tokens == 64 and moved.finished.usage.cached_tokens == 0
    # Flash and plain attention round differently, so greedy output may fork, but only at a near-tie.
    assert_same_greedy_output(plain, req, in_place, moved)


def test_the_moved_cache_serves_the_next_turn(engines):
    flash, _ = engines
    forget(flash)
    req = long_request("Add a docstring to every method.", max_output_tokens=24)
    first_text, first = run(flash, req)
    assert first.timings.flash_prefill
    slot = max(flash.pool.slots, key=lambda s: s.last_used)
    assert kv_positions(flash, slot.seq) == len(slot.tokens)  # cells and bookkeeping agree after the move
    follow = GenerationRequest(messages=[*req.messages, {"role": "assistant", "content": first_text},
                                         {"role": "user", "content": "Now say which method you changed first."}],
                               max_output_tokens=16, temperature=0)
    text, fin = run(flash, follow)
    assert fin.usage.cached_tokens >= first.usage.input_tokens  # nothing re-evaluated but the new turn
    assert not fin.timings.flash_prefill and fin.timings.prefill_tokens < 40
    # same answer as from a cold cache, where the whole conversation is prefilled (near-ties aside)
    warm = GreedyRun(text, fin, last_run_tokens(flash, follow))
    assert_same_greedy_output(flash, follow, run_cold_tokens(flash, follow), warm)


def test_a_cancelled_flash_prefill_keeps_what_it_evaluated(engines):
    flash, _ = engines
    forget(flash)
    messages = rewrite_messages("Add type hints everywhere.")
    messages[1]["content"] *= 3  # ~2,000 tokens: several chunks
    gen, events = submit(flash, GenerationRequest(messages=messages, max_output_tokens=8))
    while gen.timings.prefill_tokens < 512:  # past the first chunk
        time.sleep(0.01)
    flash.cancel(gen)
    _, fin = collect(events)
    assert fin.reason == "cancelled" and fin.usage.output_tokens == 0
    assert 0 < fin.timings.prefill_tokens < fin.usage.input_tokens
    held = len(gen.slot.tokens)
    assert held == fin.timings.prefill_tokens == kv_positions(flash, gen.slot.seq)
    assert flash.runtime.prefill_owner is None  # the prefill context is free again
    _, again = run(flash, GenerationRequest(messages=messages, max_output_tokens=2))
    assert again.reason == "length" and again.usage.cached_tokens == held


def test_realtime_work_takes_the_prefill_context_over_from_background_work(engines):
    flash, plain = engines
    forget(flash)
    messages = rewrite_messages("Add type hints everywhere.")
    messages[1]["content"] *= 3
    bg_req = GenerationRequest(messages=messages, max_output_tokens=8, priority=Priority.BACKGROUND, temperature=0)
    bg, bg_events = submit(flash, bg_req)
    while bg.timings.prefill_tokens < 512:  # a chunk evaluated in the prefill context, the next one running
        time.sleep(0.01)
    rt_text, rt = run(flash, long_request("Rename `value` to `worth`.", max_output_tokens=4))
    assert rt.reason == "length" and rt_text
    assert rt.timings.flash_prefill  # handed over by the background generation...
    bg_text, fin = collect(bg_events)
    assert fin.reason == "length" and bg.preempted >= 1
    assert not fin.timings.flash_prefill  # ...which moved what it had evaluated and went on in place
    assert fin.timings.prefill_tokens == fin.usage.input_tokens  # every prompt token evaluated exactly once
    assert kv_positions(flash, bg.slot.seq) == len(bg.slot.tokens)
    # the half-moved cache is sound: the output is that of a prompt prefilled in place (near-ties aside)
    moved = GreedyRun(bg_text, fin, list(bg.slot.tokens[fin.usage.input_tokens :]))
    assert_same_greedy_output(plain, bg_req, run_cold_tokens(plain, bg_req), moved)


def state(cells: list[tuple[int, list[int]]], k_rows: list[bytes], v_rows: np.ndarray, v_type: int = 1,
          v_trans: int = 0, magic: int = 0xAF143CD8) -> bytes:
    """A llama.cpp sequence state of one layer and one stream."""
    out = struct.pack("<IiII", magic, 0, 1, len(cells))
    for pos, seqs in cells:
        out += struct.pack("<iI", pos, len(seqs)) + b"".join(struct.pack("<i", s) for s in seqs)
    out += struct.pack("<II", v_trans, 1)
    out += struct.pack("<iQ", 1, len(k_rows[0])) + b"".join(k_rows)
    out += struct.pack("<iQ", v_type, v_rows.shape[1] * v_rows.itemsize) + v_rows.tobytes()
    return out


def test_state_rewrite_transposes_v_and_adds_empty_streams():
    v = np.arange(6, dtype=np.uint16).reshape(2, 3)  # 2 cells, 3 values each
    raw = state([(0, [0]), (1, [0])], [b"KKKK", b"kkkk"], v)
    buf = np.zeros(len(raw) + 8, dtype=np.uint8)
    buf[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    size = transpose_state_v(buf, len(raw), 3)
    assert size == len(raw) + 8
    out = buf.tobytes()
    # the layout: header 0-16, cells 16-40, V's layout flag and layer count 40-48, K 48-68, V 68-92
    assert struct.unpack_from("<IiII", out) == (0xAF143CD8, 0, 3, 2)  # now 3 streams
    assert out[16:40] == raw[16:40] and out[48:68] == raw[48:68]  # cells and K untouched
    assert struct.unpack_from("<II", out, 40) == (1, 1)  # V transposed; one layer
    assert struct.unpack_from("<iII", out, 68) == (1, 2, 3)  # f16, 2 bytes an element, 3 values a cell
    assert np.frombuffer(out, dtype=np.uint16, count=6, offset=80).tolist() == [0, 3, 1, 4, 2, 5]
    assert out[-8:] == bytes(8)  # two empty streams


@pytest.mark.parametrize("change", ["magic", "v_trans", "v_type", "truncated", "cut in the cells"])
def test_state_rewrite_refuses_layouts_it_does_not_know(change):
    v = np.arange(6, dtype=np.uint16).reshape(2, 3)
    raw = state([(0, [0]), (1, [0])], [b"KKKK", b"kkkk"], v, magic=0xDEAD if change == "magic" else 0xAF143CD8,
                v_trans=1 if change == "v_trans" else 0, v_type=8 if change == "v_type" else 1)
    if change == "truncated":
        raw = raw[:-2]
    if change == "cut in the cells":
        raw = raw[:30]
    buf = np.frombuffer(raw, dtype=np.uint8).copy()
    with pytest.raises(DecodeError):
        transpose_state_v(buf, len(raw), 1)


def test_a_damaged_weight_copy_is_set_aside_and_made_again(tmp_path, monkeypatch):
    from codespark.engine.runtime import LlamaRuntime, RuntimeConfig
    from codespark.models import DEFAULT_MODEL_ID, resolve_model
    from codespark.models.cache import default_cache_dir
    from codespark.models.reencode import derived_path

    model = resolve_model(DEFAULT_MODEL_ID).path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a fresh cache for the copy only
    copy = derived_path(model, default_cache_dir())
    copy.parent.mkdir(parents=True)
    with open(model, "rb") as f:
        copy.write_bytes(f.read(8 << 20))  # a cut-short file: its header reads, its tensors are not all there
    config = RuntimeConfig(n_ctx=1024, n_seq_max=1, prefill_flash_attn=True)
    runtime = LlamaRuntime(model, config)
    try:  # prefills on the model's own weights instead, and drops the damaged file
        assert runtime.flash_prefill and not runtime.prefill_reencoded and not copy.exists()
    finally:
        runtime.close()
    runtime = LlamaRuntime(model, config)
    try:
        assert runtime.prefill_reencoded and copy.exists()  # made again, now whole
    finally:
        runtime.close()
