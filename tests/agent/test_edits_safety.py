"""Errors, workspace confinement, atomicity and revert, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codespark.agent.edits import (
    BinaryFileError,
    EditError,
    FileTooLargeError,
    HunkMismatchError,
    MissingFileError,
    WorkspaceEscapeError,
    apply_edits,
    revert,
)
from codespark.agent.edits.apply import commit


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


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("secret\n")
    return d


def write(root: Path, rel: str, data: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def patch(*sections: str) -> str:
    return "*** Begin Patch\n" + "".join(sections) + "*** End Patch\n"


def update(path: str, old: str, new: str) -> str:
    return f"*** Update File: {path}\n@@\n-{old}\n+{new}\n"


def assert_rejected(ws: Path, text: str, error: type[Exception], *fragments: str) -> str:
    before = snapshot(ws)
    with pytest.raises(error) as info:
        apply_edits(ws, text)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    assert snapshot(ws) == before
    return msg


# --- hunk mismatches -----------------------------------------------------------------


def test_hunk_mismatch_names_file_hunk_expected_and_closest(ws: Path) -> None:
    write(ws, "calc.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    text = patch(
        "*** Update File: calc.py\n@@\n def add(a, b):\n-    return a + b\n+    return b + a\n"
        "@@\n def sub(a, b):\n-    return a - c\n+    return c - a\n"
    )
    msg = assert_rejected(ws, text, HunkMismatchError, "hunk 2 of 2 for calc.py", "expected lines were not found")
    assert "searched from line 3, after the previous hunk" in msg
    assert "      |     return a - c" in msg  # the lines it expected
    assert "Closest match in calc.py (lines 5-6):" in msg
    assert "     5 | def sub(a, b):\n     6 |     return a - b" in msg
    assert "No changes were made" in msg


def test_missing_context_header(ws: Path) -> None:
    write(ws, "m.py", "def foo():\n    pass\n")
    msg = assert_rejected(
        ws, patch("*** Update File: m.py\n@@ def fooo():\n-    pass\n+    return 1\n"), HunkMismatchError,
        "hunk 1 of 1 for m.py", "'@@ def fooo():' context line was not found",
    )
    assert "     1 | def foo():" in msg


def test_error_attributes(ws: Path) -> None:
    write(ws, "m.py", "a\nb\nc\n")
    with pytest.raises(HunkMismatchError) as info:
        apply_edits(ws, patch("*** Update File: m.py\n@@\n a\n-B\n+x\n"))
    err = info.value
    assert (err.path, err.hunk, err.expected, err.closest_start) == ("m.py", 1, ("a", "B"), 1)
    assert err.closest_lines == ("a", "b")


# --- missing files --------------------------------------------------------------------


def test_update_missing_file_suggests_add(ws: Path) -> None:
    assert_rejected(
        ws, patch(update("ghost.py", "a", "b")), MissingFileError,
        "cannot update ghost.py", "does not exist", "*** Add File: ghost.py",
    )


def test_delete_missing_file(ws: Path) -> None:
    assert_rejected(
        ws, patch("*** Delete File: ghost.py\n"), MissingFileError,
        "cannot delete ghost.py", "does not exist", "*** Add File",
    )


# --- workspace confinement -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/etc/passwd", "~/x.py", "C:\\x.py"])
def test_absolute_paths_rejected(ws: Path, path: str) -> None:
    assert_rejected(ws, patch(f"*** Add File: {path}\n+x\n"), WorkspaceEscapeError, repr(path), "absolute")


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", ".."])
def test_dotdot_escape_rejected(ws: Path, outside: Path, path: str) -> None:
    before_outside = snapshot(outside.parent)
    assert_rejected(ws, patch(f"*** Add File: {path}\n+x\n"), WorkspaceEscapeError, "'..' leads outside")
    assert snapshot(outside.parent) == before_outside


def test_dotdot_inside_workspace_is_fine(ws: Path) -> None:
    apply_edits(ws, patch("*** Add File: a/../b.txt\n+x\n"))
    assert (ws / "b.txt").read_text() == "x\n"


def test_symlinked_directory_escape(ws: Path, outside: Path) -> None:
    (ws / "link").symlink_to(outside, target_is_directory=True)
    snap = snapshot(outside)
    assert_rejected(ws, patch(update("link/secret.txt", "secret", "pwned")), WorkspaceEscapeError, "link/secret.txt", "symlink")
    assert_rejected(ws, patch("*** Add File: link/new.txt\n+x\n"), WorkspaceEscapeError, "link/new.txt")
    assert snapshot(outside) == snap


def test_symlinked_file_escape(ws: Path, outside: Path) -> None:
    (ws / "secret.txt").symlink_to(outside / "secret.txt")
    (ws / "dangling.txt").symlink_to(outside / "not-yet.txt")
    snap = snapshot(outside)
    for text in (
        patch(update("secret.txt", "secret", "pwned")),
        patch("*** Delete File: secret.txt\n"),
        "secret.txt\n```\npwned\n```\n",
        patch("*** Add File: dangling.txt\n+pwned\n"),
        patch("*** Add File: ok.txt\n+fine\n", "*** Update File: ok.txt\n*** Move to: dangling.txt\n"),
    ):
        assert_rejected(ws, text, WorkspaceEscapeError, "outside the workspace")
    assert snapshot(outside) == snap


def test_symlink_inside_workspace_edits_target(ws: Path) -> None:
    write(ws, "real/conf.txt", "a\n")
    (ws / "alias.txt").symlink_to(ws / "real/conf.txt")
    apply_edits(ws, patch(update("alias.txt", "a", "b")))
    assert (ws / "alias.txt").is_symlink()
    assert (ws / "real/conf.txt").read_text() == "b\n"


# --- binary and oversized files ----------------------------------------------------------


def test_binary_nul_file_rejected(ws: Path) -> None:
    write(ws, "img.bin", b"PK\x00\x01text\n")
    assert_rejected(ws, patch(update("img.bin", "text", "x")), BinaryFileError, "img.bin", "NUL")
    assert_rejected(ws, patch("*** Delete File: img.bin\n"), BinaryFileError, "img.bin")
    assert_rejected(ws, "img.bin\n```\nx\n```\n", BinaryFileError, "img.bin")


def test_invalid_utf8_rejected(ws: Path) -> None:
    write(ws, "latin1.txt", "caf\u00e9\n".encode("latin-1"))
    assert_rejected(
        ws, "latin1.txt\n<<<<<<< SEARCH\ncaf\n=======\nx\n>>>>>>> REPLACE\n", BinaryFileError,
        "latin1.txt", "invalid UTF-8 at byte 3",
    )


def test_oversized_file_rejected_with_configurable_limit(ws: Path) -> None:
    write(ws, "big.txt", "x\n" * 100)
    before = snapshot(ws)
    with pytest.raises(FileTooLargeError) as info:
        apply_edits(ws, patch(update("big.txt", "x", "y")), max_file_bytes=100)
    assert "big.txt" in str(info.value) and "200 bytes" in str(info.value) and "100-byte limit" in str(info.value)
    assert snapshot(ws) == before
    # The same edit is fine under the default 2 MB limit.
    apply_edits(ws, patch(update("big.txt", "x", "y")))
    assert (ws / "big.txt").read_text().startswith("y\nx\n")


def test_default_limit_is_two_megabytes(ws: Path) -> None:
    write(ws, "huge.txt", b"a" * (2 * 1024 * 1024 + 1))
    assert_rejected(ws, patch("*** Delete File: huge.txt\n"), FileTooLargeError, "huge.txt", "2,097,152-byte limit")


def test_edit_that_grows_past_limit_rejected(ws: Path) -> None:
    before = snapshot(ws)
    with pytest.raises(FileTooLargeError, match="new.txt: the edited content is 300 bytes"):
        apply_edits(ws, patch("*** Add File: new.txt\n" + "+xx\n" * 100), max_file_bytes=200)
    assert snapshot(ws) == before


# --- atomicity --------------------------------------------------------------------------


def test_second_file_failing_leaves_first_untouched(ws: Path) -> None:
    write(ws, "first.py", "one\n")
    write(ws, "second.py", "two\n")
    text = patch(update("first.py", "one", "ONE"), "*** Add File: new/third.py\n+3\n", update("second.py", "zwei", "2"))
    assert_rejected(ws, text, HunkMismatchError, "second.py")
    assert not (ws / "new").exists()


def test_second_file_binary_leaves_first_untouched(ws: Path) -> None:
    write(ws, "first.py", "one\n")
    write(ws, "blob.dat", b"\x00\x01")
    assert_rejected(ws, patch(update("first.py", "one", "ONE"), "*** Delete File: blob.dat\n"), BinaryFileError, "blob.dat")


def test_write_failure_midway_rolls_back(ws: Path) -> None:
    write(ws, "a.txt", "a\n")
    p = write(ws, "b.txt", "b\n")
    p.chmod(0o640)
    text = patch(update("a.txt", "a", "A"), "*** Delete File: b.txt\n", "*** Add File: sub/c.txt\n+c\n")
    planned = apply_edits(ws, text, dry_run=True)
    # Make the last write impossible after planning: 'sub' is now a file, so mkdir fails.
    write(ws, "sub", "in the way\n")
    before = snapshot(ws)
    with pytest.raises(EditError) as info:
        commit(ws.resolve(), planned.writes)
    assert "writing sub/c.txt failed" in str(info.value) and "rolled back" in str(info.value)
    assert snapshot(ws) == before  # a.txt restored, b.txt back with its mode


def test_file_changed_after_planning_is_not_overwritten(ws: Path) -> None:
    write(ws, "a.txt", "a\n")
    write(ws, "b.txt", "b\n")
    planned = apply_edits(ws, patch(update("a.txt", "a", "A"), update("b.txt", "b", "B")), dry_run=True)
    write(ws, "b.txt", "edited by the user\n")
    before = snapshot(ws)
    with pytest.raises(EditError, match="b.txt changed on disk"):
        commit(ws.resolve(), planned.writes)
    assert snapshot(ws) == before


def test_mode_preserved_on_update(ws: Path) -> None:
    p = write(ws, "run.sh", "#!/bin/sh\necho 1\n")
    p.chmod(0o751)
    apply_edits(ws, patch(update("run.sh", "echo 1", "echo 2")))
    assert p.stat().st_mode & 0o7777 == 0o751
    assert not [x for x in ws.iterdir() if x.name.endswith(".tmp")]


# --- revert ---------------------------------------------------------------------------------


def test_revert_restores_exactly(ws: Path) -> None:
    write(ws, "crlf.txt", b"a\r\nb\r\nc")
    tool = write(ws, "tool.sh", "#!/bin/sh\n")
    tool.chmod(0o755)
    write(ws, "old/name.py", "x = 1\n")
    write(ws, "keep.txt", "keep\n")
    before = snapshot(ws)
    text = patch(
        update("crlf.txt", "b", "B"),
        "*** Delete File: tool.sh\n",
        "*** Add File: deep/er/new.py\n+new\n",
        "*** Update File: old/name.py\n*** Move to: new/name.py\n@@\n-x = 1\n+x = 2\n",
    )
    result = apply_edits(ws, text)
    assert sorted((c.kind, c.path) for c in result.changes) == [
        ("add", "deep/er/new.py"), ("delete", "tool.sh"), ("move", "new/name.py"), ("update", "crlf.txt"),
    ]
    assert snapshot(ws) != before
    undone = revert(ws, result)
    assert snapshot(ws) == before  # bytes, modes, and the created directories gone
    assert {c.kind for c in undone.changes} == {"add", "delete", "move", "update"}


def test_revert_refuses_when_file_changed_since(ws: Path) -> None:
    write(ws, "a.txt", "a\n")
    result = apply_edits(ws, patch(update("a.txt", "a", "A")))
    write(ws, "a.txt", "user work\n")
    with pytest.raises(EditError, match="a.txt changed on disk"):
        revert(ws, result)
    assert (ws / "a.txt").read_text() == "user work\n"
    revert(ws, result, force=True)
    assert (ws / "a.txt").read_text() == "a\n"


def test_revert_is_all_or_nothing(ws: Path) -> None:
    write(ws, "a.txt", "a\n")
    write(ws, "b.txt", "b\n")
    result = apply_edits(ws, patch(update("a.txt", "a", "A"), update("b.txt", "b", "B")))
    write(ws, "b.txt", "changed\n")
    before = snapshot(ws)
    with pytest.raises(EditError):
        revert(ws, result)
    assert snapshot(ws) == before  # a.txt was not reverted alone


def test_revert_of_dry_run_is_an_error(ws: Path) -> None:
    write(ws, "a.txt", "a\n")
    result = apply_edits(ws, patch(update("a.txt", "a", "A")), dry_run=True)
    with pytest.raises(EditError, match="dry run"):
        revert(ws, result)


def test_unified_diff_marks_missing_newline(ws: Path) -> None:
    write(ws, "n.txt", b"a\nb")
    diff = apply_edits(ws, patch(update("n.txt", "b", "c"))).unified_diff()
    assert diff == "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
