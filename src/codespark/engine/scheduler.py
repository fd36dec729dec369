"""The engine: one worker thread that owns the llama.cpp context and runs generations step by step.

Latency first: a real-time request does not wait for background work: the background step in progress is
stopped mid-pass (llama.cpp's abort callback; the pass leaves no trace and runs again later), and the
background generation resumes where it stopped once no real-time work is left, its KV cache intact -- it never
redoes its prefill. Cancelling stops the current pass the same way, so it takes effect within one graph node
even during a long prefill chunk or a wide draft verification. Within a priority, requests are served in
arrival order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from .chat_template import ChatTemplate
from .generation import Generation
from .runtime import LlamaRuntime, RuntimeConfig
from .slots import SlotPool
from .speculative import CostModel, DraftModel, Indentation, SpeculationConfig
from .types import (
    ContextLengthExceeded,
    EngineEvent,
    Finished,
    GenerationRequest,
    PreparedPrompt,
    Priority,
    TextDelta,
)

log = logging.getLogger("codespark.engine")


class Engine:
    def __init__(self, model_id: str, model_path: Path, config: RuntimeConfig = RuntimeConfig(), prefill_chunk: int = 512,
                 speculation: SpeculationConfig = SpeculationConfig(), draft_model_path: Path | None = None):
        self.model_id = model_id
        self.model_path = Path(model_path)
        self.config = config
        self.runtime = LlamaRuntime(self.model_path, config)
        self.n_ctx = self.runtime.n_ctx
        self.template = ChatTemplate(self.runtime.metadata.get("tokenizer.chat_template"))
        self.prefill_chunk = max(1, min(prefill_chunk, config.n_batch))
        self.speculation = speculation
        self.cost = CostModel(speculation.cost_exponent)  # shared: what a wider verification batch costs here
        self.indentation = Indentation(self.runtime.tokenize, self.runtime.token_bytes)  # for re-indented copies
        self.draft_model: DraftModel | None = None
        if draft_model_path is not None:
            self.draft_model = DraftModel(self._load_draft_runtime(Path(draft_model_path), config))
        self._runtimes = [self.runtime] + ([self.draft_model.runtime] if self.draft_model else [])
        self.pool = SlotPool(config.n_seq_max)
        self._waiting: dict[Priority, deque[Generation]] = {p: deque() for p in Priority}
        self._active: list[Generation] = []  # started, not finished (holding a slot)
        self._running: Generation | None = None  # whose step is executing right now
        self._cv = threading.Condition()
        self._stopping = False
        self._totals = {"generations": 0, "output_tokens": 0, "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0, "preemptions": 0}
        self._thread = threading.Thread(target=self._run, name=f"engine-{model_id}", daemon=True)
        self._thread.start()

    def _load_draft_runtime(self, path: Path, config: RuntimeConfig) -> LlamaRuntime:
        draft = LlamaRuntime(path, replace(config, prefill_flash_attn=False))  # drafts its own few tokens
        probe = "def main():\n    return {'ok': True}  # ünïcode <|im_end|>"
        if draft.n_vocab != self.runtime.n_vocab or draft.tokenize(probe) != self.runtime.tokenize(probe):
            draft.close()
            raise ValueError(f"draft model {path.name} does not share {self.model_path.name}'s vocabulary")
        return draft

    def _abort_pass(self) -> None:
        for rt in self._runtimes:
            rt.request_abort()

    # -- public API ---------------------------------------------------------------------------

    def prepare(self, request: GenerationRequest) -> PreparedPrompt:
        """Render and tokenize; raises ContextLengthExceeded. Safe to call from any thread."""
        tools = request.tools or None
        text = self.template.render(request.messages, tools) + request.assistant_prefix
        tokens = self.runtime.tokenize(text)
        room = self.n_ctx - len(tokens)
        if room < 1 or (request.generate and room < 2):
            raise ContextLengthExceeded(len(tokens), self.n_ctx)
        max_new = room - 1
        if request.max_output_tokens is not None:
            max_new = min(max_new, request.max_output_tokens)
        prediction = self.runtime.tokenize(request.prediction, special=False) if request.prediction else None
        return PreparedPrompt(request, tokens, max_new, tools_enabled=bool(tools) or bool(request.assistant_prefix),
                              prediction_tokens=prediction)

    def submit(self, prompt: PreparedPrompt, sink: Callable[[EngineEvent], None]) -> Generation:
        """Queue a generation; events go to sink from the engine thread. Returns a handle to cancel it."""
        gen = Generation(prompt, sink, self.prefill_chunk, self.speculation, self.cost, self.draft_model,
                         self.indentation)
        with self._cv:
            if self._stopping:
                raise RuntimeError("engine is shutting down")
            self._waiting[prompt.request.priority].append(gen)
            running = self._running
            if running is not None and running.request.priority > prompt.request.priority:
                self._abort_pass()  # preempt: stop the lower-priority pass now, it runs again later
            self._cv.notify()
        return gen

    def cancel(self, gen: Generation) -> None:
        gen.cancel()
        with self._cv:
            if self._running is gen:
                self._abort_pass()
            self._cv.notify()

    def stream(self, request: GenerationRequest) -> Iterator[EngineEvent]:
        """Blocking convenience for scripts and tests: yields events until Finished."""
        q: queue.SimpleQueue[EngineEvent] = queue.SimpleQueue()
        gen = self.submit(self.prepare(request), q.put)
        try:
            while True:
                ev = q.get()
                yield ev
                if isinstance(ev, Finished):
                    return
        finally:
            if not gen.done.is_set():
                self.cancel(gen)

    def complete(self, request: GenerationRequest) -> tuple[str, Finished]:
        """Blocking convenience for scripts and tests: the whole reply's text and its Finished event."""
        text = []
        for ev in self.stream(request):
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, Finished):
                return "".join(text), ev
        raise RuntimeError("the generation ended without a Finished event")

    def stats(self) -> dict:
        """Limits and occupancy of the warm-session cache, queue state, and speculation totals."""
        with self._cv:
            slots = [{"seq": s.seq, "tokens": len(s.tokens), "busy": s.busy} for s in self.pool.slots]
            return {
                "n_ctx": self.n_ctx,
                "slots": len(self.pool.slots),  # limit: conversations kept warm at once (LRU beyond it)
                # limit: KV cells of all warm conversations together (n_ctx each, or one shared pool of n_ctx)
                "kv_cells": self.runtime.kv_cells,
                "kv_layout": "shared" if self.runtime.kv_shared else "per-conversation",
                "kv_bytes": self.runtime.kv_bytes,  # the memory those cells take (allocated at load)
                "cached_tokens": self.pool.cached_tokens(),
                "evictions": self.pool.evictions,
                "slot_tokens": slots,
                "active": len(self._active),
                "waiting": sum(len(q) for q in self._waiting.values()),
                "threads": self.runtime.threads,
                "flash_attn": self.runtime.flash_attn,
                # long uncached prompts prefilled with flash attention in a second context, then moved over
                "prefill_flash_attn": self.runtime.flash_prefill,
                "flash_prefills": self.runtime.flash_prefills,
                "prefill_reencoded": self.runtime.prefill_reencoded,  # on an exact Q8_0 copy of Q5_0 weights
                "prefill_chunk": self.prefill_chunk,
                "speculation": {"enabled": self.speculation.enabled, "max_draft": self.speculation.max_draft,
                                "cost_exponent": round(self.cost.exponent, 3),
                                "draft_model": self.draft_model.runtime.model_path.name if self.draft_model else None},
                **self._totals,
            }

    def close(self) -> None:
        with self._cv:
            self._stopping = True
            for gen in self._active + [g for q in self._waiting.values() for g in q]:
                gen.cancel()
            if self._running is not None:
                self._abort_pass()
            self._cv.notify()
        self._thread.join(timeout=10)
        self.runtime.close()
        if self.draft_model is not None:
            self.draft_model.runtime.close()

    # -- worker -------------------------------------------------------------------------------

    def _next(self) -> Generation | None:
        """Highest priority first; a started generation keeps its place among its priority."""
        for priority in Priority:
            started = [g for g in self._active if g.request.priority == priority]
            if started:
                return started[0]
            waiting = self._waiting[priority]
            while waiting and waiting[0].cancelled.is_set():
                waiting.popleft().step(self.runtime, self.pool)  # reports "cancelled" and ends
            if waiting and any(not s.busy for s in self.pool.slots):
                gen = waiting.popleft()
                self._active.append(gen)
                return gen
        return None

    def _run(self) -> None:
        while True:
            with self._cv:
                gen = self._next()
                while gen is None and not self._stopping:
                    self._cv.wait()
                    gen = self._next()
                if gen is None:
                    return
                self._running = gen
                for rt in self._runtimes:
                    rt.clear_abort()
                if gen.cancelled.is_set():
                    self._abort_pass()
            try:
                if not gen.started:
                    gen.start(self.runtime, self.pool)
                finished = gen.step(self.runtime, self.pool)
            except Exception as exc:  # a failing request must not take the engine down
                log.exception("generation failed")
                gen.fail(str(exc))
                finished = True
            with self._cv:
                self._running = None
                if finished:
                    if gen in self._active:
                        self._active.remove(gen)
                    if gen.slot is not None:
                        self.pool.release(gen.slot)
                    t = self._totals
                    t["generations"] += 1
                    t["output_tokens"] += gen.usage.output_tokens
                    t["accepted_prediction_tokens"] += gen.usage.accepted_prediction_tokens
                    t["rejected_prediction_tokens"] += gen.usage.rejected_prediction_tokens
                    t["preemptions"] += gen.preempted
