"""Build a response's stream of events (and the final response object) in one place.

HTTP/SSE, WebSocket and non-streaming requests all go through ResponseBuilder, so the three transports
cannot drift apart. Event names and shapes follow OpenAI's Responses streaming events.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .ids import new_id


class ResponseBuilder:
    def __init__(self, response: dict[str, Any]):
        self.response = response  # the response object, updated as output arrives
        self.sequence = 0
        self._message: dict[str, Any] | None = None  # the message item being streamed
        self._text: list[str] = []

    # -- helpers ------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        ev = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return ev

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.response)

    @property
    def output(self) -> list[dict[str, Any]]:
        return self.response["output"]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> list[dict[str, Any]]:
        self.response["status"] = "in_progress"
        return [
            self._event("response.created", response=self.snapshot()),
            self._event("response.in_progress", response=self.snapshot()),
        ]

    def text(self, delta: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._message is None:
            self._message = {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            self._text = []
            self.output.append(self._message)
            index = len(self.output) - 1
            events.append(self._event("response.output_item.added", output_index=index, item=copy.deepcopy(self._message)))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self._message["content"].append(part)
            events.append(
                self._event("response.content_part.added", item_id=self._message["id"], output_index=index, content_index=0, part=copy.deepcopy(part))
            )
        self._text.append(delta)
        self._message["content"][0]["text"] += delta
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self._message["id"],
                output_index=len(self.output) - 1,
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        )
        return events

    def _close_message(self, status: str) -> list[dict[str, Any]]:
        if self._message is None:
            return []
        msg, self._message = self._message, None
        index = self.output.index(msg)
        part = msg["content"][0]
        msg["status"] = status
        return [
            self._event("response.output_text.done", item_id=msg["id"], output_index=index, content_index=0, text=part["text"], logprobs=[]),
            self._event("response.content_part.done", item_id=msg["id"], output_index=index, content_index=0, part=copy.deepcopy(part)),
            self._event("response.output_item.done", output_index=index, item=copy.deepcopy(msg)),
        ]

    def function_call(self, name: str, arguments: str, *, custom: bool = False) -> list[dict[str, Any]]:
        """A complete tool call: item added, its arguments (one delta), done."""
        events = self._close_message("completed")
        if custom:  # freeform tools (e.g. Codex's apply_patch) get their raw input back
            item = {"id": new_id("ctc"), "type": "custom_tool_call", "status": "in_progress", "call_id": new_id("call"), "name": name, "input": ""}
            self.output.append(item)
            index = len(self.output) - 1
            events.append(self._event("response.output_item.added", output_index=index, item=copy.deepcopy(item)))
            item["input"] = arguments
            events.append(self._event("response.custom_tool_call_input.delta", item_id=item["id"], output_index=index, delta=arguments))
            events.append(self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index, input=arguments))
        else:
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress", "call_id": new_id("call"), "name": name, "arguments": ""}
            self.output.append(item)
            index = len(self.output) - 1
            events.append(self._event("response.output_item.added", output_index=index, item=copy.deepcopy(item)))
            item["arguments"] = arguments
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=arguments))
            events.append(
                self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index, name=name, arguments=arguments)
            )
        item["status"] = "completed"
        events.append(self._event("response.output_item.done", output_index=index, item=copy.deepcopy(item)))
        return events

    def finish(self, status: str, usage: dict[str, Any] | None, *, incomplete_reason: str | None = None, error: dict | None = None) -> list[dict[str, Any]]:
        """status: completed | incomplete | cancelled | failed."""
        events = self._close_message("completed" if status == "completed" else "incomplete")
        self.response["status"] = status
        self.response["usage"] = usage
        if status == "completed":
            self.response["completed_at"] = int(time.time())
        if incomplete_reason:
            self.response["incomplete_details"] = {"reason": incomplete_reason}
        if error:
            self.response["error"] = error
        # A cancelled response ends like an incomplete one: clients already handle that terminal event.
        name = {"completed": "response.completed", "failed": "response.failed"}.get(status, "response.incomplete")
        events.append(self._event(name, response=self.snapshot()))
        return events

    def output_text(self) -> str:
        return "".join(
            part.get("text", "")
            for item in self.output
            if item.get("type") == "message"
            for part in item.get("content", [])
        )
