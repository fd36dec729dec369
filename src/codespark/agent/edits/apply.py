"""Write a planned edit atomically, and undo it.

All new contents are computed before anything is written (engine.plan). Then:
1. check every file still has the bytes it had when planned (the user may have
   saved in an editor meanwhile);
2. write each file to a temp file in its own directory, fsync, os.replace;
3. if any step fails, put back the files already replaced from the in-memory
   backups, so the workspace ends with all of the patch or none of it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .engine import plan
from .errors import EditError
from .model import EditResult, FileChange, FileEdit, FileWrite
from .parse import parse_edits
from .workspace import check_inside

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024


def apply_edits(
    workspace: Path | str,
    text_or_edits: str | Sequence[FileEdit],
    *,
    dry_run: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> EditResult:
    """Parse (if given text) and apply edits under `workspace`: every file or none."""
    root = Path(workspace).resolve(strict=True)
    edits = parse_edits(text_or_edits) if isinstance(text_or_edits, str) else list(text_or_edits)
    result = plan(root, edits, max_file_bytes)
    if dry_run:
        return replace(result, dry_run=True)
    created = commit(root, result.writes)
    return replace(result, created_dirs=tuple(created))


def revert(workspace: Path | str, result: EditResult, *, force: bool = False) -> EditResult:
    """Undo an applied EditResult, byte for byte, with the same all-or-nothing guarantee.

    Refuses (unless `force`) if a file was changed after the edit, so /undo never
    silently throws away later work. Returns the inverse result, for display.
    """
    if result.dry_run:
        raise EditError("cannot revert a dry run: nothing was written")
    root = Path(workspace).resolve(strict=True)
    if result.workspace is not None and result.workspace != root:
        raise EditError(f"this edit was applied in {result.workspace}, not {root}")
    writes = tuple(w.inverse() for w in reversed(result.writes))
    created = commit(root, writes, verify=not force)
    # Remove directories the edit created, deepest first, if they are empty again.
    for d in sorted(result.created_dirs, key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    changes = tuple(_invert(c) for c in reversed(result.changes))
    return EditResult(result.format_name, changes, workspace=root, writes=writes, created_dirs=tuple(created))


def commit(root: Path, writes: Sequence[FileWrite], *, verify: bool = True) -> list[Path]:
    """Perform `writes` atomically as a group; returns the directories it created."""
    for w in writes:
        check_inside(root, w.real)
        if verify and _current(w.real) != w.before:
            raise EditError(
                f"{_rel(root, w.real)} changed on disk after the edit was prepared; nothing was written"
            )
    done: list[FileWrite] = []
    created: list[Path] = []
    for w in writes:
        try:
            if w.after is None:
                w.real.unlink()
            else:
                created += _make_parents(root, w.real)
                _atomic_write(w.real, w.after, w.after_mode)
        except BaseException as exc:  # also Ctrl-C: never leave half a patch behind
            problems = _rollback(done, created)
            if not isinstance(exc, OSError):
                raise
            note = (
                "; ROLLBACK INCOMPLETE: " + "; ".join(problems)
                if problems
                else f"; rolled back the {len(done)} file(s) already written, so nothing changed"
            )
            raise EditError(f"writing {_rel(root, w.real)} failed: {exc}{note}") from exc
        done.append(w)
    _fsync_dirs({w.real.parent for w in writes})
    return created


def _rollback(done: list[FileWrite], created: list[Path]) -> list[str]:
    problems = []
    for w in reversed(done):
        try:
            if w.before is None:
                w.real.unlink(missing_ok=True)
            else:
                _atomic_write(w.real, w.before, w.before_mode)
        except OSError as exc:
            problems.append(f"{w.real}: {exc}")
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            pass
    return problems


def _atomic_write(path: Path, data: bytes, mode: int | None) -> None:
    # Same directory, so os.replace is a rename within one filesystem. The name is
    # kept short so a long target name cannot push it past NAME_MAX.
    tmp = path.parent / f".{path.name[:40]}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _make_parents(root: Path, path: Path) -> list[Path]:
    missing = []
    for parent in path.parents:
        if parent == root or parent.exists():
            break
        missing.append(parent)
    created = []
    for d in reversed(missing):
        d.mkdir()
        created.append(d)
    return created


def _fsync_dirs(dirs: set[Path]) -> None:
    # Makes the renames durable; best effort, since not every filesystem allows it.
    for d in dirs:
        try:
            fd = os.open(d, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc}; nothing was written") from exc


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _invert(c: FileChange) -> FileChange:
    if c.kind == "move":
        assert c.old_path is not None
        return FileChange(c.old_path, "move", c.new_text, c.old_text, old_path=c.path)
    kind = {"add": "delete", "delete": "add", "update": "update"}[c.kind]
    return FileChange(c.path, kind, c.new_text, c.old_text)  # type: ignore[arg-type]
