"""Translate Responses input items and tools into the chat messages the engine renders.

Responses items (messages, function calls and their outputs) become OpenAI chat-shaped messages, which the
model's own chat template turns into a prompt. Tools that cannot run here (web search, file search, ...)
are left out; namespace tools are flattened; freeform (custom) tools become a function with one string
argument, and their calls go back to the client as custom_tool_call items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..protocol.errors import invalid

TEXT_PARTS = {"input_text", "output_text", "text", "summary_text", "refusal"}
# Forcing a call pre-fills the reply up to the name; the engine then picks among the tool names only.
FORCE_ANY_CALL = '<tool_call>\n{"name": "'
SKIPPED_ITEMS = {"reasoning", "item_reference", "compaction", "web_search_call", "file_search_call", "image_generation_call"}


def normalize_input(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's input as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"Invalid 'input[{i}]': expected an object.", f"input[{i}]", "invalid_type")
        kind = item.get("type", "message" if "role" in item else None)
        if kind is None:
            raise invalid(f"Invalid 'input[{i}]': an item needs a 'type' (or a 'role' for a message).", f"input[{i}]")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise invalid(f"Invalid 'input[{i}].role': expected one of user, assistant, system, developer.", f"input[{i}].role")
            if not isinstance(item.get("content"), (str, list)):
                raise invalid(f"Invalid 'input[{i}].content': expected a string or an array of content parts.", f"input[{i}].content", "invalid_type")
        elif kind in ("function_call", "custom_tool_call"):
            for key in ("call_id", "name"):
                if not isinstance(item.get(key), str):
                    raise invalid(f"Missing or invalid 'input[{i}].{key}': expected a string.", f"input[{i}].{key}", "invalid_type")
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not isinstance(item.get("call_id"), str):
                raise invalid(f"Missing or invalid 'input[{i}].call_id': expected a string.", f"input[{i}].call_id", "invalid_type")
    return list(value)


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") in TEXT_PARTS or "text" in part:
            parts.append(str(part.get("text") or part.get("refusal") or ""))
        elif part.get("type") in ("input_image", "input_file", "input_audio"):
            parts.append(f"[{part['type'].removeprefix('input_')} omitted: this model reads text only]")
    return "".join(parts)


def _arguments_object(arguments: Any) -> Any:
    # The template re-serialises arguments; give it the object so the prompt matches what the model wrote.
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    return arguments


def to_chat_messages(instructions: str | list | None, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": content_text(instructions) if isinstance(instructions, list) else instructions})
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": content_text(item["content"])})
        elif kind in ("function_call", "custom_tool_call"):
            if kind == "function_call":
                arguments = _arguments_object(item.get("arguments", "{}"))
            else:
                arguments = {"input": item.get("input", "")}
            call = {"type": "function", "id": item["call_id"], "function": {"name": item["name"], "arguments": arguments}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and last.get("_open_calls"):
                last["tool_calls"].append(call)
            elif last and last["role"] == "assistant" and "tool_calls" not in last:
                last["tool_calls"] = [call]
                last["_open_calls"] = True
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call], "_open_calls": True})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output", "")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output if isinstance(output, str) else content_text(output)})
        elif kind in SKIPPED_ITEMS:
            continue
    for m in messages:
        m.pop("_open_calls", None)
    return messages


@dataclass
class ToolSet:
    chat_tools: list[dict[str, Any]] = field(default_factory=list)
    custom: set[str] = field(default_factory=set)  # names of freeform tools

    def names(self) -> set[str]:
        return {t["function"]["name"] for t in self.chat_tools}


def _add_tool(tools: ToolSet, tool: dict[str, Any], where: str) -> None:
    kind = tool.get("type")
    if kind == "namespace":
        for j, inner in enumerate(tool.get("tools") or []):
            if isinstance(inner, dict):
                _add_tool(tools, inner, f"{where}.tools[{j}]")
        return
    if kind not in ("function", "custom"):
        return  # hosted tools (web_search, file_search, mcp, ...) cannot run here: leave them out
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"Missing or invalid '{where}.name': a {kind} tool needs a name.", f"{where}.name")
    if name in tools.names():
        return
    if kind == "function":
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise invalid(f"Invalid '{where}.parameters': expected a JSON schema object.", f"{where}.parameters", "invalid_type")
        fn = {"name": name, "description": tool.get("description") or "", "parameters": params}
    else:
        described = tool.get("description") or ""
        fmt = tool.get("format") or {}
        if fmt.get("type") == "grammar" and fmt.get("definition"):
            described += f"\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
        fn = {
            "name": name,
            "description": described.strip(),
            "parameters": {"type": "object", "properties": {"input": {"type": "string", "description": "The tool's raw input."}}, "required": ["input"]},
        }
        tools.custom.add(name)
    tools.chat_tools.append({"type": "function", "function": fn})


def build_tools(tools: list[dict[str, Any]] | None) -> ToolSet:
    result = ToolSet()
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid 'tools[{i}]': expected an object.", f"tools[{i}]", "invalid_type")
        _add_tool(result, tool, f"tools[{i}]")
    return result


def apply_tool_choice(tools: ToolSet, choice: str | dict | None) -> tuple[list[dict[str, Any]], str]:
    """The tools to show the model and a forced start of its reply (how 'required' is honoured)."""
    if choice is None or choice == "auto":
        return tools.chat_tools, ""
    if choice == "none":
        return [], ""
    if choice == "required":
        if not tools.chat_tools:
            raise invalid("tool_choice is 'required' but no tools that can run here were given.", "tool_choice")
        return tools.chat_tools, FORCE_ANY_CALL
    if isinstance(choice, str):
        raise invalid(f"Invalid 'tool_choice': '{choice}'. Expected auto, none, required or a tool object.", "tool_choice")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = choice.get("name")
        if name not in tools.names():
            raise invalid(f"Invalid 'tool_choice': no tool named '{name}' in 'tools'.", "tool_choice.name")
        return tools.chat_tools, '<tool_call>\n{"name": ' + json.dumps(name) + ', "arguments": '
    if kind == "allowed_tools":
        allowed = {t.get("name") for t in choice.get("tools") or [] if isinstance(t, dict)}
        subset = [t for t in tools.chat_tools if t["function"]["name"] in allowed]
        return subset, FORCE_ANY_CALL if choice.get("mode") == "required" and subset else ""
    return tools.chat_tools, ""  # hosted-tool choices (e.g. web_search) have nothing to force here
