"""Finding edits in plain replies, merging Python fragments, picking context, reading the user's intent."""

from __future__ import annotations

from pathlib import Path

import pytest

from codespark.agent.context import ContextTracker, compact, mentioned_files, named_identifiers
from codespark.agent.edits import apply_edits
from codespark.agent.fragments import merge_fragment
from codespark.agent.modes import asks_for_tests_or_build
from codespark.agent.text_edits import find_edits

SRC = '''import os


MAX = 3


def add(a, b):
    return a + b


@cache
def sub(a, b):
    return a - b


class Box:
    def __init__(self, x):
        self.x = x

    def size(self):
        return 1
'''


def ws(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_merge_replaces_function_keeps_rest():
    out = merge_fragment(SRC, "def add(a, b):\n    return b + a\n")
    assert out == SRC.replace("return a + b", "return b + a")


def test_merge_keeps_decorator_span_and_replaces_method_by_name():
    out = merge_fragment(SRC, "@cache\ndef sub(a, b):\n    return b - a\n\n\ndef size(self):\n    return 2\n")
    assert "return b - a" in out and "        return 2\n" in out and out.count("@cache") == 1
    assert "def add" in out and "def __init__" in out


def test_merge_appends_new_function_and_import_and_drops_usage_example():
    out = merge_fragment(SRC, "import math\n\ndef mul(a, b):\n    return a * b\n\nprint(mul(2, 3))\n")
    assert out.startswith("import os\nimport math\n")
    assert out.endswith("        return 1\n\n\ndef mul(a, b):\n    return a * b\n")
    assert "print(" not in out


def test_merge_partial_class_merges_methods():
    out = merge_fragment(SRC, "class Box:\n    def size(self):\n        return self.x\n\n    def area(self):\n        return 0\n")
    assert "def __init__(self, x)" in out and "return self.x" in out and "    def area(self):\n        return 0\n" in out


def test_merge_constant():
    assert "MAX = 5\n" in merge_fragment(SRC, "MAX = 5\n")


def test_merge_refuses_other_statements():
    assert merge_fragment(SRC, "x = compute()\nfor i in x:\n    print(i)\n") is None


def test_find_edits_labelled_whole_file(tmp_path):
    root = ws(tmp_path, {"a.py": "x = 1\n"})
    found = find_edits("Here you go:\n\na.py\n```python\nx = 2\n```\n", root, ["a.py"])
    assert [e.path for e in found.edits] == ["a.py"] and found.edits[0].content == "x = 2\n"


def test_find_edits_unlabelled_block_single_candidate(tmp_path):
    root = ws(tmp_path, {"calc.py": SRC})
    found = find_edits("```python\ndef add(a, b):\n    return a + b + 0\n```", root, ["calc.py"])
    result = apply_edits(root, found.edits)
    assert "return a + b + 0" in (root / "calc.py").read_text() and "class Box" in (root / "calc.py").read_text()
    assert result.paths == ["calc.py"] and found.notes


def test_find_edits_unlabelled_block_picks_file_by_definitions(tmp_path):
    root = ws(tmp_path, {"calc.py": SRC, "other.py": "def other():\n    pass\n"})
    found = find_edits("```python\ndef sub(a, b):\n    return 0\n```", root, ["other.py", "calc.py"])
    assert [e.path for e in found.edits] == ["calc.py"]


def test_find_edits_ignores_shell_blocks_and_prose(tmp_path):
    root = ws(tmp_path, {"a.py": "x = 1\n"})
    assert find_edits("Run this:\n```bash\npytest\n```", root, ["a.py"]) is None
    assert find_edits("It is fine as it is.", root, ["a.py"]) is None


def test_find_edits_unclosed_labelled_block_is_an_error(tmp_path):
    root = ws(tmp_path, {"a.py": "x = 1\n"})
    found = find_edits("a.py\n```python\nx = 2\n", root, ["a.py"])
    assert found.error and "never closed" in found.error


def test_removal_instruction_writes_whole_file(tmp_path):
    root = ws(tmp_path, {"calc.py": SRC})
    without_sub = SRC.replace("@cache\ndef sub(a, b):\n    return a - b\n\n\n", "")
    found = find_edits(f"calc.py\n```python\n{without_sub}```", root, ["calc.py"], "remove the sub function")
    assert found.edits[0].content == without_sub


def test_mentions_and_identifiers():
    files = ["src/app/stats.py", "README.md", "tests/test_stats.py", "src/util.py"]
    assert mentioned_files("fix `stats.py` and src/util.py please", files) == ["src/app/stats.py", "src/util.py"]
    assert mentioned_files("the util module", files) == ["src/util.py"]
    assert named_identifiers("rename `compute_total` to sum_all and fix parseArgs() too") == ["compute_total", "sum_all", "parseArgs"]


def test_small_repo_is_attached_whole_then_only_changes(tmp_path):
    root = ws(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    tracker = ContextTracker(root, 48 * 1024, 6000, 12, 16 * 1024)
    msg, attached, _ = tracker.attach("change x")
    assert attached == ["a.py", "b.py"] and "a.py\n```python\nx = 1\n```" in msg["content"]
    assert tracker.attach("again")[0] is None
    (root / "a.py").write_text("x = 3\n")
    msg, attached, _ = tracker.attach("again")
    assert attached == ["a.py"]


def test_big_repo_gets_definitions_or_file_list(tmp_path):
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" + "# pad\n" * 200 for i in range(20)}
    files["pkg/core.py"] = "def compute_total(xs):\n    return sum(xs)\n"
    root = ws(tmp_path, files)
    tracker = ContextTracker(root, 48 * 1024, 6000, 12, 16 * 1024)
    _, attached, _ = tracker.attach("make compute_total ignore None values")
    assert attached == ["pkg/core.py"]
    tracker2 = ContextTracker(root, 48 * 1024, 6000, 12, 16 * 1024)
    msg, attached, _ = tracker2.attach("what does this project do?")
    assert attached == [] and msg["content"].startswith("Files in the workspace:")


def test_compact_drops_whole_items_oldest_first():
    items = [
        {"type": "function_call", "call_id": "c1", "name": "read_file", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a\n" * 1000},
        {"type": "function_call", "call_id": "c2", "name": "read_file", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c2", "output": "b\n" * 1000},
        {"type": "message", "role": "user", "content": "hi"},
    ]
    out, notes, _ = compact(items, target_tokens=800)
    assert "were dropped" in out[1]["output"] and out[3]["output"] == "b\n" * 1000
    assert notes == ["dropped an old read_file output (1001 lines)"]


@pytest.mark.parametrize("text,expected", [
    ("run the tests", True), ("please run pytest after the fix", True), ("fix it and make sure tests pass", True),
    ("build the project", True), ("rename foo to bar", False), ("make the function return 2", False),
    ("fix the failing test in test_app.py", False), ("add a test for add()", False), ("compile it and run", True),
])
def test_asks_for_tests(text, expected):
    assert asks_for_tests_or_build(text) is expected


RENAME_SRC = "def calc_sum(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result\n\n\ndef mean(xs):\n    return calc_sum(xs) / len(xs)\n"


def test_whole_file_with_a_renamed_function_is_not_a_fragment(tmp_path):
    root = ws(tmp_path, {"utils.py": RENAME_SRC})
    renamed = RENAME_SRC.replace("calc_sum", "total")
    found = find_edits(f"utils.py\n```python\n{renamed}```", root, ["utils.py"], "Rename calc_sum to total")
    assert found.edits[0].content == renamed and not found.notes


def test_fragment_with_only_the_renamed_function_follows_the_rename(tmp_path):
    root = ws(tmp_path, {"utils.py": RENAME_SRC})
    fragment = "def total(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result\n"
    found = find_edits(f"```python\n{fragment}```", root, ["utils.py"], "Rename the function calc_sum to total")
    assert found.edits[0].content == RENAME_SRC.replace("calc_sum", "total")


def test_new_function_similar_to_an_old_one_is_added_not_renamed():
    src = "def square(n):\n    return n * n\n"
    out = merge_fragment(src, "def is_even(n):\n    return n % 2 == 0\n")
    assert out == src + "\n\ndef is_even(n):\n    return n % 2 == 0\n"
