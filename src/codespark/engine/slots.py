"""KV sequences kept warm between requests.

Each slot is one llama.cpp sequence, with its own KV stream of n_ctx cells (or, with a shared pool, n_ctx cells
for all of them together). A request takes the idle slot whose
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
        self.evictions = 0  # warm sequences dropped to make room (LRU)

    def acquire(self, prompt: list[int]) -> tuple[Slot, int, Slot | None]:
        """Pick a slot for the prompt.

        Returns (slot, reuse, source): the first `reuse` prompt tokens are already cached, in the slot itself
        when source is None, else in `source`, whose first `reuse` positions the caller copies into the slot
        (a memory copy between streams, far cheaper than evaluating them again; in a shared pool, metadata
        only). So a new
        conversation that shares a system prompt or a file with a warm one starts from it without evicting
        it; only when no slot is free is the least recently used idle one overwritten.
        """
        idle = [s for s in self.slots if not s.busy]
        if not idle:
            raise RuntimeError("no idle KV slot")  # the scheduler runs at most n_slots jobs at once
        # the longest cached prefix anywhere (a busy slot's prefix can be shared as well)
        donor = max(self.slots, key=lambda s: common_prefix(s.tokens, prompt), default=None)
        reuse = common_prefix(donor.tokens, prompt) if donor is not None else 0
        if reuse and not donor.busy and len(donor.tokens) - reuse < max(reuse, 1):
            # the same conversation, continued (possibly re-tokenized near its end): overwrite its tail
            target, source = donor, None
        else:
            empty = [s for s in idle if not s.tokens]
            # overwrite an idle conversation only when no slot is empty: the least recently used one
            target = empty[0] if empty else min(idle, key=lambda s: s.last_used)
            if target.tokens:
                self.evictions += 1
            # (when the target is the donor itself, it keeps the shared prefix in place)
            source = donor if reuse and target is not donor else None
        target.busy = True
        target.last_used = time.monotonic()
        return target, reuse, source

    def release(self, slot: Slot) -> None:
        slot.busy = False
        slot.last_used = time.monotonic()

    def evict(self, slot: Slot, runtime) -> None:
        """Drop an idle slot's KV cache (to free cells for another sequence)."""
        runtime.drop(slot.seq)
        slot.tokens.clear()
        self.evictions += 1

    def evictable(self) -> list[Slot]:
        """Idle slots holding tokens, least recently used first."""
        return sorted((s for s in self.slots if not s.busy and s.tokens), key=lambda s: s.last_used)

    def cached_tokens(self) -> int:
        return sum(len(s.tokens) for s in self.slots)
