"""Token selection from logits, and verification of drafted tokens against them."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Sampler:
    def __init__(self, temperature: float, top_p: float, seed: int | None):
        self.greedy = temperature <= 0.0
        self.temperature = temperature
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)

    def __call__(self, logits: np.ndarray) -> int:
        if self.greedy:
            return int(np.argmax(logits))
        return self._draw(self.probabilities(logits))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The distribution tokens are drawn from: softmax at the temperature, cut to the top_p nucleus."""
        x = logits.astype(np.float64) / self.temperature
        x -= x.max()
        p = np.exp(x)
        p /= p.sum()
        if self.top_p < 1.0:
            order = np.argsort(-p)
            cum = np.cumsum(p[order])
            cut = np.zeros_like(p)
            keep = order[: int(np.searchsorted(cum, self.top_p)) + 1]
            cut[keep] = p[keep]
            p = cut / cut.sum()
        return p

    def _draw(self, p: np.ndarray) -> int:
        return int(self.rng.choice(len(p), p=p))

    def verify(self, rows: np.ndarray, draft: Sequence[int]) -> tuple[int, int]:
        """rows[i]: logits after the first i drafted tokens (len(draft) + 1 rows).

        Returns (how many drafted tokens are accepted, the token that follows them). Greedy: the longest
        prefix of the draft equal to the rows' argmaxes, then the argmax after it -- exactly what plain
        decoding would produce. Sampling: each drafted token is kept with its probability under the model,
        and the first rejected one is replaced by a draw from the model's distribution without it, which
        leaves the distribution of the output unchanged (speculative sampling with a deterministic draft).
        """
        n = len(draft)
        if self.greedy:  # row by row: a 64-token draft rejected early needs one argmax, not 65
            for i, token in enumerate(draft):
                best = int(np.argmax(rows[i]))
                if best != token:
                    return i, best
            return n, int(np.argmax(rows[n]))
        for i, token in enumerate(draft):
            p = self.probabilities(rows[i])
            if self.rng.random() < p[token]:
                continue
            p[token] = 0.0
            total = p.sum()
            if total <= 0.0:  # the draft was the only possible token after all
                return i + 1, self(rows[i + 1])
            return i, self._draw(p / total)
        return n, self(rows[n])
