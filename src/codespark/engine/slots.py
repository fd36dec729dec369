"""KV sequences kept warm between requests.

Each slot is one llama.cpp sequence in a shared (unified) KV pool. A request takes the idle slot whose
tokens share the longest prefix with its prompt, so a follow-up turn evaluates only its new tokens; when
the pool is full the least recently used idle slot is cleared.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    # compare in blocks first: prompts share thousands of tokens and this runs on every request
    step = 256
    while i + step <= n and a[i : i + step] == b[i : i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence
    busy: bool = False
    last_used: float = 0.0


class SlotPool:
    def __init__(self, n_slots: int):
        self.slots = [Slot(seq=i) for i in range(n_slots)]

    def acquire(self, prompt: list[int]) -> tuple[Slot, int]:
        """Pick a slot for the prompt; returns it and how many leading prompt tokens it already holds."""
        idle = [s for s in self.slots if not s.busy]
        if not idle:
            raise RuntimeError("no idle KV slot")  # the scheduler runs at most n_slots jobs at once
        best = max(idle, key=lambda s: (common_prefix(s.tokens, prompt), -s.last_used if not s.tokens else 0))
        reuse = common_prefix(best.tokens, prompt)
        if reuse == 0:
            empty = [s for s in idle if not s.tokens]
            best = empty[0] if empty else min(idle, key=lambda s: s.last_used)
        best.busy = True
        best.last_used = time.monotonic()
        return best, reuse

    def release(self, slot: Slot) -> None:
        slot.busy = False
        slot.last_used = time.monotonic()

    def evictable(self) -> list[Slot]:
        """Idle slots holding tokens, least recently used first."""
        return sorted((s for s in self.slots if not s.busy and s.tokens), key=lambda s: s.last_used)

    def cached_tokens(self) -> int:
        return sum(len(s.tokens) for s in self.slots)
