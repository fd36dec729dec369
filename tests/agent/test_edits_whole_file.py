"""Whole-file edits: a path and a fenced block with the complete new content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codespark.agent.edits import EditParseError, apply_edits, parse_edits


def snapshot(root: Path) -> dict[str, object]:
    tree: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            kind = "link" if p.is_symlink() else "dir" if p.is_dir() else "file"
            data = os.readlink(p) if kind == "link" else p.read_bytes() if kind == "file" else None
            tree[p.relative_to(root).as_posix()] = (kind, data, st.st_mode)
    return tree


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def test_path_line_then_fence(ws: Path) -> None:
    (ws / "app.py").write_text("old\n")
    result = apply_edits(ws, "Here is the new file.\n\napp.py\n```python\ndef main():\n    return 1\n```\n")
    assert result.format_name == "whole_file"
    assert (ws / "app.py").read_text() == "def main():\n    return 1\n"
    assert result.changes[0].kind == "update"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("```src/app.py\nprint(1)\n```\n", id="info-path"),
        pytest.param("```python src/app.py\nprint(1)\n```\n", id="info-lang-path"),
        pytest.param("```python:src/app.py\nprint(1)\n```\n", id="info-lang-colon-path"),
        pytest.param("Here is the updated `src/app.py`:\n\n```python\nprint(1)\n```\n", id="backticked-in-prose"),
        pytest.param("### src/app.py\n```python\nprint(1)\n```\n", id="markdown-heading"),
    ],
)
def test_path_forms_create_file(ws: Path, reply: str) -> None:
    result = apply_edits(ws, reply)
    assert (ws / "src/app.py").read_text() == "print(1)\n"
    assert result.changes[0].kind == "add"


def test_line_endings_and_missing_final_newline_preserved(ws: Path) -> None:
    (ws / "w.txt").write_bytes(b"a\r\nb")
    apply_edits(ws, "w.txt\n```\nx\ny\nz\n```\n")
    assert (ws / "w.txt").read_bytes() == b"x\r\ny\r\nz"


def test_longer_fence_holds_markdown_with_fences(ws: Path) -> None:
    reply = "README.md\n````markdown\n# Title\n\n```sh\nmake\n```\n````\n"
    apply_edits(ws, reply)
    assert (ws / "README.md").read_text() == "# Title\n\n```sh\nmake\n```\n"


def test_fences_without_path_are_ignored(ws: Path) -> None:
    edits = parse_edits("Run this:\n```sh\nmake test\n```\n\nlib/x.py\n```python\nX = 1\n```\n")
    assert [(e.kind, e.path, e.content) for e in edits] == [("write", "lib/x.py", "X = 1\n")]


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ("Just use:\n```python\nprint(1)\n```\n", "no edits found"),
        ("a.py\n```python b.py\nx\n```\n", "two different paths"),
        ("a.py\n```\nx\n```\n\na.py\n```\ny\n```\n", "a.py has two code blocks"),
        ("a.py\n```python\nx\n", "never closed"),
        ("", "empty"),
    ],
)
def test_ambiguous_or_missing_path_is_rejected(ws: Path, reply: str, fragment: str) -> None:
    (ws / "a.py").write_text("keep\n")
    before = snapshot(ws)
    with pytest.raises(EditParseError) as info:
        apply_edits(ws, reply)
    assert fragment in str(info.value)
    assert snapshot(ws) == before


def test_mixed_formats_are_rejected(ws: Path) -> None:
    reply = "*** Begin Patch\n*** Delete File: a.py\n*** End Patch\na.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    (ws / "a.py").write_text("x\n")
    before = snapshot(ws)
    with pytest.raises(EditParseError, match="one format per reply"):
        apply_edits(ws, reply)
    assert snapshot(ws) == before
