"""The function tools the model gets, their schemas, and their dispatch.

read_file, list_files, search (read-only, .gitignore-aware, confined to the workspace), apply_patch (any
accepted edit format, through the session's Editor), shell (the sandboxed ShellTool; in real-time mode test
and build commands are refused unless the user asked). Arguments are read leniently, because a 0.5B
model misnames them ("file" for "path", "cmd" for "command", a bare string for the patch).

Every outcome, including every refusal or failure, is a ToolOutcome whose `output` is what the model is
told: precise and actionable, so it can retry.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import repo
from .edits import EditError, EditResult
from .shell import CommandResult, SandboxUnavailableError, ShellTool, is_test_or_build_command

TOOL_NAMES = ("read_file", "list_files", "search", "apply_patch", "shell")


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}


def tool_schemas(patch_description: str) -> list[dict[str, Any]]:
    return [
        _fn("read_file", "Read a text file (one page of up to 400 lines; use start_line for the next page).",
            {"path": {"type": "string"}, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}, ["path"]),
        _fn("list_files", "List the workspace's files (respects .gitignore), optionally matching a glob like '*.py'.",
            {"pattern": {"type": "string"}}, []),
        _fn("search", "Search the workspace's text files for a string; returns path:line: text.",
            {"query": {"type": "string"}, "pattern": {"type": "string", "description": "file glob"}}, ["query"]),
        _fn("apply_patch", patch_description, {"patch": {"type": "string"}}, ["patch"]),
        _fn("shell", "Run a shell command in the workspace (sandboxed) and return its output.",
            {"command": {"type": "string"}}, ["command"]),
    ]


@dataclass
class ToolOutcome:
    ok: bool
    output: str  # for the model
    edit: EditResult | None = None  # apply_patch: what was written
    command: CommandResult | None = None  # shell: how it ran
    command_text: str | None = None
    refused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def parse_arguments(raw: str | dict | None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {"_raw": raw}
    if isinstance(value, dict):
        return value
    return {"_raw": value if isinstance(value, str) else raw}


def _pick(args: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in args and args[n] not in (None, ""):
            return args[n]
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


class ToolBox:
    """Dispatches one call. `apply_edit(text)` is the session's editor (so undo and events live there)."""

    def __init__(
        self,
        root: Path,
        shell: ShellTool,
        apply_edit: Callable[[str], EditResult],
        *,
        tests_allowed: Callable[[], bool],
        command_timeout_s: float,
    ):
        self.root = root
        self.shell = shell
        self.apply_edit = apply_edit
        self.tests_allowed = tests_allowed
        self.command_timeout_s = command_timeout_s
        self.cancel = threading.Event()  # set by the session on interrupt/redirect: kills a running command

    async def call(self, name: str, raw_arguments: str | dict | None) -> ToolOutcome:
        args = parse_arguments(raw_arguments)
        handler = {
            "read_file": self._read_file, "list_files": self._list_files, "search": self._search,
            "apply_patch": self._apply_patch, "shell": self._shell,
        }.get(name)
        if handler is None:
            return ToolOutcome(False, f"There is no tool named {name!r}. Available tools: {', '.join(TOOL_NAMES)}.")
        try:
            return await handler(args)
        except repo.RepoError as exc:
            return ToolOutcome(False, f"Error: {exc}")

    async def _read_file(self, args: dict[str, Any]) -> ToolOutcome:
        path = _pick(args, "path", "file", "file_path", "filename", "filepath", "name", "_raw")
        if not isinstance(path, str):
            return ToolOutcome(False, 'Error: read_file needs a "path", e.g. {"path": "src/app.py"}.')
        start = _int(_pick(args, "start_line", "start", "line", "from", "offset"))
        end = _int(_pick(args, "end_line", "end", "to"))
        page = await asyncio.to_thread(repo.read_page, self.root, path, start, end)
        if page.total_lines == 0:
            return ToolOutcome(True, f"{page.path} is empty.")
        head = f"{page.path} (lines {page.start}-{page.end} of {page.total_lines})"
        tail = ""
        if page.end < page.total_lines and (end is None or page.end < end):
            tail = f"\n[More: call read_file with start_line={page.end + 1} for the next page.]"
        return ToolOutcome(True, f"{head}\n{page.text}{tail}", extra={"path": page.path})

    async def _list_files(self, args: dict[str, Any]) -> ToolOutcome:
        pattern = _pick(args, "pattern", "glob", "path", "dir", "directory", "_raw")
        pattern = pattern if isinstance(pattern, str) and pattern.strip() not in (".", "./", "*", "**") else None
        files, total = await asyncio.to_thread(repo.list_files, self.root, pattern)
        if not files:
            return ToolOutcome(True, f"No files match {pattern!r}." if pattern else "The workspace has no files.")
        more = f"\n[{total - len(files)} more not shown; narrow the pattern.]" if total > len(files) else ""
        return ToolOutcome(True, "\n".join(files) + more)

    async def _search(self, args: dict[str, Any]) -> ToolOutcome:
        query = _pick(args, "query", "text", "pattern_text", "q", "search", "_raw")
        if not isinstance(query, str):
            return ToolOutcome(False, 'Error: search needs a "query", e.g. {"query": "def main"}.')
        glob = _pick(args, "pattern", "glob", "path", "include")
        hits, total = await asyncio.to_thread(repo.search, self.root, query, glob if isinstance(glob, str) else None,
                                              regex=bool(args.get("regex")))
        if not hits:
            return ToolOutcome(True, f"No matches for {query!r}.")
        more = f"\n[{total - len(hits)} more matches not shown.]" if total > len(hits) else ""
        return ToolOutcome(True, "\n".join(f"{h.path}:{h.line}: {h.text}" for h in hits) + more)

    async def _apply_patch(self, args: dict[str, Any]) -> ToolOutcome:
        patch = _pick(args, "patch", "input", "diff", "content", "edit", "edits", "text", "_raw")
        if not isinstance(patch, str) or not patch.strip():
            return ToolOutcome(False, 'Error: apply_patch needs a "patch" string starting with "*** Begin Patch".')
        try:
            result = await asyncio.to_thread(self.apply_edit, patch)
        except EditError as exc:
            return ToolOutcome(False, f"The patch was NOT applied: {exc}")
        changed = ", ".join(f"{c.path} ({c.kind})" for c in result.changes)
        return ToolOutcome(True, f"Applied. Changed {changed}.", edit=result)

    async def _shell(self, args: dict[str, Any]) -> ToolOutcome:
        command = _pick(args, "command", "cmd", "script", "commands", "_raw")
        if isinstance(command, list):
            command = " ".join(str(c) for c in command)
        if not isinstance(command, str) or not command.strip():
            return ToolOutcome(False, 'Error: shell needs a "command" string, e.g. {"command": "ls"}.')
        if not self.tests_allowed() and is_test_or_build_command(command):
            return ToolOutcome(
                False,
                "Command was NOT run: real-time mode does not run tests or builds unless the user asks for it. "
                "Do not run it; finish the edit and reply. The user will run the tests.",
                command_text=command, refused=True,
            )
        timeout = _int(args.get("timeout"))
        timeout_s = min(float(timeout), self.command_timeout_s * 5) if timeout and timeout > 0 else self.command_timeout_s
        try:
            result = await asyncio.to_thread(
                self.shell.run, command, escalate=bool(args.get("escalate")), timeout=timeout_s,
                justification=args.get("justification") if isinstance(args.get("justification"), str) else None,
                cancel=self.cancel,
            )
        except SandboxUnavailableError as exc:
            return ToolOutcome(False, f"Command was NOT run: the sandbox is unavailable ({exc}).", command_text=command, refused=True)
        return ToolOutcome(result.ok, result.to_model_text(), command=result, command_text=command, refused=result.denied)
