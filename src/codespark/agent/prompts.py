"""System prompts for the two modes, and AGENTS.md.

Short on purpose: prefill costs ~6 ms a token on the 2-core CPU, and a 0.5B model follows a few plain rules
better than many. The constant part comes first so the server's KV prefix cache serves it across sessions;
AGENTS.md (repository root, then the current directory) is appended at the end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .formats import EditFormat
from .modes import Mode

AGENTS_FILE = "AGENTS.md"
AGENTS_MAX_CHARS = 8000

REALTIME_RULES = (
    "You are codespark, a fast coding assistant working in the user's repository.\n"
    "Make the smallest change that does what the user asks. Keep every other line exactly as it is.\n"
    "{edit}\n"
    "The files the user mentions are shown to you. Use the tools only to look at other files.\n"
    "Do not run tests or builds unless the user asks you to.\n"
    "After the edit, stop. Add at most one short sentence."
)

LONG_RULES = (
    "You are codespark, a careful coding agent working in the user's repository.\n"
    "Work in steps: look at the relevant files, make focused edits, then run the project's tests with the "
    "shell tool and fix what fails. Keep going until the task is done, then reply with a short summary.\n"
    "{edit}\n"
    "Keep every line you do not need to change exactly as it is."
)


def find_repo_root(cwd: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip()).resolve()
    except (OSError, subprocess.SubprocessError):
        pass
    return cwd.resolve()


def agents_md(cwd: Path) -> list[tuple[Path, str]]:
    """AGENTS.md of the repository root and of the current directory (if different), root first."""
    cwd = cwd.resolve()
    root = find_repo_root(cwd)
    found: list[tuple[Path, str]] = []
    for d in dict.fromkeys([root, cwd]):
        path = d / AGENTS_FILE
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            if len(text) > AGENTS_MAX_CHARS:
                text = text[:AGENTS_MAX_CHARS].rsplit("\n", 1)[0] + "\n[... rest of AGENTS.md omitted: too long]"
            found.append((path, text))
    return found


def instructions(mode: Mode, fmt: EditFormat, cwd: Path) -> str:
    rules = (LONG_RULES if mode.name == "long" else REALTIME_RULES).format(edit=fmt.instruction)
    parts = [rules]
    for path, text in agents_md(cwd):
        where = "the repository root" if path.parent == find_repo_root(cwd) else "this directory"
        parts.append(f"Instructions from AGENTS.md in {where}:\n{text}")
    return "\n\n".join(parts)
