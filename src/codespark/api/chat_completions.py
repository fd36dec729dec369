"""POST /v1/chat/completions: the Chat Completions API, translated onto the Responses path.

Many OpenAI clients (editor plugins, aider, LangChain's defaults) still speak Chat Completions. A chat request
becomes a Responses request (messages -> input items, tools -> function tools) and runs through the same
ResponseService, so it gets the same engine, warm prefix cache, speculative edits (`prediction` is a Chat
Completions field too) and metrics; the Responses events come back as chat.completion(.chunk) objects.
"""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator

from ..protocol.errors import APIError, invalid
from ..protocol.ids import new_id
from .conversation import content_text
from .schemas import parse_create_request
from .service import ResponseRun, ResponseService

# fields that mean the same in both APIs and pass straight through
SHARED_FIELDS = ("model", "temperature", "top_p", "parallel_tool_calls", "prediction", "seed", "service_tier",
                 "speculative", "priority", "metadata")
# Responses parameter names in errors, as a chat client knows them
CHAT_PARAMS = {"max_output_tokens": "max_completion_tokens", "input": "messages"}


def _content(value: Any, where: str, *, optional: bool = False) -> str | list[dict[str, Any]]:
    if value is None and optional:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise invalid(f"Invalid '{where}': expected a string or an array of content parts.", where, "invalid_type")
    parts = []
    for j, part in enumerate(value):
        if not isinstance(part, dict):
            raise invalid(f"Invalid '{where}[{j}]': expected an object.", f"{where}[{j}]", "invalid_type")
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": str(part.get("text") or "")})
        elif kind in ("image_url", "input_audio", "file"):
            parts.append({"type": "input_" + {"image_url": "image", "input_audio": "audio", "file": "file"}[kind]})
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": str(part.get("refusal") or "")})
        else:
            raise invalid(f"Invalid '{where}[{j}].type': '{kind}'.", f"{where}[{j}].type")
    return parts


def _input_items(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise invalid("Invalid 'messages': expected a non-empty array of messages.", "messages", "invalid_type")
    items: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise invalid(f"Invalid '{where}': expected an object.", where, "invalid_type")
        role = m.get("role")
        if role in ("system", "developer", "user"):
            items.append({"type": "message", "role": role, "content": _content(m.get("content"), f"{where}.content")})
        elif role == "assistant":
            text = _content(m.get("content"), f"{where}.content", optional=True)
            if text:
                items.append({"type": "message", "role": "assistant", "content": content_text(text)})
            calls = m.get("tool_calls") or []
            if not isinstance(calls, list):
                raise invalid(f"Invalid '{where}.tool_calls': expected an array.", f"{where}.tool_calls", "invalid_type")
            for j, call in enumerate(calls):
                if not isinstance(call, dict):
                    raise invalid(f"Invalid '{where}.tool_calls[{j}]': expected an object.", f"{where}.tool_calls[{j}]", "invalid_type")
                call_id = call.get("id") if isinstance(call.get("id"), str) else f"call_{i}_{j}"
                if call.get("type") == "custom":
                    custom = call.get("custom") or {}
                    items.append({"type": "custom_tool_call", "call_id": call_id, "name": str(custom.get("name") or ""),
                                  "input": str(custom.get("input") or "")})
                    continue
                fn = call.get("function") or {}
                if not isinstance(fn.get("name"), str):
                    raise invalid(f"Missing or invalid '{where}.tool_calls[{j}].function.name'.", f"{where}.tool_calls[{j}].function.name")
                arguments = fn.get("arguments")
                items.append({"type": "function_call", "call_id": call_id, "name": fn["name"],
                              "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {})})
        elif role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise invalid(f"Missing or invalid '{where}.tool_call_id': expected a string.", f"{where}.tool_call_id", "invalid_type")
            items.append({"type": "function_call_output", "call_id": m["tool_call_id"],
                          "output": content_text(_content(m.get("content"), f"{where}.content", optional=True))})
        else:
            raise invalid(f"Invalid '{where}.role': expected one of system, developer, user, assistant, tool.", f"{where}.role")
    return items


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise invalid("Invalid 'tools': expected an array.", "tools", "invalid_type")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid 'tools[{i}]': expected an object.", f"tools[{i}]", "invalid_type")
        kind = tool.get("type")
        inner = tool.get(kind) if kind in ("function", "custom") else None
        if not isinstance(inner, dict):
            raise invalid(f"Invalid 'tools[{i}]': expected {{\"type\": \"function\", \"function\": {{...}}}}.", f"tools[{i}]")
        out.append({"type": kind, **inner})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        inner = choice.get(choice["type"]) or {}
        return {"type": choice["type"], "name": inner.get("name")}
    return choice


def _stops(stop: Any) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise invalid("Invalid 'stop': expected a string or an array of up to 4 non-empty strings.", "stop")
    return stops


def to_responses_request(body: Any):
    """A chat request as (Responses request, stop strings, include usage in the stream)."""
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    if body.get("n") not in (None, 1):
        raise invalid("Only n = 1 is supported: one choice per request.", "n")
    if body.get("logprobs"):
        raise invalid("logprobs are not supported by this server.", "logprobs")
    converted: dict[str, Any] = {k: body[k] for k in SHARED_FIELDS if k in body}
    converted["input"] = _input_items(body.get("messages"))
    converted["tools"] = _tools(body.get("tools"))
    converted["tool_choice"] = _tool_choice(body.get("tool_choice"))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        converted["max_output_tokens"] = limit
    converted["store"] = False  # chat completions are not kept as stored responses
    options = body.get("stream_options") or {}
    try:
        req = parse_create_request({k: v for k, v in converted.items() if v is not None})
    except APIError as err:
        sent = CHAT_PARAMS.get(err.param or "")
        if sent == "max_completion_tokens" and "max_completion_tokens" not in body:
            sent = "max_tokens"
        if sent:
            err.message = err.message.replace(f"'{err.param}'", f"'{sent}'")
            err.param = sent
        raise
    if not isinstance(body.get("stream", False), bool):
        raise invalid("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    return req, _stops(body.get("stop")), bool(isinstance(options, dict) and options.get("include_usage"))


class StopFilter:
    """Cuts the text at the first stop string, holding back a tail that could still become one."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.hold = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if not self.stops:
            return text
        self.hold += text
        cut = min((i for i in (self.hold.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.hold = self.hold[:cut], ""
            return out
        keep = max(len(s) - 1 for s in self.stops)
        out, self.hold = self.hold[: max(0, len(self.hold) - keep)], self.hold[max(0, len(self.hold) - keep):]
        return out

    def flush(self) -> str:
        out, self.hold = self.hold, ""
        return out


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    details = usage.get("output_tokens_details") or {}
    return {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
        "prompt_tokens_details": {"cached_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)},
        "completion_tokens_details": {"reasoning_tokens": 0,
                                      "accepted_prediction_tokens": details.get("accepted_prediction_tokens", 0),
                                      "rejected_prediction_tokens": details.get("rejected_prediction_tokens", 0)},
    }


class ChatTranslation:
    """Responses events of one run -> chat deltas, and what the finished completion looks like."""

    def __init__(self, run: ResponseRun, stops: list[str]):
        self.run = run
        self.id = new_id("chatcmpl").replace("_", "-", 1)
        self.created = int(time.time())
        self.model = run.engine.model_id
        self.filter = StopFilter(stops)
        self.text: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.finish_reason = "stop"
        self.usage: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    async def deltas(self) -> AsyncIterator[dict[str, Any]]:
        """Chat deltas ({"content": ...} or {"tool_calls": [...]}) until the run ends."""
        async for ev in self.run.stream():
            kind = ev["type"]
            if kind == "response.output_text.delta" and not self.filter.stopped:
                text = self.filter.feed(ev["delta"])
                if self.filter.stopped:
                    self.run.cancel()  # the client asked to stop here: no more tokens are worth computing
                if text:
                    self.text.append(text)
                    yield {"content": text}
            elif kind == "response.output_item.done" and ev["item"]["type"] in ("function_call", "custom_tool_call"):
                if self.filter.stopped:
                    continue
                call = self._call(ev["item"])
                self.calls.append(call)
                yield {"tool_calls": [{"index": len(self.calls) - 1, **call}]}
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                response = ev["response"]
                tail = self.filter.flush() if not self.filter.stopped else ""
                if tail:
                    self.text.append(tail)
                    yield {"content": tail}
                self.usage = chat_usage(response.get("usage"))
                if kind == "response.failed":
                    self.error = response.get("error") or {"code": "server_error", "message": "generation failed"}
                elif (response.get("incomplete_details") or {}).get("reason") == "max_output_tokens" and not self.filter.stopped:
                    self.finish_reason = "length"
                elif self.calls:
                    self.finish_reason = "tool_calls"

    @staticmethod
    def _call(item: dict[str, Any]) -> dict[str, Any]:
        if item["type"] == "custom_tool_call":
            return {"id": item["call_id"], "type": "custom", "custom": {"name": item["name"], "input": item["input"]}}
        return {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": item["arguments"]}}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None, "refusal": None}
        if self.calls:
            message["tool_calls"] = self.calls
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "system_fingerprint": None, "usage": self.usage,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}]}


async def start(service: ResponseService, body: Any, *, stream: bool) -> tuple[ChatTranslation, bool]:
    req, stops, include_usage = to_responses_request(body)
    run = await service.create(req, transport="chat-sse" if stream else "chat")
    return ChatTranslation(run, stops), include_usage
