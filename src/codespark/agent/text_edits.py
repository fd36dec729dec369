"""Find the edit in a model's plain-text reply (not only in apply_patch calls).

Accepted, where unambiguous:
- an apply_patch patch (*** Begin Patch ...) or SEARCH/REPLACE blocks: parsed as they are;
- a fenced code block labelled with a path (on the line before, or in the fence's info string): the whole
  new file, or, for Python, a fragment of definitions merged into the file (see fragments.py);
- an unlabelled fenced block when exactly one file it can belong to is in the conversation (same language,
  and for several candidates, the only one sharing its definitions).
A reply with no such thing is not an edit (the model answered in prose). A reply that tries to edit but
cannot be used gets a precise message for the model instead.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .edits import EditParseError, FileEdit, parse_edits
from .edits.grammar import looks_like_patch
from .edits.markdown import Fence, iter_fences, path_from_info, path_from_line
from .edits.search_replace import looks_like_search_replace
from .fragments import is_fragment, merge_fragment, top_level_names
from .repo import read_text

NOT_CODE = {"bash", "sh", "shell", "console", "zsh", "text", "txt", "output", "diff", "patch", "json-output"}
LANGS = {
    ".py": {"python", "py", "python3"}, ".js": {"javascript", "js", "jsx", "node"}, ".ts": {"typescript", "ts", "tsx"},
    ".go": {"go", "golang"}, ".rs": {"rust", "rs"}, ".java": {"java"}, ".c": {"c"}, ".h": {"c", "cpp"},
    ".cpp": {"cpp", "c++"}, ".rb": {"ruby", "rb"}, ".sh": {"bash", "sh", "shell"}, ".md": {"markdown", "md"},
    ".json": {"json"}, ".toml": {"toml"}, ".yaml": {"yaml", "yml"}, ".yml": {"yaml", "yml"}, ".html": {"html"},
    ".css": {"css"},
}  # fmt: skip
_RENAME = re.compile(r"\brenam", re.IGNORECASE)
_REMOVAL = re.compile(r"\b(remove|delete|drop|get rid of|strip out|rewrite)\b", re.IGNORECASE)
MAX_READ = 2 * 1024 * 1024


@dataclass
class FoundEdit:
    edits: list[FileEdit] = field(default_factory=list)
    error: str | None = None  # the reply tried to edit but cannot be applied: tell the model this
    notes: list[str] = field(default_factory=list)  # for the user: how an ambiguous-looking block was read


def _lang_ok(info: str, path: str) -> bool:
    lang = (info.split() or [""])[0].lower()
    if not lang:
        return True
    return lang in LANGS.get(Path(path).suffix.lower(), {lang})


def _fence_path(lines: list[str], fence: Fence) -> str | None:
    if fence.info:
        found = path_from_info(fence.info, line=fence.start + 1)
        if found:
            return found
    for j in (fence.start - 1, fence.start - 2):
        if j >= 0 and lines[j].strip():
            return path_from_line(lines[j])
    return None


def _body(fence: Fence) -> str:
    return "".join(line + "\n" for line in fence.body)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).quick_ratio()


def find_edits(reply: str, root: Path, candidates: list[str], instruction: str = "") -> FoundEdit | None:
    """The edits in `reply`, an error for the model, or None when the reply is not an edit at all."""
    if not reply.strip():
        return None
    if looks_like_patch(reply) or looks_like_search_replace(reply):
        try:
            return FoundEdit(parse_edits(reply))
        except EditParseError as exc:
            return FoundEdit(error=str(exc))
    lines = reply.splitlines()
    try:
        fences = iter_fences(lines)
    except EditParseError as exc:
        # An unclosed block is an edit only if it was labelled with a path (e.g. the reply was cut off).
        m = re.search(r"line (\d+)", str(exc))
        start = int(m.group(1)) - 1 if m else 0
        before = [ln for ln in lines[max(0, start - 2):start] if ln.strip()]
        if before and path_from_line(before[-1]):
            return FoundEdit(error=f"{exc}: close the code block with ``` after the last line of the file")
        return None
    allow_removal = bool(_REMOVAL.search(instruction))
    found = FoundEdit()
    labelled: list[tuple[Fence, str]] = []
    unlabelled: list[Fence] = []
    for fence in fences:
        if (fence.info.split() or [""])[0].lower() in NOT_CODE:
            continue
        try:
            path = _fence_path(lines, fence)
        except EditParseError as exc:
            return FoundEdit(error=str(exc))
        if path is not None:
            labelled.append((fence, path))
        elif any(line.strip() for line in fence.body):
            unlabelled.append(fence)
    if labelled:
        seen: set[str] = set()
        for fence, path in labelled:
            if path in seen:
                return FoundEdit(error=f"{path} has two code blocks; send the whole file once")
            seen.add(path)
            problem = _add_block(found, root, path, _body(fence), allow_removal, instruction)
            if problem:
                return FoundEdit(error=problem)
        return found
    if not unlabelled:
        return None
    for fence in unlabelled:
        path = _guess_path(root, fence, candidates)
        if path is None:
            continue
        found.notes.append(f"an unlabelled code block was read as the new {path}")
        problem = _add_block(found, root, path, _body(fence), allow_removal, instruction)
        if problem:
            return FoundEdit(error=problem)
    return found if found.edits else None


def _guess_path(root: Path, fence: Fence, candidates: list[str]) -> str | None:
    body = _body(fence)
    usable = [c for c in candidates if _lang_ok(fence.info, c)]
    texts = {c: read_text(root, c, MAX_READ) for c in usable}
    usable = [c for c in usable if texts[c] is not None]
    if not usable:
        return None
    if len(usable) == 1:
        c = usable[0]
        if c.endswith(".py") or _similarity(body, texts[c]) >= 0.5:
            return c
        return None
    names = top_level_names(body) or set()
    if names:
        owners = [c for c in usable if c.endswith(".py") and names & (top_level_names(texts[c]) or set())]
        if len(owners) == 1:
            return owners[0]
    scores = sorted(((_similarity(body, texts[c]), c) for c in usable), reverse=True)
    if scores[0][0] >= 0.6 and (len(scores) == 1 or scores[0][0] - scores[1][0] >= 0.15):
        return scores[0][1]
    return None


def _add_block(found: FoundEdit, root: Path, path: str, body: str, allow_removal: bool, instruction: str = "") -> str | None:
    """Turn one labelled block into a FileEdit (whole file, or a merged Python fragment); or a message."""
    original = read_text(root, path, MAX_READ)
    if original is None or not original.strip():
        found.edits.append(FileEdit("write", path, "whole_file", content=body))
        return None
    if path.endswith(".py") and not allow_removal and is_fragment(original, body):
        merged = merge_fragment(original, body, rename_references=bool(_RENAME.search(instruction)))
        if merged is not None:
            found.notes.append(f"the code block for {path} holds only some of its definitions: merged them into the file")
            found.edits.append(FileEdit("write", path, "whole_file", content=merged))
            return None
    old_n, new_n = len(original.splitlines()), len(body.splitlines())
    if not allow_removal and old_n > 10 and new_n < old_n * 0.5:
        return (
            f"the code block for {path} has {new_n} lines but the file has {old_n}: it looks like a fragment, "
            f"and writing it would delete the rest of {path}. Nothing was written. Send the COMPLETE new content "
            f"of {path}, or SEARCH/REPLACE blocks for just the lines that change."
        )
    found.edits.append(FileEdit("write", path, "whole_file", content=body))
    return None
