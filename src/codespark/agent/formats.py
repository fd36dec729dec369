"""Edit formats as interchangeable strategies: how the model is told to write an edit, and one worked example.

Whatever format the prompt asks for, every reply is parsed by codespark.agent.edits, which accepts all of
them (apply_patch, SEARCH/REPLACE, whole file): the format only decides what the model is shown. The
default was chosen by `codespark bench agent` (see docs/benchmarks/agent_edit_formats.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EXAMPLE_PATH = "greet.py"
EXAMPLE_BEFORE = 'def greet(name):\n    print("Hello, " + nam)\n\n\ndef farewell(name):\n    print("Goodbye, " + name)\n'
EXAMPLE_AFTER = EXAMPLE_BEFORE.replace("+ nam)", "+ name)")
EXAMPLE_REQUEST = "Fix the NameError in greet."


@dataclass(frozen=True)
class EditFormat:
    name: str
    instruction: str  # one paragraph for the system prompt
    example_reply: str  # the assistant's reply to EXAMPLE_REQUEST (text formats)
    via_tool: bool = False  # the example answers with an apply_patch call instead of text

    def example_items(self, context_message: dict[str, Any]) -> list[dict[str, Any]]:
        """A worked example as conversation items: the files, the request, the model's edit."""
        request = {"type": "message", "role": "user", "content": EXAMPLE_REQUEST}
        if not self.via_tool:
            return [context_message, request, {"type": "message", "role": "assistant", "content": self.example_reply}]
        return [
            context_message,
            request,
            {"type": "function_call", "call_id": "call_example", "name": "apply_patch",
             "arguments": json.dumps({"patch": self.example_reply})},
            # No closing remark: a small model copies it and claims an edit it never made.
            {"type": "function_call_output", "call_id": "call_example", "output": f"Applied. Changed {EXAMPLE_PATH}."},
        ]


_PATCH_EXAMPLE = (
    "*** Begin Patch\n"
    f"*** Update File: {EXAMPLE_PATH}\n"
    "@@ def greet(name):\n"
    '-    print("Hello, " + nam)\n'
    '+    print("Hello, " + name)\n'
    "*** End Patch"
)

FORMATS: dict[str, EditFormat] = {
    "whole_file": EditFormat(
        "whole_file",
        "To change a file, write its path on a line of its own, then a fenced code block with the COMPLETE new "
        "content of the file (every line, changed or not).",
        f"{EXAMPLE_PATH}\n```python\n{EXAMPLE_AFTER}```",
    ),
    "definitions": EditFormat(
        "definitions",
        "To change a file, write its path on a line of its own, then a fenced code block with the complete new "
        "version of each function or class you change or add. Leave out the ones you do not change. "
        "For a file that is not Python, give the complete new file.",
        f'{EXAMPLE_PATH}\n```python\ndef greet(name):\n    print("Hello, " + name)\n```',
    ),
    "search_replace": EditFormat(
        "search_replace",
        "To change a file, write its path on a line of its own, then a SEARCH/REPLACE block:\n"
        "<<<<<<< SEARCH\n(lines copied exactly from the file)\n=======\n(the new lines)\n>>>>>>> REPLACE",
        f'{EXAMPLE_PATH}\n<<<<<<< SEARCH\n    print("Hello, " + nam)\n=======\n    print("Hello, " + name)\n>>>>>>> REPLACE',
    ),
    "apply_patch": EditFormat(
        "apply_patch",
        "To change a file, write a patch: '*** Begin Patch', '*** Update File: <path>', then '@@' and the "
        "lines, each starting with ' ' (kept), '-' (removed) or '+' (added), then '*** End Patch'.",
        _PATCH_EXAMPLE,
    ),
    "apply_patch_tool": EditFormat(
        "apply_patch_tool",
        "To change a file, call the apply_patch tool with a patch: '*** Begin Patch', '*** Update File: <path>', "
        "then '@@' and lines starting with ' ' (kept), '-' (removed) or '+' (added), then '*** End Patch'.",
        _PATCH_EXAMPLE,
        via_tool=True,
    ),
}

# Chosen from the measured suite: docs/benchmarks/agent_edit_formats.md.
DEFAULT_EDIT_FORMAT = "whole_file"


def get_format(name: str | None) -> EditFormat:
    key = (name or DEFAULT_EDIT_FORMAT).replace("-", "_")
    if key not in FORMATS:
        raise ValueError(f"unknown edit format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[key]
