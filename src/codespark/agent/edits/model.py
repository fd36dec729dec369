"""Plain data types shared by the parsers, the matcher and the writer."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

FormatName = Literal["apply_patch", "search_replace", "whole_file"]
EditKind = Literal["add", "update", "delete", "replace", "write"]
ChangeKind = Literal["add", "update", "delete", "move"]


@dataclass(frozen=True)
class Hunk:
    """One `@@` section of an apply_patch `*** Update File`."""

    contexts: tuple[str, ...] = ()  # `@@ header` lines; each narrows the search to after it
    old_lines: tuple[str, ...] = ()
    new_lines: tuple[str, ...] = ()
    is_eof: bool = False  # `*** End of File`: match at the end of the file first


@dataclass(frozen=True)
class Replacement:
    """One SEARCH/REPLACE block; `number` is its 1-based position in the model's reply."""

    search: str
    replace: str
    number: int


@dataclass(frozen=True)
class FileEdit:
    """A parsed, not yet applied, edit of one file.

    kind: add/update/delete (apply_patch), replace (SEARCH/REPLACE blocks),
    write (whole-file content).
    """

    kind: EditKind
    path: str
    format_name: FormatName
    content: str | None = None  # add / write
    move_to: str | None = None  # update
    hunks: tuple[Hunk, ...] = ()  # update
    blocks: tuple[Replacement, ...] = ()  # replace


@dataclass(frozen=True)
class FileWrite:
    """One low-level file transition, as bytes, so revert is byte-exact."""

    real: Path
    before: bytes | None  # None: the file did not exist
    before_mode: int | None
    after: bytes | None  # None: the file is deleted
    after_mode: int | None

    def inverse(self) -> FileWrite:
        return FileWrite(self.real, self.after, self.after_mode, self.before, self.before_mode)


@dataclass(frozen=True)
class FileChange:
    path: str  # workspace-relative; for a move, the destination
    kind: ChangeKind
    old_text: str | None  # None for add
    new_text: str | None  # None for delete
    old_path: str | None = None  # move source

    def unified_diff(self, context: int = 3) -> str:
        old = _display_lines(self.old_text)
        new = _display_lines(self.new_text)
        src = self.old_path or self.path
        out: list[str] = []
        if self.kind == "move":
            out += [f"rename from {src}\n", f"rename to {self.path}\n"]
        diff = difflib.unified_diff(
            old,
            new,
            fromfile="/dev/null" if self.kind == "add" else f"a/{src}",
            tofile="/dev/null" if self.kind == "delete" else f"b/{self.path}",
            n=context,
        )
        for line in diff:
            # difflib leaves a line without "\n" when the file lacks one; say so like git.
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)


@dataclass(frozen=True)
class EditResult:
    format_name: FormatName
    changes: tuple[FileChange, ...]
    dry_run: bool = False
    workspace: Path | None = field(default=None, repr=False)
    # What revert() needs: the byte-level transitions and directories created for new files.
    writes: tuple[FileWrite, ...] = field(default=(), repr=False)
    created_dirs: tuple[Path, ...] = field(default=(), repr=False)

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.changes]

    def unified_diff(self, context: int = 3) -> str:
        return "".join(c.unified_diff(context) for c in self.changes)


def _display_lines(text: str | None) -> list[str]:
    # Diffs are for people: show CRLF files with plain newlines.
    if text is None:
        return []
    return text.replace("\r\n", "\n").splitlines(keepends=True)
