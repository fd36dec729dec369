"""The conversation as the server holds it: build a request, send it, stream it, mirror what was stored.

`history` is exactly what the server stored under `chain_id` (every input item and every output item, in
order), so a request sends only its new items with previous_response_id; when the chain is unknown (a new
connection, `previous_response_not_found`, after compaction) it sends the whole history instead. Items the
model is owed (tool outputs of a turn that ended early, say) wait in `pending` for the next request.
Near the context window, older bulky items are replaced whole by a note (context.compact).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import context as ctx
from .events import AgentEvent, ContextNote, ResponseDone, TextDelta
from .transport import ResponsesError, Transport, TransportClosed


@dataclass
class ResponseOutcome:
    id: str | None
    status: str  # completed | incomplete | cancelled | failed
    text: str
    calls: list[dict[str, Any]]
    output: list[dict[str, Any]]
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    stopped_loop: bool = False  # cancelled by us because the model repeated itself


def looping(text: str) -> bool:
    """The model repeats itself: the last 20 non-empty lines hold at most 2 distinct values."""
    lines = [ln.strip() for ln in text[-4000:].splitlines() if ln.strip()]
    if len(lines) < 20:
        return False
    tail = lines[-20:]
    return len(set(tail)) <= 2 and len(tail[-1]) > 2


def dangling_calls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function calls in `items` that have no output yet."""
    answered = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    return [i for i in items if i.get("type") == "function_call" and i.get("call_id") not in answered]


def call_output(call_id: str, text: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


class Conversation:
    def __init__(self, transport: Transport, emit: Callable[[AgentEvent], None], shape: Callable[[bool], dict[str, Any]],
                 *, n_ctx: int = 32768, on_dropped: Callable[[list[str]], None] = lambda paths: None):
        self.transport = transport
        self.emit = emit
        self.shape = shape  # shape(generate) -> the request fields other than input/previous_response_id
        self.n_ctx = n_ctx
        self.on_dropped = on_dropped  # told which file attachments compaction dropped
        self.history: list[dict[str, Any]] = []
        self.chain_id: str | None = None
        self.pending: list[dict[str, Any]] = []
        self.transcript = None  # a Transcript, when the session is recorded
        self.wants_cancel: Callable[[], bool] = lambda: False  # checked when a response starts
        self.inflight = False
        self._cancel_sent = False
        self._last_usage_tokens = 0

    def take_pending(self) -> list[dict[str, Any]]:
        items, self.pending = self.pending, []
        return items

    async def cancel(self) -> None:
        """Cancel the response in flight (once); the server ends it as `cancelled` within a decode step."""
        if self.inflight and not self._cancel_sent:
            self._cancel_sent = True
            await self.transport.cancel()

    def body(self, items: list[dict[str, Any]], generate: bool) -> dict[str, Any]:
        body = {"input": items if self.chain_id else self.history + items, **self.shape(generate)}
        if self.chain_id:
            body["previous_response_id"] = self.chain_id
        return body

    async def respond(self, items: list[dict[str, Any]], *, generate: bool = True) -> ResponseOutcome:
        self._maybe_compact(items)
        for attempt in range(3):
            try:
                return await self._stream(self.body(items, generate), items)
            except ResponsesError as exc:
                if exc.code == "previous_response_not_found" and self.chain_id and attempt < 2:
                    self.chain_id = None  # e.g. a new connection: send the whole conversation instead
                    continue
                if exc.code == "context_length_exceeded" and attempt < 2 and self._compact(
                        int(0.3 * self.n_ctx), "The conversation no longer fit the context window", keep_last=1, min_chars=120):
                    continue
                raise
        raise ResponsesError("could not send the request", "internal")

    def _maybe_compact(self, items: list[dict[str, Any]]) -> None:
        need = max(self._last_usage_tokens, ctx.history_tokens(self.history)) + ctx.history_tokens(items)
        if need >= 0.75 * self.n_ctx:
            self._compact(int(0.5 * self.n_ctx) - ctx.history_tokens(items), "The conversation is near the model's context window")

    def _compact(self, target: int, why: str, **kw: Any) -> bool:
        compacted, notes, dropped = ctx.compact(self.history, target, **kw)
        if not notes:
            return False
        self.history = compacted
        self.chain_id = None  # the server's copy is the long one: send the compacted conversation in full, once
        self._last_usage_tokens = 0
        self.on_dropped(dropped)
        if self.transcript is not None:
            self.transcript.replace_items(self.history)
        self.emit(ContextNote(f"{why}: " + "; ".join(notes) + "."))
        return True

    async def _stream(self, body: dict[str, Any], items: list[dict[str, Any]]) -> ResponseOutcome:
        t0 = time.perf_counter()
        parts: list[str] = []
        response: dict[str, Any] | None = None
        stopped_loop = False
        self.inflight, self._cancel_sent = True, False
        try:
            async for ev in self.transport.create(body):
                kind = ev.get("type")
                if kind == "response.created":
                    if self.wants_cancel():
                        await self.cancel()
                elif kind == "response.output_text.delta":
                    delta = ev.get("delta", "")
                    parts.append(delta)
                    self.emit(TextDelta(delta))
                    if "\n" in delta and not stopped_loop and looping("".join(parts)):
                        stopped_loop = True
                        self.emit(ContextNote("The model started repeating itself; generation was stopped."))
                        await self.cancel()
                elif kind in ("response.completed", "response.incomplete", "response.failed"):
                    response = ev.get("response") or {}
        except TransportClosed:
            self.chain_id = None  # we cannot know what the server kept
            raise
        finally:
            self.inflight = False
        assert response is not None
        output = list(response.get("output") or [])
        # The server stored history + items + output under this id: mirror it exactly.
        self.history += items + output
        self.chain_id = response.get("id")
        if self.transcript is not None:
            for item in items + output:
                self.transcript.item(item)
            if self.chain_id:
                self.transcript.response(self.chain_id)
        usage = response.get("usage") or {}
        if usage:
            self._last_usage_tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        text = "".join(
            p.get("text", "") for it in output if it.get("type") == "message"
            for p in (it.get("content") or []) if isinstance(p, dict)
        ) or "".join(parts)
        calls = [it for it in output if it.get("type") in ("function_call", "custom_tool_call")]
        status = response.get("status", "failed")
        err = (response.get("error") or {}).get("message") if status == "failed" else None
        details = usage.get("input_tokens_details") or {}
        seconds = time.perf_counter() - t0
        self.emit(ResponseDone(response.get("id"), status, int(usage.get("input_tokens", 0)), int(details.get("cached_tokens", 0)),
                               int(usage.get("output_tokens", 0)), round(seconds, 3), "previous_response_id" in body))
        return ResponseOutcome(response.get("id"), status, text, calls, output, usage, err, seconds, stopped_loop)
