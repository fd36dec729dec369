"""Apply the model's edits to the workspace (validated, atomic) and keep the undo stack.

On top of codespark.agent.edits (parse, match, write all-or-nothing) this adds one check a small model
needs: a Python file that compiled before the edit must still compile after it, or nothing is written and
the model gets the syntax error to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .edits import DEFAULT_MAX_FILE_BYTES, EditError, EditResult, apply_edits, parse_edits, revert
from .edits.model import FileEdit


@dataclass
class Editor:
    workspace: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    applied: list[EditResult] = field(default_factory=list)  # the undo stack, oldest first

    def parse(self, text: str) -> list[FileEdit]:
        return parse_edits(text)

    def apply(self, text_or_edits: str | list[FileEdit]) -> EditResult:
        """Parse, plan, validate and write; raises EditError (nothing written) with a message for the model."""
        edits = parse_edits(text_or_edits) if isinstance(text_or_edits, str) else text_or_edits
        planned = apply_edits(self.workspace, edits, dry_run=True, max_file_bytes=self.max_file_bytes)
        if not planned.changes:
            raise EditError(
                "the edit changes nothing: the new content is identical to the file. "
                "Change the lines the user asked about."
            )
        for change in planned.changes:
            problem = syntax_regression(change.path, change.old_text, change.new_text)
            if problem:
                raise EditError(problem)
        result = apply_edits(self.workspace, edits, max_file_bytes=self.max_file_bytes)
        self.applied.append(result)
        return result

    def undo(self) -> EditResult:
        if not self.applied:
            raise EditError("nothing to undo")
        result = revert(self.workspace, self.applied[-1])  # refuses if the files changed since
        self.applied.pop()
        return result

    @property
    def depth(self) -> int:
        return len(self.applied)


def _compiles(path: str, text: str) -> SyntaxError | None:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError:  # e.g. NUL bytes
        return None
    return None


def syntax_regression(path: str, old: str | None, new: str | None) -> str | None:
    """A message if the edit breaks a Python file's syntax (a file that was already broken is not held to it)."""
    if new is None or not path.endswith(".py"):
        return None
    err = _compiles(path, new)
    if err is None or (old is not None and _compiles(path, old) is not None):
        return None
    line = (err.text or "").rstrip("\n")
    where = f" at line {err.lineno}" if err.lineno else ""
    shown = f": {line.strip()!r}" if line.strip() else ""
    return (
        f"the edit would leave {path} with a Python syntax error{where} ({err.msg}){shown}. "
        "Nothing was written. Send the edit again with correct indentation and complete statements."
    )
