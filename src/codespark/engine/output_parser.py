"""Split a model's streamed text into user-visible text and tool calls.

Qwen2.5 emits a call as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. Text is released as
soon as it cannot be the start of such a tag, so a tag never leaks into the visible stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


@dataclass
class ParsedToolCall:
    name: str
    arguments: str  # JSON text
    raw: str


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of tag."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def parse_tool_call(body: str) -> ParsedToolCall | None:
    try:
        obj = json.loads(body.strip())
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", {})
    if isinstance(args, str):  # some models emit the arguments pre-encoded
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return ParsedToolCall(obj["name"], json.dumps({"input": args}), body)
    return ParsedToolCall(obj["name"], json.dumps(args, ensure_ascii=False), body)


class OutputParser:
    """Feed text chunks; get back ("text", str) and ("tool_call", ParsedToolCall) pieces in order."""

    def __init__(self, tools_enabled: bool):
        self.tools_enabled = tools_enabled
        self._pending = ""  # text held back because it may begin a tag
        self._in_call = False
        self._call = ""

    def feed(self, chunk: str) -> list[tuple[str, object]]:
        if not self.tools_enabled:
            return [("text", chunk)] if chunk else []
        out: list[tuple[str, object]] = []
        buf = self._pending + chunk
        self._pending = ""
        while buf:
            if self._in_call:
                end = buf.find(CLOSE)
                if end < 0:
                    self._call += buf
                    break
                self._call += buf[:end]
                buf = buf[end + len(CLOSE):]
                out.append(self._finish_call())
                continue
            start = buf.find(OPEN)
            if start >= 0:
                if start:
                    out.append(("text", buf[:start]))
                buf = buf[start + len(OPEN):]
                self._in_call, self._call = True, ""
                continue
            keep = _partial_suffix(buf, OPEN)
            if len(buf) > keep:
                out.append(("text", buf[: len(buf) - keep]))
            self._pending = buf[len(buf) - keep:]
            break
        return out

    def _finish_call(self) -> tuple[str, object]:
        self._in_call = False
        call = parse_tool_call(self._call)
        if call is None:  # not valid JSON: show it as text rather than lose it
            return ("text", OPEN + self._call + CLOSE)
        return ("tool_call", call)

    def finish(self) -> list[tuple[str, object]]:
        """End of generation: flush held-back text; an unterminated call is parsed if it is complete JSON."""
        out: list[tuple[str, object]] = []
        if self._in_call:
            call = parse_tool_call(self._call)
            out.append(("tool_call", call) if call else ("text", OPEN + self._call))
            self._in_call = False
        elif self._pending:
            out.append(("text", self._pending))
        self._pending = ""
        return out
