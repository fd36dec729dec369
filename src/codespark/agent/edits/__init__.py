"""Apply model-written file edits: Codex apply_patch, Aider SEARCH/REPLACE, or whole files.

    result = apply_edits(workspace, model_reply)   # all files or none
    print(result.unified_diff())
    revert(workspace, result)                      # /undo
"""

from .apply import DEFAULT_MAX_FILE_BYTES, apply_edits, revert
from .errors import (
    BinaryFileError,
    EditError,
    EditParseError,
    FileTooLargeError,
    HunkMismatchError,
    MissingFileError,
    WorkspaceEscapeError,
)
from .model import EditResult, FileChange, FileEdit, Hunk, Replacement
from .parse import parse_edits

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "BinaryFileError",
    "EditError",
    "EditParseError",
    "EditResult",
    "FileChange",
    "FileEdit",
    "FileTooLargeError",
    "HunkMismatchError",
    "Hunk",
    "MissingFileError",
    "Replacement",
    "WorkspaceEscapeError",
    "apply_edits",
    "parse_edits",
    "revert",
]
