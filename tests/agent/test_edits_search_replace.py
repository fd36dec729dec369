"""SEARCH/REPLACE blocks (Aider style)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codespark.agent.edits import (
    EditParseError,
    HunkMismatchError,
    MissingFileError,
    apply_edits,
    parse_edits,
)


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


def write(root: Path, rel: str, data: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


APP = "import os\n\n\ndef main():\n    print('hello')\n    return 0\n"


def test_basic_block(ws: Path) -> None:
    write(ws, "src/app.py", APP)
    reply = "I'll change the greeting.\n\nsrc/app.py\n<<<<<<< SEARCH\n    print('hello')\n=======\n    print('bye')\n>>>>>>> REPLACE\n"
    result = apply_edits(ws, reply)
    assert result.format_name == "search_replace"
    assert (ws / "src/app.py").read_text() == APP.replace("hello", "bye")
    assert [(c.path, c.kind) for c in result.changes] == [("src/app.py", "update")]


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("src/app.py\n```python\n<<<<<<< SEARCH\n    return 0\n=======\n    return 1\n>>>>>>> REPLACE\n```\n", id="path-before-fence"),
        pytest.param("```src/app.py\n<<<<<<< SEARCH\n    return 0\n=======\n    return 1\n>>>>>>> REPLACE\n```\n", id="path-as-info"),
        pytest.param("```python src/app.py\n<<<<<<< SEARCH\n    return 0\n=======\n    return 1\n>>>>>>> REPLACE\n```\n", id="lang-and-path-info"),
        pytest.param("**src/app.py**:\n\n```python\n<<<<<<< SEARCH\n    return 0\n=======\n    return 1\n>>>>>>> REPLACE\n```\n", id="decorated-path"),
    ],
)
def test_path_placements(ws: Path, reply: str) -> None:
    write(ws, "src/app.py", APP)
    apply_edits(ws, reply)
    assert (ws / "src/app.py").read_text() == APP.replace("return 0", "return 1")


def test_several_blocks_several_files(ws: Path) -> None:
    write(ws, "a.py", "one\ntwo\nthree\n")
    write(ws, "b.py", "alpha\n")
    reply = (
        "a.py\n```python\n<<<<<<< SEARCH\none\n=======\n1\n>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\nthree\n=======\n3\n>>>>>>> REPLACE\n```\n\n"
        "Then:\n\nb.py\n```python\n<<<<<<< SEARCH\nalpha\n=======\nbeta\n>>>>>>> REPLACE\n```\n"
    )
    edits = parse_edits(reply)
    assert [(e.path, [b.number for b in e.blocks]) for e in edits] == [("a.py", [1, 2]), ("b.py", [3])]
    apply_edits(ws, edits)
    assert (ws / "a.py").read_text() == "1\ntwo\n3\n"
    assert (ws / "b.py").read_text() == "beta\n"


def test_empty_search_creates_missing_file(ws: Path) -> None:
    result = apply_edits(ws, "pkg/new.py\n<<<<<<< SEARCH\n=======\nVALUE = 1\n>>>>>>> REPLACE\n")
    assert (ws / "pkg/new.py").read_text() == "VALUE = 1\n"
    assert result.changes[0].kind == "add"


def test_empty_search_appends_to_existing_file(ws: Path) -> None:
    write(ws, "n.txt", "a\n")
    apply_edits(ws, "n.txt\n<<<<<<< SEARCH\n=======\nb\n>>>>>>> REPLACE\n")
    assert (ws / "n.txt").read_text() == "a\nb\n"


def test_whitespace_tolerant_match_reindents_replacement(ws: Path) -> None:
    write(ws, "m.py", "class A:\n    def f(self):\n        return 1  \n")
    reply = "m.py\n<<<<<<< SEARCH\ndef f(self):\n    return 1\n=======\ndef f(self):\n    return 2\n>>>>>>> REPLACE\n"
    apply_edits(ws, reply)
    assert (ws / "m.py").read_text() == "class A:\n    def f(self):\n        return 2\n"


def test_crlf_preserved(ws: Path) -> None:
    write(ws, "w.txt", b"a\r\nb\r\nc\r\n")
    apply_edits(ws, "w.txt\n<<<<<<< SEARCH\nb\n=======\nB\nB2\n>>>>>>> REPLACE\n")
    assert (ws / "w.txt").read_bytes() == b"a\r\nB\r\nB2\r\nc\r\n"


def test_blank_lines_around_search_are_tolerated(ws: Path) -> None:
    write(ws, "m.txt", "a\nb\nc\n")
    apply_edits(ws, "m.txt\n<<<<<<< SEARCH\n\nb\n\n=======\n\nB\n\n>>>>>>> REPLACE\n")
    assert (ws / "m.txt").read_text() == "a\nB\nc\n"


def test_no_match_reports_closest_region(ws: Path) -> None:
    write(ws, "src/app.py", APP)
    before = snapshot(ws)
    reply = "src/app.py\n<<<<<<< SEARCH\ndef main():\n    print('helo')\n=======\ndef main():\n    pass\n>>>>>>> REPLACE\n"
    with pytest.raises(HunkMismatchError) as info:
        apply_edits(ws, reply)
    msg = str(info.value)
    assert "SEARCH/REPLACE block 1 for src/app.py" in msg and "not found" in msg
    assert "print('helo')" in msg  # what it expected
    assert "Closest match in src/app.py (lines 4-5)" in msg
    assert "     5 |     print('hello')" in msg
    assert info.value.closest_start == 4 and info.value.hunk == 1
    assert snapshot(ws) == before


def test_ambiguous_match_is_an_error(ws: Path) -> None:
    write(ws, "m.py", "x = 1\ny = 2\nx = 1\n")
    before = snapshot(ws)
    with pytest.raises(HunkMismatchError) as info:
        apply_edits(ws, "m.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 3\n>>>>>>> REPLACE\n")
    msg = str(info.value)
    assert "matches 2 places" in msg and "lines 1, 3" in msg and "exactly once" in msg
    assert snapshot(ws) == before


def test_missing_file_with_search_text(ws: Path) -> None:
    before = snapshot(ws)
    with pytest.raises(MissingFileError) as info:
        apply_edits(ws, "nope.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n")
    assert "nope.py" in str(info.value) and "does not exist" in str(info.value)
    assert "empty SEARCH" in str(info.value) and "*** Add File" in str(info.value)
    assert snapshot(ws) == before


def test_later_block_failing_leaves_everything_untouched(ws: Path) -> None:
    write(ws, "a.py", "one\n")
    write(ws, "b.py", "two\n")
    before = snapshot(ws)
    reply = (
        "a.py\n<<<<<<< SEARCH\none\n=======\nONE\n>>>>>>> REPLACE\n\n"
        "b.py\n<<<<<<< SEARCH\nthree\n=======\nTHREE\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(HunkMismatchError) as info:
        apply_edits(ws, reply)
    assert "block 2 for b.py" in str(info.value)
    assert snapshot(ws) == before


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ("Some prose without a path\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "block 1 has no file path"),
        ("a.py\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n", "expected '=======' but found '>>>>>>> REPLACE'"),
        ("a.py\n<<<<<<< SEARCH\na\n=======\nb\n", "missing its '>>>>>>> REPLACE' line"),
        ("a.py\n>>>>>>> REPLACE\n", "without a preceding '<<<<<<< SEARCH'"),
        (
            "a.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n\nAnd now:\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n",
            "block 2 has no file path",
        ),
    ],
)
def test_parse_errors(ws: Path, reply: str, fragment: str) -> None:
    write(ws, "a.py", "a\n")
    before = snapshot(ws)
    with pytest.raises(EditParseError) as info:
        apply_edits(ws, reply)
    assert fragment in str(info.value)
    assert str(info.value).startswith("line ")
    assert snapshot(ws) == before
