"""Parser for Aider-style SEARCH/REPLACE blocks.

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

The path is the line before the block, or before/in its ``` fence. A block with
no path of its own reuses the previous block's path only when nothing but blank
lines and fences separate them (several blocks in one fence), never across prose.
"""

from __future__ import annotations

import re

from .errors import EditParseError
from .markdown import FENCE, is_filler, path_from_info, path_from_line
from .model import FileEdit, Replacement

HEAD = re.compile(r"^<{5,9} SEARCH>?$")
DIVIDER = re.compile(r"^={5,9}$")
TAIL = re.compile(r"^>{5,9} REPLACE$")


def looks_like_search_replace(text: str) -> bool:
    return any(HEAD.match(line.strip()) or TAIL.match(line.strip()) for line in text.splitlines())


def parse_search_replace(text: str) -> list[FileEdit]:
    lines = text.splitlines()
    by_path: dict[str, list[Replacement]] = {}
    prev_path: str | None = None
    prev_end = -1
    number = 0
    i = 0
    while i < len(lines):
        marker = lines[i].strip()
        if TAIL.match(marker):  # a stray ======= may just be a Markdown heading underline
            raise EditParseError(f"'{marker}' without a preceding '<<<<<<< SEARCH'", line=i + 1)
        if not HEAD.match(marker):
            i += 1
            continue
        number += 1
        path = _path_before(lines, i)
        if path is None and prev_path is not None and all(is_filler(x) for x in lines[prev_end + 1:i]):
            path = prev_path
        if path is None:
            raise EditParseError(
                f"SEARCH/REPLACE block {number} has no file path: put the path alone on the line "
                "before '<<<<<<< SEARCH' (or before its ``` fence)",
                line=i + 1,
            )
        search, j = _section(lines, i + 1, DIVIDER, "=======", number, path)
        replace, k = _section(lines, j + 1, TAIL, ">>>>>>> REPLACE", number, path)
        by_path.setdefault(path, []).append(Replacement(_join(search), _join(replace), number))
        prev_path, prev_end, i = path, k, k + 1
    if not by_path:
        raise EditParseError("no '<<<<<<< SEARCH' blocks found")
    return [FileEdit("replace", p, "search_replace", blocks=tuple(b)) for p, b in by_path.items()]


def _section(
    lines: list[str], i: int, end: re.Pattern[str], name: str, number: int, path: str
) -> tuple[list[str], int]:
    start = i
    while i < len(lines):
        marker = lines[i].strip()
        if end.match(marker):
            return lines[start:i], i
        if HEAD.match(marker) or DIVIDER.match(marker) or TAIL.match(marker):
            raise EditParseError(
                f"SEARCH/REPLACE block {number} for {path}: expected '{name}' but found '{marker}'", line=i + 1
            )
        i += 1
    raise EditParseError(f"SEARCH/REPLACE block {number} for {path} is missing its '{name}' line", line=start)


def _path_before(lines: list[str], head: int) -> str | None:
    j = head - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j >= 0 and (m := FENCE.match(lines[j])):
        if m["info"] and (path := path_from_info(m["info"], line=j + 1)):
            return path
        j -= 1
        while j >= 0 and not lines[j].strip():
            j -= 1
    if j < 0 or FENCE.match(lines[j]):
        return None
    return path_from_line(lines[j])


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
