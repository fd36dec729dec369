"""Speculative decoding is lossless: greedy output with drafting is token for token the plain output.

Both runs of a comparison start from an empty KV cache. llama.cpp's CPU kernels are not batch-invariant (a
token's logits move by up to ~0.6 with the width of the pass and the chunking of its history), so the only
place two greedy runs may fork is a near-tie of the model's top two tokens; `assert_same_greedy_output`
checks exactly that at the fork, against the model's own logits. Anywhere else a fork is a bug.
"""

from __future__ import annotations

import pytest

from codespark.engine import GenerationRequest
from codespark.engine.speculative import SpeculationConfig
from enginekit import DATA, GreedyRun, assert_same_greedy_output, load_default_engine, rewrite_messages, run_cold, run_cold_tokens

SYSTEM = {"role": "system", "content": "You are a helpful coding assistant."}

PROMPTS = {
    # a whole-file rewrite with a small change: drafts follow the file in the prompt
    "whole_file_rename": (rewrite_messages("Rename the method `cheapest` to `lowest_price`."), None),
    "whole_file_docstring": (rewrite_messages("Add a one-line docstring to `Item.total`."), 200),
}
# Free-form code and repetitive output: drafts come from n-gram lookup. On a 2-core CPU short drafts rarely
# pay (a two-row pass costs ~1.8 one-row passes), so the engine would mostly not draft at all; these runs
# force a draft at every step (min_draft) to put verification, with its many rejections, to the test.
FORCED = {
    "new_function": ([SYSTEM, {"role": "user", "content": "Write a Python function that parses an ISO 8601 date string without using datetime."}], 120),
    "repetition": ([SYSTEM, {"role": "user", "content": "Write a Python dict literal mapping the numbers 1 to 25 to their English names, one entry per line."}], 160),
}


@pytest.fixture(scope="module")
def forced_engine():
    eng = load_default_engine(n_seq_max=2, n_ctx=4096, speculation=SpeculationConfig(drafters=("ngram",), min_draft=3))
    yield eng
    eng.close()


def compare(engine, messages, limit, **spec_options):
    """Plain and drafted greedy runs of one request, both cold; returns their Finished events."""
    plain_request = GenerationRequest(messages=messages, max_output_tokens=limit, speculative=False)
    plain = run_cold_tokens(engine, plain_request)
    spec = run_cold_tokens(engine, GenerationRequest(messages=messages, max_output_tokens=limit, **spec_options))
    assert_same_greedy_output(engine, plain_request, plain, spec)
    assert plain.finished.usage.accepted_prediction_tokens == plain.finished.usage.rejected_prediction_tokens == 0
    return plain.finished, spec.finished


@pytest.mark.parametrize("name", list(PROMPTS))
def test_greedy_output_is_identical_with_and_without_drafting(engine, name):
    plain, spec = compare(engine, *PROMPTS[name])
    # the rewrite copies the file: most tokens come from verified drafts, in far fewer forward passes
    assert spec.usage.accepted_prediction_tokens > 0.6 * spec.usage.output_tokens
    assert spec.timings.decode_steps < 0.4 * plain.timings.decode_steps
    assert spec.timings.draft_sources["source"]["accepted"] > 0


def test_the_check_rejects_a_fork_away_from_a_near_tie(engine):
    """The tolerance above is only for near-ties: an output that differs where the model is confident fails."""
    messages, _ = PROMPTS["whole_file_docstring"]
    request = GenerationRequest(messages=messages, max_output_tokens=40, speculative=False)
    plain = run_cold_tokens(engine, request)
    wrong = list(plain.tokens)
    wrong[30] = engine.runtime.tokenize("zebra", special=False)[0]
    forged = GreedyRun(plain.text + "zebra", plain.finished, wrong)
    with pytest.raises(AssertionError, match="not near a tie"):
        assert_same_greedy_output(engine, request, plain, forged)


@pytest.mark.parametrize("name", list(FORCED))
def test_forced_drafts_with_many_rejections_stay_lossless(forced_engine, name):
    plain, spec = compare(forced_engine, *FORCED[name])
    assert spec.usage.rejected_prediction_tokens > 0  # verification did reject drafts


def test_prediction_drafts_first_and_stays_lossless(engine):
    """An OpenAI-style `prediction` of the output is followed even when the prompt does not contain it."""
    source = (DATA / "inventory.py").read_text()
    messages = [SYSTEM, {"role": "user", "content": "Write a small Python module for an inventory of items with prices and quantities, in a ```python block."}]
    prediction = f"```python\n{source}```"
    plain, spec = compare(engine, messages, 150, prediction=prediction)
    assert "prediction" in spec.timings.draft_sources


def test_drafts_never_run_past_max_output_tokens(engine):
    messages = rewrite_messages("Rename the class `Item` to `Product`.")
    for limit in (1, 7, 33):
        plain, spec = compare(engine, messages, limit)
        assert (spec.reason, spec.usage.output_tokens) == (plain.reason, plain.usage.output_tokens) == ("length", limit)


def test_sampling_with_drafts_runs_and_reports_stats(engine):
    # An instruction the small model follows under sampling on every seed tried (with "Rename `load` ..." it
    # sometimes stopped after a short, wrong reply, and on another CPU's kernels seed 7 did).
    messages = rewrite_messages("Rename the method `cheapest` to `lowest_price`.")
    # cold: what is cached changes the prompt's chunking, hence its logits in the last bits, hence what is sampled
    text, fin = run_cold(engine, GenerationRequest(messages=messages, max_output_tokens=120, temperature=0.3, seed=7))
    assert fin.reason in ("stop", "length")
    assert fin.usage.output_tokens > 0 and text
    assert fin.usage.accepted_prediction_tokens > 0


def test_draft_model_drafts_losslessly():
    """A draft model with the same vocabulary (here the model itself, so it mostly agrees) proposes tokens
    for free-form text that no source or n-gram covers; the output is still exactly the plain one.

    On this CPU a draft model does not pay (a pass of w rows costs ~w**0.78 one-row passes, and each drafted
    token a decode step of the small model), so the cost model alone would never use it: min_draft forces it."""
    from codespark.models import DEFAULT_MODEL_ID, resolve_model

    engine = load_default_engine(n_ctx=2048, n_seq_max=2, draft_model_path=resolve_model(DEFAULT_MODEL_ID).path,
                                 speculation=SpeculationConfig(drafters=("model",), min_draft=3))
    try:
        messages = [SYSTEM, {"role": "user", "content": "Explain in two sentences what a Python generator is."}]
        plain, spec = compare(engine, messages, 48)
        assert spec.timings.draft_sources["model"]["accepted"] > 0
        assert engine.stats()["speculation"]["draft_model"]
    finally:
        engine.close()
