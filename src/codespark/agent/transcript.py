"""Sessions recorded as JSONL transcripts under the state directory, and read back to resume them.

One file per session: <sessions dir>/<YYYY-MM-DD>T<HHMMSS>-<id>.jsonl. Lines:
    {"t": "meta", "id", "created", "cwd", "mode", "edit_format", "model", "server"}
    {"t": "item", "item": {...}}            a conversation item, in order (what the model saw and said)
    {"t": "response", "id": "resp_..."}     the latest response id (to continue the server-side chain)
    {"t": "event", "event": {...}}          a UI event worth replaying (turns, diffs, undo, notes)
    {"t": "files", "seen": {path: digest}}  which file copies the model has
    {"t": "pending", "items": [...]}        items owed to the model with the next request (e.g. tool outputs)
    {"t": "reset"}                          the conversation was compacted: the items that follow replace it
A crash loses at most the line being written; a torn last line is skipped on load.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def new_session_id() -> str:
    return secrets.token_hex(6)


@dataclass
class SessionRecord:
    path: Path
    meta: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_response_id: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)  # items owed to the model on the next request

    @property
    def id(self) -> str:
        return self.meta["id"]

    def first_prompt(self) -> str:
        for ev in self.events:
            if ev.get("type") == "turn.started":
                return ev.get("text", "")
        return ""


class Transcript:
    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.meta = meta
        self._fh = None

    @classmethod
    def create(cls, directory: Path, meta: dict[str, Any]) -> "Transcript":
        directory.mkdir(parents=True, exist_ok=True)
        sid = meta.get("id") or new_session_id()
        stamp = time.strftime("%Y-%m-%dT%H%M%S")
        meta = {"t": "meta", "id": sid, "created": time.time(), **{k: v for k, v in meta.items() if k != "id"}}
        t = cls(directory / f"{stamp}-{sid}.jsonl", meta)
        t._write(meta)
        return t

    @classmethod
    def reopen(cls, record: SessionRecord) -> "Transcript":
        return cls(record.path, record.meta)

    def _write(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._fh.flush()

    def item(self, item: dict[str, Any]) -> None:
        self._write({"t": "item", "item": item})

    def response(self, response_id: str) -> None:
        self._write({"t": "response", "id": response_id})

    def event(self, event: dict[str, Any]) -> None:
        self._write({"t": "event", "event": event})

    def files(self, seen: dict[str, str]) -> None:
        self._write({"t": "files", "seen": seen})

    def pending(self, items: list[dict[str, Any]]) -> None:
        self._write({"t": "pending", "items": items})

    def replace_items(self, items: list[dict[str, Any]]) -> None:
        """After compaction: the conversation from here on is `items` (the old lines stay, superseded)."""
        self._write({"t": "reset"})
        for item in items:
            self.item(item)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def load(path: Path) -> SessionRecord:
    meta: dict[str, Any] | None = None
    rec = SessionRecord(path, {})
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line
            kind = obj.get("t")
            if kind == "meta":
                meta = obj
            elif kind == "item":
                rec.items.append(obj["item"])
            elif kind == "reset":
                rec.items = []
            elif kind == "response":
                rec.last_response_id = obj.get("id")
            elif kind == "event":
                rec.events.append(obj["event"])
            elif kind == "pending":
                rec.pending = list(obj.get("items") or [])
            elif kind == "files":
                rec.seen = dict(obj.get("seen") or {})
    if meta is None:
        raise ValueError(f"{path} is not a codespark transcript (no meta line)")
    rec.meta = meta
    return rec


def list_sessions(directory: Path) -> list[Path]:
    """Transcripts, newest first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.glob("*.jsonl") if p.is_file()]
    return sorted(files, key=lambda p: (os.path.getmtime(p), p.name), reverse=True)


def find_session(directory: Path, ident: str | None) -> SessionRecord:
    """`ident` is a session id (or a unique prefix of one) or a path; None means the newest session."""
    if ident and Path(ident).is_file():
        return load(Path(ident))
    sessions = list_sessions(directory)
    if not sessions:
        raise LookupError(f"no recorded sessions in {directory}")
    if ident is None:
        return load(sessions[0])
    matches = [p for p in sessions if p.stem.split("-")[-1].startswith(ident)]
    if not matches:
        raise LookupError(f"no session with id {ident!r} in {directory} (see `codespark resume --list`)")
    if len(matches) > 1:
        ids = ", ".join(p.stem.split("-")[-1] for p in matches[:5])
        raise LookupError(f"session id {ident!r} is ambiguous: {ids}")
    return load(matches[0])
