"""Helpers for the engine tests that run the real default model."""

from __future__ import annotations

import queue
from pathlib import Path

from codespark.engine import Engine, Finished, GenerationRequest, RuntimeConfig, TextDelta

DATA = Path(__file__).parent / "data"


def load_default_engine(**config) -> Engine:
    from codespark.models import DEFAULT_MODEL_ID, resolve_model

    resolved = resolve_model(DEFAULT_MODEL_ID)
    options = {"n_ctx": 8192, "n_seq_max": 4, **config}
    extra = {key: options.pop(key) for key in ("prefill_chunk", "speculation", "draft_model_path") if key in options}
    return Engine(resolved.id, resolved.path, RuntimeConfig(**options), **extra)


def forget(engine: Engine) -> None:
    """Drop every idle warm sequence, so the next request starts from an empty cache."""
    with engine._cv:
        for slot in engine.pool.slots:
            if not slot.busy and slot.tokens:
                engine.pool.evict(slot, engine.runtime)


def run_cold(engine: Engine, request: GenerationRequest) -> tuple[str, Finished]:
    """Run from an empty cache: prompts evaluated in the same chunks compute bit-identical states."""
    forget(engine)
    return run(engine, request)


def run(engine: Engine, request: GenerationRequest) -> tuple[str, Finished]:
    text = []
    for ev in engine.stream(request):
        if isinstance(ev, TextDelta):
            text.append(ev.text)
        elif isinstance(ev, Finished):
            return "".join(text), ev
    raise AssertionError("no Finished event")


def submit(engine: Engine, request: GenerationRequest):
    """Queue a request; returns (handle, events queue)."""
    events: queue.SimpleQueue = queue.SimpleQueue()
    return engine.submit(engine.prepare(request), events.put), events


def collect(events: queue.SimpleQueue, timeout: float = 600) -> tuple[str, Finished]:
    text = []
    while True:
        ev = events.get(timeout=timeout)
        if isinstance(ev, TextDelta):
            text.append(ev.text)
        elif isinstance(ev, Finished):
            return "".join(text), ev


def rewrite_messages(instruction: str, path: Path = DATA / "inventory.py") -> list[dict]:
    source = path.read_text()
    return [
        {"role": "system", "content": "You are a careful coding assistant. Reply with the complete updated file in a single ```python code block and nothing else."},
        {"role": "user", "content": f"Here is `{path.name}`:\n```python\n{source}```\n{instruction} Output the whole updated file."},
    ]
