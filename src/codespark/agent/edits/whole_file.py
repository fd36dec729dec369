"""Parser for whole-file edits: a path, then a fenced block with the full new content.

    src/app.py
    ```python
    ...entire file...
    ```

or the path as the fence info string (```src/app.py, ```python src/app.py).
Fences without a path are treated as illustration and ignored; a fence whose
path is contradicted, or a path given twice, is an error rather than a guess.
"""

from __future__ import annotations

from .errors import EditParseError
from .markdown import iter_fences, path_from_info, path_from_line
from .model import FileEdit


def parse_whole_file(text: str) -> list[FileEdit]:
    lines = text.splitlines()
    edits: list[FileEdit] = []
    seen: dict[str, int] = {}
    for fence in iter_fences(lines):
        in_info = path_from_info(fence.info, line=fence.start + 1) if fence.info else None
        before = _line_before(lines, fence.start)
        on_line = path_from_line(before) if before is not None else None
        if in_info and on_line and in_info != on_line:
            raise EditParseError(
                f"code block names two different paths ({on_line} before it, {in_info} in the fence)",
                line=fence.start + 1,
            )
        path = in_info or on_line
        if path is None:
            continue
        if path in seen:
            raise EditParseError(
                f"{path} has two code blocks (lines {seen[path]} and {fence.start + 1}); "
                "send the whole file once",
                line=fence.start + 1,
            )
        seen[path] = fence.start + 1
        content = "".join(line + "\n" for line in fence.body)
        edits.append(FileEdit("write", path, "whole_file", content=content))
    if not edits:
        raise EditParseError(
            "no edits found: expected a '*** Begin Patch' patch, SEARCH/REPLACE blocks, "
            "or a file path followed by a fenced code block with the file's full content"
        )
    return edits


def _line_before(lines: list[str], start: int) -> str | None:
    # The path line may be separated from the fence by one blank line, no more.
    for j in (start - 1, start - 2):
        if j < 0:
            return None
        if lines[j].strip():
            return lines[j]
    return None
