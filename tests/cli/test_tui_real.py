"""The terminal UI on the REAL model: a real `codespark serve` (tests/conftest.py `server`), the WebSocket
transport, a temporary git repository as the workspace. Typed instructions stream into the transcript; Esc
stops a generation (the turn ends interrupted); Enter while it works redirects the same turn; an edit shows
as a coloured diff and /undo restores the file byte for byte; the draft's file is warmed up before Enter.

The model is slow on this shared 2-core machine, so prompts and output caps are small and every wait polls
app state with a generous timeout; nothing asserts on timings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from codespark.agent import AgentOptions
from codespark.cli.tui import CodesparkApp
from codespark.cli.tui.widgets import AssistantEntry, DiffEntry, ErrorEntry, TurnEndEntry, UserEntry, styled_lines

sys.path.insert(0, str(Path(__file__).parent))
from tui_helpers import type_text, wait_until  # noqa: E402

pytestmark = pytest.mark.timeout(1500)
WAIT = 600  # seconds: one slow model turn on a contended CPU
HELLO = 'def greet(name):\n    return "Hello, " + name\n'


def git_workspace(tmp_path: Path, *, many_files: bool = False) -> Path:
    ws = tmp_path / "repo"
    ws.mkdir()
    (ws / "hello.py").write_text(HELLO)
    if many_files:  # not a "small repository": nothing is attached whole when the session opens
        (ws / "pkg").mkdir()
        for i in range(14):
            (ws / "pkg" / f"mod{i}.py").write_text(f"VALUE_{i} = {i}\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run([*git, "add", "-A"], cwd=ws, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=ws, check=True)
    return ws


def make_app(base_url: str, ws: Path, tmp_path: Path, max_tokens: int) -> CodesparkApp:
    options = AgentOptions(workspace=ws, record=False, sessions_dir=tmp_path / "sessions", max_output_tokens=max_tokens)
    return CodesparkApp(options, server_url=base_url)  # transport: websocket (the default)


def run(coro):
    return asyncio.run(coro)


async def opened(app, pilot):
    await wait_until(pilot, lambda: app.session is not None and app.warmups and not app._warming,
                     timeout=WAIT, what="session open and warmed up")
    assert app.session.transport.kind == "websocket"


def streamed(app) -> str:
    cur = app.transcript.current
    return cur.text if cur is not None else ""


def test_real_streaming_then_escape_interrupts(base_url, tmp_path):
    ws = git_workspace(tmp_path)
    app = make_app(base_url, ws, tmp_path, max_tokens=256)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await opened(app, pilot)
            await type_text(pilot, "Write a long essay about the history of Python")
            await pilot.press("enter")
            # streamed output appears in the transcript while the turn is still running
            await wait_until(pilot, lambda: app.busy and len(streamed(app).strip()) >= 8, timeout=WAIT,
                             what="streamed text")
            entry = app.transcript.current
            assert isinstance(entry, AssistantEntry) and entry.parent is app.transcript
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.finished, timeout=WAIT, what="interrupted turn")
            fin = app.finished[-1]
            assert fin.status == "interrupted"
            assert not app.session.busy
            assert entry.status == "cancelled" and "[stopped]" in entry.rich.plain
            assert app.transcript.of_type(TurnEndEntry)[-1].status == "interrupted"
            stopped_at = entry.text
            await pilot.pause(0.5)
            assert entry.text == stopped_at  # nothing more arrives after the stop
            assert not app.transcript.of_type(ErrorEntry)
            assert "idle" in app.query_one("#status").plain

    run(go())


def test_real_redirect_continues_the_turn_with_new_input(base_url, tmp_path):
    ws = git_workspace(tmp_path)
    # room for an essay far longer than typing the redirect takes, however fast decoding is
    app = make_app(base_url, ws, tmp_path, max_tokens=2000)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await opened(app, pilot)
            await type_text(pilot, "Write a long essay about the history of Python")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.busy and len(streamed(app).strip()) >= 8, timeout=WAIT,
                             what="streamed text")
            first = app.transcript.current
            await type_text(pilot, "Stop. Just reply with the word OK")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, timeout=WAIT, what="turn end")
            fin = app.finished[-1]
            assert len(app.finished) == 1 and fin.turn == 1  # the same turn went on
            assert fin.status == "completed", fin
            assert first.status == "cancelled"
            redirected = [e for e in app.events if e.kind == "turn.redirected"]
            assert redirected and redirected[0].text == "Stop. Just reply with the word OK"
            assert redirected[0].cancelled_response_id  # chained to the cancelled response (warm KV reused)
            users = app.transcript.of_type(UserEntry)
            assert [u.text for u in users] == ["Write a long essay about the history of Python",
                                               "Stop. Just reply with the word OK"]
            replies = app.transcript.of_type(AssistantEntry)
            assert replies[-1] is not first and replies[-1].text.strip()
            assert app.transcript.children.index(replies[-1]) > app.transcript.children.index(users[-1])
            assert not app.transcript.of_type(ErrorEntry)

    run(go())


def test_real_edit_shows_coloured_diff_and_undo_restores_bytes(base_url, tmp_path):
    ws = git_workspace(tmp_path, many_files=True)
    before = (ws / "hello.py").read_bytes()
    app = make_app(base_url, ws, tmp_path, max_tokens=160)

    async def go():
        async with app.run_test(size=(100, 40)) as pilot:
            await opened(app, pilot)
            assert not any("hello.py" in w.paths for w in app.warmups)
            await type_text(pilot, "In hello.py, rename the function greet to welcome")
            # the draft names an existing file: it is prefilled on the server before Enter
            await wait_until(pilot, lambda: any(w.paths == ["hello.py"] for w in app.warmups), timeout=WAIT,
                             what="draft warm-up of hello.py")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, timeout=WAIT, what="turn end")
            fin = app.finished[-1]
            assert fin.status == "completed" and fin.edits == 1, (fin, app.transcript.plain_text())
            assert fin.usage.get("cached_tokens", 0) > 0  # the turn started on the warm prefix
            after = (ws / "hello.py").read_text()
            assert "def welcome(" in after and "def greet(" not in after
            diff = app.transcript.of_type(DiffEntry)[-1]
            assert diff.paths == ["hello.py"] and not diff.undone
            lines = styled_lines(diff.diff_rich)
            assert ("-def greet(name):", "red") in lines
            assert any(text.startswith("+def welcome(") and style == "green" for text, style in lines)
            assert "undo 1" in app.query_one("#status").plain

            await type_text(pilot, "/undo")
            await pilot.press("enter")
            await wait_until(pilot, lambda: any(d.undone for d in app.transcript.of_type(DiffEntry)), timeout=60,
                             what="undo")
            assert (ws / "hello.py").read_bytes() == before
            assert subprocess.run(["git", "status", "--porcelain"], cwd=ws, capture_output=True, text=True).stdout == ""
            assert "undo 0" in app.query_one("#status").plain
            assert not app.transcript.of_type(ErrorEntry)

    run(go())
