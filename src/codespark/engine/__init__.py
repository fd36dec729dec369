"""The inference engine: llama.cpp in-process, warm KV sessions, step-wise scheduling, cancellation."""

from .runtime import RuntimeConfig
from .scheduler import Engine
from .types import (
    ContextLengthExceeded,
    EngineError,
    EngineEvent,
    Finished,
    GenerationRequest,
    Priority,
    TextDelta,
    ToolCall,
    Usage,
)

__all__ = [
    "ContextLengthExceeded",
    "Engine",
    "EngineError",
    "EngineEvent",
    "Finished",
    "GenerationRequest",
    "Priority",
    "RuntimeConfig",
    "TextDelta",
    "ToolCall",
    "Usage",
]
