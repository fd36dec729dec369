"""What goes into the engine and what comes out: plain data, no HTTP or JSON events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Priority(enum.IntEnum):
    REALTIME = 0  # interactive turns: served first, preempt background work between decode steps
    BACKGROUND = 1  # long-running work: runs whenever no real-time turn is waiting


@dataclass
class GenerationRequest:
    messages: list[dict[str, Any]]  # OpenAI chat-shaped: role, content, tool_calls, tool_call_id
    tools: list[dict[str, Any]] | None = None  # {"type": "function", "function": {name, description, parameters}}
    assistant_prefix: str = ""  # forced start of the reply (used to force a tool call)
    max_output_tokens: int | None = None
    temperature: float = 0.0  # 0: greedy, reproducible
    top_p: float = 1.0
    seed: int | None = None
    priority: Priority = Priority.REALTIME
    generate: bool = True  # False: prefill the context into the KV cache and stop (warm-up)
    # The expected output (OpenAI "predicted outputs"): drafted from first when speculating.
    prediction: str | None = None
    speculative: bool = True  # False: plain one-token decoding (for comparisons; the output is the same)


@dataclass
class Usage:
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    accepted_prediction_tokens: int = 0  # drafted tokens the model confirmed (speculative decoding)
    rejected_prediction_tokens: int = 0  # drafted tokens it did not


@dataclass
class Timings:
    queued_s: float = 0.0
    prefill_s: float = 0.0
    prefill_tokens: int = 0  # prompt tokens evaluated (the rest came from the KV cache)
    flash_prefill: bool = False  # evaluated with flash attention in the runtime's prefill context
    decode_s: float = 0.0  # time inside llama_decode + sampling for generated tokens
    decode_steps: int = 0  # forward passes while generating (one pass verifies a whole draft)
    first_token_s: float | None = None  # from submission to the first output token
    draft_sources: dict[str, dict[str, int]] = field(default_factory=dict)  # per drafter: drafted, accepted, passes


@dataclass
class TextDelta:
    text: str


@dataclass
class ToolCall:
    name: str
    arguments: str  # JSON text


@dataclass
class Finished:
    reason: str  # "stop" | "length" | "cancelled" | "error"
    usage: Usage
    timings: Timings
    error: str | None = None


EngineEvent = TextDelta | ToolCall | Finished


@dataclass
class PreparedPrompt:
    request: GenerationRequest
    tokens: list[int]
    max_new_tokens: int
    tools_enabled: bool = field(default=False)
    prediction_tokens: list[int] | None = None


class EngineError(Exception):
    code = "engine_error"


class ContextLengthExceeded(EngineError):
    code = "context_length_exceeded"

    def __init__(self, n_tokens: int, n_ctx: int):
        super().__init__(
            f"The input is {n_tokens} tokens, but this model's context window is {n_ctx} tokens. "
            "Shorten the input or start the server with a larger --ctx-size."
        )
        self.n_tokens, self.n_ctx = n_tokens, n_ctx
