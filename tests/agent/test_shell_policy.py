"""Command classification: known-safe allowlist and test/build detection."""

from __future__ import annotations

import pytest

from codespark.agent.shell import is_known_safe_command, is_test_or_build_command


@pytest.mark.parametrize(
    "cmd",
    [
        "ls",
        "ls -la src",
        "cat README.md",
        "grep -rn 'foo|bar' src",
        "rg -n --glob '*.py' TODO",
        "find . -name '*.py' -type f",
        "git status",
        "git diff HEAD~1 -- src",
        "git log --oneline -5",
        "git branch",
        "git branch -a",
        "pwd",
        "head -n 20 a.txt",
        "tail -5 a.txt",
        "wc -l a.txt",
        "cat a.txt | grep x | wc -l",
        "cd src && ls",
        "ls; pwd",
        "ls;",
        "echo 'a > b; $(rm -rf /)'",  # all quoted: literal text
        "sed -n 1,20p a.txt",
        ["ls", "-la"],
        ["bash", "-lc", "git status"],
    ],
)
def test_known_safe(cmd):
    assert is_known_safe_command(cmd)


@pytest.mark.parametrize(
    "cmd",
    [
        "rm -rf build",
        "touch x",
        "ls > listing.txt",
        "cat a.txt >> b.txt",
        "ls; rm x",
        "ls && rm x",
        "ls || rm x",
        "ls | xargs rm",
        "ls & rm x",
        "ls\nrm x",
        "ls # ; rm x",
        "ls foo#bar; rm x",
        "echo $(rm x)",
        'echo "$(rm x)"',
        "echo `rm x`",
        "cat <(rm x)",
        "(rm x)",
        "{ rm x; }",
        "find . -delete",
        "find . -name '*.pyc' -exec rm {} ;",
        "find . -fprint out.txt",
        "rg --pre ./evil pattern",
        "rg -z pattern",
        "git commit -m x",
        "git branch new-branch",
        "git -c core.pager=evil log",
        "git diff --output=patch.txt",
        "git push",
        "FOO=1 ls",
        "PAGER='rm -rf /' git log",
        "/bin/ls",
        "./ls",
        "sed -i s/a/b/ f",
        "sed -n 'w out' f",
        "python3 -c 'print(1)'",
        "echo 'unbalanced",
        "",
        "| ls",
        "ls |",
        ["rm", "-rf", "x"],
        ["bash", "-lc", "rm x"],
    ],
)
def test_not_known_safe(cmd):
    assert not is_known_safe_command(cmd)


@pytest.mark.parametrize(
    "cmd",
    [
        "pytest",
        "pytest -q tests/test_x.py",
        "python -m pytest -x",
        "python3 -m unittest discover",
        "uv run pytest tests",
        "poetry run pytest",
        "tox -e py311",
        "nox -s tests",
        ".venv/bin/pytest",
        "npm test",
        "npm run test:unit",
        "npm run build",
        "pnpm test",
        "yarn build",
        "bun test",
        "npx jest",
        "npx vitest run",
        "tsc -p .",
        "make",
        "make -j8 all",
        "cd build && cmake .. && make",
        "ninja -C build",
        "cargo test",
        "cargo build --release",
        "cargo check",
        "go test ./...",
        "go build ./cmd/x",
        "mvn -q package",
        "./gradlew test",
        "gradle build",
        "dotnet test",
        "swift build",
        "bundle exec rspec",
        "python setup.py build_ext --inplace",
        "python manage.py test",
        "python run_tests.py",
        "CI=1 timeout 300 pytest -q",
        "env PYTHONPATH=src pytest",
        "sudo make install",
        "pytest -q > out.txt 2>&1",
        "git status && pytest",
        ["python", "-m", "pytest"],
        ["bash", "-lc", "cargo test"],
        "gcc -o main main.c",
    ],
)
def test_is_test_or_build(cmd):
    assert is_test_or_build_command(cmd)


@pytest.mark.parametrize(
    "cmd",
    [
        "ls",
        "git status",
        "cat Makefile",
        "grep -rn pytest .",
        "python app.py",
        "python -c 'print(1)'",
        "python latest_news.py",
        "pip install -e .",
        "npm install",
        "npm run lint",
        "cargo fmt",
        "cargo run",
        "go run .",
        "go fmt ./...",
        "echo make",
        "rg 'cargo test'",
        "uv sync",
        "",
    ],
)
def test_is_not_test_or_build(cmd):
    assert not is_test_or_build_command(cmd)
