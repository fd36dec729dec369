"""The engine: one worker thread that owns the llama.cpp context and runs generations step by step.

Latency first: a real-time request waits at most one step (one decode step or one prefill chunk) for
background work, which then resumes where it stopped, its KV cache intact. Within a priority, requests are
served in arrival order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

from .chat_template import ChatTemplate
from .generation import Generation
from .runtime import LlamaRuntime, RuntimeConfig
from .slots import SlotPool
from .types import (
    ContextLengthExceeded,
    EngineEvent,
    Finished,
    GenerationRequest,
    PreparedPrompt,
    Priority,
)

log = logging.getLogger("codespark.engine")


class Engine:
    def __init__(self, model_id: str, model_path: Path, config: RuntimeConfig = RuntimeConfig(), prefill_chunk: int = 128):
        self.model_id = model_id
        self.model_path = Path(model_path)
        self.runtime = LlamaRuntime(self.model_path, config)
        self.n_ctx = self.runtime.n_ctx
        self.template = ChatTemplate(self.runtime.metadata.get("tokenizer.chat_template"))
        self.prefill_chunk = max(1, min(prefill_chunk, config.n_batch))
        self.pool = SlotPool(config.n_seq_max)
        self._waiting: dict[Priority, deque[Generation]] = {p: deque() for p in Priority}
        self._active: list[Generation] = []  # started, not finished (holding a slot)
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"engine-{model_id}", daemon=True)
        self._thread.start()

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
        return PreparedPrompt(request, tokens, max_new, tools_enabled=bool(tools) or bool(request.assistant_prefix))

    def submit(self, prompt: PreparedPrompt, sink: Callable[[EngineEvent], None]) -> Generation:
        """Queue a generation; events go to sink from the engine thread. Returns a handle to cancel it."""
        gen = Generation(prompt, sink, self.prefill_chunk)
        with self._cv:
            if self._stopping:
                raise RuntimeError("engine is shutting down")
            self._waiting[prompt.request.priority].append(gen)
            self._cv.notify()
        return gen

    def cancel(self, gen: Generation) -> None:
        gen.cancel()
        with self._cv:
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

    def stats(self) -> dict:
        return {
            "n_ctx": self.n_ctx,
            "slots": len(self.pool.slots),
            "cached_tokens": self.pool.cached_tokens(),
            "active": len(self._active),
            "waiting": sum(len(q) for q in self._waiting.values()),
        }

    def close(self) -> None:
        with self._cv:
            self._stopping = True
            for gen in self._active + [g for q in self._waiting.values() for g in q]:
                gen.cancel()
            self._cv.notify()
        self._thread.join(timeout=10)
        self.runtime.close()

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
            try:
                if not gen.started:
                    gen.start(self.runtime, self.pool)
                finished = gen.step(self.runtime, self.pool)
            except Exception as exc:  # a failing request must not take the engine down
                log.exception("generation failed")
                gen.fail(str(exc))
                finished = True
            if finished:
                with self._cv:
                    if gen in self._active:
                        self._active.remove(gen)
                    if gen.slot is not None:
                        self.pool.release(gen.slot)
