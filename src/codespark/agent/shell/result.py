"""The outcome of one shell tool call, and its rendering for the model."""

from __future__ import annotations

from dataclasses import dataclass

from .sandbox import SandboxMode

__all__ = ["CommandResult"]


@dataclass(frozen=True)
class CommandResult:
    # None when the command was not run (denied by the user / refused by policy).
    exit_code: int | None
    output: str  # stdout+stderr interleaved, head+tail capped; or why it did not run
    timed_out: bool
    truncated: bool
    duration_s: float
    sandbox: SandboxMode  # where it ran (danger-full-access when escalated)
    denied: bool = False  # not run: the user said no, or the policy refused
    note: str = ""  # extra hint for the model (e.g. "this may be the sandbox")
    cancelled: bool = False  # killed because the user interrupted

    @property
    def ran(self) -> bool:
        return self.exit_code is not None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_model_text(self) -> str:
        """Compact summary that goes back to the model as the tool output."""
        if not self.ran:
            text = f"Command was NOT run. {self.output}".rstrip()
            return f"{text}\n{self.note}" if self.note else text
        lines = [f"Exit code: {self.exit_code}"]
        if self.cancelled:
            lines.append("Interrupted by the user: the command and all its child processes were killed.")
        if self.timed_out:
            lines.append(
                f"Timed out after {self.duration_s:.1f} s: the command and all its "
                f"child processes were killed."
            )
        lines.append(f"Duration: {self.duration_s:.1f} s, sandbox: {self.sandbox}")
        if self.truncated:
            lines.append("Output was truncated (middle omitted).")
        if self.note:
            lines.append(self.note)
        lines.append("Output:")
        lines.append(self.output if self.output else "(no output)")
        return "\n".join(lines)
