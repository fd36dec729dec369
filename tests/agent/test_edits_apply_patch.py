"""apply_patch format: happy paths, codex-style matching and lenient wrappers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codespark.agent.edits import EditParseError, apply_edits, parse_edits


def snapshot(root: Path) -> dict[str, object]:
    """Every file, directory and link under root, with bytes and modes."""
    tree: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if p.is_symlink():
                tree[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                tree[rel] = ("dir", st.st_mode)
            else:
                tree[rel] = ("file", p.read_bytes(), st.st_mode)
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


TWO_FUNCS = "def foo():\n    x = 1\n    return x\n\n\ndef bar():\n    x = 1\n    return x\n"


def test_add_file_creates_parents(ws: Path) -> None:
    result = apply_edits(ws, "*** Begin Patch\n*** Add File: pkg/sub/new.py\n+import os\n+\n+print(os.sep)\n*** End Patch\n")
    assert (ws / "pkg/sub/new.py").read_text() == "import os\n\nprint(os.sep)\n"
    assert result.format_name == "apply_patch"
    [change] = result.changes
    assert (change.path, change.kind, change.old_text) == ("pkg/sub/new.py", "add", None)


def test_update_with_multiple_hunks(ws: Path) -> None:
    write(ws, "m.py", "a\nb\nc\nd\ne\nf\ng\nh\n")
    patch = """*** Begin Patch
*** Update File: m.py
@@
 a
-b
+B
 c
@@
 f
-g
+G1
+G2
 h
*** End Patch"""
    result = apply_edits(ws, patch)
    assert (ws / "m.py").read_text() == "a\nB\nc\nd\ne\nf\nG1\nG2\nh\n"
    assert result.changes[0].kind == "update"
    diff = result.unified_diff()
    assert "--- a/m.py" in diff and "+++ b/m.py" in diff and "-b\n" in diff and "+G2\n" in diff


def test_hunks_are_searched_after_the_previous_one(ws: Path) -> None:
    write(ws, "m.py", "x\ny\nx\ny\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n-x\n+1\n@@\n-x\n+2\n*** End Patch")
    assert (ws / "m.py").read_text() == "1\ny\n2\ny\n"


def test_context_header_narrows_search(ws: Path) -> None:
    write(ws, "m.py", TWO_FUNCS)
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@ def bar():\n-    x = 1\n+    x = 2\n*** End Patch")
    assert (ws / "m.py").read_text() == TWO_FUNCS.replace("def bar():\n    x = 1", "def bar():\n    x = 2")


def test_several_context_headers_narrow_step_by_step(ws: Path) -> None:
    src = "class A:\n    def run(self):\n        return 1\n\nclass B:\n    def run(self):\n        return 1\n"
    write(ws, "m.py", src)
    patch = "*** Begin Patch\n*** Update File: m.py\n@@ class B:\n@@     def run(self):\n-        return 1\n+        return 2\n*** End Patch"
    apply_edits(ws, patch)
    assert (ws / "m.py").read_text() == src[: src.rindex("1")] + "2\n"


def test_pure_insertion_goes_after_header_or_at_end(ws: Path) -> None:
    write(ws, "m.py", "def f():\n    pass\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@ def f():\n+    '''Doc.'''\n*** End Patch")
    assert (ws / "m.py").read_text() == "def f():\n    '''Doc.'''\n    pass\n"
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n+# end\n*** End Patch")
    assert (ws / "m.py").read_text().endswith("    pass\n# end\n")


def test_move_with_changes_keeps_mode(ws: Path) -> None:
    p = write(ws, "old/tool.sh", "#!/bin/sh\necho old\n")
    p.chmod(0o755)
    patch = "*** Begin Patch\n*** Update File: old/tool.sh\n*** Move to: bin/tool.sh\n@@\n #!/bin/sh\n-echo old\n+echo new\n*** End Patch"
    result = apply_edits(ws, patch)
    assert not p.exists()
    moved = ws / "bin/tool.sh"
    assert moved.read_text() == "#!/bin/sh\necho new\n"
    assert moved.stat().st_mode & 0o777 == 0o755
    [change] = result.changes
    assert (change.kind, change.path, change.old_path) == ("move", "bin/tool.sh", "old/tool.sh")
    assert "rename from old/tool.sh" in result.unified_diff()


def test_pure_rename(ws: Path) -> None:
    write(ws, "a.txt", "same\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: a.txt\n*** Move to: b.txt\n*** End Patch")
    assert not (ws / "a.txt").exists() and (ws / "b.txt").read_text() == "same\n"


def test_delete(ws: Path) -> None:
    write(ws, "gone.py", "bye\n")
    result = apply_edits(ws, "*** Begin Patch\n*** Delete File: gone.py\n*** End Patch")
    assert not (ws / "gone.py").exists()
    assert result.changes[0].kind == "delete" and result.changes[0].old_text == "bye\n"
    assert "+++ /dev/null" in result.unified_diff()


def test_end_of_file_anchor_picks_last_occurrence(ws: Path) -> None:
    write(ws, "m.py", "end\nmiddle\nend\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n-end\n+END\n*** End of File\n*** End Patch")
    assert (ws / "m.py").read_text() == "end\nmiddle\nEND\n"


def test_crlf_and_missing_final_newline_are_preserved(ws: Path) -> None:
    write(ws, "w.txt", b"one\r\ntwo\r\nthree")
    apply_edits(ws, "*** Begin Patch\n*** Update File: w.txt\n@@\n one\n-two\n+TWO\n+2.5\n three\n*** End Patch")
    assert (ws / "w.txt").read_bytes() == b"one\r\nTWO\r\n2.5\r\nthree"


def test_mixed_endings_untouched_lines_keep_theirs(ws: Path) -> None:
    write(ws, "m.txt", b"a\r\nb\nc\r\nd\r\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.txt\n@@\n-c\n+C\n*** End Patch")
    assert (ws / "m.txt").read_bytes() == b"a\r\nb\nC\r\nd\r\n"


def test_bom_is_kept(ws: Path) -> None:
    write(ws, "b.txt", "\ufefffirst\nsecond\n".encode())
    apply_edits(ws, "*** Begin Patch\n*** Update File: b.txt\n@@\n-first\n+FIRST\n*** End Patch")
    assert (ws / "b.txt").read_bytes() == "\ufeffFIRST\nsecond\n".encode()


def test_whitespace_tolerant_matching(ws: Path) -> None:
    write(ws, "m.py", "def f():   \n        x = 1\n")
    # Trailing spaces missing from the patch, then different indentation.
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n def f():\n-    x = 1\n+    x = 2\n*** End Patch")
    assert (ws / "m.py").read_text() == "def f():   \n    x = 2\n"


def test_exact_match_wins_over_fuzzy(ws: Path) -> None:
    write(ws, "m.py", "  x\nx\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n-x\n+y\n*** End Patch")
    assert (ws / "m.py").read_text() == "  x\ny\n"


def test_unicode_punctuation_is_normalised(ws: Path) -> None:
    write(ws, "m.py", "msg = \u201chello \u2014 world\u201d\n")
    apply_edits(ws, '*** Begin Patch\n*** Update File: m.py\n@@\n-msg = "hello - world"\n+msg = "hi"\n*** End Patch')
    assert (ws / "m.py").read_text() == 'msg = "hi"\n'


def test_trailing_blank_context_line_is_tolerated(ws: Path) -> None:
    write(ws, "m.py", "a\nb\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n-b\n+c\n\n*** End Patch")
    assert (ws / "m.py").read_text() == "a\nc\n"


def test_git_style_hunk_header_numbers_are_ignored(ws: Path) -> None:
    write(ws, "m.py", "a\nb\n")
    apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n*** End Patch")
    assert (ws / "m.py").read_text() == "a\nc\n"


BODY = "*** Update File: m.py\n@@\n-a\n+b\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BODY, id="no-begin-end"),
        pytest.param("*** Begin Patch\n" + BODY, id="no-end"),
        pytest.param(BODY + "*** End Patch\n", id="no-begin"),
        pytest.param("```\n*** Begin Patch\n" + BODY + "*** End Patch\n```\n", id="fence"),
        pytest.param("```diff\n" + BODY + "```", id="fence-no-wrapper"),
        pytest.param("apply_patch <<'EOF'\n*** Begin Patch\n" + BODY + "*** End Patch\nEOF\n", id="heredoc"),
        pytest.param('<<"PATCH"\n' + BODY + "PATCH\n", id="bare-heredoc"),
        pytest.param("Sure, here is the fix.\n\n*** Begin Patch\n" + BODY + "*** End Patch\nDone.", id="chatter"),
        pytest.param("  *** Begin Patch\n  " + BODY + "  *** End Patch", id="indented-markers"),
        pytest.param("The fix:\n\n```patch\n" + BODY + "```\nThat should do it.\n", id="chatter-around-fence"),
        pytest.param("```\n*** Begin Patch\n" + BODY + "```\nNo end marker, but the fence closes it.", id="fence-closes"),
    ],
)
def test_lenient_wrappers(ws: Path, text: str) -> None:
    write(ws, "m.py", "a\n")
    result = apply_edits(ws, text)
    assert result.format_name == "apply_patch"
    assert (ws / "m.py").read_text() == "b\n"


def test_dry_run_writes_nothing(ws: Path) -> None:
    write(ws, "m.py", "a\n")
    before = snapshot(ws)
    result = apply_edits(ws, "*** Begin Patch\n*** Update File: m.py\n@@\n-a\n+b\n*** Add File: n.py\n+n\n*** End Patch", dry_run=True)
    assert result.dry_run
    assert [c.path for c in result.changes] == ["m.py", "n.py"]
    assert "+b" in result.unified_diff()
    assert snapshot(ws) == before


def test_parse_edits_structure() -> None:
    edits = parse_edits(
        "*** Begin Patch\n*** Add File: a\n+x\n*** Delete File: b\n*** Update File: c\n*** Move to: d\n"
        "@@ def f():\n-1\n+2\n*** End of File\n*** End Patch"
    )
    assert [(e.kind, e.path) for e in edits] == [("add", "a"), ("delete", "b"), ("update", "c")]
    assert edits[0].content == "x\n"
    assert edits[2].move_to == "d"
    [hunk] = edits[2].hunks
    assert (hunk.contexts, hunk.old_lines, hunk.new_lines, hunk.is_eof) == (("def f():",), ("1",), ("2",), True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("*** Begin Patch\n*** Frobnicate File: a\n*** End Patch", "is not a valid hunk header"),
        ("*** Begin Patch\n*** Update File: a\n@@\n-x\nbogus\n*** End Patch", "unexpected line in hunk for a: 'bogus'"),
        ("*** Begin Patch\n*** Update File: a\n*** End Patch", "'*** Update File: a' has no hunks"),
        ("*** Begin Patch\n*** Add File: a\n+ok\nnot prefixed\n*** End Patch", "must start with '+'"),
        ("*** Begin Patch\n*** Add File:\n+x\n*** End Patch", "needs a file path"),
        ("*** Begin Patch\n*** End Patch", "contains no"),
        ("Intro text\n*** Update File: a\n@@\n-x\n+y\n", "expected '*** Begin Patch'"),
    ],
)
def test_parse_errors_are_precise_and_write_nothing(ws: Path, text: str, fragment: str) -> None:
    write(ws, "a", "x\n")
    before = snapshot(ws)
    with pytest.raises(EditParseError) as info:
        apply_edits(ws, text)
    assert fragment in str(info.value)
    assert "line " in str(info.value) or "contains no" in fragment
    assert snapshot(ws) == before
