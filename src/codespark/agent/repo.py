"""Read-only views of the workspace for the model: list files, search text, read a page of a file.

Listing respects .gitignore (through `git ls-files` in a git repository, otherwise a root .gitignore and the
usual build/venv directories are skipped). Every path is confined to the workspace with the same rules as
edits (codespark.agent.edits.workspace). Big files are paged, never cut mid-line; binary files are refused.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .edits.errors import EditError
from .edits.workspace import resolve

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache",
             ".ruff_cache", "dist", "build", ".idea", ".vscode", ".eggs"}
PAGE_LINES = 400
PAGE_BYTES = 24 * 1024
SNIFF = 8192


class RepoError(Exception):
    """A read-side failure, with a message written for the model (and the user)."""


@dataclass(frozen=True)
class FilePage:
    path: str
    text: str
    start: int  # 1-based first line shown
    end: int  # last line shown
    total_lines: int
    size: int

    @property
    def complete(self) -> bool:
        return self.start == 1 and self.end >= self.total_lines


def is_git_repo(root: Path) -> bool:
    return (root / ".git").exists()


def _git_files(root: Path) -> list[str] | None:
    try:
        out = subprocess.run(
            ["git", "-c", "core.quotepath=off", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({f for f in out.decode("utf-8", "replace").split("\0") if f})
    return [f for f in files if (root / f).is_file()]


def _ignore_patterns(root: Path) -> list[str]:
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#") and not ln.startswith("!")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pat in patterns:
        p = pat.rstrip("/")
        anchored = p.startswith("/")
        p = p.lstrip("/")
        if "/" in p or anchored:
            if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p + "/*"):
                return True
        elif any(fnmatch.fnmatch(part, p) for part in parts):
            return True
    return False


def _walk_files(root: Path, limit: int) -> list[str]:
    patterns = _ignore_patterns(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not _ignored(f"{rel_dir}/{d}".lstrip("./") if rel_dir != "." else d, patterns)
        )
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not _ignored(rel, patterns):
                found.append(rel)
                if len(found) >= limit:
                    return found
    return found


def all_files(root: Path, limit: int = 20000) -> list[str]:
    """Workspace-relative paths of the files a developer would consider part of the project."""
    files = _git_files(root) if is_git_repo(root) else None
    if files is None:
        files = _walk_files(root, limit)
    return files[:limit]


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.strip().lstrip("./") or "*"
    if pattern.endswith("/"):
        pattern += "*"
    if fnmatch.fnmatch(rel, pattern):
        return True
    if pattern.startswith("**/") and fnmatch.fnmatch(rel, pattern[3:]):
        return True
    if "/" not in pattern:  # a bare name or *.py matches at any depth
        return fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)
    return rel.startswith(pattern.rstrip("*").rstrip("/") + "/") if not any(c in pattern for c in "*?[") else False


def list_files(root: Path, pattern: str | None = None, limit: int = 200) -> tuple[list[str], int]:
    """(matching paths up to `limit`, total number matching)."""
    files = all_files(root)
    if pattern:
        files = [f for f in files if _glob_match(f, pattern)]
    return files[:limit], len(files)


def _is_binary(data: bytes) -> bool:
    if b"\0" in data[:SNIFF]:
        return True
    try:
        data[:SNIFF].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < SNIFF - 4  # a multibyte char cut by the sniff window is fine
    return False


def confined(root: Path, raw: str) -> tuple[str, Path]:
    try:
        return resolve(root, raw)
    except EditError as exc:
        raise RepoError(str(exc).replace("refusing to edit", "refusing to read")) from None


def read_page(root: Path, raw: str, start: int | None = None, end: int | None = None) -> FilePage:
    rel, real = confined(root, raw)
    if not real.exists():
        hint = _similar(root, rel)
        raise RepoError(f"{rel} does not exist.{hint}")
    if real.is_dir():
        raise RepoError(f"{rel} is a directory; use list_files to see what it contains.")
    size = real.stat().st_size
    with open(real, "rb") as f:
        head = f.read(SNIFF)
    if _is_binary(head):
        raise RepoError(f"{rel} is a binary file ({size:,} bytes); it cannot be shown or edited as text.")
    first = max(1, int(start or 1))
    last_wanted = int(end) if end else None
    lines: list[str] = []
    used = 0
    total = 0
    with open(real, encoding="utf-8", errors="replace", newline="") as f:
        for n, line in enumerate(f, 1):
            total = n
            if n < first or (last_wanted is not None and n > last_wanted):
                continue
            if len(lines) >= PAGE_LINES or used + len(line) > PAGE_BYTES and lines:
                continue  # keep counting lines; the page is full
            lines.append(line)
            used += len(line)
    if total and first > total:
        raise RepoError(f"{rel} has only {total} lines; start_line {first} is past the end.")
    shown_end = first + len(lines) - 1 if lines else first - 1
    return FilePage(rel, "".join(lines), first, shown_end, total, size)


def _similar(root: Path, rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    files = all_files(root, 5000)
    same = [f for f in files if f.rsplit("/", 1)[-1] == name]
    if same:
        return " Did you mean: " + ", ".join(same[:5]) + "?"
    if len(files) <= 30:
        return " Files in the workspace: " + ", ".join(files) + "."
    return " Use list_files to find the right path."


@dataclass(frozen=True)
class SearchHit:
    path: str
    line: int
    text: str


def search(root: Path, query: str, pattern: str | None = None, *, regex: bool = False, limit: int = 60) -> tuple[list[SearchHit], int]:
    """Lines containing `query` (a literal, or a Python regex) in non-ignored text files; (hits, total)."""
    if not query:
        raise RepoError("search needs a non-empty query.")
    try:
        rx = re.compile(query if regex else re.escape(query))
    except re.error as exc:
        raise RepoError(f"invalid regular expression {query!r}: {exc}. Pass regex=false to search for the literal text.") from None
    files, _ = list_files(root, pattern, limit=20000)
    hits: list[SearchHit] = []
    total = 0
    for rel in files:
        real = root / rel
        try:
            if real.stat().st_size > 4 * 1024 * 1024:
                continue
            data = real.read_bytes()
        except OSError:
            continue
        if _is_binary(data):
            continue
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if rx.search(line):
                total += 1
                if len(hits) < limit:
                    hits.append(SearchHit(rel, n, line.strip()[:200]))
    return hits, total


def read_text(root: Path, rel: str, max_bytes: int) -> str | None:
    """The whole text of a small text file, or None (missing, binary, too big)."""
    try:
        _, real = resolve(root, rel)
        if not real.is_file() or real.stat().st_size > max_bytes:
            return None
        data = real.read_bytes()
    except (OSError, EditError):
        return None
    if _is_binary(data):
        return None
    return data.decode("utf-8", "replace")
