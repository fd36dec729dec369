"""Errors raised while parsing or applying model-written edits.

Every message is written for two readers: the user looking at the agent's
transcript, and the model that has to retry. So each one names the file and,
where it can, says what to send instead.
"""

from __future__ import annotations

from collections.abc import Sequence


class EditError(Exception):
    """Base class for every edit failure. Nothing is written when one is raised."""


class EditParseError(EditError):
    """The model's text is not a well-formed edit in any accepted format."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


class HunkMismatchError(EditError):
    """A hunk / SEARCH block did not match the file (or matched more than once)."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        hunk: int,
        expected: Sequence[str] = (),
        closest_start: int | None = None,
        closest_lines: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.hunk = hunk  # 1-based, as shown to the model
        self.expected = tuple(expected)
        self.closest_start = closest_start  # 1-based line number, None if nothing similar
        self.closest_lines = tuple(closest_lines)
        super().__init__(message)


class WorkspaceEscapeError(EditError):
    """A path is absolute, climbs out with '..', or goes through a symlink leading outside."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"refusing to edit {path!r}: {reason}")


class BinaryFileError(EditError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"refusing to edit {path}: it looks like a binary file ({reason}); "
            "only UTF-8 text files can be edited"
        )


class FileTooLargeError(EditError):
    def __init__(self, path: str, size: int, limit: int, *, what: str = "file") -> None:
        self.path, self.size, self.limit = path, size, limit
        super().__init__(
            f"refusing to edit {path}: {what} is {size:,} bytes, over the {limit:,}-byte limit "
            "for files the agent edits"
        )


class MissingFileError(EditError):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)
