"""Markdown bits the formats share: code fences and "is this line a file path?"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import EditParseError

FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
# Extensionless files that are still obviously paths.
_BARE_NAMES = {
    "Makefile", "makefile", "GNUmakefile", "Dockerfile", "Containerfile", "Justfile",
    "justfile", "Procfile", "Gemfile", "Rakefile", "Vagrantfile", "LICENSE", "NOTICE",
    "CODEOWNERS", "Pipfile", "BUILD", "WORKSPACE",
}
_LABEL = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`\s]+)`")


@dataclass(frozen=True)
class Fence:
    start: int  # index of the opening line
    end: int  # index of the closing line
    info: str
    body: list[str]


def looks_like_path(token: str) -> bool:
    if not token or any(ch.isspace() for ch in token) or "://" in token:
        return False
    if token.endswith((".", ",", ";", ":")) or set(token) <= set("=<>-`~*#."):
        return False
    name = token.rstrip("/").rsplit("/", 1)[-1]
    return "/" in token or ("." in name.strip(".")) or name.startswith(".") or name in _BARE_NAMES


def path_from_line(line: str) -> str | None:
    """The path a line names on its own, e.g. `src/app.py`, `**src/app.py**:`, `# File: a.py`."""
    s = line.strip().rstrip(":").strip().strip("*`#").strip()
    s = _LABEL.sub("", s).strip("*`").strip()
    if looks_like_path(s):
        return s
    # "Here is the updated `src/app.py`:" names exactly one path in backticks.
    if line.rstrip().endswith(":"):
        found = {t for t in _BACKTICKED.findall(line) if looks_like_path(t)}
        if len(found) == 1:
            return found.pop()
    return None


def path_from_info(info: str, *, line: int) -> str | None:
    """A path given as the fence info string: ```src/a.py, ```python src/a.py, ```python:src/a.py."""
    tokens = [t for part in info.split() for t in (part.split(":", 1) if ":" in part else [part])]
    found = [t for t in tokens if looks_like_path(t)]
    if len(set(found)) > 1:
        raise EditParseError(f"code fence names several paths ({', '.join(found)}); use one path", line=line)
    return found[0] if found else None


def iter_fences(lines: list[str]) -> list[Fence]:
    """Top-level fenced blocks. A closing fence is a bare fence at least as long as the opener."""
    fences: list[Fence] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        mark = m["fence"]
        j = i + 1
        while j < len(lines):
            c = FENCE.match(lines[j])
            if c and not c["info"] and c["fence"][0] == mark[0] and len(c["fence"]) >= len(mark):
                break
            j += 1
        if j == len(lines):
            raise EditParseError(f"code block opened with {mark} is never closed", line=i + 1)
        fences.append(Fence(i, j, m["info"], lines[i + 1:j]))
        i = j + 1
    return fences


def is_filler(line: str) -> bool:
    """Lines that may sit between an edit and its path without meaning anything."""
    return not line.strip() or bool(FENCE.match(line))
