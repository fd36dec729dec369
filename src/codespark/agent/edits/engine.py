"""Compute every file's new content in memory; nothing here touches the disk but reads.

Edits are applied in order to an overlay of the workspace, so several edits of
one file (SEARCH/REPLACE blocks, an update then a move) compose naturally and
the writer gets one before/after pair per file.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import EditError, FileTooLargeError, HunkMismatchError, MissingFileError
from .matching import (
    closest_region,
    find_all,
    indent_prefix,
    merge_context,
    seek_sequence,
)
from .model import EditResult, FileChange, FileEdit, FileWrite, Hunk, Replacement
from .text import Doc, decode_text, split_lines
from .workspace import resolve


@dataclass
class _Entry:
    rel: str
    real: Path
    before: bytes | None
    before_text: str | None
    mode: int | None
    doc: Doc | None  # current content; None while the file is absent
    after_mode: int | None  # None for a new file: created with the umask's default


class Overlay:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.entries: dict[Path, _Entry] = {}
        self.moves: dict[Path, Path] = {}  # destination real path -> source real path

    def entry(self, raw: str) -> _Entry:
        rel, real = resolve(self.root, raw)
        if real not in self.entries:
            self.entries[real] = self._load(rel, real)
        return self.entries[real]

    def _load(self, rel: str, real: Path) -> _Entry:
        try:
            st = real.stat()
        except FileNotFoundError:
            return _Entry(rel, real, None, None, None, None, None)
        except NotADirectoryError:
            raise EditError(f"cannot edit {rel}: a parent of it is a file, not a directory") from None
        if stat.S_ISDIR(st.st_mode):
            raise EditError(f"cannot edit {rel}: it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise EditError(f"cannot edit {rel}: it is not a regular file")
        if st.st_size > self.max_bytes:
            raise FileTooLargeError(rel, st.st_size, self.max_bytes)
        data = real.read_bytes()
        if len(data) > self.max_bytes:  # it grew since stat()
            raise FileTooLargeError(rel, len(data), self.max_bytes)
        text = decode_text(rel, data)
        mode = stat.S_IMODE(st.st_mode)
        return _Entry(rel, real, data, text, mode, Doc.from_text(text), mode)

    def result(self) -> tuple[list[FileWrite], list[FileChange]]:
        writes: list[FileWrite] = []
        changes: list[FileChange] = []
        sources = set(self.moves.values())
        for e in self.entries.values():
            after = e.doc.render().encode("utf-8") if e.doc is not None else None
            if after is not None and len(after) > self.max_bytes:
                raise FileTooLargeError(e.rel, len(after), self.max_bytes, what="the edited content")
            if after == e.before and e.after_mode == e.mode:
                continue
            writes.append(FileWrite(e.real, e.before, e.mode, after, e.after_mode))
            if e.real in sources and after is None:
                continue  # reported with its destination as one move
            new_text = e.doc.render() if e.doc is not None else None
            src = self.moves.get(e.real)
            if src is not None and self.entries[src].doc is None:
                s = self.entries[src]
                changes.append(FileChange(e.rel, "move", s.before_text, new_text, old_path=s.rel))
            elif e.before is None:
                changes.append(FileChange(e.rel, "add", None, new_text))
            elif after is None:
                changes.append(FileChange(e.rel, "delete", e.before_text, None))
            else:
                changes.append(FileChange(e.rel, "update", e.before_text, new_text))
        # Write new/updated files before deleting move sources: a crash then duplicates, never loses.
        writes.sort(key=lambda w: w.after is None)
        return writes, changes


def plan(root: Path, edits: Sequence[FileEdit], max_bytes: int) -> EditResult:
    """Apply `edits` in memory and return the (unwritten) result."""
    if not edits:
        raise EditError("no edits to apply")
    overlay = Overlay(root, max_bytes)
    for edit in edits:
        _apply_one(overlay, edit)
    writes, changes = overlay.result()
    return EditResult(edits[0].format_name, tuple(changes), workspace=root, writes=tuple(writes))


def _apply_one(overlay: Overlay, edit: FileEdit) -> None:
    e = overlay.entry(edit.path)
    if edit.kind in ("add", "write"):
        content = edit.content or ""
        if e.doc is None:
            e.doc = Doc.from_text(content)
        else:
            e.doc.replace_all(content)  # overwrite, keeping the file's line-ending style
    elif edit.kind == "delete":
        if e.doc is None:
            raise MissingFileError(
                e.rel,
                f"cannot delete {e.rel}: the file does not exist (check the path; "
                f"to create a file use '*** Add File: {e.rel}')",
            )
        e.doc = None
    elif edit.kind == "update":
        if e.doc is None:
            raise MissingFileError(
                e.rel,
                f"cannot update {e.rel}: the file does not exist. To create it, use "
                f"'*** Add File: {e.rel}' with every line prefixed by '+'",
            )
        apply_hunks(e.doc, edit.hunks, e.rel)
        if edit.move_to is not None:
            dest = overlay.entry(edit.move_to)
            if dest.real != e.real:
                dest.doc, e.doc = e.doc, None
                dest.after_mode = e.mode
                overlay.moves[dest.real] = e.real
    elif edit.kind == "replace":
        for block in edit.blocks:
            _apply_block(e, block)
    else:  # pragma: no cover - FileEdit.kind is a closed set
        raise EditError(f"unknown edit kind {edit.kind!r}")


def apply_hunks(doc: Doc, hunks: Sequence[Hunk], path: str) -> None:
    """Codex's compute_replacements: each hunk is searched after the previous one."""
    lines = doc.lines
    cursor = 0
    anchor = ""  # what the cursor sits after, for error messages
    spans: list[tuple[int, int, int, tuple[str, ...]]] = []
    for n, hunk in enumerate(hunks, 1):
        for ctx in hunk.contexts:
            at = seek_sequence(lines, [ctx], cursor)
            if at is None:
                raise _mismatch(path, n, len(hunks), lines, [ctx], cursor, anchor, header=ctx)
            cursor, anchor = at + 1, f"'@@ {ctx}'"
        if not hunk.old_lines:
            # Pure insertion: right after the @@ header if there is one, else at the end (codex).
            spans.append((cursor if hunk.contexts else len(lines), n, 0, hunk.new_lines))
            continue
        old, new = hunk.old_lines, hunk.new_lines
        at = seek_sequence(lines, old, cursor, hunk.is_eof)
        # Blank lines that ended the hunk are often just separators; retry without them.
        while at is None and len(old) > 1 and old[-1] == "" and new and new[-1] == "":
            old, new = old[:-1], new[:-1]
            at = seek_sequence(lines, old, cursor, hunk.is_eof)
        if at is None:
            raise _mismatch(path, n, len(hunks), lines, hunk.old_lines, cursor, anchor)
        spans.append((at, n, len(old), tuple(merge_context(lines[at:at + len(old)], old, new))))
        cursor, anchor = at + len(old), "the previous hunk"
    for at, _, count, new in sorted(spans, reverse=True):
        doc.replace(at, count, new)


def _apply_block(e: _Entry, block: Replacement) -> None:
    search, replace = split_lines(block.search), split_lines(block.replace)
    if e.doc is None:
        if any(s.strip() for s in search):
            raise MissingFileError(
                e.rel,
                f"cannot edit {e.rel}: the file does not exist. To create it, send a SEARCH/REPLACE "
                "block with an empty SEARCH section (or use '*** Add File:' in an apply_patch patch)",
            )
        e.doc = Doc.from_text(block.replace)
        return
    doc = e.doc
    if not any(s.strip() for s in search):
        doc.replace(len(doc.lines), 0, replace)  # Aider: an empty SEARCH appends
        return
    hits, level = find_all(doc.lines, search)
    trimmed = search
    # Tolerate blank lines the model added around the SEARCH text (and the same in REPLACE).
    while not hits and len(trimmed) > 1 and not trimmed[-1].strip():
        trimmed = trimmed[:-1]
        replace = replace[:-1] if replace and not replace[-1].strip() else replace
        hits, level = find_all(doc.lines, trimmed)
    while not hits and len(trimmed) > 1 and not trimmed[0].strip():
        trimmed = trimmed[1:]
        replace = replace[1:] if replace and not replace[0].strip() else replace
        hits, level = find_all(doc.lines, trimmed)
    if len(hits) > 1:
        where = ", ".join(str(h + 1) for h in hits[:10])
        raise HunkMismatchError(
            f"SEARCH/REPLACE block {block.number} for {e.rel}: the SEARCH text matches "
            f"{len(hits)} places (starting at lines {where}). It must match exactly once; "
            "add surrounding lines to the SEARCH section to make it unique.\nSEARCH was:\n"
            + _quote(search)
            + "\nNo changes were made.",
            path=e.rel,
            hunk=block.number,
            expected=search,
        )
    if not hits:
        raise _mismatch(e.rel, block.number, None, doc.lines, search, 0, "")
    at = hits[0]
    found = doc.lines[at:at + len(trimmed)]
    prefix = indent_prefix(found, trimmed) if level >= 2 else ""
    doc.replace(at, len(trimmed), merge_context(found, trimmed, replace, prefix))


def _mismatch(
    path: str,
    n: int,
    total: int | None,
    lines: list[str],
    expected: Sequence[str],
    cursor: int,
    anchor: str,
    *,
    header: str | None = None,
) -> HunkMismatchError:
    if total is None:
        what = f"SEARCH/REPLACE block {n} for {path}: the SEARCH text was not found"
    elif header is not None:
        what = f"hunk {n} of {total} for {path}: the '@@ {header}' context line was not found"
    else:
        what = f"hunk {n} of {total} for {path}: the expected lines were not found"
    if cursor:
        what += f" (searched from line {cursor + 1}, after {anchor})"
    msg = f"{what}.\nExpected:\n{_quote(expected)}\n"
    region = closest_region(lines, expected)
    closest_start, closest_lines = None, []
    if region is None:
        msg += f"No part of {path} ({len(lines)} lines) resembles the expected lines.\n"
    else:
        start = region[0]
        closest_lines = lines[start:start + len(expected)]
        closest_start = start + 1
        msg += f"Closest match in {path} (lines {start + 1}-{start + len(closest_lines)}):\n"
        msg += "".join(f"{i:>6} | {line}\n" for i, line in enumerate(closest_lines, start + 1))
    msg += "No changes were made. Re-read the file and resend the edit with lines copied exactly."
    return HunkMismatchError(
        msg, path=path, hunk=n, expected=expected, closest_start=closest_start, closest_lines=closest_lines
    )


def _quote(lines: Sequence[str]) -> str:
    return "\n".join(f"      | {line}" for line in lines) if lines else "      | (nothing)"

