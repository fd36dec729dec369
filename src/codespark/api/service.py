"""Creating a response: from a validated request to a stream of protocol events.

Shared by HTTP (plain and SSE) and WebSocket: they differ only in how events reach the client and where a
previous response is looked up first (a WebSocket keeps a connection-local cache of its conversations).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any, AsyncIterator

from ..engine import ContextLengthExceeded, Engine, Finished, GenerationRequest, Priority, TextDelta, ToolCall
from ..protocol.errors import APIError
from ..protocol.events import ResponseBuilder
from ..protocol.ids import new_id
from .conversation import apply_tool_choice, build_tools, normalize_input, to_chat_messages
from .metrics import ServerMetrics
from .schemas import CreateResponseRequest
from .store import ResponseStore

log = logging.getLogger("codespark.api")

TERMINAL_EVENTS = {"response.completed", "response.incomplete", "response.failed"}
ENDED = {"completed", "incomplete", "failed", "cancelled"}


class ConversationCache:
    """A WebSocket connection's own memory of its responses (works with store=false, skips SQLite)."""

    def __init__(self, max_entries: int = 256):
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.max_entries = max_entries

    def get(self, response_id: str) -> list[dict[str, Any]] | None:
        items = self._items.get(response_id)
        if items is not None:
            self._items.move_to_end(response_id)
        return items

    def put(self, response_id: str, items: list[dict[str, Any]]) -> None:
        self._items[response_id] = items
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


def prediction_text(prediction: dict[str, Any] | None) -> str | None:
    """The text of an OpenAI-style `prediction` ({"type": "content", "content": str | [text parts]})."""
    if prediction is None:
        return None
    content = prediction.get("content")
    if prediction.get("type", "content") != "content" or not isinstance(content, (str, list)):
        raise APIError(400, "Invalid 'prediction': expected {\"type\": \"content\", \"content\": string or array of text parts}.",
                       code="invalid_value", param="prediction")
    if isinstance(content, str):
        return content
    parts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise APIError(400, f"Invalid 'prediction.content[{i}]': expected a text part with a 'text' string.",
                           code="invalid_value", param=f"prediction.content[{i}]")
        parts.append(part["text"])
    return "".join(parts)


def usage_dict(usage, extra_output: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0, **(extra_output or {})},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


class ResponseRun:
    """One response in flight: engine events in, protocol events out (queued until read)."""

    def __init__(self, service: "ResponseService", engine: Engine, prepared, builder: ResponseBuilder, *,
                 new_items: list, history: list, request: CreateResponseRequest, custom_tools: set[str],
                 cache: ConversationCache | None, transport: str, accepted_at: float):
        self.service = service
        self.engine = engine
        self.prepared = prepared
        self.builder = builder
        self.id = builder.response["id"]
        self.new_items = new_items
        self.history = history
        self.request = request
        self.custom_tools = custom_tools
        self.cache = cache
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.finished = asyncio.Event()
        self.generation = None
        self._stop_after_call = request.parallel_tool_calls is False
        self._stopped_for_call = False
        self._calls_made: set[tuple[str, str]] = set()
        self._task: asyncio.Task | None = None
        self.transport = transport  # for metrics: "http", "sse" or "websocket"
        self.accepted_at = accepted_at  # perf_counter when the request arrived, before rendering and tokenizing
        self.first_output_at: float | None = None
        self._queued_s = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drive())

    def cancel(self) -> None:
        if self.generation is not None:
            self.engine.cancel(self.generation)

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        """Events until (and including) the terminal one."""
        while True:
            event = await self.events.get()
            yield event
            if event["type"] in TERMINAL_EVENTS:
                return

    async def wait(self) -> dict[str, Any]:
        await self.finished.wait()
        return self.builder.snapshot()

    def _emit(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.events.put_nowait(ev)

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()
        try:
            self.generation = self.engine.submit(self.prepared, lambda ev: loop.call_soon_threadsafe(inbox.put_nowait, ev))
            self._emit(self.builder.start())
            while True:
                ev = await inbox.get()
                if self.first_output_at is None and isinstance(ev, (TextDelta, ToolCall)):
                    self.first_output_at = time.perf_counter()
                if isinstance(ev, TextDelta):
                    if not self._stopped_for_call:
                        self._emit(self.builder.text(ev.text))
                elif isinstance(ev, ToolCall):
                    if self._stopped_for_call:
                        continue
                    if (ev.name, ev.arguments) in self._calls_made:
                        # a small model can repeat the same call until its context is full: the reply ends here
                        self._stopped_for_call = True
                        self.engine.cancel(self.generation)
                        continue
                    self._calls_made.add((ev.name, ev.arguments))
                    self._emit(self._tool_call(ev))
                    if self._stop_after_call:
                        self._stopped_for_call = True
                        self.engine.cancel(self.generation)
                elif isinstance(ev, Finished):
                    self._finish(ev)
                    return
        except asyncio.CancelledError:
            self.cancel()
            raise
        except Exception as exc:  # never leave a client waiting on a stream that will not end
            log.exception("response %s failed", self.id)
            self._emit(self.builder.finish("failed", None, error={"code": "server_error", "message": str(exc)}))
        finally:
            self._observe()
            self.finished.set()
            self.service.in_flight.pop(self.id, None)

    def _tool_call(self, ev: ToolCall) -> list[dict[str, Any]]:
        if ev.name in self.custom_tools:
            try:
                raw = json.loads(ev.arguments).get("input", ev.arguments)
            except (json.JSONDecodeError, AttributeError):
                raw = ev.arguments
            return self.builder.function_call(ev.name, raw if isinstance(raw, str) else json.dumps(raw), custom=True)
        return self.builder.function_call(ev.name, ev.arguments)

    def _finish(self, ev: Finished) -> None:
        usage = usage_dict(ev.usage, {"accepted_prediction_tokens": ev.usage.accepted_prediction_tokens,
                                      "rejected_prediction_tokens": ev.usage.rejected_prediction_tokens})
        self.builder.response["codespark"] = {
            "queued_ms": round(ev.timings.queued_s * 1000, 3),
            "prefill_ms": round(ev.timings.prefill_s * 1000, 3),
            "flash_prefill": ev.timings.flash_prefill,
            "decode_ms": round(ev.timings.decode_s * 1000, 3),
            "decode_steps": ev.timings.decode_steps,
            "draft_sources": ev.timings.draft_sources,
        }
        if ev.reason == "stop" or (ev.reason == "cancelled" and self._stopped_for_call):
            self._emit(self.builder.finish("completed", usage))
        elif ev.reason == "length":
            self._emit(self.builder.finish("incomplete", usage, incomplete_reason="max_output_tokens"))
        elif ev.reason == "cancelled":
            self._emit(self.builder.finish("cancelled", usage))
        else:
            self._emit(self.builder.finish("failed", usage, error={"code": "server_error", "message": ev.error or "generation failed"}))
        self._queued_s = ev.timings.queued_s
        self._save()

    def _observe(self) -> None:
        priority = self.prepared.request.priority
        status = self.builder.response["status"]  # still "in_progress" when the task itself was cancelled
        self.service.metrics.observe(
            model=self.engine.model_id, tier="background" if priority == Priority.BACKGROUND else "realtime",
            transport=self.transport, status=status if status in ENDED else "cancelled",
            ttft_s=None if self.first_output_at is None else self.first_output_at - self.accepted_at,
            duration_s=time.perf_counter() - self.accepted_at, queued_s=self._queued_s)

    def _save(self) -> None:
        response = self.builder.response
        output = [item for item in response["output"]]
        if self.cache is not None:
            self.cache.put(self.id, self.history + self.new_items + output)
        if self.request.store is not False:
            try:
                self.service.store.put(response, self.new_items + output)
            except Exception:
                log.exception("could not store response %s", self.id)


class ResponseService:
    def __init__(self, engines: dict[str, Engine], store: ResponseStore, default_model: str):
        self.engines = engines
        self.store = store
        self.default_model = default_model
        self.in_flight: dict[str, ResponseRun] = {}
        self.metrics = ServerMetrics(engines)

    def engine_for(self, model: str | None) -> Engine:
        name = model or self.default_model
        engine = self.engines.get(name)
        if engine is None:
            raise APIError(
                404,
                f"The model '{name}' does not exist. This server serves: {', '.join(self.engines)}.",
                code="model_not_found",
                param="model",
            )
        return engine

    async def create(self, req: CreateResponseRequest, *, cache: ConversationCache | None = None,
                     transport: str = "http") -> ResponseRun:
        """Validate against state, render and tokenize; raises APIError before anything is streamed."""
        accepted_at = time.perf_counter()
        engine = self.engine_for(req.model)
        if req.input is None:
            raise APIError(400, "Missing required parameter: 'input'.", code="missing_required_parameter", param="input")
        new_items = normalize_input(req.input)
        history: list[dict[str, Any]] = []
        if req.previous_response_id:
            found = cache.get(req.previous_response_id) if cache is not None else None
            if found is None:
                found = await asyncio.to_thread(self.store.history, req.previous_response_id)
            if found is None:
                raise APIError(
                    400,
                    f"Previous response with id '{req.previous_response_id}' not found.",
                    code="previous_response_not_found",
                    param="previous_response_id",
                )
            history = found
        toolset = build_tools(req.tools)
        chat_tools, prefix = apply_tool_choice(toolset, req.tool_choice)
        extra = req.model_extra or {}
        background = extra.get("priority") == "background" or extra.get("service_tier") == "flex"
        generation = GenerationRequest(
            messages=[],
            tools=chat_tools or None,
            assistant_prefix=prefix,
            max_output_tokens=req.max_output_tokens,
            temperature=float(req.temperature) if req.temperature is not None else 0.0,
            top_p=float(req.top_p) if req.top_p is not None else 1.0,
            seed=extra.get("seed") if isinstance(extra.get("seed"), int) else None,
            priority=Priority.BACKGROUND if background else Priority.REALTIME,
            generate=req.generate is not False,
            prediction=prediction_text(req.prediction),
            speculative=extra.get("speculative") is not False,  # extra field: false = plain decoding
        )
        prepared = await self._prepare(engine, generation, req, history, new_items)
        builder = ResponseBuilder(self._response_object(req, engine, generation))
        run = ResponseRun(self, engine, prepared, builder, new_items=new_items, history=history, request=req,
                          custom_tools=toolset.custom, cache=cache, transport=transport, accepted_at=accepted_at)
        self.in_flight[run.id] = run
        run.start()
        return run

    async def _prepare(self, engine: Engine, generation: GenerationRequest, req, history, new_items):
        items = history + new_items
        while True:
            generation.messages = to_chat_messages(req.instructions, items)
            try:
                return await asyncio.to_thread(engine.prepare, generation)
            except ContextLengthExceeded as exc:
                # truncation=auto drops the oldest items (never the newest input) until the prompt fits
                if req.truncation == "auto" and len(items) > len(new_items):
                    items = items[1:]
                    continue
                raise APIError(400, str(exc), code="context_length_exceeded", param="input") from None

    def _response_object(self, req: CreateResponseRequest, engine: Engine, generation: GenerationRequest) -> dict[str, Any]:
        return {
            "id": new_id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "queued",
            "background": bool(req.background),
            "error": None,
            "incomplete_details": None,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "model": engine.model_id,
            "output": [],
            "parallel_tool_calls": req.parallel_tool_calls is not False,
            "previous_response_id": req.previous_response_id,
            "reasoning": req.reasoning or {"effort": None, "summary": None},
            "store": req.store is not False,
            "temperature": generation.temperature,
            "text": req.text or {"format": {"type": "text"}},
            "tool_choice": req.tool_choice or "auto",
            "tools": req.tools or [],
            "top_p": generation.top_p,
            "truncation": req.truncation or "disabled",
            "usage": None,
            "metadata": req.metadata or {},
        }
