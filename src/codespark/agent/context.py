"""What the model sees besides the conversation: attached files, and keeping the conversation inside the window.

Attaching: the files a user mentions (by path, by name, or by a definition they name) go straight into the
context, so a small model can answer with an edit in its first reply. A small repository is attached whole
on the first turn; a bigger one gets its file list. A file already attached is attached again only when it
changed on disk (after an edit, say), so the model never works from a stale copy.

Window management: when the conversation nears the model's context window, older tool outputs and
superseded file copies are replaced, whole, by a one-line note (a visible ContextNote for the user);
nothing is ever cut in the middle of a file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import repo

CONTEXT_HEADER = "Files in the workspace (current content):"
FILE_LIST_HEADER = "Files in the workspace:"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_IDENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?`|\b([A-Za-z_][A-Za-z0-9_]*)\(\)|\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b|\b([a-z]+[A-Z][A-Za-z0-9]*)\b")
SKIP_SUFFIXES = (".lock", ".min.js", ".map", ".svg", ".png", ".jpg", ".gif", ".ico", ".pdf", ".sqlite3", ".db")


def estimate_tokens(text: str) -> int:
    return len(text) // 3 + 1


def fence_lang(path: str) -> str:
    return {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go", ".rs": "rust", ".java": "java",
            ".rb": "ruby", ".sh": "bash", ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml",
            ".yml": "yaml", ".c": "c", ".cpp": "cpp", ".h": "c", ".html": "html", ".css": "css"}.get(Path(path).suffix.lower(), "")


def render_file(path: str, text: str) -> str:
    if not text.endswith("\n"):
        text += "\n"
    fence = "````" if "```" in text else "```"
    return f"{path}\n{fence}{fence_lang(path)}\n{text}{fence}"


def message(text: str, role: str = "user") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": text}


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def mentioned_files(text: str, files: list[str]) -> list[str]:
    """Paths in `files` that `text` names: a path, a unique file name, or a unique name without extension."""
    by_path = set(files)
    by_name: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for f in files:
        name = f.rsplit("/", 1)[-1]
        by_name.setdefault(name, []).append(f)
        by_stem.setdefault(name.rsplit(".", 1)[0], []).append(f)
    out: list[str] = []
    for raw in _WORD.findall(text):
        token = raw.strip("./").rstrip(".,:;") if not raw.startswith("./") else raw[2:].rstrip(".,:;")
        hit = None
        if token in by_path:
            hit = token
        elif len(by_name.get(token, [])) == 1:
            hit = by_name[token][0]
        elif "." not in token and len(token) > 3 and len(by_stem.get(token, [])) == 1:
            hit = by_stem[token][0]  # "the stats module" -> stats.py
        if hit and hit not in out:
            out.append(hit)
    return out


def named_identifiers(text: str) -> list[str]:
    """Identifiers the user names (`foo`, foo(), snake_case, camelCase) - candidates to look up."""
    out: list[str] = []
    for groups in _IDENT.findall(text):
        name = next((g for g in groups if g), "")
        if name and name not in out:
            out.append(name)
    return out


def defining_files(root: Path, names: list[str], limit: int = 3) -> list[str]:
    """Files that define one of `names` (def/class/function/const name = ...)."""
    found: list[str] = []
    for name in names[:6]:
        rx = rf"^\s*(?:async\s+def|def|class|function|const|let|var|fn|func|type)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*=[^=]"
        try:
            hits, _ = repo.search(root, rx, regex=True, limit=10)
        except repo.RepoError:
            continue
        for hit in hits:
            if hit.path not in found:
                found.append(hit.path)
    return found[:limit]


@dataclass
class ContextTracker:
    """Which file contents the model has seen (by digest), and what to attach next."""

    root: Path
    file_bytes: int
    budget_tokens: int
    small_repo_files: int
    small_repo_bytes: int
    seen: dict[str, str] = field(default_factory=dict)  # path -> digest of the copy the model has
    first_done: bool = False

    def known(self) -> list[str]:
        return list(self.seen)

    def _text_files(self, files: list[str]) -> list[str]:
        return [f for f in files if not f.endswith(SKIP_SUFFIXES) and not f.rsplit("/", 1)[-1].startswith(".")]

    def select(self, prompt: str, explicit: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(paths to attach now, all workspace files). Mentioned files first, then changed known files."""
        files = repo.all_files(self.root)
        wanted: list[str] = []
        for p in (explicit or []):
            try:
                rel, _ = repo.confined(self.root, p)
            except repo.RepoError:
                continue
            if rel not in wanted:
                wanted.append(rel)
        wanted += [f for f in mentioned_files(prompt, files) if f not in wanted]
        if not self.first_done and not wanted:
            text_files = self._text_files(files)
            sizes = [(self.root / f).stat().st_size for f in text_files if (self.root / f).is_file()]
            if 0 < len(text_files) <= self.small_repo_files and sum(sizes) <= self.small_repo_bytes:
                wanted = text_files
            else:
                wanted = [f for f in defining_files(self.root, named_identifiers(prompt)) if f not in wanted]
        # files the model saw before that have changed since (e.g. our own edit): attach the new copy
        wanted += [p for p in self.seen if p not in wanted]
        return wanted, files

    def attach(self, prompt: str, explicit: list[str] | None = None) -> tuple[dict[str, Any] | None, list[str], list[str]]:
        """A context message for this turn (or None), the paths attached, and notes for the user."""
        wanted, files = self.select(prompt, explicit)
        parts: list[str] = []
        attached: list[str] = []
        notes: list[str] = []
        used = 0
        for path in wanted:
            text = repo.read_text(self.root, path, self.file_bytes)
            if text is None:
                if path not in self.seen and (self.root / path).is_file():
                    notes.append(f"{path} was not attached (binary or over {self.file_bytes // 1024} KB); the model can page it with read_file")
                continue
            d = digest(text)
            if self.seen.get(path) == d:
                continue
            cost = estimate_tokens(text)
            if used + cost > self.budget_tokens and attached:
                notes.append(f"{path} was not attached (context budget for one turn reached)")
                continue
            used += cost
            parts.append(render_file(path, text))
            attached.append(path)
            self.seen[path] = d
        if not self.first_done and not attached and files:
            shown = files[:200]
            more = f"\n... and {len(files) - len(shown)} more" if len(files) > len(shown) else ""
            parts.append(FILE_LIST_HEADER + "\n" + "\n".join(shown) + more)
        self.first_done = True
        if not parts:
            return None, attached, notes
        head = CONTEXT_HEADER if attached else ""
        return message("\n\n".join(([head] if head else []) + parts)), attached, notes

    def forget(self, path: str) -> None:
        self.seen.pop(path, None)


def item_text(item: dict[str, Any]) -> str:
    if item.get("type") == "function_call_output":
        out = item.get("output", "")
        return out if isinstance(out, str) else json.dumps(out)
    if item.get("type") == "function_call":
        return item.get("arguments", "")
    content = item.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def history_tokens(items: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(item_text(i)) + 4 for i in items)


def compact(items: list[dict[str, Any]], target_tokens: int, keep_last: int = 2,
            min_chars: int = 300) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Replace bulky tool outputs and file attachments, oldest first and each one whole, by a one-line note,
    until the conversation is estimated under `target_tokens`. The last `keep_last` items are kept.

    Returns (items, notes for the user, paths whose attached copy was dropped)."""
    out = [dict(i) for i in items]
    notes: list[str] = []
    dropped: list[str] = []
    names = {i.get("call_id"): i.get("name") for i in items if i.get("type") == "function_call"}
    total = history_tokens(out)
    for idx, item in enumerate(out[: max(0, len(out) - keep_last)]):
        if total <= target_tokens:
            break
        text = item_text(item)
        if len(text) < min_chars:
            continue
        if item.get("type") == "function_call_output":
            tool = names.get(item.get("call_id"), "a tool")
            n = text.count("\n") + 1
            item["output"] = f"[{n} lines of {tool} output were dropped to stay within the context window; call the tool again if you need them]"
            notes.append(f"dropped an old {tool} output ({n} lines)")
        elif item.get("type") == "message" and item.get("role") == "user" and text.startswith(CONTEXT_HEADER):
            paths = re.findall(r"^(\S+)\n```", text, flags=re.MULTILINE)
            item["content"] = f"[an older copy of {', '.join(paths) or 'some files'} was dropped to stay within the context window]"
            notes.append(f"dropped an old copy of {', '.join(paths) or 'attached files'}")
            dropped += paths
        else:
            continue
        total -= estimate_tokens(text) - estimate_tokens(item_text(item))
        out[idx] = item
    return out, notes, dropped
