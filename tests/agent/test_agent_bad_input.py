"""Bad input through the whole agent: each case gets a clear message to the model (the tool output or the
retry message) and to the user (an event), and the workspace is left exactly as it was."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from codespark.agent import AgentOptions, AgentSession
from codespark.agent.testing import ScriptedTransport, reply_call, reply_text


def snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("def main():\n    return 1\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "huge.txt").write_bytes(b"0123456789abcdef\n" * (10 * 1024 * 1024 // 17 + 1))  # ~10 MB
    (tmp_path / "outside.txt").write_text("secret\n")
    return root


def run_turn(ws: Path, replies, prompt="do it", **opts):
    transport = ScriptedTransport(replies)
    options = AgentOptions(workspace=ws, record=False, **opts)

    async def go():
        session = AgentSession(options, transport)
        await session.start()
        events = []
        session.subscribe(events.append)
        fin = await session.run(prompt)
        await session.close()
        return fin, events

    fin, events = asyncio.run(go())
    return fin, events, transport


def tool_outputs(transport):
    return [i["output"] for r in transport.requests for i in r["input"] if i.get("type") == "function_call_output"]


PATCH_CASES = {
    "missing_file": ("*** Begin Patch\n*** Update File: nope.py\n@@\n-a\n+b\n*** End Patch",
                     ["nope.py", "does not exist", "*** Add File: nope.py"]),
    "hunk_mismatch": ("*** Begin Patch\n*** Update File: app.py\n@@\n-    return 2\n+    return 3\n*** End Patch",
                      ["hunk 1 of 1 for app.py", "expected lines were not found", "Closest match", "return 1"]),
    "escape": ("*** Begin Patch\n*** Update File: ../outside.txt\n@@\n-secret\n+stolen\n*** End Patch",
               ["../outside.txt", "outside the workspace"]),
    "absolute": ("*** Begin Patch\n*** Add File: /tmp/codespark-evil.txt\n+x\n*** End Patch",
                 ["absolute paths are not allowed"]),
    "binary": ("*** Begin Patch\n*** Update File: logo.png\n@@\n-PNG\n+GIF\n*** End Patch",
               ["logo.png", "binary"]),
    "huge": ("*** Begin Patch\n*** Update File: huge.txt\n@@\n-0123456789abcdef\n+x\n*** End Patch",
             ["huge.txt", "over the", "limit"]),
}


@pytest.mark.parametrize("case", sorted(PATCH_CASES))
def test_bad_patch_via_tool(ws: Path, case: str) -> None:
    patch, fragments = PATCH_CASES[case]
    before = snapshot(ws)
    fin, events, transport = run_turn(ws, [reply_call("apply_patch", {"patch": patch}), reply_text("I could not apply it.")])
    assert snapshot(ws) == before
    assert (ws.parent / "outside.txt").read_text() == "secret\n"
    assert not Path("/tmp/codespark-evil.txt").exists()
    to_model = tool_outputs(transport)[0]
    assert to_model.startswith("The patch was NOT applied:")
    for fragment in fragments:
        assert fragment in to_model, to_model
    rejected = [e for e in events if e.kind == "edit.rejected"]
    assert rejected and rejected[0].message == to_model  # the user sees the same message
    assert not any(e.kind == "diff.applied" for e in events)
    assert fin.failed_edits == 1


@pytest.mark.parametrize("case", ["missing_file", "hunk_mismatch", "escape", "binary"])
def test_bad_patch_in_text_is_retried_then_reported(ws: Path, case: str) -> None:
    patch, fragments = PATCH_CASES[case]
    before = snapshot(ws)
    fin, events, transport = run_turn(ws, [reply_text(patch), reply_text(patch)])
    assert snapshot(ws) == before
    retry_message = transport.requests[1]["input"][-1]["content"]
    assert retry_message.startswith("Your edit was NOT applied:")
    for fragment in fragments:
        assert fragment in retry_message
    assert fin.error and "could not be applied" in fin.error and fragments[0] in fin.error
    assert [e.will_retry for e in events if e.kind == "edit.rejected"] == [True, False]


def test_whole_file_fragment_of_non_python_file_is_refused(ws: Path) -> None:
    (ws / "notes.md").write_text("".join(f"- item {i}\n" for i in range(40)))
    before = snapshot(ws)
    fin, events, transport = run_turn(ws, [reply_text("notes.md\n```markdown\n- item 0\n- item one\n```")] * 2,
                                      prompt="change item 1 in notes.md")
    assert snapshot(ws) == before
    assert "looks like a fragment" in transport.requests[1]["input"][-1]["content"]


def test_read_file_binary_and_huge_and_missing(ws: Path) -> None:
    fin, events, transport = run_turn(ws, [
        reply_call("read_file", {"path": "logo.png"}),
        reply_call("read_file", {"path": "huge.txt", "start_line": 1000}),
        reply_call("read_file", {"path": "main.py"}),
        reply_call("read_file", {"path": "../outside.txt"}),
        reply_text("done"),
    ])
    binary, huge, missing, escape = tool_outputs(transport)
    assert "binary file" in binary
    assert huge.startswith(f"huge.txt (lines 1000-1399 of {10 * 1024 * 1024 // 17 + 1})") and "start_line=1400" in huge
    assert "main.py does not exist" in missing and "app.py" in missing
    assert "outside the workspace" in escape and "secret" not in escape
    assert [e.ok for e in events if e.kind == "tool.finished"] == [False, True, False, False]


def test_command_that_never_ends_is_killed(ws: Path) -> None:
    before = snapshot(ws)
    fin, events, transport = run_turn(ws, [reply_call("shell", {"command": "while true; do :; done"}), reply_text("it hung")],
                                      command_timeout_s=1.5)
    out = tool_outputs(transport)[0]
    assert "Timed out after" in out and "killed" in out
    cmd = next(e for e in events if e.kind == "command.output")
    assert cmd.timed_out and cmd.command == "while true; do :; done"
    assert snapshot(ws) == before
    assert fin.status == "completed"


def test_realtime_refuses_tests_unless_asked(ws: Path) -> None:
    (ws / "test_app.py").write_text("import pathlib\npathlib.Path('RAN').write_text('x')\n\ndef test_main():\n    pass\n")
    fin, events, transport = run_turn(ws, [reply_call("shell", {"command": "python -m pytest -q"}), reply_text("ok")],
                                      prompt="make main return 2")
    out = tool_outputs(transport)[0]
    assert out.startswith("Command was NOT run: real-time mode does not run tests")
    assert next(e for e in events if e.kind == "command.output").refused
    assert not (ws / "RAN").exists()


def test_realtime_runs_tests_when_the_user_asks(ws: Path) -> None:
    (ws / "test_app.py").write_text("import pathlib\npathlib.Path('RAN').write_text('x')\n")
    fin, events, transport = run_turn(ws, [reply_call("shell", {"command": "python test_app.py"}), reply_text("ok")],
                                      prompt="run the tests please")
    assert (ws / "RAN").exists()
    assert tool_outputs(transport)[0].startswith("Exit code: 0")


def test_long_mode_may_run_tests(ws: Path) -> None:
    (ws / "test_app.py").write_text("import pathlib\npathlib.Path('RAN').write_text('x')\n")
    fin, events, transport = run_turn(ws, [reply_call("shell", {"command": "python test_app.py"}), reply_text("ok")],
                                      prompt="make main return 2", mode="long")
    assert (ws / "RAN").exists()
    assert transport.requests[0].get("priority") == "background"


def test_unknown_tool_and_bad_arguments(ws: Path) -> None:
    fin, events, transport = run_turn(ws, [reply_call("delete_everything", {}), reply_call("read_file", "not json"),
                                           reply_call("shell", {}), reply_text("ok")])
    unknown, bad_args, no_cmd = tool_outputs(transport)
    assert "no tool named 'delete_everything'" in unknown and "read_file" in unknown
    assert "not json does not exist" in bad_args
    assert 'shell needs a "command"' in no_cmd


def test_interrupt_kills_a_running_command(ws: Path) -> None:
    transport = ScriptedTransport([reply_call("shell", {"command": "sleep 60"}), reply_text("never")])
    options = AgentOptions(workspace=ws, record=False, command_timeout_s=120)

    async def go():
        session = AgentSession(options, transport)
        await session.start()
        events = []
        session.subscribe(events.append)
        await session.submit("wait a minute")
        while not any(e.kind == "tool.started" for e in events):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        t0 = asyncio.get_running_loop().time()
        fin = await session.interrupt()
        return fin, events, asyncio.get_running_loop().time() - t0

    fin, events, elapsed = asyncio.run(go())
    assert fin.status == "interrupted" and elapsed < 5
    cmd = next(e for e in events if e.kind == "command.output")
    assert "Interrupted by the user" in next(e for e in events if e.kind == "tool.finished").output
    assert cmd.exit_code is not None and not cmd.timed_out
    assert len(transport.requests) == 1  # nothing more was asked of the model
