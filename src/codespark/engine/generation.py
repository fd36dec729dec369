"""One request's life on the engine, as a sequence of small steps.

A step is one prefill chunk or one decode step. The scheduler runs steps one at a time, so it can check for
cancellation, and let a real-time request overtake background work, between any two of them.
"""

from __future__ import annotations

import codecs
import threading
import time
from typing import Callable

from .output_parser import OutputParser
from .runtime import KVCacheFull, LlamaRuntime
from .sampling import Sampler
from .slots import Slot, SlotPool
from .types import EngineEvent, Finished, PreparedPrompt, TextDelta, Timings, ToolCall, Usage


class Generation:
    def __init__(self, prompt: PreparedPrompt, sink: Callable[[EngineEvent], None], prefill_chunk: int):
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
        self._parser = OutputParser(prompt.tools_enabled)
        self._next_logits_row = -1
        self._generated = 0
        self._prefix_sent = False

    @property
    def started(self) -> bool:
        return self.slot is not None

    def cancel(self) -> None:
        self.cancelled.set()

    # -- driven by the scheduler --------------------------------------------------------------

    def start(self, runtime: LlamaRuntime, pool: SlotPool) -> None:
        self.timings.queued_s = time.perf_counter() - self._created
        self.slot, reuse = pool.acquire(self.prompt.tokens)
        # Always evaluate at least the last prompt token: its logits start the reply.
        reuse = min(reuse, len(self.prompt.tokens) - 1)
        runtime.drop(self.slot.seq, reuse)
        del self.slot.tokens[reuse:]
        self._n_past = reuse
        self.usage.cached_tokens = reuse

    def step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        """Run one unit of work; True when the generation is finished."""
        if self.cancelled.is_set():
            return self._finish("cancelled")
        if self._n_past < len(self.prompt.tokens):
            return self._prefill_step(runtime, pool)
        if not self.request.generate:
            return self._finish("stop")
        return self._decode_step(runtime, pool)

    def fail(self, message: str) -> None:
        self._finish("error", message)

    # -- steps --------------------------------------------------------------------------------

    def _prefill_step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        t0 = time.perf_counter()
        chunk = self.prompt.tokens[self._n_past : self._n_past + self.prefill_chunk]
        self._decode(runtime, pool, chunk)
        self._n_past += len(chunk)
        self.timings.prefill_s += time.perf_counter() - t0
        return False

    def _decode_step(self, runtime: LlamaRuntime, pool: SlotPool) -> bool:
        t0 = time.perf_counter()
        if not self._prefix_sent:
            self._prefix_sent = True
            if self.request.assistant_prefix:
                self._emit_text(self.request.assistant_prefix)
        token = self._sampler(runtime.logits(self._next_logits_row))
        if runtime.is_end_of_generation(token):
            return self._finish("stop")
        self._generated += 1
        self.usage.output_tokens = self._generated
        self._emit_text(self._utf8.decode(runtime.token_bytes(token)))
        if self._generated >= self.prompt.max_new_tokens:
            return self._finish("length")
        self._decode(runtime, pool, [token])
        self.timings.decode_s += time.perf_counter() - t0
        self.timings.decode_steps += 1
        return False

    def _decode(self, runtime: LlamaRuntime, pool: SlotPool, tokens: list[int]) -> None:
        assert self.slot is not None
        start = len(self.slot.tokens)
        while True:
            try:
                runtime.decode(self.slot.seq, tokens, start)
                break
            except KVCacheFull:
                victims = [s for s in pool.evictable() if s is not self.slot]
                if not victims:
                    raise
                runtime.drop(victims[0].seq)
                victims[0].tokens.clear()
        self.slot.tokens.extend(tokens)
        self._next_logits_row = len(tokens) - 1

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
        self.done.set()
        self.sink(Finished(reason, self.usage, self.timings, error))
        return True
