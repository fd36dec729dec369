"""One request's life on the engine, as a sequence of small steps.

A step is one prefill chunk or one decode step (one forward pass: the next token plus, when speculating, a
draft to verify). The scheduler runs steps one at a time, so it can check for cancellation, and let a
real-time request overtake background work, between any two of them; a step in progress can also be stopped
mid-way (llama.cpp's abort callback), in which case it left nothing behind and simply runs again later.
"""

from __future__ import annotations

import codecs
import threading
import time
from typing import Callable

from .output_parser import OutputParser
from .tool_names import NAME_OPENING, NameConstraint
from .runtime import Aborted, KVCacheFull, LlamaRuntime
from .sampling import Sampler
from .slots import Slot, SlotPool
from .speculative import (
    CostModel,
    DraftModel,
    Indentation,
    ModelDrafter,
    NGramDrafter,
    SourceFollower,
    SpeculationConfig,
    Speculator,
)
from .types import EngineEvent, Finished, PreparedPrompt, TextDelta, Timings, ToolCall, Usage

# Shorter stretches prefill in the main context: flash attention's lead grows with the context, and moving
# the KV over costs about 20 ms at 2k tokens. Chunks must be 64 rows or more, the size from which ggml's CPU
# flash attention runs tiled rather than row by row (docs/benchmarks/profile.md §9).
FLASH_PREFILL_MIN_TOKENS = 512
FLASH_PREFILL_MIN_CHUNK = 64


class Generation:
    def __init__(self, prompt: PreparedPrompt, sink: Callable[[EngineEvent], None], prefill_chunk: int,
                 speculation: SpeculationConfig | None = None, cost: CostModel | None = None,
                 draft_model: DraftModel | None = None, indentation: Indentation | None = None):
        self.prompt = prompt
        self.request = prompt.request
        self.sink = sink
        self.prefill_chunk = prefill_chunk
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self.slot: Slot | None = None
        self.usage = Usage(input_tokens=len(prompt.tokens))
        self.timings = Timings()
        self._created = time.perf_counter()
        self._n_past = 0  # prompt tokens already in this slot's KV
        self._sampler = Sampler(self.request.temperature, self.request.top_p, self.request.seed)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        names = [t["function"]["name"] for t in self.request.tools or []]
        self._parser = OutputParser(prompt.tools_enabled, set(names) or None)
        self._names = names
        self._constraint: NameConstraint | None = None  # forced tool call: pick among the tool names only
        self._generated = 0
        self._prefix_sent = False
        self._next_token: int | None = None  # chosen by the last forward pass, not yet emitted
        self._pending: int | None = None  # emitted, not yet in the KV cache
        self._context: list[int] = []  # prompt + output so far (what drafts continue)
        config = speculation or SpeculationConfig(enabled=False)
        self._speculate = config.enabled and self.request.speculative
        self._spec_config = config
        self._cost = cost or CostModel(config.cost_exponent)
        self._speculator: Speculator | None = None
        self._draft_model = draft_model
        self._indentation = indentation
        self.preempted = 0  # steps stopped mid-way to let real-time work in
        self._flash_prefill = False  # prefilling in the runtime's flash-attention prefill context
        self._runtime: LlamaRuntime | None = None

    @property
    def started(self) -> bool:
        return self.slot is not None

    def cancel(self) -> None:
        self.cancelled.set()

    # -- driven by the scheduler --------------------------------------------------------------

    def start(self, runtime: LlamaRuntime, pool: SlotPool) -> None:
        if self._names and self.request.assistant_prefix.endswith(NAME_OPENING):
            self._constraint = NameConstraint.for_tools(self._names, lambda t: runtime.tokenize(t, special=False))
        self.timings.queued_s = time.perf_counter() - self._created
        self.slot, reuse, source = pool.acquire(self.prompt.tokens)
        cold = len(self.prompt.tokens) - reuse
        # A long uncached stretch prefills faster in the runtime's flash-attention prefill context, which starts
        # at position 0: a short cached prefix (a template's opening, a shared system line) is evaluated again.
        if (cold >= FLASH_PREFILL_MIN_TOKENS and reuse * 16 <= cold and self.prefill_chunk >= FLASH_PREFILL_MIN_CHUNK
                and self._claim_prefill_context(runtime)):
            self._flash_prefill, reuse, source = True, 0, None
        if source is not None:
            if runtime.copy_pays(reuse):
                runtime.copy_sequence(source.seq, self.slot.seq, reuse)
                self.slot.tokens[:] = self.prompt.tokens[:reuse]
            else:
                reuse = 0  # a few shared template tokens: evaluating them is cheaper than a copy
        # Always evaluate at least the last prompt token: its logits start the reply.
        reuse = min(reuse, len(self.prompt.tokens) - 1)
        runtime.drop(self.slot.seq, reuse)
        del self.slot.tokens[reuse:]
        self._n_past = reuse
        self.usage.cached_tokens = reuse
        self._runtime = runtime

    def step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        """Run one unit of work; True when the generation is finished."""
        if self.cancelled.is_set():
            return self._finish("cancelled")
        try:
            if self._n_past < len(self.prompt.tokens):
                return self._prefill_step(runtime, pool)
            if not self.request.generate:
                return self._finish("stop")
            return self._decode_step(runtime, pool)
        except Aborted:
            # stopped mid-pass (cancel or preemption): the pass left no trace, so it can simply run again
            if self.cancelled.is_set():
                return self._finish("cancelled")
            self.preempted += 1
            return False

    def fail(self, message: str) -> None:
        self._finish("error", message)

    # -- steps --------------------------------------------------------------------------------

    def _prefill_step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        t0 = time.perf_counter()
        try:
            chunk = self.prompt.tokens[self._n_past : self._n_past + self.prefill_chunk]
            last = self._n_past + len(chunk) == len(self.prompt.tokens)
            # logits only for the prompt's last token, and only when a reply follows
            want = [len(chunk) - 1] if last and self.request.generate else []
            if self._flash_prefill:
                runtime.decode(0, chunk, self._n_past, want, prefill_context=True)
            else:
                self._decode(runtime, pool, chunk, want)
            self._n_past += len(chunk)
            self.timings.prefill_tokens += len(chunk)
            if last and self.request.generate:
                self._next_token = self._choose(runtime.logits(-1))
            if last and self._flash_prefill:
                self.timings.flash_prefill = self.leave_prefill_context(runtime)
        finally:
            self.timings.prefill_s += time.perf_counter() - t0
        return False

    def _claim_prefill_context(self, runtime: LlamaRuntime) -> bool:
        holder = runtime.prefill_owner
        if isinstance(holder, Generation) and holder.request.priority > self.request.priority:
            holder.leave_prefill_context(runtime)  # lower-priority work goes on prefilling in place
        return runtime.claim_prefill_context(self)

    def leave_prefill_context(self, runtime: LlamaRuntime) -> bool:
        """Move what the flash prefill context evaluated so far into this generation's slot, and free the
        context; prefill goes on in place. False when it could not be moved: the prompt is evaluated again."""
        self._flash_prefill = False
        moved = False
        if self._n_past and self.slot is not None:
            moved = runtime.take_prefilled(self.slot.seq)
            if moved:
                self.slot.tokens[:] = self.prompt.tokens[: self._n_past]
            else:
                self._n_past = self.timings.prefill_tokens = 0
        runtime.release_prefill_context(self)
        return moved

    def _decode_step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        t0 = time.perf_counter()
        try:
            return self._decode_step_inner(runtime, pool)
        finally:
            self.timings.decode_s += time.perf_counter() - t0

    def _decode_step_inner(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        assert self.slot is not None
        if not self._prefix_sent:
            self._prefix_sent = True
            self._context = list(self.prompt.tokens)
            if self.request.assistant_prefix:
                self._emit_text(self.request.assistant_prefix)
        if self._pending is None:
            token = self._next_token
            assert token is not None
            if runtime.is_end_of_generation(token):
                return self._finish("stop")
            self._count_and_emit(runtime, [token])
            if self._generated >= self.prompt.max_new_tokens:
                return self._finish("length")
            self._pending = token
            self._context.append(token)
        token = self._pending
        budget = min(self.prompt.max_new_tokens - self._generated, runtime.n_ctx - len(self.slot.tokens) - 2)
        constrained = self._constraint is not None and self._constraint.active
        draft = self._draft(budget) if self._speculate and not constrained else []
        start = len(self.slot.tokens)
        batch = [token, *draft]
        t0 = time.perf_counter()
        self._decode(runtime, pool, batch, all_logits=True)
        self._pending = None
        self.timings.decode_steps += 1
        if not draft:
            self._next_token = self._choose(runtime.logits(-1))
            self._cost.observe(1, time.perf_counter() - t0)
            return False
        accepted, self._next_token = self._sampler.verify(runtime.output_logits(), draft)
        self._cost.observe(len(batch), time.perf_counter() - t0)
        if accepted < len(draft):  # forget the rejected tail
            keep = start + 1 + accepted
            runtime.drop(self.slot.seq, keep)
            del self.slot.tokens[keep:]
        assert self._speculator is not None
        self._speculator.record(len(draft), accepted)
        self.usage.accepted_prediction_tokens += accepted
        self.usage.rejected_prediction_tokens += len(draft) - accepted
        self.timings.draft_sources = self._speculator.stats.by_source
        if accepted:
            kept = draft[:accepted]
            for i, tok in enumerate(kept):
                if runtime.is_end_of_generation(tok):  # the model itself ends here
                    self._count_and_emit(runtime, kept[:i])
                    return self._finish("stop")
            self._count_and_emit(runtime, kept)
            self._context.extend(kept)
            if self._generated >= self.prompt.max_new_tokens:
                return self._finish("length")
        return False

    def _choose(self, logits) -> int:
        if self._constraint is not None and self._constraint.active:
            return self._constraint.pick(logits)
        return self._sampler(logits)

    def _draft(self, budget: int) -> list[int]:
        if self._speculator is None:
            cfg = self._spec_config
            available = {
                "prediction": lambda: self._prediction_follower(cfg),
                "source": lambda: SourceFollower(cfg.ngram, indentation=self._indentation),
                "ngram": lambda: NGramDrafter(cfg.ngram),
                "model": lambda: ModelDrafter(self._draft_model, self.slot.seq, lambda: self._cost.single_step)
                if self._draft_model is not None and self.slot is not None else None,
            }
            drafters = [d for d in (available[name]() for name in cfg.drafters if name in available) if d is not None]
            self._speculator = Speculator(drafters, cfg, self._cost)
        return self._speculator.propose(self._context, budget)

    def _prediction_follower(self, cfg: SpeculationConfig) -> SourceFollower | None:
        if not self.prompt.prediction_tokens:
            return None
        follower = SourceFollower(cfg.ngram, self.prompt.prediction_tokens, output_start=len(self.prompt.tokens),
                                  indentation=self._indentation)
        follower.name = "prediction"
        return follower

    def _count_and_emit(self, runtime: LlamaRuntime, tokens: list[int]) -> None:
        if not tokens:
            return
        if self.timings.first_token_s is None:
            self.timings.first_token_s = time.perf_counter() - self._created
        self._generated += len(tokens)
        self.usage.output_tokens = self._generated
        data = b"".join(runtime.token_bytes(t) for t in tokens)
        self._emit_text(self._utf8.decode(data))

    def _decode(self, runtime: LlamaRuntime, pool: SlotPool, tokens: list[int], logits: list[int] | None = None,
                *, all_logits: bool = False) -> None:
        assert self.slot is not None
        start = len(self.slot.tokens)
        while True:
            try:
                runtime.decode(self.slot.seq, tokens, start, logits, all_logits=all_logits)
                break
            except KVCacheFull:
                # only a pool shared by all conversations fills up from others' cells; a conversation's own
                # stream cannot (prepare() keeps every request within n_ctx)
                victims = [s for s in pool.evictable() if s is not self.slot] if runtime.kv_shared else []
                if not victims:
                    raise
                pool.evict(victims[0], runtime)
        self.slot.tokens.extend(tokens)

    def _emit_text(self, text: str) -> None:
        for kind, value in self._parser.feed(text):
            self._emit_piece(kind, value)

    def _emit_piece(self, kind: str, value) -> None:
        if kind == "text":
            if value:
                self.sink(TextDelta(value))
        else:
            self.sink(ToolCall(value.name, value.arguments))

    def _finish(self, reason: str, error: str | None = None) -> bool:
        if self.done.is_set():
            return True
        if reason != "error":
            tail = self._utf8.decode(b"", final=True)
            if tail:
                self._emit_text(tail)
            for kind, value in self._parser.finish():
                self._emit_piece(kind, value)
        if self._runtime is not None:
            if self._flash_prefill and reason == "cancelled":
                self.leave_prefill_context(self._runtime)  # stopped inside the prompt: keep what was evaluated
            self._runtime.release_prefill_context(self)
        self.done.set()
        self.sink(Finished(reason, self.usage, self.timings, error))
        return True
