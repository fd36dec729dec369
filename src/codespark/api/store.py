"""Stored responses in SQLite, so previous_response_id works across connections and restarts.

Each row keeps the response object, the items this turn added (its input and output) and the id of the
turn before it; a conversation is rebuilt by walking that chain.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    previous_id TEXT,
    created_at REAL NOT NULL,
    response TEXT NOT NULL,
    items TEXT NOT NULL
);
"""


class ResponseStore:
    def __init__(self, path: Path | str):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def put(self, response: dict[str, Any], items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (id, previous_id, created_at, response, items) VALUES (?, ?, ?, ?, ?)",
                (response["id"], response.get("previous_response_id"), response["created_at"], json.dumps(response), json.dumps(items)),
            )

    def get(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE id = ?", (response_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def history(self, response_id: str) -> list[dict[str, Any]] | None:
        """All items of the conversation up to and including this response, oldest first."""
        chain: list[list[dict[str, Any]]] = []
        current: str | None = response_id
        seen = set()
        with self._lock:
            while current and current not in seen:
                seen.add(current)
                row = self._db.execute("SELECT previous_id, items FROM responses WHERE id = ?", (current,)).fetchone()
                if row is None:
                    if current == response_id:
                        return None
                    break
                chain.append(json.loads(row[1]))
                current = row[0]
        return [item for items in reversed(chain) for item in items]

    def delete(self, response_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM responses WHERE id = ?", (response_id,))
        return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
