"""The agent's options in one typed place (defaults, then CODESPARK_AGENT_* environment, then flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import state_dir
from .formats import DEFAULT_EDIT_FORMAT
from .shell import ApprovalPolicy, SandboxMode


@dataclass
class AgentOptions:
    workspace: Path = field(default_factory=Path.cwd)
    mode: str = "realtime"
    edit_format: str = field(default_factory=lambda: os.environ.get("CODESPARK_AGENT_EDIT_FORMAT", DEFAULT_EDIT_FORMAT))
    model: str | None = None  # None: the server's default model
    sandbox: SandboxMode = SandboxMode.WORKSPACE_WRITE
    approval: ApprovalPolicy = ApprovalPolicy.ON_REQUEST
    command_timeout_s: float = float(os.environ.get("CODESPARK_AGENT_COMMAND_TIMEOUT_S", 60))
    command_output_cap: int = 32 * 1024
    temperature: float = 0.0
    max_output_tokens: int | None = None  # None: the mode's default
    context_window: int | None = None  # None: ask the server (/v1/models), else 32768
    context_file_bytes: int = 48 * 1024  # a mentioned file bigger than this is not inlined (the model pages it)
    context_budget_tokens: int = 6000  # most tokens of file content attached to one turn
    small_repo_files: int = 12  # a repository with at most this many text files ...
    small_repo_bytes: int = 16 * 1024  # ... and at most this many bytes is attached whole on the first turn
    tools: bool = True  # offer the function tools (read/list/search/apply_patch/shell)
    record: bool = True  # write a JSONL transcript under the state directory
    sessions_dir: Path | None = None  # None: <state dir>/sessions
    store: bool = True  # ask the server to store responses (lets a reconnect or resume continue the chain)

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).resolve()
        self.sandbox = SandboxMode(self.sandbox)
        self.approval = ApprovalPolicy(self.approval)

    @property
    def transcripts_dir(self) -> Path:
        return Path(self.sessions_dir) if self.sessions_dir else state_dir() / "sessions"
