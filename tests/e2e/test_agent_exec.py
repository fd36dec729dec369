"""`codespark exec` end to end: the real CLI, the real server, the real 0.5B model, a temporary git repo.

Each task must end with the file correctly edited and no test run: every repository carries a test file
that writes a marker when it is imported or run (by pytest, unittest or python).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

MARKER = ".tests-ran"
TEST_FILE = textwrap.dedent(f"""\
    import pathlib
    pathlib.Path(__file__).resolve().parent.parent.joinpath({MARKER!r}).write_text("ran")


    def test_nothing():
        pass
    """)


def _exec_argv() -> list[str]:
    from codespark.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    if "exec" in sub.choices:
        return [sys.executable, "-m", "codespark.cli.main", "exec"]
    return [sys.executable, "-m", "codespark.cli.exec_cmd"]  # until main.py wires `exec`


def make_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).write_text(textwrap.dedent(text))
    (root / "tests" / "test_code.py").write_text(TEST_FILE)
    git = ["git", "-c", "user.email=t@codespark", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=root, check=True)
    return root


def codespark_exec(base_url: str, repo: Path, prompt: str, *extra: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CODESPARK_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run([*_exec_argv(), "--cd", str(repo), "--server", base_url, *extra, prompt],
                          capture_output=True, text=True, timeout=900, env=env, stdin=subprocess.DEVNULL)


def run_python(repo: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)


def test_exec_fixes_a_one_line_bug(base_url, tmp_path):
    repo = make_repo(tmp_path, {"stats.py": """\
        def average(xs):
            total = 0
            for x in xs:
                total += x
            return total / (len(xs) - 1)


        def maximum(xs):
            return max(xs)
        """})
    out = codespark_exec(base_url, repo, "Fix the bug in average in stats.py: it divides by the wrong count.",
                         tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip(), "exec prints the final message"
    check = run_python(repo, "import stats; assert stats.average([1, 2, 3]) == 2 and stats.maximum([1, 5]) == 5")
    assert check.returncode == 0, (check.stderr, (repo / "stats.py").read_text())
    assert not (repo / MARKER).exists(), "real-time mode ran a test"
    diff = subprocess.run(["git", "diff", "--stat"], cwd=repo, capture_output=True, text=True).stdout
    assert "stats.py" in diff and "tests/" not in diff
    assert list((tmp_path / "state" / "sessions").glob("*.jsonl")), "the session was recorded"


def test_exec_renames_a_function(base_url, tmp_path):
    repo = make_repo(tmp_path, {"utils.py": """\
        def calc_sum(xs):
            result = 0
            for x in xs:
                result += x
            return result


        def mean(xs):
            return calc_sum(xs) / len(xs)
        """})
    out = codespark_exec(base_url, repo, "Rename the function calc_sum to total in utils.py.", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    text = (repo / "utils.py").read_text()
    assert "calc_sum" not in text, text
    check = run_python(repo, "import utils; assert utils.total([1, 2, 3]) == 6 and utils.mean([2, 4]) == 3")
    assert check.returncode == 0, (check.stderr, text)
    assert not (repo / MARKER).exists(), "real-time mode ran a test"


def test_exec_adds_a_function_json(base_url, tmp_path):
    repo = make_repo(tmp_path, {"mathutils.py": """\
        def square(n):
            return n * n


        def cube(n):
            return n * n * n
        """})
    out = codespark_exec(base_url, repo, "Add a function is_even(n) to mathutils.py that returns True when n is even.",
                         "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session.started" and kinds[-1] == "turn.finished"
    assert "text.delta" in kinds and "diff.applied" in kinds
    diff = next(e for e in events if e["type"] == "diff.applied")
    assert diff["paths"] == ["mathutils.py"] and "+def is_even(" in diff["diff"]
    assert events[-1]["status"] == "completed" and events[-1]["edits"] >= 1
    check = run_python(repo, "import mathutils as m; assert m.is_even(4) is True and m.is_even(3) is False and m.cube(2) == 8")
    assert check.returncode == 0, (check.stderr, (repo / "mathutils.py").read_text())
    assert not (repo / MARKER).exists(), "real-time mode ran a test"


def test_exec_fails_clearly_without_a_server(tmp_path):
    repo = make_repo(tmp_path, {"a.py": "x = 1\n"})
    out = codespark_exec("http://127.0.0.1:9", repo, "change x to 2", tmp_path=tmp_path)
    assert out.returncode == 3
    assert "no Responses server answers at http://127.0.0.1:9" in out.stderr
    assert (repo / "a.py").read_text() == "x = 1\n"
