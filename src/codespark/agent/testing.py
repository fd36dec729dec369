"""A scripted Responses transport: drive an AgentSession without a model (unit tests, TUI pilot tests).

    t = ScriptedTransport([reply_text("stats.py\\n```python\\n...\\n```"), reply_call("read_file", {"path": "a.py"})])
    session = AgentSession(AgentOptions(workspace=tmp, record=False), t); await session.start()

Each scripted reply is a list of output items (a message streamed as deltas, function calls). The transport
keeps the server-side chain like a real server (previous_response_id must name a known response), honours
`generate: false`, and a cancel() stops a reply between deltas, ending it "cancelled" with partial output.
Every request body is kept in `requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, AsyncIterator

from .transport import ResponsesError, Transport

_ids = itertools.count(1)


def reply_text(text: str, *, chunk: int = 8) -> list[dict[str, Any]]:
    return [{"type": "message", "text": text, "chunk": chunk}]


def reply_call(name: str, arguments: dict[str, Any] | str, text: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = reply_text(text) if text else []
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return items + [{"type": "function_call", "name": name, "arguments": args}]


class ScriptedTransport(Transport):
    kind = "scripted"

    def __init__(self, replies: list[list[dict[str, Any]]], *, delay: float = 0.0, context_window: int = 32768):
        super().__init__("http://scripted.invalid")
        self.replies = list(replies)
        self.delay = delay  # seconds between deltas (to test interrupt/redirect)
        self.requests: list[dict[str, Any]] = []
        self.cancels = 0
        self.context_window = context_window
        self.store: dict[str, list[dict[str, Any]]] = {}  # response id -> full conversation (like the server)
        self.forget_chain = False  # simulate a new connection: previous_response_not_found
        self._cancel = asyncio.Event()
        self._in_flight = False

    async def models(self) -> list[dict[str, Any]]:
        return [{"id": "scripted", "context_window": self.context_window}]

    async def cancel(self) -> None:
        if self._in_flight:
            self.cancels += 1
            self._cancel.set()

    async def create(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.requests.append(json.loads(json.dumps(body)))
        prev = body.get("previous_response_id")
        history: list[dict[str, Any]] = []
        if prev:
            if self.forget_chain or prev not in self.store:
                self.forget_chain = False
                raise ResponsesError(f"Previous response with id '{prev}' not found.", "previous_response_not_found", 400)
            history = self.store[prev]
        items = body["input"] if isinstance(body["input"], list) else [{"type": "message", "role": "user", "content": body["input"]}]
        rid = f"resp_{next(_ids)}"
        response = {"id": rid, "status": "in_progress", "output": [], "previous_response_id": prev}
        self._cancel = asyncio.Event()
        self._in_flight = True
        self.current_response_id = rid
        seq = itertools.count()
        try:
            yield {"type": "response.created", "sequence_number": next(seq), "response": dict(response)}
            await asyncio.sleep(0)
            status = "completed"
            if body.get("generate") is not False:
                script = self.replies.pop(0) if self.replies else reply_text("(no more scripted replies)")
                for entry in script:
                    if self._cancel.is_set():
                        status = "cancelled"
                        break
                    if entry["type"] == "message":
                        msg = {"type": "message", "id": f"msg_{next(_ids)}", "role": "assistant", "status": "in_progress",
                               "content": [{"type": "output_text", "text": ""}]}
                        response["output"].append(msg)
                        text, n = entry["text"], entry.get("chunk", 8)
                        for i in range(0, len(text), n):
                            if self._cancel.is_set():
                                status = "cancelled"
                                break
                            delta = text[i:i + n]
                            msg["content"][0]["text"] += delta
                            yield {"type": "response.output_text.delta", "sequence_number": next(seq), "delta": delta}
                            await asyncio.sleep(self.delay)
                        msg["status"] = "completed" if status == "completed" else "incomplete"
                        if status != "completed":
                            break
                    else:
                        call = {"type": "function_call", "id": f"fc_{next(_ids)}", "call_id": f"call_{next(_ids)}",
                                "name": entry["name"], "arguments": entry["arguments"], "status": "completed"}
                        response["output"].append(call)
                        yield {"type": "response.output_item.done", "sequence_number": next(seq), "item": call}
            response["status"] = status
            n_in = sum(len(json.dumps(i)) for i in history + items) // 3
            response["usage"] = {"input_tokens": n_in, "input_tokens_details": {"cached_tokens": len(json.dumps(history)) // 3},
                                 "output_tokens": sum(len(json.dumps(o)) for o in response["output"]) // 3}
            self.store[rid] = history + items + response["output"]
            kind = "response.completed" if status == "completed" else "response.incomplete"
            yield {"type": kind, "sequence_number": next(seq), "response": response}
        finally:
            self._in_flight = False
