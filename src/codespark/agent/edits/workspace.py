"""Keep every edit inside the workspace.

A path is rejected if it is absolute, if `..` climbs above the workspace, or if
any component (the final file included) is a symlink resolving outside it.
Inside the workspace we read and write the resolved target, so editing through
an in-workspace symlink changes the file it points to, not the link itself.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath

from .errors import EditError, WorkspaceEscapeError

_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def normalize(raw: str) -> str:
    """The workspace-relative display form of a model-supplied path."""
    path = raw.strip()
    if not path:
        raise EditError("an edit has an empty file path")
    if "\0" in path:
        raise WorkspaceEscapeError(path, "the path contains a NUL byte")
    if PurePosixPath(path).is_absolute() or path.startswith("~") or _WINDOWS_ABS.match(path):
        raise WorkspaceEscapeError(path, "absolute paths are not allowed; use a path relative to the workspace")
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise WorkspaceEscapeError(path, "'..' leads outside the workspace")
    if norm == ".":
        raise EditError(f"{path!r} names the workspace itself, not a file")
    return norm


def resolve(root: Path, raw: str) -> tuple[str, Path]:
    """(display path, real path to read/write). `root` must already be resolved."""
    rel = normalize(raw)
    real = (root / rel).resolve()  # follows symlinks in every existing component
    if real == root or not real.is_relative_to(root):
        raise WorkspaceEscapeError(rel, f"it resolves through a symlink to {real}, outside the workspace")
    return rel, real


def check_inside(root: Path, real: Path) -> None:
    """Re-check at write time that nothing was swapped for an escaping symlink since planning."""
    parent = real.parent.resolve()
    if not parent.is_relative_to(root) or real.is_symlink():
        raise WorkspaceEscapeError(str(real), "the path changed into a symlink since the edit was planned")
