"""The terminal UI against a scripted transport (no model): streaming, interrupt, redirect, coloured diffs and
/undo, warm-up on open and on a draft that names a file, approvals, slash commands, errors. Every wait polls
app state; nothing asserts on timings. The same flows on the real model are in test_tui_real.py."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from codespark.agent import AgentOptions, prompts
from codespark.agent.modes import get_mode
from codespark.agent.testing import ScriptedTransport, reply_call, reply_text
from codespark.cli import tui_cmd
from codespark.cli.tui import CodesparkApp
from codespark.cli.tui.app import draft_paths
from codespark.cli.tui.widgets import (
    ApprovalScreen,
    AssistantEntry,
    CommandEntry,
    DiffEntry,
    ErrorEntry,
    NoteEntry,
    ToolEntry,
    TurnEndEntry,
    UserEntry,
    diff_text,
    styled_lines,
)

sys.path.insert(0, str(Path(__file__).parent))
from tui_helpers import type_text, wait_until  # noqa: E402

STATS = "def average(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / (len(xs) - 1)\n"
FIXED = STATS.replace("(len(xs) - 1)", "len(xs)")
LONG_REPLY = "Let me think about this carefully. " * 40


def make_app(tmp_path: Path, replies, *, delay: float = 0.0, **opts) -> tuple[CodesparkApp, ScriptedTransport, Path]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (ws / "stats.py").write_text(STATS)
    transport = ScriptedTransport(replies, delay=delay)
    opts.setdefault("record", False)
    options = AgentOptions(workspace=ws, sessions_dir=tmp_path / "sessions", **opts)
    return CodesparkApp(options, server_url="http://scripted.invalid", transport=transport), transport, ws


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def opened(app, pilot):
    await wait_until(pilot, lambda: app.session is not None and not app._warming, what="session open")


def test_streams_reply_into_transcript_and_finishes(tmp_path):
    app, t, _ = make_app(tmp_path, [reply_text(LONG_REPLY, chunk=6)], delay=0.01)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "explain average")
            await pilot.press("enter")
            # streamed: part of the reply is on screen while the turn still runs
            await wait_until(pilot, lambda: app.busy and any(
                e.plain.strip() and e.plain != "…" for e in app.transcript.of_type(AssistantEntry)), what="partial text")
            partial = app.transcript.of_type(AssistantEntry)[-1].plain
            assert 0 < len(partial) < len(LONG_REPLY)
            await wait_until(pilot, lambda: app.finished, what="turn end")
            assert app.finished[-1].status == "completed"
            assert app.transcript.of_type(UserEntry)[0].text == "explain average"
            assert app.transcript.of_type(AssistantEntry)[-1].plain.strip() == LONG_REPLY.strip()
            assert app.transcript.of_type(TurnEndEntry)[-1].status == "completed"
            assert "idle" in app.query_one("#status").plain

    run(go())


def test_escape_interrupts_generation(tmp_path):
    app, t, _ = make_app(tmp_path, [reply_text(LONG_REPLY * 3, chunk=4)], delay=0.02)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "explain")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.busy and app.transcript.current is not None
                             and len(app.transcript.current.text) > 20, what="generation")
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.finished, what="interrupted turn")
            assert app.finished[-1].status == "interrupted"
            assert t.cancels == 1
            entry = app.transcript.of_type(AssistantEntry)[-1]
            assert entry.status == "cancelled" and len(entry.text) < len(LONG_REPLY * 3)
            assert "stopped" in entry.rich.plain
            assert app.transcript.of_type(TurnEndEntry)[-1].status == "interrupted"
            assert not app.busy

    run(go())


def test_enter_while_busy_redirects_the_same_turn(tmp_path):
    app, t, _ = make_app(tmp_path, [reply_text(LONG_REPLY * 3, chunk=4), reply_text("Short answer instead.")],
                         delay=0.02)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "explain at length")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.transcript.current is not None and len(app.transcript.current.text) > 20,
                             what="generation")
            # the redirect is put in the prompt at once: the pilot waits for the app to go idle after every
            # key, which a reply streaming at 50 deltas/s delays, and the reply must still be running
            app.prompt_input.value = "no, be brief"
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            fin = app.finished[-1]
            assert fin.status == "completed" and fin.turn == 1 and len(app.finished) == 1
            redirects = [e for e in app.transcript.of_type(UserEntry) if "redirect" in e.plain]
            assert redirects and redirects[0].text == "no, be brief"
            assert app.transcript.of_type(AssistantEntry)[-1].plain.strip() == "Short answer instead."
            assert any(e.kind == "turn.redirected" for e in app.events)
            assert t.requests[-1].get("previous_response_id")  # chained to the cancelled response

    run(go())


def test_edit_shows_coloured_diff_and_undo_restores_bytes(tmp_path):
    app, t, ws = make_app(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```\nFixed.")])
    before = (ws / "stats.py").read_bytes()

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "fix average in stats.py")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            assert (ws / "stats.py").read_text() == FIXED
            diff = app.transcript.of_type(DiffEntry)[-1]
            assert diff.paths == ["stats.py"] and not diff.undone
            styles = dict(styled_lines(diff.diff_rich))
            assert styles["-    return total / (len(xs) - 1)"] == "red"
            assert styles["+    return total / len(xs)"] == "green"
            assert "undo 1" in app.query_one("#status").plain
            await type_text(pilot, "/undo")
            await pilot.press("enter")
            await wait_until(pilot, lambda: any(d.undone for d in app.transcript.of_type(DiffEntry)), what="undo")
            assert (ws / "stats.py").read_bytes() == before
            assert "undo 0" in app.query_one("#status").plain

    run(go())


def test_warm_up_on_open_and_on_a_draft_naming_a_file(tmp_path):
    app, t, ws = make_app(tmp_path, [reply_text("ok")])
    (ws / "big").mkdir()
    for i in range(20):  # not a "small repo": nothing is attached whole, so the draft's file is warmed on its own
        (ws / "big" / f"m{i}.py").write_text(f"X{i} = {i}\n" * 400)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            assert app.warm_requests[0] is None
            assert t.requests and t.requests[0].get("generate") is False
            await type_text(pilot, "please look at stats.py and")
            await wait_until(pilot, lambda: any(w.paths == ["stats.py"] for w in app.warmups), what="draft warm-up")
            assert ["stats.py"] in app.warm_requests
            assert t.requests[-1].get("generate") is False
            assert "stats.py" in str(t.requests[-1]["input"])
            assert any("prefilled stats.py" in e.plain for e in app.transcript.of_type(NoteEntry))
            n = len(t.requests)
            await type_text(pilot, " more")  # same file, unchanged: no second warm-up
            await pilot.pause(0.6)
            assert len(t.requests) == n
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            assert t.requests[-1].get("previous_response_id")  # the turn chained on the warm prefix

    run(go())


def test_draft_paths_finds_existing_files_only(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "hello.py").write_text("y = 2\n")
    found = draft_paths(tmp_path, "rename in hello.py and pkg/mod.py, not missing.py or ../etc/passwd")
    assert found == ["hello.py", "pkg/mod.py"]


def test_approval_modal_approve_and_deny(tmp_path):
    replies = [reply_call("shell", {"command": "touch made_by_agent.txt"}), reply_text("done"),
               reply_call("shell", {"command": "touch second.txt"}), reply_text("ok")]
    app, t, ws = make_app(tmp_path, replies, approval="untrusted", mode="long")

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "create the file")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="approval modal")
            assert app.screen.command == "touch made_by_agent.txt"
            await pilot.press("a")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            assert (ws / "made_by_agent.txt").exists()
            cmd = app.transcript.of_type(CommandEntry)[-1]
            assert cmd.command == "touch made_by_agent.txt" and cmd.exit_code == 0
            assert any(e.plain.startswith("✓ shell") for e in app.transcript.of_type(ToolEntry)), app.transcript.plain_text()
            await type_text(pilot, "another")
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="second modal")
            await pilot.press("escape")  # Esc in the modal denies
            await wait_until(pilot, lambda: len(app.finished) == 2, what="second turn end")
            assert not (ws / "second.txt").exists()
            assert any("denied: touch second.txt" in e.plain for e in app.transcript.of_type(NoteEntry))

    run(go())


def test_slash_commands_mode_clear_help_unknown_and_quit(tmp_path):
    app, t, _ = make_app(tmp_path, [reply_text("one")])

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            for line in ("/help", "/mode long", "/frobnicate", "/mode fast"):
                await type_text(pilot, line)
                await pilot.press("enter")
            await wait_until(pilot, lambda: len(app.transcript.of_type(ErrorEntry)) == 2, what="errors")
            s = app.session
            assert s.mode.name == "long" and s.instructions == prompts.instructions(get_mode("long"), s.format, s.root)
            assert s.instructions != prompts.instructions(get_mode("realtime"), s.format, s.root)
            assert " · long · " in app.query_one("#status").plain
            text = app.transcript.plain_text()
            assert "/undo" in text and "unknown command /frobnicate" in text and "unknown mode 'fast'" in text
            first = app.session
            await type_text(pilot, "/clear")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.session is not None and app.session is not first, what="new session")
            assert not app.transcript.of_type(ErrorEntry)
            await type_text(pilot, "/quit")
            await pilot.press("enter")
            await wait_until(pilot, lambda: not app.is_running, what="exit")

    run(go())


def test_ctrl_c_quits_and_closes_the_session(tmp_path):
    app, t, _ = make_app(tmp_path, [reply_text(LONG_REPLY * 3, chunk=4)], delay=0.02)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            session = app.session
            await type_text(pilot, "go")
            await pilot.press("enter")
            await wait_until(pilot, lambda: session.busy, what="busy")
            await pilot.press("ctrl+c")
            await wait_until(pilot, lambda: not app.is_running, what="exit")
        assert not session.busy and t.cancels == 1

    run(go())


def test_unreachable_server_is_a_clear_error_not_a_traceback(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    app = CodesparkApp(AgentOptions(workspace=ws, record=False), server_url="http://127.0.0.1:9")

    async def go():
        async with app.run_test() as pilot:
            await wait_until(pilot, lambda: app.transcript.of_type(ErrorEntry), what="error")
            msg = app.transcript.of_type(ErrorEntry)[0].message
            assert "127.0.0.1:9" in msg and "Traceback" not in msg
            assert app.session is None and "no server" in app.query_one("#status").plain
            await type_text(pilot, "hello")
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(app.transcript.of_type(ErrorEntry)) == 2, what="second error")
            assert "not connected" in app.transcript.of_type(ErrorEntry)[1].message

    run(go())


def test_failed_edit_and_tool_output_are_compact(tmp_path):
    replies = [reply_call("read_file", {"path": "stats.py"}),
               reply_text("stats.py\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE"),
               reply_text("stats.py\n<<<<<<< SEARCH\nstill not\n=======\nx\n>>>>>>> REPLACE")]
    app, t, ws = make_app(tmp_path, replies)

    async def go():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "change average in stats.py")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            tool = app.transcript.of_type(ToolEntry)[0]
            assert tool.plain.startswith("✓ read_file path=stats.py") and "\n" not in tool.plain
            notes = [e.plain for e in app.transcript.of_type(NoteEntry) if "edit not applied" in e.plain]
            assert notes and "asking the model to correct it" in notes[0]
            assert (ws / "stats.py").read_text() == STATS

    run(go())


def test_diff_text_colours():
    t = diff_text("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same")
    styles = [style for _, style in styled_lines(t)]
    assert styles == ["bold", "bold", "cyan", "red", "green", "dim"]


def test_cli_flags():
    p = argparse.ArgumentParser()
    tui_cmd.add_arguments(p)
    a = p.parse_args(["--server", "http://x:1", "--mode", "long", "--cd", "/tmp", "--model", "m", "--sandbox",
                      "read-only", "--approval", "untrusted"])
    assert (a.server, a.mode, a.cd, a.model, a.sandbox, a.approval, a.transport) == (
        "http://x:1", "long", "/tmp", "m", "read-only", "untrusted", "websocket")
    d = p.parse_args([])
    assert (d.server, d.mode, d.approval, d.sandbox) == (None, "realtime", "on-request", "workspace-write")
    assert callable(tui_cmd.run)


def test_resumed_session_replays_its_past_turns_and_continues(tmp_path):
    from codespark.agent.transcript import find_session

    app, t, ws = make_app(tmp_path, [reply_text(f"stats.py\n```python\n{FIXED}```")], record=True)

    async def first():
        async with app.run_test() as pilot:
            await opened(app, pilot)
            await type_text(pilot, "fix average in stats.py")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.finished, what="turn end")
            sid = app.session.session_id
            await pilot.press("ctrl+d")
            await wait_until(pilot, lambda: not app.is_running, what="exit")
            return sid

    sid = run(first())
    record = find_session(tmp_path / "sessions", sid)
    t2 = ScriptedTransport([reply_text("I fixed the count in average.")])
    t2.store = t.store  # the same server
    options = AgentOptions(workspace=ws, record=True, sessions_dir=tmp_path / "sessions")
    app2 = CodesparkApp(options, server_url="http://scripted.invalid", transport=t2, record=record)

    async def second():
        async with app2.run_test() as pilot:
            await wait_until(pilot, lambda: app2.session is not None and not app2._warming, what="resumed session")
            text = app2.transcript.plain_text()
            assert f"resumed session {sid}" in text and "› fix average in stats.py" in text
            assert app2.transcript.of_type(DiffEntry)  # the past edit, shown again
            await type_text(pilot, "what did you change?")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app2.finished, what="turn end")
            assert app2.finished[-1].turn == 2
            assert t2.requests[-1].get("previous_response_id")

    run(second())


def test_run_tui_refuses_without_a_terminal_or_a_directory(tmp_path, capsys):
    from codespark.cli.tui import run_tui

    args = argparse.Namespace(server=None, mode="realtime", cd=str(tmp_path / "missing"), model=None,
                              sandbox="workspace-write", approval="on-request", transport="websocket", no_record=True)
    assert run_tui(args) == 2
    assert "not a directory" in capsys.readouterr().err
    args.cd = str(tmp_path)
    assert run_tui(args) == 2  # pytest's stdin is not a terminal
    assert "needs a terminal" in capsys.readouterr().err
