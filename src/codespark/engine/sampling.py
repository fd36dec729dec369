"""Token selection from one row of logits."""

from __future__ import annotations

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
        x = logits.astype(np.float64) / self.temperature
        x -= x.max()
        p = np.exp(x)
        p /= p.sum()
        if self.top_p < 1.0:
            order = np.argsort(-p)
            cum = np.cumsum(p[order])
            keep = order[: int(np.searchsorted(cum, self.top_p)) + 1]
            q = p[keep] / p[keep].sum()
            return int(keep[self.rng.choice(len(keep), p=q)])
        return int(self.rng.choice(len(p), p=p))
