"""The terminal UI's widgets: the transcript (streamed replies, coloured diffs, compact tool calls), the status
line, and the approval modal. Everything the model or a command wrote is shown as plain text (never parsed
as markup), and every entry keeps its text in `plain` so tests can read what the user sees.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

MAX_DIFF_LINES = 80
MAX_OUTPUT_LINES = 6
MAX_LINE_CHARS = 240

DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


def _clip(line: str, n: int = MAX_LINE_CHARS) -> str:
    return line if len(line) <= n else line[: n - 1] + "…"


def diff_text(diff: str, max_lines: int = MAX_DIFF_LINES) -> Text:
    """A unified diff as Rich text: green additions, red removals, cyan hunk headers, bold file headers."""
    out = Text()
    lines = diff.splitlines()
    shown = lines[:max_lines]
    for i, line in enumerate(shown):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = DIFF_STYLES["@"]
        elif line.startswith("+"):
            style = DIFF_STYLES["+"]
        elif line.startswith("-"):
            style = DIFF_STYLES["-"]
        else:
            style = "dim"
        out.append(_clip(line), style=style)
        if i < len(shown) - 1:
            out.append("\n")
    if len(lines) > max_lines:
        out.append(f"\n… {len(lines) - max_lines} more diff lines", style="dim italic")
    return out


def styled_lines(text: Text) -> list[tuple[str, str]]:
    """(line, style of its first span) for each line of `text`: what colour each diff line is drawn in."""
    out = []
    for line in text.split("\n"):
        style = str(line.spans[0].style) if line.spans else str(line.style or "")
        out.append((line.plain, style))
    return out


def tail_lines(text: str, n: int = MAX_OUTPUT_LINES) -> tuple[list[str], int]:
    """The last `n` non-trailing lines of command output, and how many were left out."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= n:
        return lines, 0
    return lines[-n:], len(lines) - n


def compact_arguments(name: str, arguments: dict[str, Any]) -> str:
    """Tool arguments on one short line (an apply_patch's patch is shown as its diff instead)."""
    if name == "apply_patch":
        return ""
    if name == "shell":
        cmd = arguments.get("command", arguments.get("cmd", ""))
        if isinstance(cmd, list):
            cmd = " ".join(str(c) for c in cmd)
        return _clip(str(cmd), 160)
    parts = []
    for k, v in arguments.items():
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        parts.append(f"{k}={_clip(str(s).replace(chr(10), ' '), 60)}")
    return _clip(" ".join(parts), 160)


class Entry(Static):
    """One transcript entry: `plain` is its text, `rich` what is drawn."""

    DEFAULT_CSS = ""

    def __init__(self, text: Text | str = "", *, classes: str = "") -> None:
        rich = text if isinstance(text, Text) else Text(text)
        super().__init__(rich, classes=("entry " + classes).strip(), markup=False)
        self.rich = rich
        self.plain = rich.plain

    def set(self, text: Text | str) -> None:
        self.rich = text if isinstance(text, Text) else Text(text)
        self.plain = self.rich.plain
        self.update(self.rich)


class UserEntry(Entry):
    def __init__(self, text: str, prefix: str = "› ", classes: str = "user") -> None:
        t = Text(prefix, style="bold")
        t.append(text)
        super().__init__(t, classes=classes)
        self.text = text


class AssistantEntry(Entry):
    """A model reply that grows as deltas arrive; drawn at most every flush (see Transcript.flush)."""

    def __init__(self) -> None:
        super().__init__("", classes="assistant")
        self.buffer: list[str] = []
        self.status: str | None = None  # completed | cancelled | incomplete | failed once it ended
        self._dirty = False

    @property
    def text(self) -> str:
        return "".join(self.buffer)

    def append(self, delta: str) -> None:
        self.buffer.append(delta)
        self.plain = self.text
        self._dirty = True

    def flush(self) -> bool:
        if not self._dirty:
            return False
        self._dirty = False
        t = Text(self.text.rstrip("\n") or "…")
        if self.status in ("cancelled", "incomplete", "failed"):
            note = {"cancelled": "stopped", "incomplete": "cut off (output limit)", "failed": "failed"}[self.status]
            t.append(f"  [{note}]", style="yellow italic")
        self.rich = t
        self.update(t)
        return True

    def finish(self, status: str, full_text: str | None = None) -> None:
        if full_text and full_text.strip() and not self.text.strip():
            self.buffer = [full_text]
            self.plain = full_text
        self.status = status
        self._dirty = True
        self.flush()


class DiffEntry(Entry):
    def __init__(self, paths: list[str], diff: str, undo_depth: int, *, undone: bool = False) -> None:
        head = Text()
        if undone:
            head.append("↶ undid edit of ", style="bold magenta")
            head.append(", ".join(paths), style="bold")
        else:
            head.append("✎ edited ", style="bold green")
            head.append(", ".join(paths), style="bold")
        head.append(f"   (undo depth {undo_depth}" + (", /undo to revert)" if undo_depth and not undone else ")"),
                    style="dim")
        body = diff_text(diff)
        text = head + Text("\n") + body if body.plain else head
        super().__init__(text, classes="diff undone" if undone else "diff")
        self.paths = paths
        self.diff = diff
        self.undone = undone
        self.diff_rich = body


class ToolEntry(Entry):
    def __init__(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        self.call_id = call_id
        self.tool_name = name
        self.args_line = compact_arguments(name, arguments)
        super().__init__(self._line(None, ""), classes="tool")

    def _line(self, ok: bool | None, output: str) -> Text:
        mark = {None: ("⚙ ", "cyan"), True: ("✓ ", "green"), False: ("✗ ", "red")}[ok]
        t = Text(mark[0], style=mark[1])
        t.append(self.tool_name, style="bold")
        if self.args_line:
            t.append(" " + self.args_line, style="dim")
        if ok is not None and self.tool_name not in ("shell", "apply_patch"):
            first = output.strip().splitlines()[0] if output.strip() else ""
            n = len(output.splitlines())
            if first:
                t.append("  → " + _clip(first, 100) + (f" (+{n - 1} lines)" if n > 1 else ""), style="dim")
        return t

    def finished(self, ok: bool, output: str) -> None:
        self.set(self._line(ok, output))


class CommandEntry(Entry):
    def __init__(self, command: str, exit_code: int | None, output: str, timed_out: bool, refused: bool) -> None:
        t = Text("$ ", style="bold")
        t.append(_clip(command, 200), style="bold")
        if refused or exit_code is None:
            t.append("  (not run)", style="yellow")
        elif timed_out:
            t.append("  (timed out)", style="red")
        else:
            t.append(f"  (exit {exit_code})", style="green" if exit_code == 0 else "red")
        lines, dropped = tail_lines(output)
        if dropped:
            t.append(f"\n  … {dropped} earlier lines", style="dim italic")
        for line in lines:
            t.append("\n  " + _clip(line), style="dim")
        super().__init__(t, classes="command")
        self.command = command
        self.exit_code = exit_code


class NoteEntry(Entry):
    def __init__(self, text: str, *, kind: str = "note") -> None:
        icon, style = {"note": ("ℹ ", "yellow"), "info": ("· ", "dim"), "redirect": ("↪ ", "magenta")}[kind]
        t = Text(icon, style=style)
        t.append(text.replace("\n", "\n  "), style="italic" if kind == "note" else "")
        super().__init__(t, classes=kind)
        self.text = text


class ErrorEntry(Entry):
    def __init__(self, message: str) -> None:
        t = Text("✗ ", style="bold red")
        t.append(message, style="red")
        super().__init__(t, classes="error")
        self.message = message


class TurnEndEntry(Entry):
    def __init__(self, status: str, seconds: float, edits: int, tool_calls: int, usage: dict[str, int],
                 error: str | None) -> None:
        style = {"completed": "green", "interrupted": "yellow", "failed": "red"}.get(status, "white")
        word = {"completed": "done", "interrupted": "interrupted", "failed": "failed"}.get(status, status)
        t = Text("── ", style="dim")
        t.append(word, style=f"bold {style}")
        bits = [f"{seconds:.1f}s"]
        if edits:
            bits.append(f"{edits} edit{'s' if edits != 1 else ''}")
        if tool_calls:
            bits.append(f"{tool_calls} tool call{'s' if tool_calls != 1 else ''}")
        if usage.get("output_tokens"):
            bits.append(f"{usage['output_tokens']} tokens out")
        if usage.get("input_tokens"):
            bits.append(f"{usage['input_tokens']} in ({usage.get('cached_tokens', 0)} cached)")
        t.append(" · " + " · ".join(bits), style="dim")
        if error and status != "interrupted":
            t.append("\n   " + error, style="red")
        super().__init__(t, classes="turn-end")
        self.status = status


class Transcript(VerticalScroll):
    """The conversation, newest at the bottom; follows the bottom unless the user scrolled up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.current: AssistantEntry | None = None
        self.tools: dict[str, ToolEntry] = {}

    @property
    def entries(self) -> list[Entry]:
        return [c for c in self.children if isinstance(c, Entry)]

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.entries if isinstance(e, cls)]

    def plain_text(self) -> str:
        return "\n".join(e.plain for e in self.entries)

    def _at_end(self) -> bool:
        return self.max_scroll_y - self.scroll_y <= 1

    def add(self, entry: Entry) -> Entry:
        follow = self._at_end()
        if not isinstance(entry, AssistantEntry):
            self.end_stream()
        self.mount(entry)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)
        return entry

    # the streamed reply -------------------------------------------------------------------------

    def stream(self, delta: str) -> None:
        if self.current is None:
            self.current = AssistantEntry()
            self.add(self.current)
        self.current.append(delta)

    def end_stream(self, status: str | None = None, full_text: str | None = None) -> None:
        cur, self.current = self.current, None
        if cur is not None:
            cur.finish(status or cur.status or "completed", full_text)

    def flush(self) -> None:
        if self.current is not None:
            follow = self._at_end()
            if self.current.flush() and follow:
                self.call_after_refresh(self.scroll_end, animate=False)

    def tool_started(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        self.tools[call_id] = self.add(ToolEntry(call_id, name, arguments))  # type: ignore[assignment]

    def tool_finished(self, call_id: str, ok: bool, output: str) -> None:
        entry = self.tools.pop(call_id, None)
        if entry is not None:
            entry.finished(ok, output)

    async def clear(self) -> None:
        self.current = None
        self.tools = {}
        await self.remove_children()


class StatusLine(Static):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self.plain = ""

    def show(self, text: Text) -> None:
        self.plain = text.plain
        self.update(text)


class ApprovalScreen(ModalScreen[str]):
    """Asks about one command: approve / approve for the session / deny (Esc denies)."""

    BINDINGS = [
        Binding("a,y", "decide('approve')", "approve", priority=True),
        Binding("s", "decide('approve_for_session')", "approve for session", priority=True),
        Binding("d,n,escape", "decide('deny')", "deny", priority=True),
    ]

    def __init__(self, command: str, cwd: str, sandbox: str, reason: str, justification: str | None,
                 escalate: bool) -> None:
        super().__init__()
        self.command = command
        self.cwd = cwd
        self.sandbox = sandbox
        self.reason = reason
        self.justification = justification
        self.escalate = escalate

    def compose(self) -> ComposeResult:
        t = Text("The agent wants to run a command\n\n", style="bold")
        t.append("$ " + self.command + "\n", style="bold yellow")
        t.append(f"\nin {self.cwd}\n", style="dim")
        t.append(f"sandbox: {self.sandbox}" + ("  (outside the sandbox!)" if self.escalate else "") + "\n",
                 style="red" if self.escalate else "dim")
        t.append(f"why asked: {self.reason}\n", style="dim")
        if self.justification:
            t.append(f"the model says: {self.justification}\n", style="italic")
        t.rstrip()
        with Vertical(id="approval"):
            yield Static(t, id="approval-text", markup=False)
            with Horizontal(id="approval-buttons"):
                yield Button("Approve (a)", id="approve", variant="success")
                yield Button("For this session (s)", id="approve_for_session", variant="primary")
                yield Button("Deny (d / Esc)", id="deny", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "deny")

    def action_decide(self, decision: str) -> None:
        self.dismiss(decision)
