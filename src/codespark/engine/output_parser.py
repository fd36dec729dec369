"""Split a model's streamed text into user-visible text and tool calls.

Qwen2.5 emits a call as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`. Small models often
write the same object in a ```json fence or bare instead; when a reply opens that way it is held back until
it can be decided, and becomes a call only if it names one of the request's tools. Text is otherwise
released as soon as it cannot be the start of a tag, so a tag never leaks into the visible stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
MAX_HELD = 8000  # a JSON-looking reply longer than this is shown as text
_BARE_KEY = re.compile(r'([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:')


@dataclass
class ParsedToolCall:
    name: str
    arguments: str  # JSON text


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of tag."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def _loads_lenient(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:  # small models drop the quotes around keys: {name: "f", arguments: {...}}
        return json.loads(_BARE_KEY.sub(r'\1"\2":', text))
    except json.JSONDecodeError:
        return None


def parse_tool_call(body: str, names: set[str] | None = None) -> ParsedToolCall | None:
    obj = _loads_lenient(body.strip())
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    if names is not None and obj["name"] not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):  # some models emit the arguments pre-encoded
        decoded = _loads_lenient(args)
        args = decoded if isinstance(decoded, dict) else {"input": args}
    return ParsedToolCall(obj["name"], json.dumps(args, ensure_ascii=False))


def _json_block_end(text: str) -> int | None:
    """Index just past a complete top-level JSON object at the start of text, if it is complete."""
    depth, in_str, esc = 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


class OutputParser:
    """Feed text chunks; get back ("text", str) and ("tool_call", ParsedToolCall) pieces in order."""

    def __init__(self, tools_enabled: bool, tool_names: set[str] | None = None):
        self.tools_enabled = tools_enabled
        self.tool_names = tool_names
        self._pending = ""  # text held back because it may begin a tag or a JSON call
        self._in_call = False
        self._call = ""
        self._at_start = True  # nothing visible emitted yet: a JSON call may still begin here

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
                out.append(self._finish_tag_call())
                continue
            if self._at_start and self.tool_names:
                decided, pieces, buf = self._json_call(buf)
                out.extend(pieces)
                if not decided:
                    self._pending = buf
                    break
                continue
            start = buf.find(OPEN)
            if start >= 0:
                if start:
                    self._text(out, buf[:start])
                buf = buf[start + len(OPEN):]
                self._in_call, self._call = True, ""
                continue
            keep = _partial_suffix(buf, OPEN)
            if len(buf) > keep:
                self._text(out, buf[: len(buf) - keep])
            self._pending = buf[len(buf) - keep:]
            break
        return out

    def _text(self, out: list, text: str) -> None:
        if text:
            out.append(("text", text))
            if text.strip():
                self._at_start = False

    def _json_call(self, buf: str) -> tuple[bool, list, str]:
        """At the start of a reply: (decided?, pieces, rest). Undecided means hold buf back."""
        stripped = buf.lstrip()
        if not stripped:
            return False, [], buf
        fence = stripped.startswith("```")
        if not (fence or stripped.startswith("{") or "```json".startswith(stripped) or "```".startswith(stripped)):
            self._at_start = False
            return True, [], buf
        if len(buf) > MAX_HELD:
            self._at_start = False
            return True, [], buf
        if fence:
            first_nl = stripped.find("\n")
            if first_nl < 0:
                return False, [], buf
            if stripped[3:first_nl].strip() not in ("", "json", "tool_call"):
                self._at_start = False  # a code block, not a call
                return True, [], buf
            close = stripped.find("```", first_nl)
            if close < 0:
                return False, [], buf
            body, rest = stripped[first_nl + 1 : close], stripped[close + 3 :]
        else:
            end = _json_block_end(stripped)
            if end is None:
                return False, [], buf
            body, rest = stripped[:end], stripped[end:]
        call = parse_tool_call(body, self.tool_names)
        if call is None:
            self._at_start = False
            return True, [], buf
        return True, [("tool_call", call)], rest

    def _finish_tag_call(self) -> tuple[str, object]:
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
            if self._at_start and self.tool_names:
                call = parse_tool_call(self._pending.strip().strip("`").removeprefix("json"), self.tool_names)
                if call:
                    out.append(("tool_call", call))
                    self._pending = ""
                    return out
            out.append(("text", self._pending))
        self._pending = ""
        return out
