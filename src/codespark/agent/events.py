"""What an AgentSession tells its user interface: small, plain, JSON-serialisable events.

Every event has a `kind` (the string a UI switches on) and `to_dict()` (what `codespark exec --json` prints,
one per line). Events carry text only: no rich objects, so a TUI, a CLI and a test can all consume them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class AgentEvent:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass
class TurnStarted(AgentEvent):
    """A turn began: `text` is the user's input (for a redirect, the new instruction)."""

    kind: ClassVar[str] = "turn.started"
    turn: int
    text: str
    mode: str


@dataclass
class TextDelta(AgentEvent):
    """A piece of the model's visible reply, as it is generated."""

    kind: ClassVar[str] = "text.delta"
    text: str


@dataclass
class AssistantMessage(AgentEvent):
    """One model response's complete text (after its deltas)."""

    kind: ClassVar[str] = "assistant.message"
    text: str
    status: str  # completed | cancelled | incomplete | failed


@dataclass
class ResponseDone(AgentEvent):
    """One model response ended (a turn has one or more). Token counts and time, for a status line."""

    kind: ClassVar[str] = "response.done"
    response_id: str | None
    status: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    seconds: float
    chained: bool  # sent with previous_response_id (only the new items travelled)


@dataclass
class ToolCallStarted(AgentEvent):
    kind: ClassVar[str] = "tool.started"
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ToolCallFinished(AgentEvent):
    """`output` is exactly what the model is sent back; `ok` is False for any refusal or failure."""

    kind: ClassVar[str] = "tool.finished"
    call_id: str
    name: str
    ok: bool
    output: str


@dataclass
class DiffApplied(AgentEvent):
    """An edit was written to disk (all of its files at once). `undo_depth` edits can be undone now."""

    kind: ClassVar[str] = "diff.applied"
    paths: list[str]
    diff: str  # unified diff, for a coloured display
    edit_format: str
    source: str  # "text" (parsed from the reply) or "tool" (an apply_patch call)
    undo_depth: int


@dataclass
class EditRejected(AgentEvent):
    """An edit the model wrote could not be applied; nothing changed on disk. `message` went to the model."""

    kind: ClassVar[str] = "edit.rejected"
    message: str
    source: str
    will_retry: bool


@dataclass
class EditUndone(AgentEvent):
    kind: ClassVar[str] = "edit.undone"
    paths: list[str]
    diff: str  # the diff of the undo itself (what changed back)
    undo_depth: int


@dataclass
class CommandOutput(AgentEvent):
    kind: ClassVar[str] = "command.output"
    command: str
    exit_code: int | None  # None: it was not run (refused or denied)
    output: str
    timed_out: bool = False
    refused: bool = False


@dataclass
class ContextNote(AgentEvent):
    """Something changed in what the model sees: files attached, old tool output dropped, ..."""

    kind: ClassVar[str] = "context.note"
    text: str


@dataclass
class WarmedUp(AgentEvent):
    kind: ClassVar[str] = "warmed_up"
    paths: list[str]
    input_tokens: int
    cached_tokens: int
    seconds: float


@dataclass
class Redirected(AgentEvent):
    """The generation in flight was cancelled and the turn goes on with `text`."""

    kind: ClassVar[str] = "turn.redirected"
    text: str
    cancelled_response_id: str | None


@dataclass
class TurnFinished(AgentEvent):
    """status: completed | interrupted | failed. `final_text` is the model's last message (what exec prints)."""

    kind: ClassVar[str] = "turn.finished"
    turn: int
    status: str
    final_text: str
    edits: int
    failed_edits: int
    tool_calls: int
    seconds: float
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class ErrorEvent(AgentEvent):
    kind: ClassVar[str] = "error"
    message: str
    code: str | None = None


def stamp() -> float:
    return time.monotonic()
