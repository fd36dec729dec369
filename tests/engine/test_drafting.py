"""Draft sources, draft-length policy and draft verification, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from codespark.engine.sampling import Sampler
from codespark.engine.speculative import (
    CostModel,
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
    assert f.draft(prompt + [5, 6, 7], 4) == [8, 9, 10, 11][: 2 + 3]
    assert f.draft(prompt + [5, 6, 7, 8, 9], 3) == [10, 11, 12]


def test_ngram_drafter_uses_the_latest_occurrence():
    d = NGramDrafter(2)
    ctx = [1, 2, 3, 4, 1, 2, 5, 6, 1, 2]
    assert d.draft(ctx, 3) == [5, 6, 1]
    assert d.draft(ctx + [7], 3) == []


def test_draft_length_grows_with_acceptance_and_is_zero_when_drafting_does_not_pay():
    assert best_draft_length(0.05, 0.15, 48) == 0
    short = best_draft_length(0.6, 0.15, 48)
    long = best_draft_length(0.97, 0.15, 48)
    assert 0 < short < long
    assert best_draft_length(1.0, 0.0, 16) == 16
    assert expected_accepted(0.5, 2) == pytest.approx(0.5 + 0.25)


def test_speculator_backs_off_after_rejections_and_recovers():
    class Fixed:
        name = "fixed"
        cost_per_token = 0.0

        def draft(self, context, k):
            return [0] * k

    spec = Speculator([Fixed()], SpeculationConfig(prior_acceptance=0.6, max_draft=48, min_rows=1), CostModel(0.15))
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


def test_every_pass_carries_at_least_a_guess():
    class Nothing:
        name = "nothing"
        cost_per_token = 0.0

        def draft(self, context, k):
            return []

    spec = Speculator([Nothing()], SpeculationConfig(), CostModel(0.15))
    assert spec.propose([5, 6, 7, 5], 10) == [6]  # what followed 5 last time
    assert spec.last is spec.fallback
    spec.record(1, 1)
    assert spec.stats.by_source["guess"] == {"drafted": 1, "accepted": 1, "passes": 1}
    assert len(spec.propose([9], 10)) == 1  # never seen: still one (arbitrary) padding token
    assert spec.propose([9], 0) == []  # no budget left


def test_cost_model_learns_the_cost_of_a_row():
    cost = CostModel(0.5)
    for _ in range(50):
        cost.observe(1, 0.030)
        cost.observe(17, 0.030 * (1 + 16 * 0.1))
    assert cost.row_cost == pytest.approx(0.1, rel=0.05)


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
