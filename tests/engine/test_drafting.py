"""Draft sources, draft-length policy and draft verification, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from codespark.engine.sampling import Sampler
from codespark.engine.speculative import (
    CostModel,
    Indentation,
    NGramDrafter,
    SourceFollower,
    SpeculationConfig,
    Speculator,
    TokenIndex,
    best_draft_length,
    expected_accepted,
)


def test_token_index_grows_incrementally():
    idx = TokenIndex(2)
    idx.extend([1, 2, 3])
    idx.extend([1, 2])
    assert idx.positions([9, 1, 2]) == [2, 5]
    assert idx.positions([2, 3]) == [3]
    assert idx.positions([3, 3]) == []


def test_source_follower_follows_prediction_from_the_start():
    source = list(range(100, 140))
    f = SourceFollower(3, source, output_start=5)
    prompt = [1, 2, 3, 4, 5]
    assert f.draft(prompt + [100], 4) == [101, 102, 103, 104]
    # all accepted, plus the model's own next token (also from the source): stays aligned
    assert f.draft(prompt + source[:7], 3) == [107, 108, 109]


def test_source_follower_realigns_after_an_edit_nearest_to_the_divergence():
    # a "file" where the line [7, 8, 9] occurs twice; the edit replaces token 50 with 51, 52
    source = [1, 2, 3, 7, 8, 9, 10, 11, 50, 12, 7, 8, 9, 13, 14, 15, 16]
    f = SourceFollower(3, source, output_start=0)
    out = source[:8]
    assert f.draft(out, 2) == [50, 12]
    out = out + [51, 52, 12]  # the model rewrote 50 as "51 52"; then 12 -> no 3-gram match yet
    assert f.draft(out, 4) == []
    out = out + [7, 8, 9]  # [7, 8, 9] occurs before and after the edit: follow the one after it
    assert f.draft(out, 4) == [13, 14, 15, 16]


def test_source_follower_over_the_context_itself():
    prompt = [5, 6, 7, 8, 9, 10, 11, 12, 99]  # the file is in the prompt
    f = SourceFollower(3)
    assert f.draft(prompt + [5], 4) == []  # not enough output to align yet
    assert f.draft(prompt + [5, 6, 7], 4) == [8, 9, 10, 11]
    assert f.run_length == 3
    assert f.draft(prompt + [5, 6, 7, 8, 9], 3) == [10, 11, 12]


def test_ngram_drafter_uses_the_latest_occurrence():
    d = NGramDrafter(2)
    ctx = [1, 2, 3, 4, 1, 2, 5, 6, 1, 2]
    assert d.draft(ctx, 3) == [5, 6, 1]
    assert d.draft(ctx + [7], 3) == []


def test_draft_length_grows_with_acceptance_and_is_zero_when_drafting_does_not_pay():
    assert best_draft_length(0.5, 0.78, 64) == 0  # a coin flip never pays for a wider pass
    short = best_draft_length(0.9, 0.78, 64)
    long = best_draft_length(0.99, 0.78, 64)
    assert 0 < short < long
    assert best_draft_length(1.0, 0.78, 64) == 64  # a perfect source: as long as allowed
    assert best_draft_length(1.0, 1.0, 64) == 0  # a pass that costs as much per row as one-row passes
    # a draft model's own cost per token shortens its drafts
    assert best_draft_length(0.9, 0.78, 64, draft_cost=0.3) < short
    assert expected_accepted(0.5, 2) == pytest.approx(0.5 + 0.25)


def test_speculator_backs_off_after_rejections_and_recovers():
    class Fixed:
        name = "fixed"
        cost_per_token = 0.0

        def draft(self, context, k):
            return [0] * k

    spec = Speculator([Fixed()], SpeculationConfig(prior_acceptance=0.9, max_draft=48), CostModel(0.78))
    first = spec.propose([1], 48)
    assert len(first) > 1
    drafted = []
    for _ in range(200):  # every draft is rejected
        draft = spec.propose([1], 48)
        drafted.append(len(draft))
        spec.record(len(draft), 0)
    recent = drafted[-100:]
    assert recent.count(0) > 60  # mostly plain decoding...
    assert 0 < sum(recent) < 60  # ...with an occasional short probe, so a drafter that starts paying is noticed
    assert spec.stats.rejected == sum(drafted)


def test_no_draft_means_a_one_row_pass():
    class Nothing:
        name = "nothing"
        cost_per_token = 0.0

        def draft(self, context, k):
            return []

    spec = Speculator([Nothing()], SpeculationConfig(), CostModel(0.78))
    assert spec.propose([5, 6, 7, 5], 10) == []
    assert spec.last is None
    spec.record(0, 0)
    assert spec.stats.passes == 0 and spec.stats.by_source == {}


def test_cost_model_learns_the_cost_of_a_wider_pass():
    cost = CostModel(0.5)
    assert cost.pass_seconds(8) is None  # nothing measured yet
    for _ in range(50):
        for rows in (1, 5, 17, 65):
            cost.observe(rows, 0.030 * rows**0.7)
    assert cost.exponent == pytest.approx(0.7, abs=0.01)
    assert cost.single_step == pytest.approx(0.030, rel=0.02)
    assert cost.pass_seconds(33) == pytest.approx(0.030 * 33**0.7, rel=0.03)


def test_cost_model_keeps_its_prior_until_widths_differ():
    cost = CostModel(0.78)
    for _ in range(20):
        cost.observe(1, 0.04)
    assert cost.exponent == 0.78 and cost.single_step == pytest.approx(0.04)


def test_greedy_verification_keeps_the_agreeing_prefix():
    rows = np.zeros((4, 10), dtype=np.float32)
    for i, best in enumerate([3, 4, 9, 7]):
        rows[i, best] = 1.0
    s = Sampler(0.0, 1.0, None)
    assert s.verify(rows, [3, 4, 5]) == (2, 9)
    assert s.verify(rows, [3, 4, 9]) == (3, 7)
    assert s.verify(rows, [0, 4, 9]) == (0, 3)
    assert s.verify(rows[:1], []) == (0, 3)


def test_speculative_sampling_preserves_the_distribution():
    # one position, vocabulary of 3: the output token's frequencies must match softmax(logits)
    logits = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=np.float32))
    s = Sampler(1.0, 1.0, seed=1234)
    n = 20000
    counts = np.zeros(3)
    for _ in range(n):
        accepted, nxt = s.verify(logits, [2])  # always draft token 2
        counts[2 if accepted else nxt] += 1
    assert counts / n == pytest.approx([0.5, 0.3, 0.2], abs=0.015)


def test_source_follower_repeats_an_edit_it_has_seen():
    # a rename: every [20, 21] (after token 5) becomes [30, 31, 32]; the rest of the file is copied
    source = [1, 2, 3, 4, 5, 20, 21, 6, 7, 8, 9, 10, 11, 5, 20, 21, 12, 13, 14, 15, 16, 5, 20, 21, 17]
    f = SourceFollower(3, source, output_start=0)
    out = [1, 2, 3, 4, 5]
    assert f.draft(out, 3) == [20, 21, 6]
    out += [30, 31, 32, 6, 7, 8]  # the model renamed; re-aligned on [6, 7, 8]
    assert f.draft(out, 5) == [9, 10, 11, 5, 30]  # already renamed
    assert f.run_length == 3  # re-aligned on three tokens
    out += [9, 10, 11, 5, 30]
    assert f.draft(out, 8) == [31, 32, 12, 13, 14, 15, 16, 5]
    out += [31, 32, 12, 13, 14, 15, 16, 5]
    assert f.draft(out, 3) == [30, 31, 32]


def test_source_follower_forgets_an_edit_the_model_does_not_repeat():
    source = [1, 2, 3, 4, 5, 20, 21, 6, 7, 8, 9, 10, 11, 5, 20, 21, 12, 13, 14, 15]
    f = SourceFollower(3, source, output_start=0)
    out = [1, 2, 3, 4, 5, 30, 31, 6, 7, 8]
    f.draft(out, 3)
    out += [9, 10, 11, 5]
    assert f.draft(out, 3) == [30, 31, 12]
    out += [20, 21, 12]  # this occurrence is kept as it was
    f.draft(out, 3)
    assert f.edits.get(5, {}) == {}


def test_a_follower_drafts_long_once_aligned_and_waits_longer_after_failures():
    source = list(range(1000, 1400))
    spec = Speculator([SourceFollower(3, source, output_start=0)], SpeculationConfig(min_run=8, max_draft=64, max_gate=32),
                      CostModel(0.78))
    out, lengths = [], []
    while len(out) < 150:
        draft = spec.propose(out + [source[len(out)]], 64)
        lengths.append(len(draft))
        spec.record(len(draft), len(draft))
        out += source[len(out) : len(out) + 1 + len(draft)]
    # one-row passes until 8 tokens matched in a row, then the longest drafts
    assert lengths[:7] == [0] * 7 and lengths[7:9] == [64, 64]
    # drafts that fail early double the gate (up to max_gate); a good one resets it
    spec.record(64, 3)
    assert spec.gates["source"] == 16
    spec.record(64, 0)
    spec.record(64, 1)
    assert spec.gates["source"] == 32
    spec.record(64, 60)
    assert spec.gates["source"] == 8


# -- re-indented copies: the real vocabulary of the default model --------------------------------------------

BODY = "def area(w, h):\n    if w < 0:\n        raise ValueError(w)\n    total = w * h\n    return total\n"
WRAPPED = ("def area(w, h):\n    try:\n        if w < 0:\n            raise ValueError(w)\n        total = w * h\n"
           "        return total\n")


@pytest.fixture(scope="module")
def vocab(engine):
    rt = engine.runtime
    return rt, Indentation(rt.tokenize, rt.token_bytes)


def test_indentation_knows_the_tokens_that_indent_a_line(vocab):
    rt, ind = vocab
    tokens = rt.tokenize("x = 1\n        y = 2  # a  b\n")
    widths = [ind.width(tokens, i) for i in range(len(tokens))]
    # 8 columns: 7 spaces in their own token, the 8th goes with `y`; spaces inside a line are not indentation
    assert [w for w in widths if w is not None] == [7]
    assert ind.shifted(ind.token_of[7], -4) == ind.token_of[3]


@pytest.mark.parametrize("indentation", [True, False])
def test_source_follower_drafts_a_block_that_moved_a_level_in(vocab, indentation):
    rt, ind = vocab
    source = rt.tokenize(BODY)
    f = SourceFollower(3, source, output_start=0, indentation=ind if indentation else None)
    head = WRAPPED[: WRAPPED.index("            raise")]  # the block's first line is already written, re-indented
    text = b"".join(rt.token_bytes(t) for t in f.draft(rt.tokenize(head), 40)).decode()
    if indentation:
        assert text == WRAPPED[len(head):]  # every following line drafted 4 columns deeper than its source
    else:
        assert not text.startswith("            raise")  # the source's own indentation: rejected at once


def test_a_new_indentation_shift_restarts_the_run(vocab):
    rt, ind = vocab
    source = rt.tokenize(BODY)
    f = SourceFollower(3, source, output_start=0, indentation=ind)
    f.prepare(rt.tokenize("def area(w, h):\n"))
    before = f.run_length
    f.prepare(rt.tokenize("def area(w, h):\n        if"))  # the source's line, 4 columns deeper
    assert f.shift == 4 and f.run_length is not None and f.run_length < before
